"""The generic evaluation of dw, dd, dt at the end of an epoch (``learn_rows``): every rule Lava's engine runs,
event-driven and exact (the strategies are described in :mod:`hwsim.learning.kernels`). Tested, with the
fast path of :mod:`.outer`, against :mod:`hwsim.learning.reference`."""
from __future__ import annotations

import numpy as np
from numba import njit

from .program import (CNT_SYN_W, C_SYN, D_U, D_X0, D_Y0, F_CINT, F_CLASS, F_HI, F_ISINT, F_LO, F_SGN, F_VAR,
                      G_ACTIVE, G_HAS_U, G_HAS_X0, G_HAS_Y0, G_HI, G_LO, G_SAT, G_SHIFT, M_COL, M_GEN, M_ROW,
                      P_CROSS, P_DEP, P_F0, P_F1, P_LSHIFT, P_MODE, P_RSHIFT, P_SYN, P_TARGET, SAT_MAX0, SAT_MIN0,
                      T_T, V_D, V_W)
from .terms import (ROUND_STOCHASTIC, clip, delta_of, factor_value, finish_term, round_threshold, wrap32)
from .terms import fused_bounds as _fused_bounds
from .terms import fused_value as _fused_value

# how a target is evaluated on a row
R_SKIP, R_FULL, R_GATHER, R_DELTA_GATHER, R_DELTA_MASKED = range(5)


@njit(cache=True)
def _add_term(p, i, gather, R, n, acc, prow, preclip, prod, fac, fac_c, tx, ty, A, B, G, TA, TB, SV,
              acc_lo, acc_hi):
    """acc[k] = clip(acc[k] + term_p(i, j)) over the row's columns (j = k, or R[k] with ``gather``).

    ``preclip`` first applies the clip Lava gives a skipped leading product (it matters only for an
    accumulator that starts out of range: tag_1 at its lowest value)."""
    dep = prod[p, P_DEP]
    mode = prod[p, P_MODE]
    if preclip:
        for k in range(n):
            acc[k] = clip(acc[k], acc_lo, acc_hi)
    if mode == M_COL:
        s = tx[i] if dep == D_X0 else 0
        if gather:
            for k in range(n):
                acc[k] = clip(acc[k] + TB[p, s, R[k]], acc_lo, acc_hi)
        else:
            for k in range(n):
                acc[k] = clip(acc[k] + TB[p, s, k], acc_lo, acc_hi)
        return
    if mode == M_ROW:
        if dep == D_Y0:
            if gather:
                for k in range(n):
                    acc[k] = clip(acc[k] + TA[p, ty[R[k]], i], acc_lo, acc_hi)
            elif TA.shape[1] == 2:        # t_epoch == 1: the term is TA[p, 1, i] where y0, else 0
                c = TA[p, 1, i]
                for k in range(n):
                    acc[k] = clip(acc[k] + (c if ty[k] > 0 else 0), acc_lo, acc_hi)
            else:
                for k in range(n):
                    acc[k] = clip(acc[k] + TA[p, ty[k], i], acc_lo, acc_hi)
        else:
            c = TA[p, 0, i]
            for k in range(n):
                acc[k] = clip(acc[k] + c, acc_lo, acc_hi)
        return
    # general mode: per-synapse product, built in passes over prow
    s = tx[i] if dep == D_X0 else 0
    ai = A[p, i]
    if gather:
        for k in range(n):
            prow[k] = wrap32(ai * B[p, s, R[k]])
    else:
        for k in range(n):
            prow[k] = wrap32(ai * B[p, s, k])
    if dep == D_Y0 and prod[p, P_CROSS]:
        for k in range(n):
            j = R[k] if gather else k
            prow[k] = wrap32(prow[k] * G[p, ty[j], i])
    for f in range(prod[p, P_F0], prod[p, P_F1]):
        if fac[f, F_CLASS] != C_SYN:
            continue
        var = fac[f, F_VAR]
        gv = 0 if var == V_W else (1 if var == V_D else 2)
        if fac[f, F_ISINT] and not fac[f, F_SGN]:
            c = fac[f, F_CINT]
            lo = fac[f, F_LO]
            hi = fac[f, F_HI]
            if gather:
                for k in range(n):
                    prow[k] = wrap32(prow[k] * clip(np.int64(SV[gv, i, R[k]]) + c, lo, hi))
            else:
                for k in range(n):
                    prow[k] = wrap32(prow[k] * clip(np.int64(SV[gv, i, k]) + c, lo, hi))
        else:
            for k in range(n):
                j = R[k] if gather else k
                prow[k] = wrap32(prow[k] * factor_value(np.int64(SV[gv, i, j]), f, fac, fac_c))
    rs = prod[p, P_RSHIFT]
    ls = prod[p, P_LSHIFT]
    for k in range(n):
        acc[k] = clip(acc[k] + finish_term(prow[k], rs, ls, acc_lo, acc_hi), acc_lo, acc_hi)


