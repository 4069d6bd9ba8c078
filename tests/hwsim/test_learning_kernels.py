"""Learning kernels (hwsim.learning.kernels) against slow pure-Python/numpy forms of Lava's arithmetic.

Tier (a) of the test plan: bit operations against a slow oracle, with hypothesis; plus one learning
epoch of the compiled engine against hwsim.learning.reference (a statement-by-statement numpy
transcription of Lava's LearningConnectionModelBitApproximate) on random rules and states.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hwsim.learning import LearningDenseEngine, LearningRule, RuleError
from hwsim.learning import kernels as K
from hwsim.learning.reference import ReferenceLearningDense
from hwsim.spec import LOIHI, ChipSpec

INT64 = st.integers(-(1 << 40), 1 << 40)


@settings(deadline=None)
@given(x=INT64)
def test_wrap32_is_int32_cast(x):
    assert K.wrap32(x) == int(np.array(x).astype(np.int64).astype(np.int32))


@settings(deadline=None)
@given(v=st.integers(-300, 300), r=st.integers(0, 127), ii=st.integers(0, 200), ff=st.integers(0, 256))
def test_add_impulse_matches_lava(v, r, ii, ff):
    # lava: clip(stochastic_round(v + imp_int, r, imp_frac), 0, 2**W_TRACE - 1)
    lava = np.clip((np.array([v + ii]) + (r < np.array([ff])).astype(int)).astype(int), 0, 127)[0]
    assert K.add_impulse(v, r, ii, ff, 127) == lava


@settings(deadline=None)
@given(v=st.integers(-(1 << 31), (1 << 31) - 1), tau=st.sampled_from([1, 2, 3.5, 10, 65535]),
       r=st.floats(0, 1, exclude_max=True))
def test_decay_value_matches_lava(v, tau, r):
    # lava: f = exp(-t / taus) * v; floor(f) + (r < f % 1)
    f = np.exp(-1 / np.array([[tau]])) * np.array([[v]])
    lava = (np.floor(f) + (r < f % 1).astype(int)).astype(int)[0, 0]
    factor = np.exp(-1 / np.array([[tau]]))[0, 0]
    assert K.decay_value(np.int64(v), factor, r) == lava


@settings(deadline=None)
@given(x=st.integers(-(1 << 31), (1 << 31) - 1), rs=st.integers(0, 20), ls=st.integers(0, 15))
def test_finish_term_matches_int32_numpy(x, rs, ls):
    cur = np.array([x], dtype=np.int32)
    cur = np.left_shift(np.right_shift(cur, rs), ls)
    lava = np.clip(cur, -(2 ** 15) - 1, 2 ** 15 - 1)[0]
    assert K.finish_term(x, rs, ls, -(2 ** 15) - 1, 2 ** 15 - 1) == lava


def _lava_single_term(v, term, r, sh, acc_bits, sat, lo, hi):
    """Lava's sequence for one product on one synapse: accumulate, saturate, stochastic round, clip."""
    alo, ahi = -(2 ** acc_bits) - 1, 2 ** acc_bits - 1
    a = np.clip((np.array([v], np.int64) << sh) + term, alo, ahi)
    if sat == "max0":
        a = np.maximum(0, a)
    elif sat == "min0":
        a = np.minimum(0, a)
    ip = a / 2 ** sh
    ip = (np.floor(ip) + (r < ip % 1).astype(int)).astype(int)
    return int(np.clip((ip * 2 ** sh) >> sh, lo, hi)[0])


@settings(max_examples=400, deadline=None)
@given(data=st.data(), target=st.sampled_from(["w mixed", "w excitatory", "w inhibitory", "tag_2"]),
       bits=st.sampled_from([(15, 8), (15, 7), (12, 6), (10, 10), (16, 8)]),
       r=st.floats(0, 1, exclude_max=True))
def test_single_term_delta_equals_lava_sequence(data, target, bits, r):
    """The shortcut ``clip(v + delta_of(term))`` used for single-product updates of w and tag_2 is
    exactly Lava's accumulate-saturate-round-clip, with ``thr = floor(r * 2**sh)``."""
    acc_bits, var_bits = bits
    sh = acc_bits - var_bits
    if target == "tag_2":
        lo, hi, sat = 0, 2 ** var_bits - 1, "max0"
    else:
        lo, hi = ChipSpec(weight_bits=var_bits, accumulator_bits=max(acc_bits, var_bits)).weight_range(
            target.split()[1])
        sat = {"mixed": None, "excitatory": "max0", "inhibitory": "min0"}[target.split()[1]]
    v = data.draw(st.integers(lo, hi))
    term = data.draw(st.integers(-(2 ** acc_bits) - 1, 2 ** acc_bits - 1))
    thr = int(np.floor(r * (1 << sh)))
    fast = int(np.clip(v + K.delta_of(term, sh, thr), lo, hi))
    assert fast == _lava_single_term(v, term, r, sh, acc_bits, sat, lo, hi)


