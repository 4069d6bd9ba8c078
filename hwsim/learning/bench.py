"""Speed of the learning engine: microseconds per step of a LearningDense with STDP.

Default network: 784 pre x 512 post (401,408 synapses), STDPLoihi(lr=1, A+=1, A-=-1, tau 10/10,
t_epoch=1), Bernoulli pre spikes and bap spikes at the given rates, weights U[-32, 32]: the learning
layer of ../shared/reference/lava-semantics.md section 5, whose Lava fixed_pt baseline is 20-27 ms
per step on the 2-core reference host. The first (compiling) run is excluded; each figure is the
minimum over ``repeats`` runs of ``steps`` steps, as wall time and as this thread's CPU time (the
CPU time is less sensitive to other processes on a shared machine).

``--outer`` times OTTT's outer-product rules (``m*2^e*u0*x1*y2``, ``m*2^e*x0*x1*y2``, 3F, y2 inputs with
half the entries non-zero) on the fast path (:mod:`hwsim.learning.outer`) and on the generic evaluation
(``learn_rows``) in the same run, and checks that both give the same weights and counters.

Run: ``python -m hwsim.learning.bench`` (``--help`` for options).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from .engine import LearningDenseEngine
from .outer import F_OUTER
from .rule import LearningRule, stdp_loihi

__all__ = ["bench_stdp", "bench_outer", "main"]


def bench_stdp(n_pre: int = 784, n_post: int = 512, pre_rate: float = 0.1, post_rate: float = 0.1,
               steps: int = 400, repeats: int = 5, t_epoch: int = 1, seed: int = 0) -> dict:
    """Time ``LearningDenseEngine.run`` on random spikes.

    Returns
    -------
    dict
        ``wall_us`` and ``cpu_us`` (minimum per step, microseconds), ``wall_us_median``,
        ``synapse_updates_per_step`` and the inputs.
    """
    rng = np.random.default_rng(seed)
    W = rng.integers(-32, 33, (n_post, n_pre))
    S = rng.random((steps, n_pre)) < pre_rate
    B = rng.random((steps, n_post)) < post_rate
    rule = stdp_loihi(1, 1, -1, 10, 10, t_epoch=t_epoch, rng_seed=seed + 1)
    LearningDenseEngine(W, rule).run(min(steps, 4), S[:4], bap=B[:4])      # compile / load cache
    walls, cpus = [], []
    eng = None
    for _ in range(repeats):
        eng = LearningDenseEngine(W, rule)
        t0, c0 = time.perf_counter(), time.thread_time()
        eng.run(steps, S, bap=B)
        cpus.append((time.thread_time() - c0) / steps * 1e6)
        walls.append((time.perf_counter() - t0) / steps * 1e6)
    return dict(n_pre=n_pre, n_post=n_post, pre_rate=pre_rate, post_rate=post_rate, steps=steps,
                t_epoch=t_epoch, wall_us=min(walls), wall_us_median=float(np.median(walls)),
                cpu_us=min(cpus),
                synapse_updates_per_step=eng.counters.total_synapse_updates / steps)


def bench_outer(rule_string: str, n_pre: int = 784, n_post: int = 512, pre_rate: float = 0.14,
                y_density: float = 0.5, steps: int = 300, repeats: int = 3, seed: int = 0) -> dict:
    """Microseconds per step of ``rule_string`` (a ``dw`` of a 3F rule) on the fast path and on the generic
    evaluation, same inputs: ``fast_us``, ``generic_us`` (minimum over ``repeats``), ``identical``."""
    rng = np.random.default_rng(seed)
    W = rng.integers(-100, 100, (n_post, n_pre))
    S = rng.random((steps, n_pre)) < pre_rate
    Y = (rng.integers(-40, 40, (steps, n_post)) * (rng.random((steps, n_post)) < y_density)).astype(np.int32)
    rule = LearningRule(dw=rule_string, x1_impulse=20, x1_tau=4.0, kind="3F", rng_seed=seed + 3)
    out, states = {}, {}
    for name, fast in (("fast", 1), ("generic", 0)):
        times = []
        for _ in range(repeats + 1):                          # the first run compiles / loads the cache
            eng = LearningDenseEngine(W, rule)
            eng._fast[F_OUTER] = fast
            t0 = time.perf_counter()
            eng.run(steps, S, y2=Y)
            times.append((time.perf_counter() - t0) / steps * 1e6)
        out[f"{name}_us"] = min(times[1:])
        states[name] = (eng._SV.copy(), eng._cnt.copy())
    out["identical"] = all(np.array_equal(a, b) for a, b in zip(states["fast"], states["generic"]))
    return dict(rule=rule_string, n_pre=n_pre, n_post=n_post, pre_rate=pre_rate, y_density=y_density, **out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-pre", type=int, default=784)
    ap.add_argument("--n-post", type=int, default=512)
    ap.add_argument("--rates", default="0.02:0.04,0.1:0.1,0.1:0.5,0.1:0.85",
                    help="comma-separated pre:post spike rates")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--t-epoch", type=int, default=1)
    ap.add_argument("--outer", action="store_true", help="OTTT's rules: fast path against the generic one")
    args = ap.parse_args(argv)
    if args.outer:
        print("LearningDense 3F, OTTT rules: fast path (hwsim.learning.outer) vs generic (learn_rows), same run")
        for rs, npre, npost in (("2^-2*u0*x1*y2", 784, 512), ("2^-2*x0*x1*y2", 784, 512), ("2^-2*u0*x1*y2", 512, 10)):
            r = bench_outer(rs, npre, npost, steps=args.steps, repeats=args.repeats)
            print(f"  {rs:>16} {npre} x {npost}: fast {r['fast_us']:7.1f} us/step, generic {r['generic_us']:7.1f} "
                  f"us/step, identical: {r['identical']}")
        return 0
    print(f"LearningDense STDP {args.n_pre} x {args.n_post}, t_epoch={args.t_epoch}, "
          f"{args.steps} steps, min of {args.repeats}")
    for pair in args.rates.split(","):
        pre, post = (float(x) for x in pair.split(":"))
        r = bench_stdp(args.n_pre, args.n_post, pre, post, args.steps, args.repeats, args.t_epoch)
        print(f"  pre {pre:.2f} post {post:.2f}: {r['wall_us']:7.1f} us/step wall "
              f"(median {r['wall_us_median']:.1f}), {r['cpu_us']:7.1f} us/step CPU, "
              f"{r['synapse_updates_per_step']:9.0f} synapse updates/step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
