"""Post-training quantization table: float accuracy vs chip accuracy per rule, seed and weight bits.

For every rule and seed: train the float MLP (``rules.train`` defaults: digits, 64-256-256, T=8,
direct input) or reuse its checkpoint in ``--dir``, quantize it (``models.quantize``: the soft reset
mapped to the chip's reset to zero, graded input) at every ``--bits`` (the projections'
``num_weight_bits`` within Loihi's 8-bit weight field; 8 = Loihi's full width) with the exact scale
policy and the chip target, at Loihi's widths with the pow2 policy, and at every ``--bits`` with the
netx target (``models.scales``: weight exponent 0, biases in multiples of 64, graded input x16,
headroom down to the layer's worst case), then evaluate the test set on the chip
simulator next to the float network (``rules.chiprun.evaluate``). Rows go to ``--json`` and
``--csv`` (pandas) as they are produced; a rerun skips the (rule, seed) pairs already there.

    nice -n 10 .venv/bin/python -m scripts.ptq_table --json runs/ptq.json --csv runs/ptq.csv
"""
from __future__ import annotations

import argparse
import json
import os
import time

RULES = ("bptt", "ottt-a", "ottt-o", "ttl", "rate-m", "rate-s")


def rows_for(rule: str, seed: int, bits, folder: str, epochs=None, limit=None) -> list:
    import numpy as np

    from models.quantize import quantize
    from rules import checkpoint as ck
    from rules.chiprun import evaluate
    from rules.train import TrainConfig, load_data, train

    path = os.path.join(folder, f"{rule}_s{seed}.h5")
    t0 = time.perf_counter()
    if not os.path.exists(path):
        ck.save(path, train(TrainConfig(rule=rule, seed=seed, epochs=epochs, limit=limit)))
    train_s = time.perf_counter() - t0
    c = ck.load(path)
    net = ck.net_from_checkpoint(c)
    cfg = c["config"]
    split = load_data(TrainConfig())
    x = np.asarray(split.x_test).reshape(len(split.x_test), -1)
    out = []
    runs = [("exact", b, "chip") for b in bits] + [("pow2", 8, "chip")] + [("exact", b, "netx") for b in bits]
    for policy, b, target in runs:
        cm = quantize(net, input_graded=cfg["encoder"] == "direct", soft_reset="hard", weight_bits=b,
                      scale_policy=policy, target=target)
        ev = evaluate(cm, x, split.y_test, cfg["T"], float_net=net, encoder=cfg["encoder"], seed=seed)
        s = ev.summary
        out.append({"rule": rule, "seed": seed, "epochs": c["epochs_done"], "weight_bits": b, "policy": policy,
                    "target": target, "input_scale": int(cm.input_scale),
                    "float_accuracy": s["float_accuracy"], "chip_accuracy": s["chip_accuracy"],
                    "mirror_accuracy": s["mirror_accuracy"],
                    "gap_points": 100.0 * (s["float_accuracy"] - s["chip_accuracy"]),
                    "zeroed_share": max(r.zeroed_share for r in cm.report.layers),
                    "overflow": sum(s["overflow"].values()), "train_seconds": round(train_s, 1),
                    "checkpoint": path})
        print(f"{rule} seed {seed} {target} {policy} {b} bits: float {s['float_accuracy']:.4f} chip {s['chip_accuracy']:.4f}",
              flush=True)
    return out


