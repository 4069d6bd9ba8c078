"""The learning engine's fast path for outer-product rules (hwsim.learning.outer) against the slow numpy
transcription of Lava's model (hwsim.learning.reference), property-based: random outer rules (any
target, x0 / u / decimated u dependencies, trace, constant and sgn factors), sign modes, roundings,
widths, tags at their lowest value, sparse and dense inputs (t_epoch = 1: the kernels' one-pass spike
phase and trace history, ``traces.pre_epoch1`` / ``post_epoch1``); and that the fast path is really taken."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.learning import LearningDenseEngine, LearningRule
from hwsim.learning import kernels as K
from hwsim.learning.outer import F_OUTER, F_TMIN, outer_program
from hwsim.learning.program import compile_program
from hwsim.learning.reference import ReferenceLearningDense
from hwsim.spec import LOIHI, ChipSpec

SPECS = [LOIHI, ChipSpec(trace_bits=5, trace_frac_bits=3, tag_bits=5, accumulator_bits=11, weight_bits=6),
         ChipSpec(weight_bits=12, tag_bits=10, trace_bits=9, trace_frac_bits=10, accumulator_bits=20)]


@st.composite
def outer_rules(draw):
    """A random outer rule: one to three products per target, dependencies x0, y0 or u (one u decimation
    per rule; y0 only where there are post spikes), factors without w / d / t (sgn applies only to those),
    trace factors with constant offsets (a y0 product's x traces are its cross factors); 3F rules take
    y1..y3 as inputs."""
    kind = draw(st.sampled_from(["3F", "2F", "plain"]))
    xs = ["x1", "x2"]
    ys = [] if kind == "plain" else ["y1", "y2", "y3"]
    targets = draw(st.lists(st.sampled_from(["dw", "dd", "dt"]), min_size=1, max_size=3, unique=True))
    udep = draw(st.sampled_from(["u0", "u1"]))
    deps = ["x0", udep] + ([] if kind == "plain" else ["y0"])
    kw = {}
    for tg in targets:
        terms = []
        for _ in range(draw(st.integers(1, 3))):
            dep = draw(st.sampled_from(deps))
            factors = draw(st.lists(st.sampled_from(xs + ys), min_size=0, max_size=2, unique=True))
            parts = [dep]
            for f in factors:
                if draw(st.booleans()):
                    parts.append(f"({f}{draw(st.sampled_from(['+1', '-2']))})")
                else:
                    parts.append(f)
            mant = draw(st.sampled_from(["", "3*", "-1*", "-5*"]))
            terms.append(f"{mant}2^{draw(st.integers(-4, 1))}*" + "*".join(parts))
        expr = terms[0]
        for t in terms[1:]:
            expr += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
        kw[tg] = expr
    ytr = {} if kind != "2F" else dict(y1_impulse=7, y1_tau=4, y2_impulse=30.5, y2_tau=10, y3_impulse=2, y3_tau=2)
    return LearningRule(x1_impulse=draw(st.sampled_from([0, 12.5, 40])), x1_tau=draw(st.sampled_from([0, 3, 20])),
                        x2_impulse=draw(st.sampled_from([0, 6])), x2_tau=draw(st.sampled_from([0, 5])),
                        kind=kind, rng_seed=draw(st.integers(0, 50)), **ytr, **kw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=outer_rules(), spec=st.sampled_from(SPECS), sign_mode=st.sampled_from(["mixed", "excitatory", "inhibitory"]),
       rounding=st.sampled_from(["stochastic", "nearest", "floor"]), pre_rate=st.sampled_from([0.05, 0.4]),
       y_density=st.sampled_from([0.1, 1.0]), n_post=st.sampled_from([17, 40]), seed=st.integers(0, 1000))
def test_outer_rules_match_reference(rule, spec, sign_mode, rounding, pre_rate, y_density, n_post, seed):
    """n_post 17 and 40: the narrow (one pass) and wide (a delta vector per run of equal row parts) int16 rows."""
    n_pre, T = 11, 14
    rng = np.random.default_rng(seed)
    lo, hi = spec.weight_range(sign_mode)
    th = 2 ** spec.tag_bits - 1
    W = rng.integers(lo, hi + 1, (n_post, n_pre))
    tag_1 = rng.integers(-th - 2, th + 1, (n_post, n_pre))
    tag_1[rng.random((n_post, n_pre)) < 0.1] = -th - 2           # the value Lava's clip moves
    kw = dict(spec=spec, num_weight_bits=spec.weight_bits, sign_mode=sign_mode, rounding=rounding,
              tag_1=tag_1, tag_2=rng.integers(0, th + 1, (n_post, n_pre)))
    eng, ref = LearningDenseEngine(W, rule, **kw), ReferenceLearningDense(W, rule, **kw)
    assert eng._fast[F_OUTER] == 1
    S = rng.random((T, n_pre)) < pre_rate
    ins = {}
    if rule.kind != "plain":
        ins["bap"] = rng.random((T, n_post)) < 0.3
    if rule.kind == "3F":
        for k in ("y1", "y2", "y3"):
            ins[k] = rng.integers(-200, 200, (T, n_post)) * (rng.random((T, n_post)) < y_density)
    a, _ = eng.run(T, S, **ins)
    a_ref = [ref.step(t, S[t - 1], **{k: v[t - 1] for k, v in ins.items()}) for t in range(1, T + 1)]
    np.testing.assert_array_equal(a, np.array(a_ref))
    np.testing.assert_array_equal(eng.weights, ref.weights)
    np.testing.assert_array_equal(eng.tag_1, ref.tag_1)
    np.testing.assert_array_equal(eng.tag_2, ref.tag_2)
    np.testing.assert_array_equal(np.stack([eng.x1, eng.x2]), ref.x)
    np.testing.assert_array_equal(np.stack([eng.y1, eng.y2, eng.y3]), ref.y)


@pytest.mark.parametrize("rule, outer", [
    (LearningRule(dw="-2^-3*u0*x1*y2", x1_impulse=20, x1_tau=2, kind="3F", rng_seed=1), True),
    (LearningRule(dt="3*2^-2*x0*x1*y2", x1_impulse=20, x1_tau=2, kind="3F", rng_seed=1), True),
    (LearningRule(dw="u0*x1*y2 + x0*y1", x1_impulse=20, x1_tau=2, kind="3F", rng_seed=1), True),    # 2 products
    (LearningRule(dw="y0*x1", x1_impulse=20, x1_tau=2, kind="2F", rng_seed=1), True),              # y0
    (LearningRule(dw="-x0*y1 + y0*x1", x1_impulse=20, x1_tau=2, y1_impulse=9, y1_tau=3, kind="2F", rng_seed=1),
     True),                                                                                          # pair STDP
    (LearningRule(dw="x0*y1 + u0*w*2^-4", rng_seed=1, kind="2F"), False),                           # one reads w
    (LearningRule(dw="u0*w*2^-4", rng_seed=1), False),                                              # reads w
    (LearningRule(dw="x0*y1", y1_impulse=3, y1_tau=2, t_epoch=2, rng_seed=1), False),               # t_epoch 2
])
def test_which_programs_are_outer(rule, outer):
    assert outer_program(compile_program(rule, LOIHI)) is outer


def _engines(rule, W, tag_1, rounding="stochastic"):
    fast = LearningDenseEngine(W, rule, tag_1=tag_1, rounding=rounding)
    slow = LearningDenseEngine(W, rule, tag_1=tag_1, rounding=rounding)
    slow._fast[F_OUTER] = 0                         # the generic evaluation (learn_rows) only
    return fast, slow


def test_fast_and_generic_paths_agree_on_everything_and_counters():
    """Same weights, tags, traces and the same synapse counters (the generic path's definition)."""
    rng = np.random.default_rng(3)
    rule = LearningRule(dt="-2^-2*u0*x1*y2", dw="2^-3*x0*x1*y1", x1_impulse=25, x1_tau=4, kind="3F", rng_seed=2)
    W = rng.integers(-200, 200, (40, 60))
    fast, slow = _engines(rule, W, None)
    S = rng.random((30, 60)) < 0.2
    y = {k: rng.integers(-60, 60, (30, 40)) * (rng.random((30, 40)) < 0.5) for k in ("y1", "y2")}
    for e in (fast, slow):
        e.run(30, S, **y)
    np.testing.assert_array_equal(fast._SV, slow._SV)
    np.testing.assert_array_equal(fast._cnt, slow._cnt)
    assert fast.counters.total_synapse_updates == 30 * 40 * 60 + int(S.sum()) * 40


@pytest.mark.parametrize("dt, rounding", [(False, "stochastic"), (True, "stochastic"), (True, "floor")])
def test_fast_and_generic_paths_agree_on_pair_stdp(dt, rounding):
    """Pair STDP (two products on w, x0 and y0) and the same on tag_1 with tags at their lowest value:
    weights, tags, traces and synapse counters as the generic evaluation, many post spikes and few.
    With floor rounding Lava's clip leaves an untouched t_min where it is, so the fast path runs with
    t_min present, and a row without a pre spike clips at the zero x0 term before the y0 term adds."""
    rng = np.random.default_rng(4)
    stdp = "-3*2^-1*x0*y1 + 5*2^-2*y0*x1"
    rule = LearningRule(dw=stdp, dt=stdp if dt else None, x1_impulse=30, x1_tau=6, y1_impulse=20, y1_tau=4,
                        kind="2F", rng_seed=3)
    W = rng.integers(-200, 200, (40, 60))
    tag_1 = np.where(rng.random((40, 60)) < 0.1, -257, rng.integers(-250, 250, (40, 60)))
    fast, slow = _engines(rule, W, tag_1, rounding)
    S = rng.random((40, 60)) < 0.2
    bap = rng.random((40, 40)) < np.linspace(0.02, 0.9, 40)[:, None]
    for e in (fast, slow):
        e.run(40, S, bap=bap)
    np.testing.assert_array_equal(fast._SV, slow._SV)
    np.testing.assert_array_equal(fast._xtr, slow._xtr)
    np.testing.assert_array_equal(fast._ytr, slow._ytr)
    np.testing.assert_array_equal(fast._cnt, slow._cnt)
    assert not np.array_equal(fast.weights, W)


def test_tag_at_lowest_value_takes_the_generic_epoch_then_the_fast_path_again():
    """A tag_1 at t_min, which Lava's clip moves, sends its epochs to the generic evaluation (flag set
    from the state); once none is left the flag clears and the fast path runs again."""
    rng = np.random.default_rng(5)
    rule = LearningRule(dt="2^-1*x0*x1*y2", x1_impulse=25, x1_tau=4, kind="3F", rng_seed=2)
    W = rng.integers(-200, 200, (8, 9))
    tag_1 = np.zeros((8, 9), np.int64)
    tag_1[2, 3] = -257
    fast, slow = _engines(rule, W, tag_1)
    assert fast.kernel_args(1, 1)[1][K.S_FAST][F_TMIN] == 1
    S = np.zeros((6, 9), bool)
    S[:, 0] = True
    y2 = rng.integers(1, 60, (6, 8))
    for e in (fast, slow):
        e.run(6, S, y2=y2)
    np.testing.assert_array_equal(fast.tag_1, slow.tag_1)
    assert fast.tag_1[2, 3] != -257                   # moved by Lava's accumulator clip
    assert fast._fast[F_TMIN] == 0                    # recomputed after the generic epoch
    fast.tag_1[1, 1] = -257                           # written through the view: seen by kernel_args
    assert fast.kernel_args(7, 7)[1][K.S_FAST][F_TMIN] == 1
