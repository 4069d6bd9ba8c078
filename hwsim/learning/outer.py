"""The learning engine's fast path for outer-product rules: one epoch of ``dw``/``dd``/``dt`` where every
term is a row part times a column part, evaluated only on the synapses whose term can be non-zero.

A program is *outer* (:func:`outer_program`) when ``t_epoch == 1`` and every active target has exactly
one product, whose dependency is ``x0`` or ``u`` and whose factors read no synaptic variable (w, d, t).
OTTT's ``m*2^e*u0*x1*y2`` and ``m*2^e*x0*x1*y2`` are outer, on any target. With ``t_epoch == 1`` a
product's term on synapse (i, j) is ``finish_term(wrap32(A[i] * B[j]))`` (``build_tables``: ``A`` holds
the dependency, the mantissa and the row factors, ``B`` the column factors), so it is 0 wherever ``A[i]``
or ``B[j]`` is 0, and a target whose only term is 0 keeps its value: ``v << sh`` is inside the
accumulator range with a zero remainder for w and tag_2, and for tag_1 except at its lowest value
``t_min = -(2**tag_bits) - 1``, which Lava's accumulator clip moves (``learn_rows``' floor fix). The fast
path therefore computes Lava's full sequence (``fused_value``: accumulate, sign saturation, rounding of
``sh`` bits, clip) on the rows with ``A[i] != 0`` and the columns with ``B[j] != 0`` only, which is the
generic evaluation (:func:`hwsim.learning.kernels.learn_rows`) on every synapse, bit for bit.

The one case it does not take is an epoch in which Lava's clip moves ``t_min`` while some synapse
may hold it: the engine keeps the flag ``fast[F_TMIN]`` ("some tag_1 may equal t_min"), set from the
state whenever the engine hands out its arguments and whenever an update lands on ``t_min``, and then
runs the generic evaluation for that epoch. The synapse counters are the generic path's (synapses
evaluated as Lava's engine does, not the ones computed here), so counters and energy do not depend on
the path.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .program import (C_COL, C_CROSSY, C_ROW, CNT_SYN_W, D_U, D_X0, G_ACTIVE, G_HAS_U, G_HAS_X0, G_HI, G_LO, G_SAT,
                      G_SHIFT, LearningProgram, P_DEP, P_F0, P_F1, P_LSHIFT, P_RSHIFT, P_SYN, P_TARGET, T_T)
from .terms import clip, delta_of, finish_term, fused_bounds, fused_value, round_threshold, wrap32

__all__ = ["outer_program", "learn_outer", "F_OUTER", "F_TMIN", "N_FAST"]

# fields of the engine's int64 vector ``fast``
F_OUTER = 0          # 1: the program is outer (static)
F_TMIN = 1           # 1: some tag_1 may equal t_min (state, conservative)
N_FAST = 2


def outer_program(p: LearningProgram) -> bool:
    """True when the compiled rule ``p`` can take the fast path (see the module docstring)."""
    if p.t_epoch != 1 or p.prod.shape[0] == 0:
        return False
    for g in range(3):
        n = int(np.count_nonzero(p.prod[:, P_TARGET] == g))
        if p.tgt[g, G_ACTIVE] and n != 1:
            return False
    for row in p.prod:
        if row[P_DEP] not in (D_X0, D_U) or row[P_SYN]:
            return False
        for f in range(row[P_F0], row[P_F1]):
            if p.fac[f, 1] not in (C_ROW, C_COL, C_CROSSY):
                return False
    return True


@njit(cache=True)
def tmin_new_of(tgt, r_conn, rounding, acc_lo, acc_hi):
    """(t_min, the value Lava's accumulator gives an untouched tag_1 at t_min this epoch)."""
    t_min = tgt[T_T, G_LO]
    sh = tgt[T_T, G_SHIFT]
    thr = round_threshold(r_conn, sh, rounding)
    a = clip(t_min << sh, acc_lo, acc_hi)
    return t_min, clip(delta_of(a, sh, thr), t_min, tgt[T_T, G_HI])


@njit(cache=True, inline="always")
def _term32(a, b, rs32, ls32):
    """A product's accumulator term ``(a b) >> rs << ls`` in int32 lanes (the caller checked that
    ``a b`` and the term fit int32, so no wrap or clip applies)."""
    return np.int32(np.int32(np.int32(a * b) >> rs32) << ls32)


@njit(cache=True, inline="always")
def _delta32(a, b, rs32, ls32, c32, sh32):
    """The single-product delta ``(term + c) >> sh`` (see :func:`_rows_int16_delta`) in int32 lanes."""
    return (_term32(a, b, rs32, ls32) + c32) >> sh32


@njit(cache=True)
def _rows_int32(g, p, rows, n_rows, A, Bv, SV, n_post, rs, ls, sh, thr, acc_lo, acc_hi, sat_lo, sat_hi, lo, hi, b32):
    """The rows of target g in int32 lanes, for an epoch whose terms cannot wrap or clip (the caller
    checked ``max|A| * max|B|``): ``a = clip((v << sh) + ((A[i] B[j]) >> rs << ls))`` to the accumulator
    and the sign mode, then ``v = clip((a + c) >> sh, lo, hi)`` with ``c = 2**sh - 1 - thr`` (0 for floor
    rounding), which is ``floor(a / 2**sh) + (remainder > thr)``, on the ``n_rows`` rows ``rows``. Returns
    True if a value landed on ``lo``. ``b32``: int32 scratch (n_post)."""
    for j in range(n_post):
        b32[j] = Bv[j]
    rs32 = np.int32(rs)
    ls32 = np.int32(ls)
    sh32 = np.int32(sh)
    c32 = np.int32(max(0, (1 << sh) - 1 - thr))
    a_lo = np.int32(max(acc_lo, sat_lo))
    a_hi = np.int32(min(acc_hi, sat_hi))
    lo32 = np.int32(lo)
    hi32 = np.int32(hi)
    hit = False
    for r in range(n_rows):
        i = rows[r]
        a = np.int32(A[p, i])
        row = SV[g, i]
        for j in range(n_post):
            x = _term32(a, b32[j], rs32, ls32)
            acc = np.int32((np.int32(row[j]) << sh32) + x)
            acc = min(max(acc, a_lo), a_hi)
            v = np.int32((acc + c32) >> sh32)
            row[j] = min(max(v, lo32), hi32)
        if g == T_T and not hit:
            for j in range(n_post):
                hit = hit or row[j] == lo
    return hit


@njit(cache=True)
def _rows_int16_delta(g, p, rows, n_rows, A, Bv, SV, n_post, rs, ls, sh, thr, lo, hi, b32, d16):
    """The rows of w or tag_2 (not tag_1) with int16 storage, in int16 lanes: ``v = clip(v + d, lo, hi)``,
    ``d = ((A[i] B[j]) >> rs << ls + c) >> sh`` (the single-product delta form of the kernels module
    docstring, exact for targets whose values start inside the accumulator range). The caller checked
    that no term wraps or leaves the accumulator and that ``|lo|, |hi| + max|d|`` fit int16. ``b32``, ``d16``:
    int32 / int16 scratch (n_post).

    Wide rows compute the delta vector ``d`` once per run of rows with the same ``A[i]`` (a spike
    payload, a trace value: often one value for all the rows of a step) and then add it; narrow rows
    (``n_post < 32``: a head) add in the same pass, where two passes would cost more than they save."""
    for j in range(n_post):
        b32[j] = Bv[j]
    rs32 = np.int32(rs)
    ls32 = np.int32(ls)
    sh32 = np.int32(sh)
    c32 = np.int32(max(0, (1 << sh) - 1 - thr))
    if n_post < 32:
        lo32 = np.int32(lo)
        hi32 = np.int32(hi)
        for r in range(n_rows):
            i = rows[r]
            a = np.int32(A[p, i])
            row = SV[g, i]
            for j in range(n_post):
                d = _delta32(a, b32[j], rs32, ls32, c32, sh32)
                row[j] = min(max(np.int32(row[j]) + d, lo32), hi32)
        return
    lo16 = np.int16(lo)
    hi16 = np.int16(hi)
    a_prev = np.int64(0)                 # no row has A[i] == 0: the first row computes d
    for r in range(n_rows):
        i = rows[r]
        if A[p, i] != a_prev:
            a_prev = A[p, i]
            a = np.int32(a_prev)
            for j in range(n_post):
                d16[j] = np.int16(_delta32(a, b32[j], rs32, ls32, c32, sh32))
        row = SV[g, i]
        for j in range(n_post):
            v = np.int16(row[j] + d16[j])
            row[j] = min(max(v, lo16), hi16)


@njit(cache=True)
def _rows_int64(g, p, dep, tx, A, Bv, SV, n_post, cols, bcol, nc, rs, ls, sh, thr, acc_lo, acc_hi, lo, hi, sat):
    """The rows of target g with Lava's full int64 sequence (wrap32 of the product, clip of the term,
    ``fused_value``), on all columns (``nc < 0``) or on the nc columns ``cols`` with values ``bcol``.
    Returns True if a value landed on ``lo``."""
    n_pre = tx.shape[0]
    sat_lo, sat_hi, pre_lo, pre_hi = fused_bounds(sat, False, acc_lo, acc_hi)
    zero = np.int64(0)
    hit = False
    for i in range(n_pre):
        if dep == D_X0 and tx[i] == 0:
            continue
        a = A[p, i]
        if a == 0:
            continue
        row = SV[g, i]
        if nc < 0:
            for j in range(n_post):
                row[j] = fused_value(row[j], sh, thr, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi,
                                     finish_term(wrap32(a * Bv[j]), rs, ls, acc_lo, acc_hi), zero, acc_lo, acc_hi)
        else:
            for k in range(nc):
                j = cols[k]
                row[j] = fused_value(row[j], sh, thr, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi,
                                     finish_term(wrap32(a * bcol[k]), rs, ls, acc_lo, acc_hi), zero, acc_lo, acc_hi)
        if g == T_T and not hit:
            for j in range(n_post):
                hit = hit or row[j] == lo
    return hit


@njit(cache=True)
def learn_outer(u, prod, tgt, tx, A, B, SV, r_conn, rounding, acc_lo, acc_hi, cnt, cols, bcol, fast, rows, b32, d16):
    """One epoch of an outer program on ``SV`` (3, n_pre, n_post), after ``build_factors``. ``cols``
    and ``bcol`` (int64, n_post), ``rows`` (int64, n_pre), ``b32`` (int32, n_post) and ``d16`` (int16,
    n_post) are scratch. Returns False, having changed nothing, when this epoch
    needs the generic evaluation (the ``t_min`` case of the module docstring).

    Rows whose terms cannot wrap or leave the accumulator (``max|A| max|B|`` bounds them; OTTT at
    Loihi's widths: |A| <= 7 * 127, |B| <= 127) run in int32 vector lanes (:func:`_rows_int32`),
    the others in Lava's int64 sequence (:func:`_rows_int64`), on the columns with ``B[j] != 0``."""
    n_pre = tx.shape[0]
    n_post = B.shape[2]
    if tgt[T_T, G_ACTIVE] and fast[F_TMIN] != 0:
        t_min, t_new = tmin_new_of(tgt, r_conn, rounding, acc_lo, acc_hi)
        if t_new != t_min:
            return False
    n_xa = 0
    for i in range(n_pre):
        n_xa += tx[i] > 0
    for p in range(prod.shape[0]):
        g = prod[p, P_TARGET]
        # the generic path's count: every synapse of the rows where the product is evaluated
        n_full = n_pre if (u != 0 and tgt[g, G_HAS_U]) else (n_xa if tgt[g, G_HAS_X0] else 0)
        cnt[CNT_SYN_W + g] += n_full * n_post
        dep = prod[p, P_DEP]
        if dep == D_U and u == 0:
            continue
        Bv = B[p, 1] if dep == D_X0 else B[p, 0]
        nc = 0
        b_max = np.int64(0)
        for j in range(n_post):              # a reduction (vector lanes); the int64 rows compact below
            b = Bv[j]
            nc += b != 0
            b_max = max(b_max, abs(b))
        if nc == 0:
            continue
        # branch-free compaction of the rows (irregular density); an x0 product's A is 0 on the rows
        # without a pre spike (build_factors), so A != 0 selects the rows its term can touch
        Ap = A[p]
        n_rows = 0
        for i in range(n_pre):
            rows[n_rows] = i
            n_rows += Ap[i] != 0
        if n_rows == 0:
            continue
        a_max = np.int64(0)
        for r in range(n_rows):
            a_max = max(a_max, abs(Ap[rows[r]]))
        sh = tgt[g, G_SHIFT]
        lo = tgt[g, G_LO]
        hi = tgt[g, G_HI]
        thr = round_threshold(r_conn, sh, rounding)
        rs = prod[p, P_RSHIFT]
        ls = prod[p, P_LSHIFT]
        big = np.int64(1) << 30
        prod_max = a_max * b_max if a_max < big and b_max < big else big * big
        narrow = (prod_max < (np.int64(1) << 31) and (((prod_max >> rs) + 1) << ls) <= acc_hi and acc_hi < big
                  and max(abs(lo), abs(hi)) < (big >> sh))
        d_max = (((prod_max >> rs) + 1) << ls >> sh) + 1
        if narrow and g != T_T and SV.itemsize == 2 and max(abs(lo), abs(hi)) + d_max < 32767:
            _rows_int16_delta(g, p, rows, n_rows, A, Bv, SV, n_post, rs, ls, sh, thr, lo, hi, b32, d16)
            hit = False
        elif narrow:
            sat_lo, sat_hi, _, _ = fused_bounds(tgt[g, G_SAT], False, acc_lo, acc_hi)
            hit = _rows_int32(g, p, rows, n_rows, A, Bv, SV, n_post, rs, ls, sh, thr, acc_lo, acc_hi, sat_lo,
                              sat_hi, lo, hi, b32)
        else:
            if 4 * nc < n_post:              # few columns: compact them
                nc = 0
                for j in range(n_post):
                    b = Bv[j]
                    cols[nc] = j
                    bcol[nc] = b
                    nc += b != 0
            else:
                nc = -1
            hit = _rows_int64(g, p, dep, tx, A, Bv, SV, n_post, cols, bcol, nc, rs, ls, sh, thr, acc_lo, acc_hi,
                              lo, hi, tgt[g, G_SAT])
        if hit:
            fast[F_TMIN] = 1
    return True
