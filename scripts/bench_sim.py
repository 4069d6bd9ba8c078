"""Benchmark hwsim against Lava 0.10.0 (CPU, fixed_pt) on the same networks and inputs.

Cases (lava-semantics.md section 5 for the MLP):

* ``mlp_rate2`` / ``mlp_rate10``: 784 -> Dense -> LIF(512) -> Dense -> LIF(10), W1 ~ U[-32, 33),
  W2 ~ U[-32, 39), du=1024, dv=256, vth=500, Bernoulli input at 2 % / 10 %.
* ``conv``: (2, 16, 16) -> Conv 8x2x3x3 -> LIF(8, 14, 14) -> Dense -> LIF(10), conv weights
  U[-32, 40), dense U[-32, 33), same neurons, input 10 %.

Method. hwsim: one Simulator per case, a short warm-up run (numba compilation), then ``repeats``
timed ``run(T)`` calls from the initial state. Lava: the exported graph
(:func:`hwsim.export.lava.run_lava`) runs ``RunSteps(1)`` first (compile + process start), then
``RunSteps(T - 1)`` is timed (reading results is not timed). The Lava graph has one recorder
process per population besides the sources, neurons and synapses. Every Lava repetition's
spikes (all populations, all T steps) are compared with hwsim's; u and v of every compartment
are compared on the first 100 steps (:func:`hwsim.export.verify.verify_against_lava`).
Batched: B instances of the same network with independent inputs in one ``run``.

For the MLP cases the JSON also gives the speedup against Lava's speed measured on an idle host
(``lava_reference_ms_per_step_idle_host``, lava-semantics.md section 5), since a loaded machine
slows Lava's many processes more than hwsim.

Synaptic events = sum over steps and sources of (nonzero spike) x (number of synapses of the
source), i.e. input spikes x 512 + hidden spikes x 10 for the MLP. Rates are medians over the
repetitions (best values are reported too). The host's load average is recorded before and
after: other jobs on a shared machine slow both simulators.

Usage::

    python scripts/bench_sim.py --json runs/bench_sim.json [--steps 1000] [--batch 256] [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

GOAL_SPEEDUP = 100.0
# Lava's median ms/step for this MLP measured on an otherwise idle 2-core host (lava-semantics.md
# section 5, Dense, T = 1000, 3 repetitions): a load-independent reference next to the Lava timing
# taken in the same run as hwsim.
LAVA_REFERENCE_MS_PER_STEP = {"mlp_rate2": 0.817, "mlp_rate10": 0.944}
GOAL_BATCHED_EVENTS_PER_S = 1e9
UV_CHECK_STEPS = 100


# ---------------------------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------------------------
def mlp_network(rng: np.random.Generator):
    """784 -> LIF 512 -> LIF 10 (lava-semantics.md section 5)."""
    from hwsim.network import Network

    net = Network(name="mlp_784_512_10")
    net.add_input("in", 784)
    net.add_population("hidden", 512, du=1024, dv=256, vth=500)
    net.add_population("out", 10, du=1024, dv=256, vth=500)
    net.connect_dense("w1", "in", "hidden", rng.integers(-32, 33, (512, 784)))
    net.connect_dense("w2", "hidden", "out", rng.integers(-32, 39, (10, 512)))
    return net


def conv_network(rng: np.random.Generator):
    """(2, 16, 16) -> conv 8x3x3 -> LIF (8, 14, 14) -> dense -> LIF 10."""
    from hwsim.network import Network

    net = Network(name="conv_2x16x16_8c3_10")
    net.add_input("in", (2, 16, 16))
    net.add_population("conv1", (8, 14, 14), du=1024, dv=256, vth=500)
    net.add_population("out", 10, du=1024, dv=256, vth=500)
    net.connect_conv("k1", "in", "conv1", rng.integers(-32, 40, (8, 2, 3, 3)))
    net.connect_dense("w2", "conv1", "out", rng.integers(-32, 33, (10, 8 * 14 * 14)))
    return net


def bernoulli(rng, shape, rate) -> np.ndarray:
    return (rng.random(shape) < rate).astype(np.int8)


def fanout(net) -> dict:
    """Per source node, synapses per source channel (summed over its projections)."""
    from hwsim.export.lava import conv_to_sparse
    from hwsim.network import ConvProjection, DenseProjection

    out = {}
    for p in net.projections.values():
        n_src = net.node(p.src).size
        if isinstance(p, DenseProjection):
            deg = np.full(n_src, p.weights.shape[0], np.int64)
        elif isinstance(p, ConvProjection):
            _, src, _ = conv_to_sparse(p, net.node(p.src).shape, net.node(p.dst).shape)
            deg = np.bincount(src, minlength=n_src)
        else:
            deg = np.bincount(p.src_index, minlength=n_src)
        out[p.src] = out.get(p.src, 0) + deg
    return out


def synaptic_events(net, inputs: dict, spikes: dict) -> int:
    """Sum over steps (and instances) of nonzero source activity x fan-out."""
    deg = fanout(net)
    total = 0
    for name, d in deg.items():
        a = inputs[name] if name in inputs else spikes[name]
        a = np.asarray(a)
        active = (a.reshape(-1, d.size) != 0).sum(axis=0)
        total += int(active @ d)
    return total


# ---------------------------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------------------------
def _median(xs):
    return float(statistics.median(xs))


def bench_case(name, net, x, batch, repeats, log) -> dict:
    from hwsim.export.lava import run_lava
    from hwsim.export.verify import verify_against_lava
    from hwsim.simulator import Simulator

    T = x.shape[0]
    inputs = {"in": x}
    sim = Simulator(net)
    sim.run(min(T, 10), inputs={"in": x[:min(T, 10)]})          # numba compilation
    times, rec = [], None
    for _ in range(repeats):
        sim.reset()
        t0 = time.perf_counter()
        rec = sim.run(T, inputs=inputs)
        times.append(time.perf_counter() - t0)
    events = synaptic_events(net, inputs, rec.spikes)
    hw_sps = [T / t for t in times]
    log(f"[{name}] hwsim: {_median(hw_sps):.0f} steps/s (median of {repeats}), {events} synaptic events")

    lava_sps, identical, n_proc = [], True, None
    first_diff = None
    for _ in range(repeats):
        out = run_lava(net, inputs, T)
        tm = out["timing"]
        lava_sps.append(tm["timed_steps"] / tm["run_s"])
        n_proc = tm["n_processes"]
        for pop in net.populations:
            if not np.array_equal(out["spikes"][pop], rec.spikes[pop]):
                identical = False
                if first_diff is None:
                    row = int(np.argwhere(out["spikes"][pop] != rec.spikes[pop])[0][0])
                    first_diff = f"{pop}: first differing step {row + 1}"
    log(f"[{name}] lava: {_median(lava_sps):.0f} steps/s (median of {repeats}), spikes identical: {identical}")
    n_uv = min(T, UV_CHECK_STEPS)
    report = verify_against_lava(net, {"in": x[:n_uv]}, n_uv)
    log(f"[{name}] u/v/s on the first {n_uv} steps: {'identical' if report.identical else 'MISMATCH'}")

    res = {
        "network": net.name,
        "populations": {p: int(v.size) for p, v in net.populations.items()},
        "steps": T,
        "input_rate": float(np.count_nonzero(x) / x.size),
        "spike_rates": {p: float(np.count_nonzero(s) / s.size) for p, s in rec.spikes.items()},
        "hwsim_steps_per_s": _median(hw_sps),
        "hwsim_steps_per_s_best": max(hw_sps),
        "hwsim_run_s": times,
        "lava_steps_per_s": _median(lava_sps),
        "lava_steps_per_s_best": max(lava_sps),
        "lava_ms_per_step": 1e3 / _median(lava_sps),
        "lava_timed_steps": T - 1,
        "lava_processes": n_proc,
        "speedup_vs_lava": _median(hw_sps) / _median(lava_sps),
        "synaptic_events": events,
        "hwsim_counter_synaptic_ops": int(rec.counters.synaptic_ops.sum()),
        "synaptic_events_per_s": events * _median(hw_sps) / T,
        "outputs_identical": identical,
        "outputs_compared": "spikes of all populations, every step, every Lava repetition",
        "uv_identical_first_steps": report.identical,
        "uv_steps_compared": n_uv,
    }
    if first_diff:
        res["first_difference"] = first_diff
    if not report.identical:
        res["uv_first_mismatch"] = report.summary().splitlines()[1].strip()

    if batch:
        rng = np.random.default_rng(12345)
        rate = float(np.count_nonzero(x) / x.size)
        xb = bernoulli(rng, (T, batch) + x.shape[1:], rate)
        xb[:, 0] = x
        bsim = Simulator(net)
        bsim.run(min(T, 10), inputs={"in": xb[:min(T, 10)]})
        btimes, brec = [], None
        for _ in range(repeats):
            bsim.reset()
            brec = None
            t0 = time.perf_counter()
            brec = bsim.run(T, inputs={"in": xb})
            btimes.append(time.perf_counter() - t0)
        bevents = synaptic_events(net, {"in": xb}, brec.spikes)
        same0 = all(np.array_equal(brec.spikes[p][:, 0], rec.spikes[p]) for p in net.populations)
        res.update({
            "batch": batch,
            "batched_run_s": btimes,
            "batched_synaptic_events": bevents,
            "batched_synaptic_events_per_s": bevents / _median(btimes),
            "batched_synaptic_events_per_s_best": bevents / min(btimes),
            "batched_instance_steps_per_s": batch * T / _median(btimes),
            "batch_instance0_identical_to_single": same0,
        })
        log(f"[{name}] batch {batch}: {res['batched_synaptic_events_per_s']:.3g} synaptic events/s "
            f"(median of {repeats}), instance 0 identical: {same0}")
        del xb, brec
    res["goal_speedup_met"] = res["speedup_vs_lava"] >= GOAL_SPEEDUP
    if batch:
        res["goal_batched_events_met"] = res["batched_synaptic_events_per_s"] >= GOAL_BATCHED_EVENTS_PER_S
    return res


def machine_info() -> dict:
    import numba

    info = {"cpu_count": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor(), "numpy": np.__version__, "numba": numba.__version__,
            "numba_threads": numba.get_num_threads()}
    try:
        from importlib.metadata import version
        info["lava_nc"] = version("lava-nc")
    except Exception:  # pragma: no cover
        info["lava_nc"] = None
    try:
        with open("/proc/cpuinfo") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        info["cpu_model"] = names[0] if names else None
    except OSError:  # pragma: no cover
        info["cpu_model"] = None
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench_sim.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", metavar="PATH", required=True, help="write the results here")
    parser.add_argument("--steps", type=int, default=1000, metavar="T", help="time steps per run (default 1000)")
    parser.add_argument("--batch", type=int, default=256, metavar="B",
                        help="instances in the batched run; 0 skips it (default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions per measurement (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and inputs (default 0)")
    parser.add_argument("--cases", default="mlp_rate2,mlp_rate10,conv",
                        help="comma-separated subset of mlp_rate2, mlp_rate10, conv")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 100 steps, batch 16, 1 repetition")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.batch, args.repeats = 100, min(args.batch, 16), 1
    if args.steps < 2 or args.repeats < 1 or args.batch < 0:
        parser.error("--steps must be >= 2, --repeats >= 1, --batch >= 0")

    def log(msg):
        print(msg, flush=True)

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    known = {"mlp_rate2": 0.02, "mlp_rate10": 0.10, "conv": 0.10}
    bad = [c for c in cases if c not in known]
    if bad:
        parser.error(f"unknown case(s) {bad}; choose from {sorted(known)}")
    result = {"command": " ".join(["python", "scripts/bench_sim.py"] + list(sys.argv[1:] if argv is None else argv)),
              "machine": machine_info(), "load_average_before": list(os.getloadavg()),
              "settings": {"steps": args.steps, "batch": args.batch, "repeats": args.repeats, "seed": args.seed},
              "goals": {"speedup_vs_lava": GOAL_SPEEDUP, "batched_synaptic_events_per_s": GOAL_BATCHED_EVENTS_PER_S},
              "cases": {}}
    t_start = time.perf_counter()
    for case in cases:
        rng = np.random.default_rng(args.seed)
        net = mlp_network(rng) if case.startswith("mlp") else conv_network(rng)
        shape = net.inputs["in"].shape
        x = bernoulli(rng, (args.steps,) + shape, known[case])
        res = bench_case(case, net, x, args.batch, args.repeats, log)
        ref = LAVA_REFERENCE_MS_PER_STEP.get(case)
        if ref is not None:
            res["lava_reference_ms_per_step_idle_host"] = ref
            res["speedup_vs_lava_reference"] = res["hwsim_steps_per_s"] * ref / 1e3
        result["cases"][case] = res
    result["load_average_after"] = list(os.getloadavg())
    result["wall_s"] = time.perf_counter() - t_start
    result["all_outputs_identical"] = all(c["outputs_identical"] and c["uv_identical_first_steps"]
                                          and c.get("batch_instance0_identical_to_single", True)
                                          for c in result["cases"].values())
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {path}")
    for case, c in result["cases"].items():
        log(f"{case:>11}: hwsim {c['hwsim_steps_per_s']:9.0f} steps/s, lava {c['lava_steps_per_s']:6.0f} steps/s, "
            f"speedup {c['speedup_vs_lava']:6.1f}x, {c['synaptic_events_per_s']:.3g} ev/s"
            + (f", batched {c['batched_synaptic_events_per_s']:.3g} ev/s" if args.batch else "")
            + f", identical {c['outputs_identical'] and c['uv_identical_first_steps']}")
    return 0 if result["all_outputs_identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
