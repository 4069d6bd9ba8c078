"""models.scales: the one scale policy (exact / pow2) shared by PTQ and the on-chip OTTT mapping."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwsim.spec import SpecError
from models.scales import grid_stats, grid_step, log2_exact, pow2_ceil, pow2_floor, to_grid

floats = st.floats(min_value=1e-30, max_value=1e30, allow_nan=False, allow_infinity=False)


@given(floats)
def test_pow2_bounds_against_the_definition(x):
    c, f = pow2_ceil(x), pow2_floor(x)
    # oracle: integer exponents from exact rational comparison
    assert c >= x and c / 2 < x and f <= x and 2 * f > x
    assert math.frexp(c)[0] == 0.5 and math.frexp(f)[0] == 0.5


@given(floats, st.integers(min_value=-40, max_value=40))
def test_pow2_ceil_is_scale_invariant(x, k):
    assert pow2_ceil(x * 2.0 ** k) == pow2_ceil(x) * 2.0 ** k


def test_pow2_on_exact_powers_and_the_old_formula():
    for k in range(-20, 21):
        assert pow2_ceil(2.0 ** k) == pow2_floor(2.0 ** k) == 2.0 ** k
        assert log2_exact(2.0 ** k, "x") == k
    rng = np.random.default_rng(0)
    for x in rng.uniform(1e-3, 1e3, 2000):    # the log2 formula rules/onchip.py used before
        assert pow2_ceil(x) == 2.0 ** math.ceil(math.log2(x))
        assert pow2_floor(x) == 2.0 ** math.floor(math.log2(x))


def test_log2_exact_refuses_non_powers():
    for x in (3.0, 0.0, -2.0, float("inf")):
        with pytest.raises(SpecError, match="is not a power of two"):
            log2_exact(x, "lut bin")


def test_grid_step_policies():
    assert grid_step(0.5, 127, "exact") == 0.5 / 127
    assert grid_step(0.5, 256, "pow2", range_factor=8.0) == 2.0 ** -6   # 8 * 0.5 / 256 = 1/64
    assert grid_step(0.3, 256, "pow2", range_factor=8.0) == 2.0 ** -6   # 2.4 / 256 -> 1/64
    assert grid_step(0.0, 127, "exact") == 0.0
    for kw, needle in ((dict(wmax=1, levels=8, policy="log"), "policy='log'"),
                       (dict(wmax=-1, levels=8, policy="exact"), "wmax=-1"),
                       (dict(wmax=1, levels=0, policy="exact"), "levels=0"),
                       (dict(wmax=1, levels=8, policy="exact", range_factor=0.5), "range_factor=0.5"),
                       (dict(wmax=0, levels=8, policy="pow2"), "wmax=0")):
        with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
            grid_step(**kw)


def test_to_grid_and_stats():
    W = np.array([-1.0, -0.26, 0.0, 0.1, 0.24, 0.26, 0.9, 2.0])
    k = to_grid(W, 0.25, -3, 3)
    np.testing.assert_array_equal(k, [-3, -1, 0, 0, 1, 1, 3, 3])     # round-half-even, clip at +-3
    s = grid_stats(W, k, 0.25, -3, 3)
    assert s["n"] == 8
    assert s["clipped"] == pytest.approx(3 / 8)          # -1.0 -> -4, 0.9 -> 3.6, 2.0 -> 8: beyond +-3.5
    assert s["zeroed"] == pytest.approx(1 / 8)           # 0.1 -> 0
    with pytest.raises(ValueError, match="step"):
        to_grid(W, 0.0, -3, 3)
    with pytest.raises(ValueError, match="NaN"):
        to_grid(np.array([np.nan]), 1.0, -3, 3)
