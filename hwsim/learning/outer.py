"""The learning engine's fast path for outer-product rules: one epoch of ``dw``/``dd``/``dt`` where every
term is a row part times a column part, evaluated only on the synapses whose term can be non-zero.

A program is *outer* (:func:`outer_program`) when ``t_epoch == 1`` and every product's dependency is
``x0``, ``y0`` or ``u`` and its factors read no synaptic variable (w, d, t); a target may have several
products. OTTT's ``m*2^e*u0*x1*y2`` and ``m*2^e*x0*x1*y2`` and pair STDP's ``a*x0*y1 + b*y0*x1`` are outer.
With ``t_epoch == 1`` a product's term on synapse (i, j) is ``finish_term(wrap32(A[i] * B[j]))``
(``build_factors``: the row part ``A`` holds the dependency x0 or u, the mantissa and the row factors,
and for a y0 product the x traces at the post spike, ``G``, folded in here; the column part ``B`` the
column factors, y0 included), so it is 0 wherever ``A[i]`` or ``B[j]`` is 0, and a target whose terms
are all 0 keeps its value: ``v << sh`` is inside the accumulator range with a zero remainder for w and
tag_2, and for tag_1 except at its lowest value ``t_min = -(2**tag_bits) - 1``, which Lava's
accumulator clip moves (``learn_rows``' floor fix). The fast path therefore computes Lava's full
sequence (accumulate each product in rule order with the accumulator clip, sign saturation, rounding of
``sh`` bits, clip) only on the rows where some product's row part is non-zero, for products whose
column part is non-zero somewhere, which is the generic evaluation
(:func:`hwsim.learning.kernels.learn_rows`) on every synapse, bit for bit. A row where one product is
active takes the single-product forms below; a row where several are takes :func:`_rows_multi`.

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

from .program import (C_COL, C_CROSSX, C_CROSSY, C_ROW, CNT_SYN_W, D_U, D_X0, D_Y0, G_ACTIVE, G_HAS_U, G_HAS_X0,
                      G_HAS_Y0, G_HI, G_LO, G_SAT, G_SHIFT, LearningProgram, P_CROSS, P_DEP, P_F0, P_F1, P_LSHIFT,
                      P_RSHIFT, P_SYN, P_TARGET, T_T)
from .terms import clip, delta_of, finish_term, fused_bounds, fused_value, round_threshold, wrap32

__all__ = ["outer_program", "learn_outer", "F_OUTER", "F_TMIN", "N_FAST"]

# fields of the engine's int64 vector ``fast``
F_OUTER = 0          # 1: the program is outer (static)
F_TMIN = 1           # 1: some tag_1 may equal t_min (state, conservative)
N_FAST = 2


MAX_PRODUCTS = 32     # products of one target the fast path takes (a bit mask per row; the engine's ``small`` scratch)


def outer_program(p: LearningProgram) -> bool:
    """True when the compiled rule ``p`` can take the fast path (see the module docstring)."""
    if p.t_epoch != 1 or p.prod.shape[0] == 0:
        return False
    for g in range(3):
        n = int(np.count_nonzero(p.prod[:, P_TARGET] == g))
        if p.tgt[g, G_ACTIVE] and not 1 <= n <= MAX_PRODUCTS:
            return False
    for row in p.prod:
        if row[P_DEP] not in (D_X0, D_Y0, D_U) or row[P_SYN]:
            return False
        for f in range(row[P_F0], row[P_F1]):
            if p.fac[f, 1] not in (C_ROW, C_COL, C_CROSSX, C_CROSSY):
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
    payload, a trace value: often one value for all the rows of a step) and then add it, or, where the
    column part has a single non-zero value (y0 products), add the row's one delta on those columns;
    narrow rows (``n_post < 32``: a head) add in the same pass, where two passes would cost more than
    they save."""
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
    # a column part with a single non-zero value b (a y0 product whose column factors are constants): the
    # delta is one number per row, added where B != 0, as a masked pass or, with few such columns, on them
    b_one = np.int64(0)
    nc = 0
    uniform = True
    for j in range(n_post):
        b = Bv[j]
        if b != 0:
            nc += 1
            if b_one == 0:
                b_one = b
            elif b != b_one:
                uniform = False
    if uniform and nc > 0:
        b1 = np.int32(b_one)
        masked = 16 * nc > n_post
        if masked:
            for j in range(n_post):
                d16[j] = np.int16(1) if Bv[j] != 0 else np.int16(0)
        else:
            m = 0
            for j in range(n_post):
                b32[m] = j
                m += Bv[j] != 0
        for r in range(n_rows):
            i = rows[r]
            d = np.int16(_delta32(np.int32(A[p, i]), b1, rs32, ls32, c32, sh32))
            if d == 0:
                continue
            row = SV[g, i]
            if masked:
                for j in range(n_post):
                    v = np.int16(row[j] + d16[j] * d)
                    row[j] = min(max(v, lo16), hi16)
            else:
                for k in range(nc):
                    j = b32[k]
                    v = np.int16(row[j] + d)
                    row[j] = min(max(v, lo16), hi16)
        return
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
def _rows_int64(g, p, rows, n_rows, A, Bv, SV, n_post, cols, bcol, nc, rs, ls, sh, thr, acc_lo, acc_hi, lo, hi, sat):
    """The ``n_rows`` rows ``rows`` of target g with Lava's full int64 sequence (wrap32 of the product,
    clip of the term, ``fused_value``), on all columns (``nc < 0``) or on the nc columns ``cols`` with
    values ``bcol``. Returns True if a value landed on ``lo``."""
    sat_lo, sat_hi, pre_lo, pre_hi = fused_bounds(sat, False, acc_lo, acc_hi)
    zero = np.int64(0)
    hit = False
    for r in range(n_rows):
        i = rows[r]
        a = A[p, i]
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
def _narrow32(prod, p, tgt, g, acc_hi, a_max, b_max):
    """True when product p's terms, ``|A| <= a_max`` and ``|B| <= b_max``, can neither wrap int32 nor leave
    the accumulator, and target g's values shifted by ``sh`` fit int32 lanes."""
    big = np.int64(1) << 30
    prod_max = a_max * b_max if a_max < big and b_max < big else big * big
    lo = tgt[g, G_LO]
    hi = tgt[g, G_HI]
    return (prod_max < (np.int64(1) << 31) and (((prod_max >> prod[p, P_RSHIFT]) + 1) << prod[p, P_LSHIFT]) <= acc_hi
            and acc_hi < big and max(abs(lo), abs(hi)) < (big >> tgt[g, G_SHIFT]))


