"""Scalar arithmetic of the learning engine (numba, callable from Python): traces, factors, accumulator terms
and the rounding of the accumulator to a synaptic variable. Widths in bits come from the compiled program
(:mod:`hwsim.learning.program`): factors clipped to ``[-2**w, 2**w - 1]``, the accumulator to
``[acc_lo, acc_hi] = [-(2**accumulator_bits) - 1, 2**accumulator_bits - 1]`` (15 bits on Loihi), a variable
entering the accumulator shifted left by ``sh`` (7 on Loihi) and leaving it rounded by the same shift.
The int32 wrap is the chip's (:func:`hwsim.kernels.arith.wrap32`, one implementation).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..kernels.arith import wrap32
from .program import F_CINT, F_HI, F_ISINT, F_LO, F_SGN, SAT_MAX0, SAT_MIN0

__all__ = ["wrap32", "clip", "add_impulse", "decay_value", "factor_value", "mul_factor", "finish_term",
           "round_threshold", "delta_of", "fused_value", "fused_bounds", "ROUNDINGS", "ROUND_STOCHASTIC",
           "ROUND_NEAREST", "ROUND_FLOOR"]

# rounding of the accumulator to the weight / tag; stochastic is Lava's
ROUNDINGS = ("stochastic", "nearest", "floor")
ROUND_STOCHASTIC, ROUND_NEAREST, ROUND_FLOOR = range(3)


@njit(cache=True)
def clip(x, lo, hi):
    return lo if x < lo else (hi if x > hi else x)


@njit(cache=True)
def add_impulse(v, r, imp_int, imp_frac, vmax):
    """``clip(v + imp_int + (r < imp_frac), 0, vmax)``: impulse with stochastic rounding of its fraction.

    r is an integer in [0, 2**trace_bits) and imp_frac in [0, 2**trace_frac_bits]: with Lava's
    widths (128 vs 256) a fraction >= 1/2 always rounds up.
    """
    return clip(v + imp_int + (1 if r < imp_frac else 0), 0, vmax)


@njit(cache=True)
def decay_value(v, factor, r):
    """``floor(f) + (r < f - floor(f))`` with ``f = factor * v`` in float64 (Lava's ``_decay_trace``).
    Branch-free (so loops over it vectorise); 0 stays 0 because the draw ``r`` is in [0, 1)."""
    f = factor * v
    fl = np.floor(f)
    return np.int64(fl) + (1 if r < f - fl else 0)


@njit(cache=True)
def factor_value(v, f, fac, fac_c):
    """Value of factor f for raw variable value v: ``clip(v + c)`` or ``sgn(v + c)``, as int32.

    A non-integer constant is added in float64 and the clipped sum truncated toward 0, as Lava's
    ``astype(np.int32)`` does.
    """
    if fac[f, F_ISINT]:
        s = v + fac[f, F_CINT]
        if fac[f, F_SGN]:
            s = 1 if s > 0 else (-1 if s < 0 else 0)
        return clip(s, fac[f, F_LO], fac[f, F_HI])
    x = v + fac_c[f]
    if fac[f, F_SGN]:
        x = 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)
    x = clip(x, float(fac[f, F_LO]), float(fac[f, F_HI]))
    return np.int64(x)


@njit(cache=True)
def mul_factor(dst, raw, n, f, fac, fac_c):
    """``dst[k] = wrap32(dst[k] * value_f(raw[k]))`` for k < n."""
    if fac[f, F_ISINT] and not fac[f, F_SGN]:
        c = fac[f, F_CINT]
        lo = fac[f, F_LO]
        hi = fac[f, F_HI]
        for k in range(n):
            dst[k] = wrap32(dst[k] * clip(raw[k] + c, lo, hi))
    else:
        for k in range(n):
            dst[k] = wrap32(dst[k] * factor_value(raw[k], f, fac, fac_c))


@njit(cache=True)
def finish_term(x, rshift, lshift, acc_lo, acc_hi):
    """int32 product -> accumulator term: ``clip(wrap32((x >> rshift) << lshift))``."""
    return clip(wrap32((x >> rshift) << lshift), acc_lo, acc_hi)


@njit(cache=True)
def round_threshold(r_conn, sh, rounding):
    """The remainder threshold ``thr`` of one epoch: ``acc >> sh`` is rounded up iff its remainder
    ``acc - ((acc >> sh) << sh)`` (in [0, 2**sh)) is ``> thr``.

    ROUND_STOCHASTIC (Lava): ``floor(r_conn * 2**sh)``, i.e. up iff ``r_conn < remainder / 2**sh``;
    ROUND_NEAREST: ``2**(sh-1) - 1``, i.e. up iff ``remainder >= 2**(sh-1)``: ``floor(acc / 2**sh + 1/2)``,
    round half up (ties toward +inf: 2.5 -> 3, -2.5 -> -2); ROUND_FLOOR: ``2**sh``, never up: ``acc >> sh``.
    """
    if rounding == ROUND_NEAREST:
        return np.int64((1 << sh) >> 1) - 1 if sh > 0 else np.int64(0)
    if rounding == ROUND_FLOOR:
        return np.int64(1 << sh)
    return np.int64(np.floor(r_conn * (1 << sh)))


@njit(cache=True)
def delta_of(term, sh, thr):
    """Change of an in-range variable under a single accumulator term (see the module docstring)."""
    q = term >> sh
    return q + (1 if term - (q << sh) > thr else 0)


@njit(cache=True)
def fused_value(old, sh, th, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi, t1, t2, acc_lo, acc_hi):
    a = clip(np.int64(old) << sh, pre_lo, pre_hi)
    a = clip(a + t1, acc_lo, acc_hi)
    a = clip(a + t2, acc_lo, acc_hi)
    a = clip(a, sat_lo, sat_hi)
    q = a >> sh
    return clip(q + (1 if a - (q << sh) > th else 0), lo, hi)


@njit(cache=True)
def fused_bounds(sat, preclip, acc_lo, acc_hi):
    """(sat_lo, sat_hi, pre_lo, pre_hi) of a fused update: the sign-mode saturation of the
    accumulator (EXC/tag_2 floor at 0, INH ceiling at 0) and the clip of a leading product, or
    unbounded (+-2**62) where none applies."""
    big = np.int64(1) << 62
    zero = np.int64(0)
    sat_lo = zero if sat == SAT_MAX0 else -big
    sat_hi = zero if sat == SAT_MIN0 else big
    pre_lo = acc_lo if preclip else -big
    pre_hi = acc_hi if preclip else big
    return sat_lo, sat_hi, pre_lo, pre_hi
