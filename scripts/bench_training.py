"""Training benchmark: throughput and saved-for-backward memory per rule and T.

For each rule in RULES and each T in {4, 8, 16, 32}, trains the default digits MLP
(64 -> 256 -> 256 -> readout, batch 32) on ``--samples`` training samples (after one warm-up batch)
and records ``samples_per_s`` (training only: encode + forward + backward + optimizer; best wall time of
``--repeats``), ``samples_per_cpu_s`` (the same per process CPU second, less sensitive to a shared
machine when run with ``--threads 1``) and
``saved_bytes_per_step`` / ``saved_bytes_peak`` (see ``rules.memory``), plus machine info.

    python scripts/bench_training.py --json runs/bench_training.json [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TS = (4, 8, 16, 32)


def machine_info(device) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": str(device)}
    try:
        info["loadavg_1m"] = os.getloadavg()[0]
    except OSError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def bench_point(rule_name: str, T: int, samples: int, batch_size: int, device, hidden=(256, 256),
                repeats: int = 3) -> dict:
    import torch

    from models.data import load_digits_split
    from models.encoders import encode
    from rules.memory import SavedTensorMeter
    from rules.train import TrainConfig, build_net, make_rule

    cfg = TrainConfig(rule=rule_name, T=T, hidden=hidden, batch_size=batch_size).resolved()
    split = load_digits_split(seed=0)
    x = torch.as_tensor(split.x_train, device=device)
    y = torch.as_tensor(split.y_train, device=device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_net(cfg, x.shape[1], split.n_classes).to(device)
        rule = make_rule(cfg)
        extra = rule.setup(net)
    params = list(net.parameters()) + [p for m in extra for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    meter = SavedTensorMeter(exclude=params)
    n_batches = max(1, samples // batch_size)

    def batch(i):
        lo = (i * batch_size) % (x.shape[0] - batch_size)
        rule.train_batch(net, encode(x[lo:lo + batch_size], T), y[lo:lo + batch_size], opt, meter)
        return meter.batch()

    saved = batch(0)                                    # warm-up
    walls, cpus = [], []
    for _ in range(repeats):                            # best of `repeats`: the machine may be shared
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(1, n_batches + 1):
            batch(i)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    dt, ct = min(walls), min(cpus)
    n = n_batches * batch_size
    return {"rule": rule_name, "T": T, "samples": n, "batch_size": batch_size, "repeats": repeats,
            "seconds": dt, "samples_per_s": n / dt, "samples_per_cpu_s": n / ct,
            "saved_bytes_per_step": saved.per_step, "saved_bytes_peak": saved.peak,
            "saved_bytes_per_batch": saved.per_batch}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", required=True, metavar="PATH", help="output JSON path")
    p.add_argument("--quick", action="store_true", help="T in {4, 8} and 64 samples per point (smoke run)")
    p.add_argument("--samples", type=int, default=256, help="training samples per point (default: 256)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per point, best kept (default: 3)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    p.add_argument("--rules", default=None, help="comma-separated subset of rules (default: all)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = p.parse_args(argv)

    import torch

    from rules.train import RULES, resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rules = RULES if args.rules is None else tuple(args.rules.split(","))
    for r in rules:
        if r not in RULES:
            p.error(f"--rules: unknown rule {r!r}; valid: {', '.join(RULES)}")
    ts = (4, 8) if args.quick else TS
    samples = 64 if args.quick else args.samples
    points = []
    for rule in rules:
        for T in ts:
            pt = bench_point(rule, T, samples, args.batch_size, device, repeats=1 if args.quick else args.repeats)
            points.append(pt)
            print(f"{rule:7s} T={T:2d}  {pt['samples_per_s']:9.1f} samples/s  {pt['samples_per_cpu_s']:9.1f} /cpu-s  "
                  f"saved/step {pt['saved_bytes_per_step']:>11,d} B", flush=True)
    out = {"machine": machine_info(device), "points": points}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