@njit(cache=True)
def _delta16_exact(g, p, prod, tgt, acc_hi, a_max, b_max):
    """True when product p alone on w or tag_2 (not tag_1) can take the int16 delta form: int32 terms
    (:func:`_narrow32`) and ``|lo|, |hi| + max|delta|`` inside int16 (the caller checks the storage)."""
    if g == T_T or not _narrow32(prod, p, tgt, g, acc_hi, a_max, b_max):
        return False
    prod_max = a_max * b_max
    d_max = (((prod_max >> prod[p, P_RSHIFT]) + 1) << prod[p, P_LSHIFT] >> tgt[g, G_SHIFT]) + 1
    return max(abs(tgt[g, G_LO]), abs(tgt[g, G_HI])) + d_max < 32767


@njit(cache=True)
def _col_stats(Bv):
    """(number of non-zero entries, max |entry|) of a column part (or of a product's row part)."""
    nc = 0
    b_max = np.int64(0)
    for j in range(Bv.shape[0]):
        nc += Bv[j] != 0
        b_max = max(b_max, abs(Bv[j]))
    return nc, b_max


@njit(cache=True)
def _rows_max(A, p, rows, n_rows):
    """max |A[p, i]| over the ``n_rows`` rows ``rows``."""
    a_max = np.int64(0)
    for r in range(n_rows):
        a_max = max(a_max, abs(A[p, rows[r]]))
    return a_max