def test_single_term_delta_not_valid_for_tag1_floor():
    """Why tag_1 never takes the shortcut: its lowest value starts outside the accumulator range."""
    v, term, r, sh = -257, 5, 126.5 / 128, 7
    lava = _lava_single_term(v, term, r, sh, 15, None, -257, 255)
    fast = int(np.clip(v + K.delta_of(term, sh, int(np.floor(r * 128))), -257, 255))
    assert lava != fast


# ---- one learning epoch, compiled engine vs the slow reference ----------------------------------
_VARS = ["x1", "x2", "y1", "y2", "y3", "w", "d", "t", "x0", "y0"]


@st.composite
def rule_strings(draw):
    def factor():
        kind = draw(st.integers(0, 5))
        v = draw(st.sampled_from(_VARS))
        c = draw(st.integers(-9, 9))
        if kind <= 2:
            return v
        if kind == 3:
            return f"({v}{c:+d})"
        if kind == 4:
            return f"sgn({draw(st.sampled_from(['w', 'd', 't']))}{c:+d})"
        return f"(x1{draw(st.sampled_from(['+', '-']))}2^-1)"     # a non-integer constant

    def product():
        dep = draw(st.sampled_from(["x0", "y0", "u0"]))
        m = draw(st.integers(-8, 7))
        e = draw(st.integers(-7, 3))
        fs = [factor() for _ in range(draw(st.integers(0, 3)))]
        return "*".join([f"{m}*2^{e}", dep] + fs)
    return " + ".join(product() for _ in range(draw(st.integers(1, 3))))


@st.composite
def rules(draw):
    kind = draw(st.sampled_from(["2F", "3F", "plain"]))
    targets = draw(st.lists(st.sampled_from(["dw", "dd", "dt"]), min_size=1, max_size=3, unique=True))
    kw = {t: draw(rule_strings()) for t in targets}
    imp = st.sampled_from([0, 1, 5.5, 16, 20.25, 127, 200])
    tau = st.sampled_from([0, 1, 2.5, 4, 10, 100])
    for n in ("x1", "x2") + (("y1", "y2", "y3") if kind != "3F" else ()):
        kw[f"{n}_impulse"] = draw(imp)
        kw[f"{n}_tau"] = draw(tau)
    kw["t_epoch"] = draw(st.integers(1, 3))
    kw["rng_seed"] = draw(st.integers(0, 1000))
    try:
        return LearningRule(kind=kind, **kw)
    except RuleError:
        assume(False)


