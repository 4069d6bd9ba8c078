"""The scale policy: how a float tensor becomes chip integers. One place, shared by post-training
quantization (:mod:`models.quantize`) and the on-chip OTTT mapping (:mod:`rules.onchip`).

A tensor ``W`` (float) is stored on the chip as integers ``k`` on a grid of ``levels`` steps above
zero: ``W ~ k * step`` with ``k = clip(round(W / step), lo, hi)`` (:func:`to_grid`). The policy
chooses ``step`` (float units per integer step) from the largest magnitude ``wmax`` and a range
factor ``R >= 1`` (room above ``wmax`` for weights that grow while learning):

``exact``
    ``step = R * wmax / levels``: the grid spans exactly ``R * wmax`` (post-training quantization:
    the full mantissa range is used; the layer scale is then snapped to the threshold, see
    :mod:`models.quantize`).
``pow2``
    ``step = pow2_ceil(R * wmax / levels)``: the smallest power of two that still spans
    ``R * wmax``, so every conversion between float and chip units is a shift (the on-chip OTTT
    mapping; the grid uses between half and all of its range).

Powers of two are computed with :func:`math.frexp` (exact for every finite positive float, and
scale-invariant: ``pow2_ceil(x / 2**k) == pow2_ceil(x) / 2**k``).
"""
from __future__ import annotations

import math

import numpy as np

from hwsim.spec import SpecError

POLICIES = ("exact", "pow2")


def check_policy(policy: str) -> str:
    """Return ``policy`` if it is one of :data:`POLICIES`, else raise ValueError naming it."""
    if policy not in POLICIES:
        raise ValueError(f"scale policy={policy!r} is not one of {POLICIES}")
    return policy


def _positive(x: float, what: str) -> float:
    x = float(x)
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{what}={x!r} must be a finite number > 0")
    return x


def pow2_ceil(x: float) -> float:
    """Smallest power of two >= ``x`` (x finite and > 0)."""
    m, e = math.frexp(_positive(x, "pow2_ceil argument"))    # x = m * 2**e, m in [0.5, 1)
    return math.ldexp(1.0, e - 1) if m == 0.5 else math.ldexp(1.0, e)


def pow2_floor(x: float) -> float:
    """Largest power of two <= ``x`` (x finite and > 0)."""
    _, e = math.frexp(_positive(x, "pow2_floor argument"))
    return math.ldexp(1.0, e - 1)


def log2_exact(x: float, what: str) -> int:
    """``k`` with ``2**k == x``; SpecError naming ``what`` if ``x`` is not a power of two."""
    x = float(x)
    if not (math.isfinite(x) and x > 0):
        raise SpecError(f"{what}={x!r} is not a power of two")
    m, e = math.frexp(x)
    if m != 0.5:
        raise SpecError(f"{what}={x!r} is not a power of two")
    return e - 1


def grid_step(wmax: float, levels: float, policy: str, range_factor: float = 1.0) -> float:
    """Float units per integer step for a tensor of largest magnitude ``wmax`` on a grid of
    ``levels`` positive steps (see the module docstring). ``wmax == 0`` (an all-zero tensor)
    gives ``step = 0`` for ``exact`` and raises for ``pow2`` (no power of two spans nothing)."""
    check_policy(policy)
    wmax = float(wmax)
    if not (math.isfinite(wmax) and wmax >= 0):
        raise ValueError(f"wmax={wmax!r} must be a finite number >= 0")
    levels = _positive(levels, "levels")
    range_factor = float(range_factor)
    if not (math.isfinite(range_factor) and range_factor >= 1.0):
        raise ValueError(f"range_factor={range_factor!r} must be a finite number >= 1")
    if policy == "exact":
        return range_factor * wmax / levels
    if wmax == 0.0:
        raise ValueError("wmax=0: an all-zero tensor has no power-of-two scale")
    return pow2_ceil(range_factor * wmax / levels)


def to_grid(W, step: float, lo: int, hi: int) -> np.ndarray:
    """The chip integers of ``W``: ``clip(round(W / step), lo, hi)`` as int64 (round half to even).
    ``step`` must be > 0 and ``lo <= 0 <= hi``."""
    step = _positive(step, "step")
    if not lo <= 0 <= hi:
        raise ValueError(f"integer range [{lo}, {hi}] must contain 0")
    W = np.asarray(W, dtype=np.float64)
    if not np.all(np.isfinite(W)):
        raise ValueError("W contains NaN or inf")
    return np.clip(np.round(W / step), lo, hi).astype(np.int64)


def grid_stats(W, k: np.ndarray, step: float, lo: int, hi: int) -> dict:
    """Shares (fractions of all entries) of ``W`` that the grid clipped (``|W| / step`` beyond the
    range, by more than half a step) and zeroed (nonzero in float, 0 on the grid)."""
    W = np.asarray(W, dtype=np.float64)
    n = max(1, W.size)
    r = W / step
    clipped = int(np.count_nonzero((r > hi + 0.5) | (r < lo - 0.5)))
    zeroed = int(np.count_nonzero((W != 0) & (k == 0)))
    return {"clipped": clipped / n, "zeroed": zeroed / n, "n": int(W.size)}