@njit(cache=True, inline="always")
def _col_part(prod, B, p):
    """Product p's column part: ``B[p, 1]`` for an x0 product (the y factors at the pre spike, step 1),
    else ``B[p, 0]``."""
    return B[p, 1] if prod[p, P_DEP] == D_X0 else B[p, 0]


@njit(cache=True, inline="always")
def _active_stats(prod, B, p, u):
    """:func:`_col_stats` of product p's column part this epoch; ``(0, 0)`` for a u product in an epoch
    without u (inactive: no synapse takes its term)."""
    if prod[p, P_DEP] == D_U and u == 0:
        return 0, np.int64(0)
    return _col_stats(_col_part(prod, B, p))


@njit(cache=True)
def _single(g, p, rows, n_rows, A, B, prod, tgt, SV, r_conn, rounding, acc_lo, acc_hi, a_max, b_max, nc, cols,
            bcol, b32, d16):
    """The rows ``rows`` of target g where product p is the only active one (its term the only non-zero
    term): int16 delta lanes, int32 lanes or Lava's int64 sequence, whichever is exact for the bounds
    ``a_max = max|A[p, rows]|``, ``b_max = max|B_p|`` (``nc`` columns with ``B_p != 0``). Returns True if
    a tag_1 landed on its lowest value."""
    n_post = B.shape[2]
    Bv = _col_part(prod, B, p)
    sh = tgt[g, G_SHIFT]
    lo = tgt[g, G_LO]
    hi = tgt[g, G_HI]
    thr = round_threshold(r_conn, sh, rounding)
    rs = prod[p, P_RSHIFT]
    ls = prod[p, P_LSHIFT]
    if SV.itemsize == 2 and _delta16_exact(g, p, prod, tgt, acc_hi, a_max, b_max):
        _rows_int16_delta(g, p, rows, n_rows, A, Bv, SV, n_post, rs, ls, sh, thr, lo, hi, b32, d16)
        return False
    if _narrow32(prod, p, tgt, g, acc_hi, a_max, b_max):
        sat_lo, sat_hi, _, _ = fused_bounds(tgt[g, G_SAT], False, acc_lo, acc_hi)
        return _rows_int32(g, p, rows, n_rows, A, Bv, SV, n_post, rs, ls, sh, thr, acc_lo, acc_hi, sat_lo, sat_hi,
                           lo, hi, b32)
    if 4 * nc < n_post:              # few columns: compact them
        nc = 0
        for j in range(n_post):
            b = Bv[j]
            cols[nc] = j
            bcol[nc] = b
            nc += b != 0
    else:
        nc = -1
    return _rows_int64(g, p, rows, n_rows, A, Bv, SV, n_post, cols, bcol, nc, rs, ls, sh, thr, acc_lo, acc_hi, lo,
                       hi, tgt[g, G_SAT])


