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

Targets: what will run the integers. ``chip`` (hwsim and Lava's fixed-point processes) takes every
weight exponent and bias exponent of the :class:`~hwsim.spec.ChipSpec`. ``netx`` (lava-dl's netx
HDF5 files, :mod:`hwsim.export.netx`) adds integer weights ``w * 2**weight_exp`` in [-256, 254] and
biases in units of 64 (``bias_exp = 6`` fixed), so :func:`weight_exponents` gives ``[0]`` (any
other exponent is exponent 0 with fewer weight levels: a negative one needs mantissas that are
multiples of ``2**-weight_exp``, a positive one leaves the range) and :func:`bias_exponent_floor`
gives 6.

Powers of two are computed with :func:`math.frexp` (exact for every finite positive float, and
scale-invariant: ``pow2_ceil(x / 2**k) == pow2_ceil(x) / 2**k``).
"""
from __future__ import annotations

import math

import numpy as np

from hwsim.export.netx import NETX_BIAS_EXP     # netx fixes bias_exp = 6 (what the netx writer checks)
from hwsim.spec import SpecError

POLICIES = ("exact", "pow2")
TARGETS = ("chip", "netx")


def check_policy(policy: str) -> str:
    """Return ``policy`` if it is one of :data:`POLICIES`, else raise ValueError naming it."""
    if policy not in POLICIES:
        raise ValueError(f"scale policy={policy!r} is not one of {POLICIES}")
    return policy


INPUT_SCALES = {"chip": 256, "netx": 16}
"""Default graded payload per unit of analog input (``p = round(x * Q)``, a power of two so ``p / Q``
is exact in float) per target. netx adds integer weights ``w`` in [-256, 254] times the payload, so
a first layer fed ``x * 256`` can use only about 1/64 of its weight range within the state's
headroom; ``x * 16`` (exact for the digits' pixel / 16, MNIST's pixel / 255 to 1/16) leaves it 16
times more (docs/pipeline.md has the accuracies)."""


def check_target(target: str) -> str:
    """Return ``target`` if it is one of :data:`TARGETS`, else raise ValueError naming it."""
    if target not in TARGETS:
        raise ValueError(f"target={target!r} is not one of {TARGETS}")
    return target


def weight_exponents(target: str, lo: int, hi: int, conv: bool = False, conv_weight_exp: bool = False) -> list:
    """The weight exponents a projection may use for ``target`` within the spec's ``[lo, hi]``
    (``lo <= 0 <= hi``): every one for ``chip`` (a conv only 0 unless ``conv_weight_exp``: Lava's
    Conv ignores the exponent), only 0 for ``netx`` (module docstring)."""
    check_target(target)
    if not int(lo) <= 0 <= int(hi):
        raise ValueError(f"weight exponent range [{lo}, {hi}] must contain 0")
    if target == "netx" or (conv and not conv_weight_exp):
        return [0]
    return list(range(int(lo), int(hi) + 1))


def bias_exponent_floor(target: str, lo: int, hi: int) -> int:
    """The smallest bias exponent ``target`` allows within the spec's ``[lo, hi]``: ``max(lo, 0)``
    for ``chip``, :data:`NETX_BIAS_EXP` for ``netx`` (ValueError naming the limit if ``hi`` is
    below it)."""
    check_target(target)
    if target == "chip":
        return max(int(lo), 0)
    if int(hi) < NETX_BIAS_EXP:
        raise ValueError(f"bias_exp_max={hi} is below {NETX_BIAS_EXP}: netx biases are multiples of "
                         f"2**{NETX_BIAS_EXP} (netx fixes bias_exp = {NETX_BIAS_EXP})")
    return max(int(lo), NETX_BIAS_EXP)


def layer_headroom(target: str, headroom: float, worst_case: float) -> float:
    """The state headroom (in thresholds) a layer's scale must leave: ``|u|, |v|`` up to
    ``headroom * v_th`` fit the chip state. ``chip`` keeps ``headroom``. ``netx`` has no weight
    exponent to reach the full weight range with, so it lowers the headroom to the layer's proven
    worst case ``worst_case`` (``|u|, |v|`` with every input at 1 every step, in thresholds; at
    least 1): no such input can leave the state range, and the weights get up to
    ``headroom / worst_case`` times more of their range (a graded digits layer: 16 vs 64)."""
    check_target(target)
    headroom = float(headroom)
    if target == "chip" or not math.isfinite(float(worst_case)):
        return headroom
    return min(headroom, max(1.0, float(worst_case)))


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