@njit(cache=True)
def _finalize(acc, n, sh, th, sat, lo, hi):
    """Accumulator -> variable: sign saturation, stochastic rounding of ``sh`` bits, final clip."""
    if sat == SAT_MAX0:
        for k in range(n):
            acc[k] = max(acc[k], 0)
    elif sat == SAT_MIN0:
        for k in range(n):
            acc[k] = min(acc[k], 0)
    for k in range(n):
        a = acc[k]
        q = a >> sh
        acc[k] = clip(q + (1 if a - (q << sh) > th else 0), lo, hi)



@njit(cache=True)
def _term(v, m, c, rs, ls, acc_lo, acc_hi):
    """A term in the fused form ``finish_term(wrap32(m * v), rs, ls) + c``: a finished table value
    (m = 1, c = 0, no shifts), a scalar where y0 (v = y0 mask), a scalar (m = 0) or a product of a
    row and a column part (m = A[p, i], v = B[p, s, j], the product's shifts)."""
    return finish_term(wrap32(m * v), rs, ls, acc_lo, acc_hi) + c


@njit(cache=True)
def _fused_row(g, i, n_post, sh, th, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi, terms, v1, v2, nt,
               write, SV, acc, acc_lo, acc_hi):
    """Whole-row update of target g with one or two fused terms (``terms[k] = m, c, rs, ls`` of
    term k, vectors v1, v2), in one pass; the result goes to SV (``write``) or to ``acc[g]``. (A
    missing second term adds 0, which changes nothing once the first is in range.)"""
    row = SV[g, i]
    out = acc[g]
    zero = np.int64(0)
    m1, c1, rs1, ls1 = terms[0, 0], terms[0, 1], terms[0, 2], terms[0, 3]
    m2, c2, rs2, ls2 = terms[1, 0], terms[1, 1], terms[1, 2], terms[1, 3]
    if nt == 1:
        if write:
            for k in range(n_post):
                row[k] = _fused_value(row[k], sh, th, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi,
                                      _term(v1[k], m1, c1, rs1, ls1, acc_lo, acc_hi), zero, acc_lo,
                                      acc_hi)
        else:
            for k in range(n_post):
                out[k] = _fused_value(row[k], sh, th, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi,
                                      _term(v1[k], m1, c1, rs1, ls1, acc_lo, acc_hi), zero, acc_lo,
                                      acc_hi)
    elif write:
        for k in range(n_post):
            row[k] = _fused_value(row[k], sh, th, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi,
                                  _term(v1[k], m1, c1, rs1, ls1, acc_lo, acc_hi),
                                  _term(v2[k], m2, c2, rs2, ls2, acc_lo, acc_hi), acc_lo, acc_hi)
    else:
        for k in range(n_post):
            out[k] = _fused_value(row[k], sh, th, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi,
                                  _term(v1[k], m1, c1, rs1, ls1, acc_lo, acc_hi),
                                  _term(v2[k], m2, c2, rs2, ls2, acc_lo, acc_hi), acc_lo, acc_hi)


@njit(cache=True)
def _fused_gather(g, i, R, nR, sh, th, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi, terms, v1, v2, write,
                  SV, acc, gb, acc_lo, acc_hi):
    """`_fused_row` on the columns R[:nR] only (results in ``acc[g, :nR]``, and in SV with
    ``write``); two terms (a missing one is the zero term). Many columns are first gathered into
    the scratch ``gb[0:3]`` so that the arithmetic runs in vector lanes."""
    out = acc[g]
    m1, c1, rs1, ls1 = terms[0, 0], terms[0, 1], terms[0, 2], terms[0, 3]
    m2, c2, rs2, ls2 = terms[1, 0], terms[1, 1], terms[1, 2], terms[1, 3]
    if nR >= 32:
        o = gb[0]
        a1 = gb[1]
        a2 = gb[2]
        for k in range(nR):
            j = R[k]
            o[k] = SV[g, i, j]
            a1[k] = v1[j]
            a2[k] = v2[j]
        for k in range(nR):
            out[k] = _fused_value(o[k], sh, th, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi,
                                  _term(a1[k], m1, c1, rs1, ls1, acc_lo, acc_hi),
                                  _term(a2[k], m2, c2, rs2, ls2, acc_lo, acc_hi), acc_lo, acc_hi)
    else:
        for k in range(nR):
            j = R[k]
            out[k] = _fused_value(SV[g, i, j], sh, th, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi,
                                  _term(v1[j], m1, c1, rs1, ls1, acc_lo, acc_hi),
                                  _term(v2[j], m2, c2, rs2, ls2, acc_lo, acc_hi), acc_lo, acc_hi)
    if write:
        for k in range(nR):
            SV[g, i, R[k]] = out[k]