@njit(cache=True)
def _rows_multi(g, ps, n_ps, rows, n_rows, A, B, prod, tgt, SV, r_conn, rounding, acc_lo, acc_hi, narrow, acc32,
                acc64):
    """The rows ``rows`` of target g with Lava's whole sequence over its products ``ps[:n_ps]`` in rule
    order: ``a = v << sh``, then per product ``a = clip(a + term)`` to the accumulator (a product inactive
    on the row adds 0 and, on tag_1, still clips), sign saturation, rounding, clip. ``narrow``: no
    product of the target can wrap or leave the accumulator, so int32 lanes (``acc32``) are exact; else
    int64 (``acc64``) with ``finish_term(wrap32(A B))``. Returns True if a value landed on ``lo``."""
    n_post = B.shape[2]
    sh = tgt[g, G_SHIFT]
    lo = tgt[g, G_LO]
    hi = tgt[g, G_HI]
    thr = round_threshold(r_conn, sh, rounding)
    sat_lo, sat_hi, _, _ = fused_bounds(tgt[g, G_SAT], False, acc_lo, acc_hi)
    c = max(0, (1 << sh) - 1 - thr)        # floor((a + c) / 2**sh) = floor(a / 2**sh) + (remainder > thr)
    hit = False
    if narrow:
        sh32 = np.int32(sh)
        c32 = np.int32(c)
        lo32 = np.int32(acc_lo)
        hi32 = np.int32(acc_hi)
        s_lo = np.int32(max(acc_lo, sat_lo))
        s_hi = np.int32(min(acc_hi, sat_hi))
        v_lo = np.int32(lo)
        v_hi = np.int32(hi)
    for r in range(n_rows):
        i = rows[r]
        row = SV[g, i]
        if narrow:
            for j in range(n_post):
                acc32[j] = np.int32(row[j]) << sh32
            for q in range(n_ps):
                p = ps[q]
                a = np.int32(A[p, i])
                if a == 0:
                    if g == T_T:
                        for j in range(n_post):
                            acc32[j] = min(max(acc32[j], lo32), hi32)
                    continue
                Bv = _col_part(prod, B, p)
                rs32 = np.int32(prod[p, P_RSHIFT])
                ls32 = np.int32(prod[p, P_LSHIFT])
                for j in range(n_post):
                    x = _term32(a, np.int32(Bv[j]), rs32, ls32)
                    acc32[j] = min(max(acc32[j] + x, lo32), hi32)
            for j in range(n_post):
                a = min(max(acc32[j], s_lo), s_hi)
                row[j] = min(max(np.int32((a + c32) >> sh32), v_lo), v_hi)
        else:
            for j in range(n_post):
                acc64[j] = np.int64(row[j]) << sh
            for q in range(n_ps):
                p = ps[q]
                a = A[p, i]
                Bv = _col_part(prod, B, p)
                rs = prod[p, P_RSHIFT]
                ls = prod[p, P_LSHIFT]
                for j in range(n_post):
                    acc64[j] = clip(acc64[j] + finish_term(wrap32(a * Bv[j]), rs, ls, acc_lo, acc_hi), acc_lo, acc_hi)
            for j in range(n_post):
                a = clip(acc64[j], sat_lo, sat_hi)
                row[j] = clip((a + c) >> sh, lo, hi)
        if g == T_T and not hit:
            for j in range(n_post):
                hit = hit or row[j] == lo
    return hit


@njit(cache=True)
def _rows_split(g, ps, n_ps, dq, rows, n_rows, A, B, prod, tgt, SV, r_conn, rounding, acc_lo, acc_hi, cols, acc, Bg,
                b32, d16):
    """The rows ``rows`` of a w / tag_2 target with int16 storage where several products are active, when
    one product ``ps[dq]`` has a dense column part and the others' column parts are non-zero on few
    columns only (pair STDP at low post rates: ``x0*y1`` dense, ``y0*x1`` on the post spikes). Off those
    few columns the dense product is the only non-zero term: its single-product delta in int16 lanes
    (the caller checked it is exact, as for :func:`_rows_int16_delta`); on them (``cols``: the union of
    the sparse products' columns) Lava's full int64 sequence from the old values, over the gathered
    column parts ``Bg[q]`` (scratch (>= n_ps, n_post)), in vector lanes. ``acc``: int64 scratch (n_post).
    tag_1 never comes here (no ``t_min`` case to track)."""
    n_post = B.shape[2]
    sh = tgt[g, G_SHIFT]
    lo = tgt[g, G_LO]
    hi = tgt[g, G_HI]
    thr = round_threshold(r_conn, sh, rounding)
    sat_lo, sat_hi, _, _ = fused_bounds(tgt[g, G_SAT], False, acc_lo, acc_hi)
    c = max(0, (1 << sh) - 1 - thr)
    pd = ps[dq]
    Bd = _col_part(prod, B, pd)
    for j in range(n_post):
        b32[j] = Bd[j]
    nc = 0                                 # the columns where a sparse product is non-zero
    for j in range(n_post):
        nz = False
        for q in range(n_ps):
            if q != dq:
                nz = nz or _col_part(prod, B, ps[q])[j] != 0
        cols[nc] = j
        nc += nz
    for q in range(n_ps):
        Bq = _col_part(prod, B, ps[q])
        for k in range(nc):
            Bg[q, k] = Bq[cols[k]]
    rs32 = np.int32(prod[pd, P_RSHIFT])
    ls32 = np.int32(prod[pd, P_LSHIFT])
    sh32 = np.int32(sh)
    c32 = np.int32(c)
    lo16 = np.int16(lo)
    hi16 = np.int16(hi)
    a_prev = np.int64(0)
    for r in range(n_rows):
        i = rows[r]
        row = SV[g, i]
        for k in range(nc):
            acc[k] = np.int64(row[cols[k]]) << sh
        a_d = A[pd, i]
        if a_d != 0:
            if a_d != a_prev:
                a_prev = a_d
                a32 = np.int32(a_d)
                for j in range(n_post):
                    d16[j] = np.int16(_delta32(a32, b32[j], rs32, ls32, c32, sh32))
            for j in range(n_post):
                v = np.int16(row[j] + d16[j])
                row[j] = min(max(v, lo16), hi16)
        for q in range(n_ps):
            p = ps[q]
            a = A[p, i]
            rs = prod[p, P_RSHIFT]
            ls = prod[p, P_LSHIFT]
            Bgq = Bg[q]
            for k in range(nc):
                acc[k] = clip(acc[k] + finish_term(wrap32(a * Bgq[k]), rs, ls, acc_lo, acc_hi), acc_lo, acc_hi)
        for k in range(nc):
            x = clip(acc[k], sat_lo, sat_hi)
            row[cols[k]] = clip((x + c) >> sh, lo, hi)


