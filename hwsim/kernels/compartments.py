"""The graded compartment kinds of on-chip learning (docs/compartments.md has the specification).

* ``error_block``: ``y = clip_y(SR(v_partner - tgt * a, es))``, the graded error of a partner readout
  whose label arrives as the compartment's own synaptic input ``a``.
* ``learning_block``: ``y = clip_y(SR(fb * lut[idx], sh))`` with ``fb = a`` (the feedback sum) and
  ``idx = ((vpre_partner(t - d) - vth_partner) >> lut_shift) + L // 2``; 0 where ``fb == 0`` or
  ``idx`` is outside the table.

``SR`` is :func:`hwsim.kernels.arith.stochastic_shift` with the counter-based random bits of
:func:`hwsim.kernels.arith.counter_bits` (population seed, time step, compartment index in the
population). Both kernels read and clear the input slot, write ``y`` (int32) of every compartment of
the range and return ``(messages, active)``: the non-zero outputs (each one graded message) and the
compartments with a non-zero input or output. ``y`` stays within ``[y_lo, y_hi]``
(``[-2**trace_bits, 2**trace_bits - 1]``).
"""
from numba import int64, njit, uint64

from .arith import counter_bits, stochastic_shift


@njit(cache=True, inline="always")
def _sr_clip(z, s, bits, y_lo, y_hi):
    """``clip(SR(z, s), y_lo, y_hi)`` without int64 overflow: for ``s <= 0`` the exact shift of a value
    beyond ``2 * (y_hi + 1)`` is clipped anyway, so ``z`` is saturated there first."""
    if s <= 0:
        sat = 2 * (y_hi + 1)
        z = -sat if z < -sat else (sat if z > sat else z)
    yv = stochastic_shift(z, s, bits)
    return y_lo if yv < y_lo else (y_hi if yv > y_hi else yv)


@njit(cache=True)
def error_block(slot, v, y, c0, c1, pop0, partner0, tgt, es, seed, t, y_lo, y_hi):
    """Error compartments ``c0 .. c1-1`` (population from ``pop0``, partner readout from ``partner0``)."""
    n_msg = 0
    n_act = 0
    for c in range(uint64(c0), uint64(c1)):
        a = int64(slot[c])
        slot[c] = 0
        k = int64(c) - pop0
        e = int64(v[partner0 + k]) - tgt * a
        bits = counter_bits(seed, t, k) if es > 0 else uint64(0)
        yv = _sr_clip(e, es, bits, y_lo, y_hi)
        y[c] = yv
        n_msg += yv != 0
        n_act += (a != 0) | (e != 0)
    return n_msg, n_act


@njit(cache=True)
def learning_block(slot, vh_row, y, c0, c1, pop0, partner0, vth6, lut, lut0, n_lut, lut_shift, sh, seed, t,
                   y_lo, y_hi):
    """Learning compartments ``c0 .. c1-1``; ``vh_row`` holds the partner's ``vpre`` of step ``t - d``
    (zeros before the first step), ``lut[lut0:lut0 + n_lut]`` the surrogate table.

    Two passes over the range, neither with a branch, so that the second compiles to vector code (LLVM
    does not vectorise the table lookup, a gather): the first writes each compartment's table entry into
    ``y`` (0 outside the table or where ``fb == 0``; entries are < 2**31, network.py checks them), the
    second ``y = clip(SR(fb * y, sh))`` for every compartment, which is 0 where the entry is 0
    (``SR(0) == 0``): the same integers as one branching pass. 512 compartments, a call from Python:
    3.0 -> 1.8 us with every index in the table, 1.9 -> 1.7 us with a quarter in it (docs/hwsim.md,
    "The learning compartments in two passes")."""
    half = n_lut // 2
    table = lut[lut0:lut0 + n_lut]       # n_lut >= 1 (network.py checks the table is non-empty)
    k0 = int64(c0) - pop0
    n = int64(c1) - int64(c0)
    fbs = slot[c0:c1]
    ys = y[c0:c1]
    vps = vh_row[partner0 + k0:partner0 + k0 + n]
    for i in range(n):
        idx = ((int64(vps[i]) - vth6) >> lut_shift) + half
        ok = (fbs[i] != 0) & (idx >= 0) & (idx < n_lut)
        # no branch on ok: whether idx is in the table varies from compartment to compartment, and the
        # mispredictions cost more than the pass (a clamped load, multiplied by ok)
        safe = uint64(0 if idx < 0 else (n_lut - 1 if idx >= n_lut else idx))
        ys[i] = table[safe] * int64(ok)
    n_msg = 0
    n_act = 0
    for i in range(n):
        fb = int64(fbs[i])
        fbs[i] = 0
        bits = counter_bits(seed, t, k0 + i) if sh > 0 else uint64(0)    # LLVM hoists its per-step half
        yv = _sr_clip(fb * int64(ys[i]), sh, bits, y_lo, y_hi)
        ys[i] = yv
        n_msg += yv != 0
        n_act += fb != 0
    return n_msg, n_act