@njit(cache=True)
def _row_update(g, i, gather, write, xa, u, nR, R, prod, fac, fac_c, tgt, tx, ty, y0m, A, B, G, TA,
                TB, SV, acc, gb, terms, th, acc_lo, acc_hi):
    """Exact update of target g on row i, over all columns or (``gather``) over the post neurons R
    that spiked. Products run in Lava's order, each ``acc = clip(acc + term)``; inactive products add
    0 (only the clip of a leading one matters). The result is written to SV (``write``) or left in
    ``acc[g]``."""
    n_post = ty.shape[0]
    n_prod = prod.shape[0]
    T = TA.shape[1] - 1
    n = nR if gather else n_post
    sh = tgt[g, G_SHIFT]
    sat = tgt[g, G_SAT]
    # one fused pass when at most two terms are active and each is a table value, a (masked)
    # scalar or a row-times-column product without synaptic factors
    nt = 0
    simple = True
    first = True
    preclip = np.bool_(False)
    v1 = y0m
    v2 = y0m
    for a in range(2):                            # m, c, rs, ls; the zero term by default
        for b in range(4):
            terms[a, b] = 0
    for p in range(n_prod):
        if prod[p, P_TARGET] != g:
            continue
        dep = prod[p, P_DEP]
        if (dep == D_X0 and xa) or (dep == D_U and u != 0) or (dep == D_Y0 and nR > 0):
            mode_p = prod[p, P_MODE]
            if nt == 2 or (mode_p == M_GEN and (prod[p, P_SYN] or (dep == D_Y0 and prod[p, P_CROSS]))):
                simple = False
                break
            if mode_p == M_GEN:                 # row part x column part, then the product's shifts
                vv = B[p, tx[i] if dep == D_X0 else 0]
                terms[nt, 0] = A[p, i]
                terms[nt, 2] = prod[p, P_RSHIFT]
                terms[nt, 3] = prod[p, P_LSHIFT]
            elif mode_p == M_COL:               # finished column terms
                vv = TB[p, tx[i] if dep == D_X0 else 0]
                terms[nt, 0] = 1
            elif dep == D_Y0 and T == 1:        # row term where y0
                vv = y0m
                terms[nt, 0] = TA[p, 1, i]
            elif dep == D_Y0:                   # row term at each post neuron's spike time
                vv = gb[3 + nt]
                for k in range(n_post):
                    vv[k] = TA[p, ty[k], i]
                terms[nt, 0] = 1
            else:                               # row term everywhere
                vv = y0m
                terms[nt, 1] = TA[p, 0, i]
            if nt == 0:
                v1 = vv
            else:
                v2 = vv
            nt += 1
        elif first:
            preclip = np.bool_(True)
        first = False
    if simple and nt > 0:
        sat_lo, sat_hi, pre_lo, pre_hi = _fused_bounds(sat, preclip, acc_lo, acc_hi)
        if gather:
            _fused_gather(g, i, R, nR, sh, th, sat_lo, sat_hi, tgt[g, G_LO], tgt[g, G_HI], pre_lo,
                          pre_hi, terms, v1, v2, write, SV, acc, gb, acc_lo, acc_hi)
        else:
            _fused_row(g, i, n_post, sh, th, sat_lo, sat_hi, tgt[g, G_LO], tgt[g, G_HI], pre_lo,
                       pre_hi, terms, v1, v2, nt, write, SV, acc, acc_lo, acc_hi)
        return
    # general: passes over the row scratch
    ag = acc[g]
    if gather:
        for k in range(n):
            ag[k] = np.int64(SV[g, i, R[k]]) << sh
    else:
        for k in range(n):
            ag[k] = np.int64(SV[g, i, k]) << sh
    first = True
    preclip = np.bool_(False)
    for p in range(n_prod):
        if prod[p, P_TARGET] != g:
            continue
        dep = prod[p, P_DEP]
        if (dep == D_X0 and xa) or (dep == D_U and u != 0) or (dep == D_Y0 and nR > 0):
            _add_term(p, i, gather, R, n, ag, gb[0], preclip, prod, fac, fac_c, tx, ty, A, B, G,
                      TA, TB, SV, acc_lo, acc_hi)
            preclip = np.bool_(False)
        elif first:
            preclip = np.bool_(True)
        first = False
    if preclip:
        for k in range(n):
            ag[k] = clip(ag[k], acc_lo, acc_hi)
    _finalize(ag, n, sh, th, sat, tgt[g, G_LO], tgt[g, G_HI])
    if write:
        _store(g, i, gather, R, n, ag, SV)