@settings(max_examples=60, deadline=None)
@given(rule=rules(), seed=st.integers(0, 2 ** 16),
       sign_mode=st.sampled_from(["mixed", "excitatory", "inhibitory"]),
       spec=st.sampled_from([LOIHI, ChipSpec(trace_bits=5, trace_frac_bits=4, tag_bits=6,
                                             accumulator_bits=12, weight_bits=6)]),
       rates=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_one_epoch_matches_reference(rule, seed, sign_mode, spec, rates):
    """Random state (weights, tags, traces, spike times), then the steps of one epoch."""
    rng = np.random.default_rng(seed)
    n_pre, n_post = 6, 5
    lo, hi = spec.weight_range(sign_mode)
    th = 2 ** spec.tag_bits - 1
    W = rng.integers(lo, hi + 1, (n_post, n_pre))
    kw = dict(sign_mode=sign_mode, spec=spec, num_weight_bits=spec.weight_bits,
              tag_1=rng.integers(-th - 2, th + 1, (n_post, n_pre)),
              tag_2=rng.integers(0, th + 1, (n_post, n_pre)))
    eng = LearningDenseEngine(W, rule, **kw)
    ref = ReferenceLearningDense(W, rule, **kw)
    tmax = 2 ** spec.trace_bits
    x = rng.integers(0, tmax, (2, n_pre))
    y = rng.integers(0, tmax, (3, n_post)) if rule.kind == "2F" else rng.integers(-300, 300, (3, n_post))
    eng._xtr[:] = ref.x[:] = x
    eng._ytr[:] = ref.y[:] = y
    for t in range(1, rule.t_epoch + 1):
        s = rng.random(n_pre) < rates[0]
        b = rng.random(n_post) < rates[1] if rule.kind != "plain" else None
        ys = {}
        if rule.kind == "3F":
            ys = {f"y{k}": rng.integers(-200, 200, n_post) for k in (1, 2, 3)}
        np.testing.assert_array_equal(eng.step(t, s, bap=b, **ys), ref.step(t, s, bap=b, **ys))
    np.testing.assert_array_equal(eng.weights, ref.weights)
    np.testing.assert_array_equal(eng.tag_1, ref.tag_1)
    np.testing.assert_array_equal(eng.tag_2, ref.tag_2)
    np.testing.assert_array_equal(eng._xtr, ref.x)
    np.testing.assert_array_equal(eng._ytr, ref.y)


def test_learn_rows_py_func_matches_compiled():
    """The numba kernel and its Python form agree (so NUMBA_DISABLE_JIT coverage runs test the
    same code)."""
    rule = LearningRule(dw="x0*y1 - 2^-2*y0*x1*w + u0*(w-4)*2^-6", dt="y0*sgn(t+1) + x0*x2",
                        x1_impulse=20, x1_tau=4, x2_impulse=9, x2_tau=2, y1_impulse=12, y1_tau=3,
                        rng_seed=3)
    W = np.random.default_rng(0).integers(-256, 256, (7, 9))
    outs = []
    for fn in (K.learn_rows, K.learn_rows.py_func):
        rng = np.random.default_rng(1)
        eng = LearningDenseEngine(W, rule)
        eng.run(5, rng.random((5, 9)) < 0.4, bap=rng.random((5, 7)) < 0.4)
        p = eng.program
        tx = (rng.random(9) < 0.5).astype(np.int64)
        ty = (rng.random(7) < 0.5).astype(np.int64)
        R = np.nonzero(ty)[0].astype(np.uint32)
        eng._R[:len(R)] = R
        K.build_tables(p.prod, p.fac, p.fac_c, 1, tx, ty, eng._Hx, eng._Hy, eng._A, eng._B, eng._G,
                       eng._TA, eng._TB, eng._raw_pre, eng._raw_post, p.acc_lo, p.acc_hi)
        fn(p.prod, p.fac, p.fac_c, p.tgt, 1, 0.37, tx, ty, eng._R, len(R), eng._A, eng._B, eng._G,
           eng._TA, eng._TB, eng._SV, eng._acc, eng._gb, eng._dvec, eng._y0m, eng._y0b, eng._Dx, p.acc_lo,
           p.acc_hi, eng._cnt, eng._small)
        outs.append(eng._SV.copy())
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("T", [1, 3])
def test_trace_history_matches_reference_histories(T):
    rule = LearningRule(dw="x0*y1", x1_impulse=16.5, x1_tau=7, x2_impulse=3.25, x2_tau=0,
                        y1_impulse=40, y1_tau=2, y2_impulse=0.75, y2_tau=30, t_epoch=T, rng_seed=9)
    rng = np.random.default_rng(2)
    eng = LearningDenseEngine(np.zeros((4, 5), int), rule)
    ref = ReferenceLearningDense(np.zeros((4, 5), int), rule)
    x = rng.integers(0, 128, (2, 5))
    y = rng.integers(0, 128, (3, 4))
    ref.x[:] = x
    ref.y[:] = y
    ref.tx[:] = rng.integers(0, T + 1, 5)
    ref.ty[:] = rng.integers(0, T + 1, 4)
    ref.x_rng.decay, ref.x_rng.imp = 0.41, 77
    ref.y_rng.decay, ref.y_rng.imp = 0.93, 3
    Hx, Hy = ref._histories()
    p = eng.program
    K.trace_history(eng._Hx, x, ref.tx, 0, p.decay, p.tau_nz, p.imp_int, p.imp_frac, 0.41, 77, 127, p.trace_need)
    K.trace_history(eng._Hy, y, ref.ty, 2, p.decay, p.tau_nz, p.imp_int, p.imp_frac, 0.93, 3, 127, p.trace_need)
    s0 = 1 if T == 1 else 0            # one-step epochs do not keep H[0] (every reader takes H[1])
    np.testing.assert_array_equal(eng._Hx[s0:], Hx[s0:])
    np.testing.assert_array_equal(eng._Hy[s0:], Hy[s0:])


@pytest.mark.parametrize("dtype", [np.int16, np.int32])
@pytest.mark.parametrize("rate, pmax, w_hi", [(0.05, 255, None), (1.0, 255, None), (1.0, 1, None),
                                              (0.1, 1, 255), (0.1, 200, 255), (0.05, 1, 2 ** 9)])
def test_dense_forward_sums_equal_numpy_int64_on_every_lane(dtype, rate, pmax, w_hi):
    """The learning projection's forward sums (int16 lanes where one payload value and the weight bound
    ``w_abs`` bound the rows, int32 lanes where the rows bound them, int64 otherwise: all 700 rows at
    payload 255 with extreme int16 weights exceed int32) against numpy's int64 sum, shifted by
    weight_exp and wrapped to int32 as Lava's output port. ``w_hi``: weights in [-w_hi - 1, w_hi]
    (Loihi's mixed range for 255; about 70 rows of it fit int16 lanes), else the dtype's extremes."""
    rng = np.random.default_rng(int(rate * 10) + pmax)
    n_pre, n_post = 700, 33
    hi = (2 ** 15 - 1 if dtype == np.int16 else 2 ** 20) if w_hi is None else w_hi
    W = rng.choice([-hi - 1, hi, 7, -3], size=(n_pre, n_post)).astype(dtype)
    if w_hi is not None:
        W[:, :5] = rng.integers(-hi - 1, hi + 1, (n_pre, 5))
    P = (rng.random(n_pre) < rate) * rng.integers(1, pmax + 1, n_pre)
    if pmax == 200:
        P = (P != 0) * -77                    # one (negative) payload value: int16 lanes, then times p
    for e in (0, -3, 2):
        a = np.zeros(n_post, np.int32)
        K.dense_forward_graded(W, P.astype(np.int64), e, np.zeros(n_post, np.int64), a, np.zeros(n_pre, np.int64),
                               np.zeros(n_post, np.int32), hi + 1)
        ref = (W.astype(np.int64) * P[:, None]).sum(axis=0)
        ref = ref << e if e >= 0 else ref >> -e
        np.testing.assert_array_equal(a, ((ref + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int32))
        b = np.zeros(n_post, np.int32)
        K.dense_forward(W, P != 0, e, np.zeros(n_post, np.int64), b, np.zeros(n_pre, np.int64), np.zeros(n_post, np.int32),
                        hi + 1)
        ref = W.astype(np.int64)[P != 0].sum(axis=0)
        ref = ref << e if e >= 0 else ref >> -e
        np.testing.assert_array_equal(b, ((ref + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int32))


@pytest.mark.parametrize("n_rows", range(0, 18))
def test_dense_forward_narrow_lanes_every_row_remainder(n_rows):
    """The int16 lanes sum eight rows per pass and the int32 lanes four: every remainder of the row count
    (0..17 spiking rows at random positions) against numpy's int64 sum, on int16 lanes (binary spikes,
    |w| <= 255: 17 rows fit), int32 lanes (two payload values) and a 16-bit extreme (w = -2**15)."""
    rng = np.random.default_rng(100 + n_rows)
    n_pre, n_post = 64, 70
    for w_abs, lo, hi in ((255, -256, 255), (2 ** 15, -2 ** 15, 2 ** 15 - 1)):
        W = rng.integers(lo, hi + 1, (n_pre, n_post)).astype(np.int16)
        W[rng.integers(0, n_pre), :3] = lo
        s = np.zeros(n_pre, bool)
        s[rng.choice(n_pre, n_rows, replace=False)] = True
        P = s * rng.choice([3, 200], n_pre)
        for x in (s, P.astype(np.int64)):
            a = np.zeros(n_post, np.int32)
            K.dense_forward_graded(W, np.asarray(x, np.int64), 0, np.zeros(n_post, np.int64), a,
                                   np.zeros(n_pre, np.int64), np.zeros(n_post, np.int32), w_abs)
            ref = (W.astype(np.int64) * np.asarray(x, np.int64)[:, None]).sum(axis=0)
            np.testing.assert_array_equal(a, ref.astype(np.int32))


@pytest.mark.parametrize("density", [0.0, 0.1, 0.5, 1.0])
def test_dense_backward_sums_equal_numpy_int64_on_both_passes(density):
    """The mirror's transpose sums (one strided pass per non-zero value when under a quarter of ``y``
    is non-zero, one pass over the rows otherwise) against numpy's int64 sum, shifted and wrapped."""
    rng = np.random.default_rng(int(density * 10))
    n_pre, n_post = 300, 40
    W = rng.choice([-2 ** 15, 2 ** 15 - 1, 5, -9], size=(n_pre, n_post)).astype(np.int16)
    y = ((rng.random(n_post) < density) * rng.integers(-2 ** 20, 2 ** 20, n_post)).astype(np.int64)
    for e in (0, -4, 3):
        out = np.zeros(n_pre, np.int32)
        ops, wraps = K.dense_backward_graded(W, y, e, np.zeros(n_pre, np.int64), out)
        ref = (W.astype(np.int64) * y[None, :]).sum(axis=1)
        ref = ref << e if e >= 0 else ref >> -e
        want = ((ref + 2 ** 31) % 2 ** 32 - 2 ** 31)
        np.testing.assert_array_equal(out, want.astype(np.int32))
        assert ops == np.count_nonzero(y) * n_pre
        assert wraps == np.count_nonzero(want != ref)
