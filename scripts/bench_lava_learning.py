"""Lava 0.10.0's CPU speed for on-chip three-factor learning of an OTTT_O-sized network.

Network (one per repetition, ``Loihi2SimCfg(select_tag="fixed_pt")``, 8 Lava processes)::

    spikes  RingBuffer(n_in) -> LearningDense W1 (3F) -> LIF(n_hidden) -> LearningDense W2 (3F) -> LIF(n_out)
    y2      RingBuffer(n_hidden) -> W1.s_in_y2          RingBuffer(n_out) -> W2.s_in_y2
    record  LIF(n_hidden).s_out -> sink RingBuffer (hidden spikes)

Both LearningDense processes learn with
``Loihi3FLearningRule(dw="-2^-3*u0*x1*y2", x1_impulse=X1_IMPULSE, x1_tau=X1_TAU, t_epoch=1)``
(lava-semantics.md section 2.5: the OTTT update, pre trace x1 times the post third factor y2).
y2 is OTTT's "error x surrogate" factor: a signed int32 per post neuron and step in [-127, 127],
nonzero for about ``y2_density`` of the post neurons (small magnitudes, sign restoring; see
``_y2_data`` for why), fed from a fixed-point ``RingBuffer`` (int32 OutPort) into ``s_in_y2`` (int32
InPort of the bit-approximate model); ``s_in_bap``, ``s_in_y1`` and ``s_in_y3`` stay unconnected
(they receive zeros; a bap would clip a negative y2 to 0, lava-semantics.md 2.3).

Weights and neurons are those of the section-5 baseline (W1 in [-32, 32], W2 in [-32, 38], du=1024,
dv=256, vth=500), but even, so the first step's MIXED weight truncation leaves them unchanged and
any difference read back afterwards is learning. The sink records the hidden spikes (for the
hidden rate); the section-5 STDP baseline had one sink too.

Method (lava-semantics.md section 5): each repetition builds a fresh network with seed
``seed + r``, runs ``RunSteps(1)`` untimed (compile + process start + 1 step), times
``RunSteps(T)`` and stops. Results are read only after the timed run, and only in the first
repetition: the hidden sink (hidden_rate) and both weight matrices (``weights.get()`` transfers one
float64 per element: ~15 s for the 784x512 matrix, more than the three timed runs of T=200).

Measured (2-core host shared with other jobs, load average 1.3-2.1; T=200, 3 repeats, defaults):
26.1 / 28.1 ms/step min / median (35.6 steps/s), hidden rate 14 % (16 % in the first quarter of the
run, 10 % in the last), 94 % of W1 and 80 % of W2 changed; 36 s wall time in all, 16.5 s of it the
reads. The section-5 STDP (2F, one LearningDense) baseline was 25.1 / 25.3 ms/step on an idle host.

Usage::

    python -m scripts.bench_lava_learning --T 200 --repeats 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

DW = "-2^-3*u0*x1*y2"
X1_IMPULSE = 16
X1_TAU = 10
DU, DV, VTH = 1024, 256, 500
Y2_SIGMA = 8.0


def _y2_data(rng: np.random.Generator, n: int, T: int, density: float) -> np.ndarray:
    """Signed third factor, int32 (n, T), a stand-in for OTTT's quantised error x surrogate.

    Each step a post neuron gets a nonzero y2 with probability ``density``; its magnitude is
    ``ceil(|N(0, Y2_SIGMA)|)`` clipped to 1..127 and its sign opposes the neuron's running sum of
    earlier y2 (random while that sum is 0), the way a training error pulls back a neuron that
    drifted. Independent random signs make every weight row random-walk (y2 scales all of a post
    neuron's synapses alike) and drive the hidden layer to ~30-45 % within 50 steps, as does a
    uniform |y2| in 1..127 (each such step moves a neuron's input by several standard deviations).
    """
    mag = np.clip(np.ceil(np.abs(rng.normal(0.0, Y2_SIGMA, (n, T)))), 1, 127).astype(np.int64)
    mask = rng.random((n, T)) < density
    coin = np.where(rng.random((n, T)) < 0.5, -1, 1)
    out = np.zeros((n, T), np.int32)
    cum = np.zeros(n, np.int64)
    for t in range(T):
        sign = np.where(cum > 0, -1, np.where(cum < 0, 1, coin[:, t]))
        out[:, t] = mask[:, t] * sign * mag[:, t]
        cum += out[:, t]
    return out


def _build(n_in, n_hidden, n_out, T, input_rate, y2_density, seed):
    """Build the network; return (processes dict, initial weights dict)."""
    from lava.magma.core.learning.learning_rule import Loihi3FLearningRule
    from lava.proc.dense.process import LearningDense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    rng = np.random.default_rng(seed)
    # even weights: MIXED truncation (num_weight_bits=8 drops the LSB) leaves them unchanged
    w1 = 2 * rng.integers(-16, 17, (n_hidden, n_in))
    w2 = 2 * rng.integers(-16, 20, (n_out, n_hidden))
    spikes = (rng.random((n_in, T)) < input_rate).astype(np.int32)
    y2_hidden = _y2_data(rng, n_hidden, T, y2_density)
    y2_out = _y2_data(rng, n_out, T, y2_density)

    def rule(rule_seed):
        return Loihi3FLearningRule(dw=DW, x1_impulse=X1_IMPULSE, x1_tau=X1_TAU, t_epoch=1, rng_seed=rule_seed)

    src = Source(data=spikes)
    ld1 = LearningDense(weights=w1, learning_rule=rule(4 * seed))
    lif1 = LIF(shape=(n_hidden,), du=DU, dv=DV, vth=VTH)
    ld2 = LearningDense(weights=w2, learning_rule=rule(4 * seed + 2))  # trace RNGs use rng_seed..+3
    lif2 = LIF(shape=(n_out,), du=DU, dv=DV, vth=VTH)
    y2_src1 = Source(data=y2_hidden)
    y2_src2 = Source(data=y2_out)
    sink = Sink(shape=(n_hidden,), buffer=T + 1)

    src.s_out.connect(ld1.s_in)
    ld1.a_out.connect(lif1.a_in)
    lif1.s_out.connect(ld2.s_in)
    ld2.a_out.connect(lif2.a_in)
    y2_src1.s_out.connect(ld1.s_in_y2)
    y2_src2.s_out.connect(ld2.s_in_y2)
    lif1.s_out.connect(sink.a_in)
    procs = {"src": src, "ld1": ld1, "lif1": lif1, "ld2": ld2, "lif2": lif2, "sink": sink}
    return procs, {"w1": w1, "w2": w2}


def lava_learning_steps_per_s(n_in=784, n_hidden=512, n_out=10, T=200, input_rate=0.1,
                              y2_density=0.2, seed=0, repeats=3) -> dict:
    """Time Lava's 3F learning network (module docstring); ms/step over ``repeats`` fresh networks."""
    from importlib.metadata import version

    from hwsim._optional import require_lava

    require_lava("scripts.bench_lava_learning")

    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    if T < 1 or repeats < 1:
        raise ValueError("T and repeats must be >= 1")
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    t_start, load_before = time.perf_counter(), list(os.getloadavg())
    run_s = []
    checks = {}
    for r in range(repeats):
        procs, w0 = _build(n_in, n_hidden, n_out, T, input_rate, y2_density, seed + r)
        lif1 = procs["lif1"]
        try:
            lif1.run(condition=RunSteps(num_steps=1), run_cfg=cfg)   # compile + spawn + 1 step
            t0 = time.perf_counter()
            lif1.run(condition=RunSteps(num_steps=T), run_cfg=cfg)
            run_s.append(time.perf_counter() - t0)
            if r == 0:  # once, outside the timed part: reads are slow (one float64 per element)
                t1 = time.perf_counter()
                hidden = procs["sink"].data.get() != 0          # (n_hidden, T + 1)
                w1 = procs["ld1"].weights.get()
                w2 = procs["ld2"].weights.get()
                per_step = hidden.mean(axis=0)
                q = max(1, per_step.size // 4)
                checks = {
                    "hidden_rate": float(hidden.mean()),
                    "hidden_rate_first_last_quarter": [float(per_step[:q].mean()), float(per_step[-q:].mean())],
                    "hidden_silent_fraction": float(np.mean(~hidden.any(axis=1))),
                    "w1_changed_fraction": float(np.mean(w1 != w0["w1"])),
                    "w2_changed_fraction": float(np.mean(w2 != w0["w2"])),
                    "w1_mean_abs_change": float(np.mean(np.abs(w1 - w0["w1"]))),
                    "read_s": time.perf_counter() - t1,
                }
        finally:
            lif1.stop()
    ms = [1e3 * s / T for s in run_s]
    med = float(statistics.median(ms))
    return {
        "lava_ms_per_step_min": float(min(ms)),
        "lava_ms_per_step_median": med,
        "lava_steps_per_s": 1e3 / med,
        "T": T, "repeats": repeats, "n_in": n_in, "n_hidden": n_hidden, "n_out": n_out,
        "input_rate": input_rate, "y2_density": y2_density,
        "hidden_rate": checks["hidden_rate"],
        "weights_changed": checks["w1_changed_fraction"] > 0 and checks["w2_changed_fraction"] > 0,
        "lava_version": version("lava-nc"),
        "lava_ms_per_step_all": ms,
        "lava_processes": 8,
        "wall_s": time.perf_counter() - t_start,
        "load_average_before_after": [load_before, list(os.getloadavg())],
        "details": checks,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench_lava_learning", description=__doc__.split("\n\n")[0])
    p.add_argument("--n-in", type=int, default=784)
    p.add_argument("--n-hidden", type=int, default=512)
    p.add_argument("--n-out", type=int, default=10)
    p.add_argument("--T", type=int, default=200)
    p.add_argument("--input-rate", type=float, default=0.1)
    p.add_argument("--y2-density", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    res = lava_learning_steps_per_s(a.n_in, a.n_hidden, a.n_out, a.T, a.input_rate, a.y2_density, a.seed,
                                    a.repeats)
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