# kinds of fused terms (per class of rows, see _classify)
K_PROD, K_COL, K_SEL, K_TAB, K_SCAL = range(5)


@njit(cache=True)
def _classify(g, xa, u, nR, prod, T, kinds, ps):
    """Which products of target g are active on rows with (``xa``) or without a pre spike, and
    whether they fit the fused form: at most two, each a finished table value (COL), a row term
    where y0 (SEL, t_epoch = 1) or at the post spike time (TAB), a row constant (SCAL) or a
    row-times-column product without synaptic or cross-x factors (PROD). Fills kinds[:nt], ps[:nt];
    returns (simple, nt, preclip)."""
    nt = 0
    first = True
    preclip = False
    for p in range(prod.shape[0]):
        if prod[p, P_TARGET] != g:
            continue
        dep = prod[p, P_DEP]
        if (dep == D_X0 and xa) or (dep == D_U and u != 0) or (dep == D_Y0 and nR > 0):
            mode_p = prod[p, P_MODE]
            if nt == 2 or (mode_p == M_GEN and (prod[p, P_SYN] or (dep == D_Y0 and prod[p, P_CROSS]))):
                return False, nt, preclip
            if mode_p == M_GEN:
                kinds[nt] = K_PROD
            elif mode_p == M_COL:
                kinds[nt] = K_COL
            elif dep == D_Y0:
                kinds[nt] = K_SEL if T == 1 else K_TAB
            else:
                kinds[nt] = K_SCAL
            ps[nt] = p
            nt += 1
        elif first:
            preclip = True
        first = False
    return nt > 0, nt, preclip


@njit(cache=True)
def _materialize(kind, p, i, slot, prod, tx, ty, y0m, A, B, TA, TB, gb, acc_lo, acc_hi):
    """Term of product p on row i for every column, into ``gb[slot]`` (finished accumulator terms)."""
    n_post = ty.shape[0]
    s = tx[i] if prod[p, P_DEP] == D_X0 else 0
    if kind == K_PROD:
        a = A[p, i]
        rs = prod[p, P_RSHIFT]
        ls = prod[p, P_LSHIFT]
        for k in range(n_post):
            gb[slot, k] = finish_term(wrap32(a * B[p, s, k]), rs, ls, acc_lo, acc_hi)
    elif kind == K_COL:
        for k in range(n_post):
            gb[slot, k] = TB[p, s, k]
    elif kind == K_SEL:
        c = TA[p, 1, i]
        for k in range(n_post):
            gb[slot, k] = c * y0m[k]
    elif kind == K_TAB:
        for k in range(n_post):
            gb[slot, k] = TA[p, ty[k], i]
    else:
        c = TA[p, 0, i]
        for k in range(n_post):
            gb[slot, k] = c


@njit(cache=True)
def _materialize_gather(kind, p, i, slot, R, nR, prod, tx, ty, A, B, TA, TB, gb, acc_lo, acc_hi):
    """`_materialize` on the post-spike columns R[:nR] only (y0 = 1 there), into ``gb[slot, :nR]``."""
    s = tx[i] if prod[p, P_DEP] == D_X0 else 0
    if kind == K_PROD:
        a = A[p, i]
        rs = prod[p, P_RSHIFT]
        ls = prod[p, P_LSHIFT]
        for k in range(nR):
            gb[slot, k] = finish_term(wrap32(a * B[p, s, R[k]]), rs, ls, acc_lo, acc_hi)
    elif kind == K_COL:
        for k in range(nR):
            gb[slot, k] = TB[p, s, R[k]]
    elif kind == K_SEL:
        c = TA[p, 1, i]
        for k in range(nR):
            gb[slot, k] = c
    elif kind == K_TAB:
        for k in range(nR):
            gb[slot, k] = TA[p, ty[R[k]], i]
    else:
        c = TA[p, 0, i]
        for k in range(nR):
            gb[slot, k] = c