def report(df) -> str:
    """Markdown: accuracy at Loihi's widths per rule (mean over seeds, worst gap; pow2; netx target),
    and against bits (rows without a ``target`` are the chip target's)."""
    df = df.assign(target=df["target"].fillna("chip")) if "target" in df else df.assign(target="chip")
    nx = df[df.target == "netx"]
    df = df[df.target == "chip"]
    order = [r for r in RULES if r in set(df.rule)]
    pct = lambda v: f"{100 * v.mean():.2f}" if len(v) else ""
    lines = ["| rule | seeds | float % | chip % (8 bit, exact) | gap, mean / worst (points) | chip % (pow2) | "
             "chip % (netx target) | netx gap, mean / worst |",
             "|---|---|---|---|---|---|---|---|"]
    for r in order:
        e = df[(df.rule == r) & (df.policy == "exact") & (df.weight_bits == 8)]
        q = df[(df.rule == r) & (df.policy == "pow2")]
        n = nx[(nx.rule == r) & (nx.weight_bits == 8)]
        ngap = f"{n.gap_points.mean():+.2f} / {n.gap_points.max():+.2f}" if len(n) else ""
        lines.append(f"| {r} | {len(e)} | {pct(e.float_accuracy)} | {pct(e.chip_accuracy)} | "
                     f"{e.gap_points.mean():+.2f} / {e.gap_points.max():+.2f} | {pct(q.chip_accuracy)} | "
                     f"{pct(n.chip_accuracy)} | {ngap} |")
    bits = sorted(set(df[df.policy == "exact"].weight_bits), reverse=True)
    lines += ["", "| rule | float % | " + " | ".join(f"{b} bit" for b in bits) + " |",
              "|---|---|" + "---|" * len(bits)]
    for r in order:
        for tgt, d in (("", df), (", netx", nx)):
            e = d[(d.rule == r) & (d.policy == "exact")]
            if not len(e):
                continue
            cells = [pct(e[e.weight_bits == b].chip_accuracy) for b in bits]
            lines.append(f"| {r}{tgt} (seeds {sorted(set(e.seed))}) | {pct(e.float_accuracy)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="ptq_table", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rules", default=",".join(RULES), help="comma-separated rules (default: all six)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    p.add_argument("--bits", default="8,7,6,5,4,3,2", help="num_weight_bits to evaluate (default: 8..2)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the rule's)")
    p.add_argument("--limit", type=int, default=None, help="training samples (smoke tests)")
    p.add_argument("--dir", default="runs/ptq", help="checkpoint folder (default: runs/ptq)")
    p.add_argument("--json", default="runs/ptq.json", help="rows as JSON (default: runs/ptq.json)")
    p.add_argument("--csv", default=None, help="rows as CSV too")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    p.add_argument("--report", nargs="+", default=None, metavar="ROWS.json",
                   help="no runs: merge these row files and print the markdown tables (with --csv: write "
                        "the merged rows)")
    args = p.parse_args(argv)
    import pandas as pd

    if args.report:
        rows = [r for path in args.report for r in json.load(open(path))]
        df = pd.DataFrame(rows)
        df["target"] = df["target"].fillna("chip") if "target" in df else "chip"
        df = df.drop_duplicates(["rule", "seed", "policy", "weight_bits", "target"])
        if args.csv:
            df.to_csv(args.csv, index=False)
        print(report(df))
        return 0
    import torch

    from rules.train import RULES as ALL

    torch.set_num_threads(args.threads)
    rules = [r for r in args.rules.split(",") if r]
    bad = [r for r in rules if r not in ALL]
    if bad:
        p.error(f"--rules: {bad} not among {ALL}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    bits = [int(b) for b in args.bits.split(",") if b]
    if any(not 1 <= b <= 8 for b in bits):
        p.error(f"--bits={bits}: each must be in [1, 8] (Loihi's weight field)")
    os.makedirs(args.dir, exist_ok=True)
    rows = json.load(open(args.json)) if os.path.exists(args.json) else []
    done = {(r["rule"], r["seed"]) for r in rows}
    for rule in rules:
        for seed in seeds:
            if (rule, seed) in done:
                continue
            rows += rows_for(rule, seed, bits, args.dir, args.epochs, args.limit)
            tmp = args.json + ".tmp"
            with open(tmp, "w") as fh:
                json.dump(rows, fh, indent=1)
            os.replace(tmp, args.json)
            if args.csv:
                pd.DataFrame(rows).to_csv(args.csv, index=False)
    df = pd.DataFrame(rows)
    if len(df):
        t = df[(df.policy == "exact") & (df.target == "chip")].pivot_table(index="rule", columns="weight_bits", values="chip_accuracy",
                                                 aggfunc="mean")
        print((100 * t).round(2).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
