"""Rounding of learning updates (LearningDenseEngine ``rounding=``): 'stochastic' (Lava's), 'nearest'
(round half up, ties toward +inf) and 'floor' (arithmetic shift), against a closed form written here
and against hwsim.learning.reference (extended independently of the kernels)."""
import math

import numpy as np
import pytest

from hwsim.learning import (ROUNDINGS, LearningDenseEngine, LearningRule, lava_rounding_problem,
                            stdp_loihi)
from hwsim.learning.reference import ReferenceLearningDense
from hwsim.spec import ChipSpec, SpecError


def _closed_form(x: float, rounding: str, r: float) -> int:
    """The rounded update of an exact fractional update x (weight units)."""
    if rounding == "nearest":
        return math.floor(x + 0.5)
    if rounding == "floor":
        return math.floor(x)
    return math.floor(x) + (1 if r < x - math.floor(x) else 0)


def _conn_draw(epoch: int) -> float:
    """Lava's connection random number of learning epoch ``epoch`` (ConnVarRandom, seed 2; draw 0
    is taken at construction)."""
    return float(np.random.default_rng(2).random(epoch + 1)[epoch])


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_one_epoch_matches_closed_form_on_every_remainder(rounding):
    """dw = u0 * w * 2^-3 (every synapse, w / 8 weight units) and dt = u0 * t * 2^-2 (t / 4) over
    weights and tags -200..199: every remainder, ties included (w = +-4 -> +-0.5, t = +-2 -> +-0.5),
    signs both ways, and no saturation of the 15-bit accumulator (|v + dv| < 256)."""
    w0 = np.arange(-200, 200).reshape(25, 16)
    t0 = np.arange(-200, 200).reshape(25, 16)
    rule = LearningRule(dw="u0*w*2^-3", dt="u0*t*2^-2", t_epoch=1, rng_seed=0, kind="plain")
    eng = LearningDenseEngine(w0, rule, num_weight_bits=9, tag_1=t0, rounding=rounding)
    eng.step(1, np.zeros(16, bool))
    r = _conn_draw(1)
    want_w = np.vectorize(lambda w: min(255, max(-256, w + _closed_form(w / 8, rounding, r))))(w0)
    want_t = np.vectorize(lambda t: min(255, max(-257, t + _closed_form(t / 4, rounding, r))))(t0)
    np.testing.assert_array_equal(eng.weights, want_w)
    np.testing.assert_array_equal(eng.tag_1, want_t)


def test_nearest_is_half_up_and_floor_is_toward_minus_infinity():
    """The tie and sign conventions spelled out: +0.5 -> +1, -0.5 -> 0 (half up); -0.25 -> -1 (floor)."""
    for mant, exp, near, flo in [(1, -1, 1, 0), (-1, -1, 0, -1), (1, -2, 0, 0), (-1, -2, 0, -1),
                                 (3, -2, 1, 0), (-3, -2, -1, -1), (5, -3, 1, 0)]:
        sign = "-" if mant < 0 else ""
        rule = LearningRule(dw=f"{sign}u0*{abs(mant)}*2^{exp}", t_epoch=1, rng_seed=0, kind="plain")
        for rounding, want in (("nearest", near), ("floor", flo)):
            eng = LearningDenseEngine(np.zeros((1, 1), int), rule, num_weight_bits=9, rounding=rounding)
            eng.step(1, np.zeros(1, bool))
            assert int(eng.weights[0, 0]) == want, (mant, exp, rounding)


RULES = {
    "stdp": stdp_loihi(1, 2, -2, 8, 6, rng_seed=4),
    "three_targets": LearningRule(
        dw="x0*y1*y2 - y0*x1*x2 + u0*w*2^-4", dt="x0*(y1-3) + y0*sgn(t) - 2^-5*u0*t",
        dd="y0*x2*2^3 + u0*d*(-1) + x0*sgn(w+2)", x1_impulse=30, x1_tau=4, x2_impulse=12.7,
        x2_tau=0, y1_impulse=9.5, y1_tau=6, y2_impulse=40, y2_tau=20, y3_impulse=3, y3_tau=2,
        t_epoch=2, rng_seed=7),
    "ottt_like_3f": LearningRule(dw="-2^-3*u0*x1*y2", x1_impulse=20, x1_tau=2, kind="3F", rng_seed=1),
    "reads_tags": LearningRule(dw="x0*y1*2^-2 - y0*x1*2^-3", dt="y0*(t-2)*2^-2 + x0*x1*2^-3",
                               dd="y0*x2*2^-1 + y0*x1*2^-1", x1_impulse=20, x1_tau=5, x2_impulse=7,
                               x2_tau=3, y1_impulse=14, y1_tau=4, rng_seed=8),
}