@njit(cache=True)
def _split_rows(g, p_split, nt, preclip, kinds, ps, prod, tgt, tx, ty, R, nR, A, B, TA, TB, Dx, SV,
                gb, th, acc_lo, acc_hi):
    """Rows of spiking pre neurons for a target whose only x0 product is ``p_split`` (see
    learn_rows): the post-spike columns get the exact fused update of their ``nt`` active products
    (computed from the old values), every other column the single-product ``clip(v + delta)`` in
    int16 lanes."""
    n_pre = tx.shape[0]
    sh = tgt[g, G_SHIFT]
    lo = tgt[g, G_LO]
    hi = tgt[g, G_HI]
    sat_lo, sat_hi, pre_lo, pre_hi = _fused_bounds(tgt[g, G_SAT], preclip, acc_lo, acc_hi)
    lo16 = np.int16(lo)
    hi16 = np.int16(hi)
    col = prod[p_split, P_MODE] == M_COL
    for i in range(n_pre):
        if tx[i] <= 0:
            continue
        row = SV[g, i]
        if nR > 0:
            for slot in range(nt):
                _materialize_gather(kinds[slot], ps[slot], i, 3 + slot, R, nR, prod, tx, ty, A, B,
                                    TA, TB, gb, acc_lo, acc_hi)
            if nt == 1:
                for k in range(nR):
                    gb[4, k] = 0
            for k in range(nR):
                gb[0, k] = row[R[k]]
            for k in range(nR):
                gb[0, k] = _fused_value(gb[0, k], sh, th, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi,
                                        gb[3, k], gb[4, k], acc_lo, acc_hi)
        if col:
            _add16_vec(row, Dx[g, tx[i]], lo16, hi16)
        else:
            d = delta_of(TA[p_split, 0, i], sh, th)
            if d != 0:
                _add16_scalar(row, np.int16(d), lo16, hi16)
        for k in range(nR):
            row[R[k]] = gb[0, k]


@njit(cache=True)
def _fused_rows(g, xa_sel, nt, preclip, kinds, ps, prod, tgt, tx, ty, y0m, A, B, TA, TB, SV, gb, th,
                acc_lo, acc_hi):
    """Direct fused update of target g on every row whose pre spike state is ``xa_sel``: the terms
    are materialised per row in ``gb[3:5]``, then one pass accumulates, rounds and stores. With a
    single term on w or tag_2 in int16 storage the pass is ``clip(v + delta)`` in int16 lanes."""
    n_pre = tx.shape[0]
    n_post = ty.shape[0]
    sh = tgt[g, G_SHIFT]
    lo = tgt[g, G_LO]
    hi = tgt[g, G_HI]
    sat_lo, sat_hi, pre_lo, pre_hi = _fused_bounds(tgt[g, G_SAT], preclip, acc_lo, acc_hi)
    delta = (nt == 1 and g != T_T and SV.itemsize == 2
             and max(abs(lo), abs(hi)) + ((acc_hi + 1) >> sh) + 1 < 32767)
    lo16 = np.int16(lo)
    hi16 = np.int16(hi)
    for i in range(n_pre):
        if (tx[i] > 0) != xa_sel:
            continue
        for slot in range(nt):
            _materialize(kinds[slot], ps[slot], i, 3 + slot, prod, tx, ty, y0m, A, B, TA, TB, gb,
                         acc_lo, acc_hi)
        row = SV[g, i]
        t1 = gb[3]
        if delta:
            t2 = gb[4]
            for k in range(n_post):
                t2[k] = delta_of(t1[k], sh, th)
            _add16_vec(row, t2, lo16, hi16)
        elif nt == 1:
            for k in range(n_post):
                row[k] = _fused_value(row[k], sh, th, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi, t1[k],
                                      np.int64(0), acc_lo, acc_hi)
        else:
            t2 = gb[4]
            for k in range(n_post):
                row[k] = _fused_value(row[k], sh, th, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi, t1[k],
                                      t2[k], acc_lo, acc_hi)


@njit(cache=True)
def _store(g, i, gather, R, n, ag, SV):
    if gather:
        for k in range(n):
            SV[g, i, R[k]] = ag[k]
    else:
        for k in range(n):
            SV[g, i, k] = ag[k]


@njit(cache=True)
def _delta_row(g, i, masked, T, R, nR, ty, y0m, dvec, lo, hi, SV):
    """``v = clip(v + delta)`` on the post-spike columns of row i (the single-product update)."""
    n_post = ty.shape[0]
    if masked:
        if T == 1:
            d = dvec[g, i, 1]
            for k in range(n_post):
                SV[g, i, k] = clip(np.int64(SV[g, i, k]) + d * y0m[k], lo, hi)
        else:
            for k in range(n_post):
                SV[g, i, k] = clip(np.int64(SV[g, i, k]) + dvec[g, i, ty[k]], lo, hi)
    elif T == 1:
        d = dvec[g, i, 1]
        for k in range(nR):
            j = R[k]
            SV[g, i, j] = clip(np.int64(SV[g, i, j]) + d, lo, hi)
    else:
        for k in range(nR):
            j = R[k]
            SV[g, i, j] = clip(np.int64(SV[g, i, j]) + dvec[g, i, ty[j]], lo, hi)