@njit(cache=True, inline="always")
def learn_outer(u, prod, tgt, tx, ty, A, B, G, SV, r_conn, rounding, acc_lo, acc_hi, cnt, cols, bcol, fast, rows, mask,
                b32, d16, ps, Bg):
    """One epoch of an outer program on ``SV`` (3, n_pre, n_post), after ``build_factors``. ``cols``
    and ``bcol`` (int64, n_post), ``rows`` and ``mask`` (int64, n_pre), ``b32`` (int32, n_post), ``d16``
    (int16, n_post), ``ps`` (int64, >= MAX_PRODUCTS) and ``Bg`` (int64, (k, n_post); split rows for up to k
    products) are scratch; ``A`` is overwritten (a y0 product's cross factors ``G`` are folded into
    its row part). Returns False, having changed nothing, when this epoch needs the generic evaluation
    (the ``t_min`` case of the module docstring).

    Per target, the rows where exactly one product is active (non-zero row part, column part non-zero
    somewhere) take :func:`_single`: int16 delta or int32 lanes where ``max|A| max|B|`` bounds the terms
    inside the accumulator (OTTT at Loihi's widths: |A| <= 7 * 127, |B| <= 127), else Lava's int64
    sequence; the rows where several are take :func:`_rows_multi` (so do all the touched rows of a
    tag_1 target with several products, where a leading zero term still clips)."""
    n_pre = tx.shape[0]
    n_post = B.shape[2]
    if tgt[T_T, G_ACTIVE] and fast[F_TMIN] != 0:
        t_min, t_new = tmin_new_of(tgt, r_conn, rounding, acc_lo, acc_hi)
        if t_new != t_min:
            return False
    n_xa = 0
    for i in range(n_pre):
        n_xa += tx[i] > 0
    nR = 0
    for j in range(n_post):
        nR += ty[j] > 0
    for p in range(prod.shape[0]):
        if prod[p, P_DEP] == D_Y0 and prod[p, P_CROSS]:
            for i in range(n_pre):
                A[p, i] = wrap32(A[p, i] * G[p, 1, i])
    for g in range(3):
        if not tgt[g, G_ACTIVE]:
            continue
        # the generic path's count: every synapse of the rows where an x0 / u product is evaluated, and the
        # post-spike columns of the other rows where a y0 product is
        n_full = n_pre if (u != 0 and tgt[g, G_HAS_U]) else (n_xa if tgt[g, G_HAS_X0] else 0)
        cnt[CNT_SYN_W + g] += n_full * n_post + ((n_pre - n_full) * nR if tgt[g, G_HAS_Y0] else 0)
        # the target's products, in rule order; bit q of mask[i]: product ps[q] is active on row i
        n_ps = 0
        for p in range(prod.shape[0]):
            if prod[p, P_TARGET] == g:
                ps[n_ps] = p
                n_ps += 1
        hit = False
        if n_ps == 1:
            # one product (OTTT's rules): its active rows are those with a non-zero row part, counted with
            # their bound in a pass that vectorises, then compacted in a pass of their own (the compaction's
            # chain does not vectorise; the mask below would take three passes)
            p = ps[0]
            nc, b_max = _active_stats(prod, B, p, u)
            if b_max == 0:
                continue
            Ap = A[p]
            n_active, a_max = _col_stats(Ap)
            n_rows = 0
            if n_active > 0:
                for i in range(n_pre):          # branch-free compaction
                    rows[n_rows] = i
                    n_rows += Ap[i] != 0
            if n_rows > 0:
                hit = _single(g, p, rows, n_rows, A, B, prod, tgt, SV, r_conn, rounding, acc_lo, acc_hi, a_max, b_max,
                              nc, cols, bcol, b32, d16)
            if hit:
                fast[F_TMIN] = 1
            continue
        for i in range(n_pre):
            mask[i] = 0
        narrow = True                   # every active product's terms fit int32 lanes (_rows_multi)
        for q in range(n_ps):
            p = ps[q]
            _, b_max = _active_stats(prod, B, p, u)
            if b_max == 0:
                continue
            Ap = A[p]
            a_max = np.int64(0)
            for i in range(n_pre):
                mask[i] |= np.int64(Ap[i] != 0) << q
                a_max = max(a_max, abs(Ap[i]))
            narrow = narrow and _narrow32(prod, p, tgt, g, acc_hi, a_max, b_max)
        multi_all = g == T_T and n_ps > 1
        if not multi_all:
            for q in range(n_ps):
                p = ps[q]
                bit = np.int64(1) << q
                n_rows = 0
                for i in range(n_pre):          # branch-free compaction of the rows where only p is active
                    rows[n_rows] = i
                    n_rows += mask[i] == bit
                if n_rows == 0:
                    continue
                nc, b_max = _col_stats(_col_part(prod, B, p))
                a_max = _rows_max(A, p, rows, n_rows)
                hit = _single(g, p, rows, n_rows, A, B, prod, tgt, SV, r_conn, rounding, acc_lo, acc_hi, a_max, b_max,
                              nc, cols, bcol, b32, d16) or hit
        if n_ps > 1:
            n_rows = 0
            for i in range(n_pre):              # rows where several products are active (all touched: tag_1)
                m = mask[i]
                rows[n_rows] = i
                n_rows += (m != 0) if multi_all else ((m & (m - 1)) != 0)
            if n_rows > 0:
                # one product with a dense column part, the others' on few columns: split rows
                dq = -1
                n_dense = 0
                n_sparse_cols = 0
                for q in range(n_ps):
                    nc, _ = _col_stats(_col_part(prod, B, ps[q]))
                    if 4 * nc >= n_post:
                        n_dense += 1
                        dq = q
                    else:
                        n_sparse_cols += nc
                split = (not multi_all and n_dense == 1 and 4 * n_sparse_cols < n_post and SV.itemsize == 2
                         and n_post >= 32 and n_ps <= Bg.shape[0])
                if split:
                    p = ps[dq]
                    _, b_max = _col_stats(_col_part(prod, B, p))
                    split = _delta16_exact(g, p, prod, tgt, acc_hi, _rows_max(A, p, rows, n_rows), b_max)
                if split:
                    _rows_split(g, ps, n_ps, dq, rows, n_rows, A, B, prod, tgt, SV, r_conn, rounding, acc_lo, acc_hi,
                                cols, bcol, Bg, b32, d16)
                else:
                    hit = _rows_multi(g, ps, n_ps, rows, n_rows, A, B, prod, tgt, SV, r_conn, rounding, acc_lo,
                                      acc_hi, narrow, b32, bcol) or hit
        if hit:
            fast[F_TMIN] = 1
    return True