@pytest.mark.parametrize("rounding", ["nearest", "floor"])
@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("post_rate", [0.05, 0.5])
def test_engine_matches_reference(rounding, name, post_rate):
    """Every evaluation path of the fast engine (rows, gathered columns, single-product deltas in
    int16 lanes) against the slow reference, many epochs, each rounding."""
    rule = RULES[name]
    n_pre, n_post, T = 10, 40, 24
    rng = np.random.default_rng(int(post_rate * 100) + len(name))
    W = rng.integers(-128, 128, (n_post, n_pre))
    kw = dict(tag_1=rng.integers(-256, 256, (n_post, n_pre)), tag_2=rng.integers(0, 256, (n_post, n_pre)))
    eng = LearningDenseEngine(W, rule, rounding=rounding, **kw)
    ref = ReferenceLearningDense(W, rule, rounding=rounding, **kw)
    S = rng.random((T, n_pre)) < 0.3
    ins = {}
    if rule.kind != "plain":
        ins["bap"] = rng.random((T, n_post)) < post_rate
    if rule.kind == "3F":
        ins["y1"] = rng.integers(0, 128, (T, n_post))
        ins["y2"] = rng.integers(-128, 128, (T, n_post))
    eng.run(T, S, **ins)
    for t in range(1, T + 1):
        ref.step(t, S[t - 1], **{k: v[t - 1] for k, v in ins.items()})
    np.testing.assert_array_equal(eng.weights, ref.weights)
    np.testing.assert_array_equal(eng.tag_1, ref.tag_1)
    np.testing.assert_array_equal(eng.tag_2, ref.tag_2)


def test_roundings_differ_and_stochastic_is_the_default():
    rule = RULES["reads_tags"]     # fractional updates (2^-2, 2^-3): the roundings part ways
    rng = np.random.default_rng(0)
    W = rng.integers(-100, 100, (20, 10))
    S, B = rng.random((40, 10)) < 0.3, rng.random((40, 20)) < 0.3
    out = {}
    for rounding in (None,) + ROUNDINGS:
        eng = LearningDenseEngine(W, rule, **({} if rounding is None else {"rounding": rounding}))
        eng.run(40, S, bap=B)
        out[rounding] = eng.weights.copy()
    np.testing.assert_array_equal(out[None], out["stochastic"])
    assert not np.array_equal(out["nearest"], out["floor"])
    assert not np.array_equal(out["nearest"], out["stochastic"])


def test_bad_rounding_is_refused_naming_it():
    rule = RULES["stdp"]
    with pytest.raises(SpecError, match=r"rounding='up' is not one of \('stochastic', 'nearest', 'floor'\)"):
        LearningDenseEngine(np.zeros((2, 2), int), rule, rounding="up")


def test_lava_export_check_names_projection_and_rounding():
    assert lava_rounding_problem("l1", "stochastic") is None
    msg = lava_rounding_problem("l1", "floor")
    assert "projection 'l1'" in msg and "rounding='floor'" in msg and "stochastic" in msg
    with pytest.raises(SpecError, match="rounding='x'"):
        lava_rounding_problem("l1", "x")


def test_wide_spec_nearest_matches_reference():
    """Another accumulator width (sh = accumulator_bits - weight_bits = 6 for weights, 8 for tags)."""
    spec = ChipSpec(weight_bits=10, tag_bits=8, accumulator_bits=16)
    rule = RULES["three_targets"]
    rng = np.random.default_rng(3)
    W = rng.integers(-500, 500, (12, 8))
    kw = dict(spec=spec, num_weight_bits=10, tag_1=rng.integers(-256, 256, (12, 8)),
              tag_2=rng.integers(0, 256, (12, 8)))
    eng = LearningDenseEngine(W, rule, rounding="nearest", **kw)
    ref = ReferenceLearningDense(W, rule, rounding="nearest", **kw)
    S, B = rng.random((20, 8)) < 0.4, rng.random((20, 12)) < 0.4
    eng.run(20, S, bap=B)
    for t in range(1, 21):
        ref.step(t, S[t - 1], bap=B[t - 1])
    np.testing.assert_array_equal(eng.weights, ref.weights)
    np.testing.assert_array_equal(eng.tag_1, ref.tag_1)
    np.testing.assert_array_equal(eng.tag_2, ref.tag_2)


def test_engine_state_keeps_its_rounding():
    """A checkpointed engine state restores only into an engine with the same rounding."""
    rule = RULES["reads_tags"]
    W = np.random.default_rng(1).integers(-50, 50, (6, 5))
    a = LearningDenseEngine(W, rule, rounding="floor")
    rng = np.random.default_rng(2)
    a.run(6, rng.random((6, 5)) < 0.4, bap=rng.random((6, 6)) < 0.4)
    b = LearningDenseEngine(W, rule, rounding="floor")
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b.weights, a.weights)
    with pytest.raises(ValueError, match="engine state has rounding='floor', this engine rounding='nearest'"):
        LearningDenseEngine(W, rule, rounding="nearest").load_state_dict(a.state_dict())


def test_engine_state_refuses_weights_outside_the_sign_mode_range():
    """A checkpointed engine state whose weights leave the sign mode's range is refused by name (the
    dense sums' narrow lanes rely on weights inside it), before anything is restored."""
    rule = RULES["reads_tags"]
    W = np.random.default_rng(1).integers(-50, 50, (6, 5))
    a = LearningDenseEngine(W, rule)
    st = a.state_dict()
    st["arrays"]["_SV"] = np.array(st["arrays"]["_SV"])
    st["arrays"]["_SV"][0, 2, 3] = 300
    b = LearningDenseEngine(W, rule)
    w0 = b.weights.copy()
    with pytest.raises(ValueError, match=r"engine state weights span \[-\d+, 300\], outside the sign mode "
                                         r"'mixed''s range \[-256, 255\]"):
        b.load_state_dict(st)
    np.testing.assert_array_equal(b.weights, w0)