@njit(cache=True)
def _add16_vec(row, d, lo, hi):
    """``row[k] = clip(row[k] + d[k], lo, hi)`` in int16 lanes (caller checks no overflow)."""
    for k in range(row.shape[0]):
        v = np.int16(row[k] + d[k])
        v = max(v, lo)
        row[k] = min(v, hi)


@njit(cache=True)
def _add16_scalar(row, d, lo, hi):
    """``row[k] = clip(row[k] + d, lo, hi)`` in int16 lanes (caller checks no overflow)."""
    for k in range(row.shape[0]):
        v = np.int16(row[k] + d)
        v = max(v, lo)
        row[k] = min(v, hi)


@njit(cache=True)
def _masked_add16(row, mask, d, lo, hi):
    """``row[k] = clip(row[k] + d, lo, hi)`` where mask[k], in int16 lanes (all operands int16 and
    the sum cannot overflow: the caller checks |v| + |d| < 2**15)."""
    for k in range(row.shape[0]):
        old = row[k]
        v = np.int16(old + d)
        v = max(v, lo)
        v = min(v, hi)
        row[k] = v if mask[k] else old


@njit(cache=True)
def _table_add16(row, ty, dtab, lo, hi):
    """``row[k] = clip(row[k] + dtab[ty[k]], lo, hi)`` in int16 lanes (dtab[0] = 0: no post spike)."""
    for k in range(row.shape[0]):
        v = np.int16(row[k] + dtab[ty[k]])
        v = max(v, lo)
        row[k] = min(v, hi)


@njit(cache=True)
def _delta_sweep(g, masked, skip_x0, narrow, T, R, nR, tx, ty, y0m, y0b, dvec, lo, hi, SV):
    """`_delta_row` over every row that is not a full row of target g (pre spike with x0 products).
    ``narrow``: int16 storage and small enough values for the int16 masked pass."""
    n_pre = tx.shape[0]
    n_post = ty.shape[0]
    lo16 = np.int16(lo)
    hi16 = np.int16(hi)
    for i in range(n_pre):
        if skip_x0 and tx[i] > 0:
            continue
        if T == 1:
            d = dvec[g, i, 1]
            if d == 0:
                continue
            if masked and narrow:
                _masked_add16(SV[g, i], y0b, np.int16(d), lo16, hi16)
            elif masked:
                for k in range(n_post):
                    SV[g, i, k] = clip(np.int64(SV[g, i, k]) + d * y0m[k], lo, hi)
            else:
                for k in range(nR):
                    j = R[k]
                    SV[g, i, j] = clip(np.int64(SV[g, i, j]) + d, lo, hi)
        else:
            nz = False
            for s in range(1, T + 1):
                nz = nz or dvec[g, i, s] != 0
            if nz and masked and narrow:
                _table_add16(SV[g, i], ty, dvec[g, i], lo16, hi16)
            elif nz:
                _delta_row(g, i, masked, T, R, nR, ty, y0m, dvec, lo, hi, SV)


@njit(cache=True)
def learn_rows(prod, fac, fac_c, tgt, u, r_conn, tx, ty, R, nR, A, B, G, TA, TB, SV, acc, gb, dvec,
               y0m, y0b, Dx, acc_lo, acc_hi, cnt, small, rounding=ROUND_STOCHASTIC):
    """Apply dw, dd, dt to the synapses their products touch (see the module docstring).

    SV (3, n_pre, n_post) is updated in place. R (uint32) lists the nR post neurons that spiked.
    Scratch: acc int64 (3, n_post), gb int64 (5, n_post), dvec int64 (3, n_pre, t_epoch + 1),
    y0m int64 (n_post,), y0b bool (n_post,), Dx int16 (3, t_epoch + 1, n_post), small int64 (>= 24:
    this function's own small arrays, so that it allocates nothing). ``rounding``: one
    of ROUND_STOCHASTIC (Lava's, with ``r_conn``), ROUND_NEAREST, ROUND_FLOOR (:func:`round_threshold`).
    """
    n_pre = tx.shape[0]
    n_post = ty.shape[0]
    n_prod = prod.shape[0]
    T = TA.shape[1] - 1
    no = np.bool_(False)     # typed flags: literal True/False arguments would compile callees twice
    yes = np.bool_(True)
    terms = small[0:8].reshape((2, 4))
    thr = small[8:11]
    delta_p = small[11:14]
    split_p = small[14:17]
    kinds = small[17:19]
    ps = small[19:21]
    mode = small[21:24]
    for k in range(24):
        small[k] = 0
    for g in range(3):
        delta_p[g] = -1
        split_p[g] = -1
    # direct: no product reads a synaptic variable, so each target can be written as soon as it is
    # computed; otherwise all targets of a row are computed from the old values first
    direct = True
    for p in range(n_prod):
        for f in range(prod[p, P_F0], prod[p, P_F1]):
            if fac[f, F_CLASS] == C_SYN:
                direct = False
    for j in range(n_post):
        y0m[j] = 1 if ty[j] > 0 else 0
        y0b[j] = ty[j] > 0
    n_xa = 0
    for i in range(n_pre):
        n_xa += tx[i] > 0
    for g in range(3):
        # one random number per epoch for all synapses; round up iff remainder > floor(r * 2**sh)
        # (or the fixed threshold of nearest / floor rounding)
        thr[g] = round_threshold(r_conn, tgt[g, G_SHIFT], rounding)
        if not tgt[g, G_ACTIVE]:
            continue
        n_full = n_pre if (u != 0 and tgt[g, G_HAS_U]) else (n_xa if tgt[g, G_HAS_X0] else 0)
        cnt[CNT_SYN_W + g] += n_full * n_post + ((n_pre - n_full) * nR if tgt[g, G_HAS_Y0] else 0)
        if g != T_T and tgt[g, G_HAS_Y0] and nR > 0:
            ny0 = 0
            for p in range(n_prod):
                if prod[p, P_TARGET] == g and prod[p, P_DEP] == D_Y0:
                    ny0 += 1
                    delta_p[g] = p if prod[p, P_MODE] == M_ROW else -1
            if ny0 != 1:
                delta_p[g] = -1
            p = delta_p[g]
            if p >= 0:
                sh = tgt[g, G_SHIFT]
                for i in range(n_pre):
                    dvec[g, i, 0] = 0
                    for s in range(1, T + 1):
                        dvec[g, i, s] = delta_of(TA[p, s, i], sh, thr[g])
    floor_fix = False
    t_min = tgt[T_T, G_LO]
    t_min_new = t_min
    if tgt[T_T, G_ACTIVE]:
        # what Lava's accumulator does to an untouched tag_1 at its lowest value
        sh = tgt[T_T, G_SHIFT]
        a = clip(t_min << sh, acc_lo, acc_hi)
        t_min_new = clip(delta_of(a, sh, thr[T_T]), t_min, tgt[T_T, G_HI])
        floor_fix = t_min_new != t_min
    masked = 4 * nR > n_post       # many post spikes: y0-only rows as full vector passes
    if direct:
        # split rows: a w / tag_2 target whose only non-y0 product is one x0 product of mode COL or
        # ROW sees a single product outside the post-spike columns; there the update is
        # clip(v + delta) in int16 lanes, and only the post-spike columns are computed in full
        for g in range(2):
            # worth it while the gathered exact columns cost less than a whole exact row
            if (not tgt[g, G_ACTIVE] or (u != 0 and tgt[g, G_HAS_U]) or SV.itemsize != 2
                    or 4 * nR >= n_post):
                continue
            lo = tgt[g, G_LO]
            hi = tgt[g, G_HI]
            if max(abs(lo), abs(hi)) + ((acc_hi + 1) >> tgt[g, G_SHIFT]) + 1 >= 32767:
                continue
            n_x0 = 0
            for p in range(n_prod):
                if prod[p, P_TARGET] == g and prod[p, P_DEP] == D_X0:
                    n_x0 += 1
                    split_p[g] = p if prod[p, P_MODE] != M_GEN else -1
            if n_x0 != 1:
                split_p[g] = -1
            p = split_p[g]
            if p >= 0 and prod[p, P_MODE] == M_COL:
                sh = tgt[g, G_SHIFT]
                for s in range(1, T + 1):
                    for j in range(n_post):
                        Dx[g, s, j] = delta_of(TB[p, s, j], sh, thr[g])
        # phase 1: rows of pre neurons with x0 work (or every row when u = 1): whole rows. Rows
        # with the same pre spike state have the same active products, so each class of rows is
        # classified once and, when the terms fit the fused form, updated by one kernel
        for g in range(3):
            if not tgt[g, G_ACTIVE]:
                continue
            u_full = u != 0 and tgt[g, G_HAS_U]
            for c in range(2):
                xa_sel = c == 0
                if not (u_full or (xa_sel and tgt[g, G_HAS_X0])) or (xa_sel and split_p[g] >= 0):
                    continue
                simple, nt, pre = _classify(g, xa_sel, u, nR, prod, T, kinds, ps)
                if simple:
                    _fused_rows(g, xa_sel, nt, pre, kinds, ps, prod, tgt, tx, ty, y0m, A, B, TA, TB,
                                SV, gb, thr[g], acc_lo, acc_hi)
                else:
                    for i in range(n_pre):
                        if (tx[i] > 0) == xa_sel:
                            _row_update(g, i, no, yes, xa_sel, u, nR, R, prod, fac, fac_c, tgt, tx,
                                        ty, y0m, A, B, G, TA, TB, SV, acc, gb, terms, thr[g], acc_lo,
                                        acc_hi)
            if split_p[g] >= 0:
                simple, nt, pre = _classify(g, yes, u, nR, prod, T, kinds, ps)
                if simple:
                    _split_rows(g, split_p[g], nt, pre, kinds, ps, prod, tgt, tx, ty, R, nR, A, B,
                                TA, TB, Dx, SV, gb, thr[g], acc_lo, acc_hi)
                else:
                    for i in range(n_pre):
                        if tx[i] > 0:
                            _row_update(g, i, no, yes, yes, u, nR, R, prod, fac, fac_c, tgt, tx,
                                        ty, y0m, A, B, G, TA, TB, SV, acc, gb, terms, thr[g], acc_lo,
                                        acc_hi)
        # phase 2: the other rows, on the columns of the post neurons that spiked
        if nR > 0:
            for g in range(3):
                if not tgt[g, G_ACTIVE] or not tgt[g, G_HAS_Y0] or (u != 0 and tgt[g, G_HAS_U]):
                    continue
                skip_x0 = tgt[g, G_HAS_X0] != 0
                if delta_p[g] >= 0:
                    lo = tgt[g, G_LO]
                    hi = tgt[g, G_HI]
                    dmax = ((acc_hi + 1) >> tgt[g, G_SHIFT]) + 1
                    narrow = SV.itemsize == 2 and max(abs(lo), abs(hi)) + dmax < 32767
                    # an int16 masked pass costs ~1/16 of a gathered update per column
                    dmasked = 16 * nR > n_post if narrow else masked
                    _delta_sweep(g, dmasked, skip_x0, narrow, T, R, nR, tx, ty, y0m, y0b, dvec, lo,
                                 hi, SV)
                else:
                    for i in range(n_pre):
                        if not (skip_x0 and tx[i] > 0):
                            _row_update(g, i, not masked, yes, no, u, nR, R, prod, fac, fac_c, tgt,
                                        tx, ty, y0m, A, B, G, TA, TB, SV, acc, gb, terms, thr[g],
                                        acc_lo, acc_hi)
        if floor_fix:
            g = T_T
            full_u = u != 0 and tgt[g, G_HAS_U]
            y0_done = tgt[g, G_HAS_Y0] and nR > 0
            if not full_u and not (y0_done and masked):
                for i in range(n_pre):
                    if tgt[g, G_HAS_X0] and tx[i] > 0:
                        continue
                    for j in range(n_post):
                        if SV[g, i, j] == t_min and not (y0_done and ty[j] > 0):
                            SV[g, i, j] = t_min_new
        return
    # products read synaptic variables: compute every target of a row from the old values, then write
    for i in range(n_pre):
        xa = tx[i] > 0
        any_work = False
        for g in range(3):
            md = R_SKIP
            if tgt[g, G_ACTIVE]:
                if (xa and tgt[g, G_HAS_X0]) or (u != 0 and tgt[g, G_HAS_U]):
                    md = R_FULL
                elif tgt[g, G_HAS_Y0] and nR > 0:
                    if delta_p[g] >= 0:
                        nz = False
                        for s in range(1, T + 1):
                            nz = nz or dvec[g, i, s] != 0
                        if nz:
                            md = R_DELTA_MASKED if masked else R_DELTA_GATHER
                    else:
                        md = R_FULL if masked else R_GATHER
            mode[g] = md
            any_work = any_work or md != R_SKIP
        if any_work:
            for g in range(3):
                md = mode[g]
                if md == R_FULL or md == R_GATHER:
                    _row_update(g, i, md == R_GATHER, no, xa, u, nR, R, prod, fac, fac_c, tgt, tx,
                                ty, y0m, A, B, G, TA, TB, SV, acc, gb, terms, thr[g], acc_lo, acc_hi)
            for g in range(3):
                md = mode[g]
                if md == R_FULL or md == R_GATHER:
                    gather = md == R_GATHER
                    _store(g, i, gather, R, nR if gather else n_post, acc[g], SV)
                elif md != R_SKIP:
                    _delta_row(g, i, md == R_DELTA_MASKED, T, R, nR, ty, y0m, dvec, tgt[g, G_LO],
                               tgt[g, G_HI], SV)
        if floor_fix and mode[T_T] != R_FULL:
            for j in range(n_post):
                if SV[T_T, i, j] == t_min and not (mode[T_T] == R_GATHER and ty[j] > 0):
                    SV[T_T, i, j] = t_min_new
