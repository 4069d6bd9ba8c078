"""Per-epoch factor tables of a compiled rule's products (``build_tables``): row parts ``A``, column parts
``B``, cross factors ``G`` and finished accumulator terms ``TA`` / ``TB`` (int64), read by every evaluation
path (:mod:`.rows`, :mod:`.outer`)."""
from __future__ import annotations

import numpy as np
from numba import njit

from .program import (C_COL, C_CROSSX, C_CROSSY, C_ROW, D_U, D_X0, D_Y0, F_CLASS, F_TRACE, F_VAR, M_COL, M_ROW,
                      P_CROSS, P_DEP, P_F0, P_F1, P_LSHIFT, P_MANT, P_MODE, P_RSHIFT, V_C, V_X0, V_Y0)
from .terms import factor_value, finish_term, mul_factor, wrap32


@njit(cache=True)
def build_tables(prod, fac, fac_c, u, tx, ty, Hx, Hy, A, B, G, TA, TB, raw_pre, raw_post, acc_lo,
                 acc_hi):
    """Per-epoch tables of every product: :func:`build_factors`, then :func:`build_terms`."""
    build_factors(prod, fac, fac_c, u, tx, ty, Hx, Hy, A, B, G, raw_pre, raw_post)
    build_terms(prod, fac, fac_c, A, B, G, TA, TB, acc_lo, acc_hi)


@njit(cache=True, inline="always")
def build_factors(prod, fac, fac_c, u, tx, ty, Hx, Hy, A, B, G, raw_pre, raw_post):
    """Per-epoch factor tables of every product (the fast path of :mod:`.outer` reads ``A`` and ``B``
    only; :func:`build_terms` finishes the terms the generic evaluation reads).

    * ``A[p, i]``: wrap32(dep_i * m * row factors), dep_i = x0_i (x0), u (u) or 1 (y0).
    * ``B[p, s, j]``: wrap32(column factors); for x0 products at the pre spike time s = 1..t_epoch
      (cross y-trace factors), else s = 0, including y0_j for y0 products.
    * ``G[p, s, i]``: wrap32(cross x-trace factors at the post spike time s = 1..t_epoch), y0 products.
    """
    T = Hx.shape[0] - 1
    n_pre = tx.shape[0]
    n_post = ty.shape[0]
    for p in range(prod.shape[0]):
        dep = prod[p, P_DEP]
        m = prod[p, P_MANT]
        f0 = prod[p, P_F0]
        f1 = prod[p, P_F1]
        cross = prod[p, P_CROSS]
        Ap = A[p]
        # ---- A: dependency, mantissa and row factors
        if dep == D_X0:
            for i in range(n_pre):
                Ap[i] = m if tx[i] > 0 else 0
        elif dep == D_U:
            for i in range(n_pre):
                Ap[i] = m * u
        else:
            for i in range(n_pre):
                Ap[i] = m
        for f in range(f0, f1):
            if fac[f, F_CLASS] != C_ROW:
                continue
            var = fac[f, F_VAR]
            if var == V_X0:
                for i in range(n_pre):
                    raw_pre[i] = 1 if tx[i] > 0 else 0
            elif var == V_C:
                for i in range(n_pre):
                    raw_pre[i] = 0
            else:
                tr = fac[f, F_TRACE]
                if dep != D_X0 or T == 1:
                    # the trace at the end of the epoch, a row of the history read in place (x0 with one
                    # step per epoch: a spiking row reads H[1]; the others have A = 0 whatever they read)
                    mul_factor(Ap, Hx[T, tr], n_pre, f, fac, fac_c)
                    continue
                for i in range(n_pre):
                    raw_pre[i] = Hx[tx[i], tr, i]
            mul_factor(Ap, raw_pre, n_pre, f, fac, fac_c)
        # ---- B: column factors
        if dep == D_X0:
            for s in range(1, T + 1):
                Bps = B[p, s]
                for j in range(n_post):
                    Bps[j] = 1
                for f in range(f0, f1):
                    cl = fac[f, F_CLASS]
                    if cl == C_CROSSY:             # the post trace at the pre spike time s, read in place
                        mul_factor(Bps, Hy[s, fac[f, F_TRACE]], n_post, f, fac, fac_c)
                        continue
                    elif cl == C_COL:          # only y0 can be a column factor of an x0 product
                        for j in range(n_post):
                            raw_post[j] = 1 if ty[j] > 0 else 0
                    else:
                        continue
                    mul_factor(Bps, raw_post, n_post, f, fac, fac_c)
        else:
            Bp0 = B[p, 0]
            for j in range(n_post):
                Bp0[j] = (1 if ty[j] > 0 else 0) if dep == D_Y0 else 1
            for f in range(f0, f1):
                if fac[f, F_CLASS] != C_COL:
                    continue
                if fac[f, F_VAR] == V_Y0:
                    for j in range(n_post):
                        raw_post[j] = 1 if ty[j] > 0 else 0
                else:
                    tr = fac[f, F_TRACE]
                    if dep != D_Y0:                # the trace at the end of the epoch, read in place
                        mul_factor(Bp0, Hy[T, tr], n_post, f, fac, fac_c)
                        continue
                    for j in range(n_post):
                        raw_post[j] = Hy[ty[j], tr, j]
                mul_factor(Bp0, raw_post, n_post, f, fac, fac_c)
            if dep == D_Y0 and cross:
                for i in range(n_pre):
                    G[p, 0, i] = 0
                for s in range(1, T + 1):
                    Gps = G[p, s]
                    for i in range(n_pre):
                        Gps[i] = 1
                    for f in range(f0, f1):
                        if fac[f, F_CLASS] == C_CROSSX:
                            tr = fac[f, F_TRACE]
                            for i in range(n_pre):
                                raw_pre[i] = Hx[s, tr, i]
                            mul_factor(Gps, raw_pre, n_pre, f, fac, fac_c)


@njit(cache=True)
def build_terms(prod, fac, fac_c, A, B, G, TA, TB, acc_lo, acc_hi):
    """Finished accumulator terms from the factor tables of :func:`build_factors`: ``TB[p, s, j]``
    (mode COL) and ``TA[p, s, i]`` (mode ROW); for y0 products ``TA[p, 0, i] = 0`` (no post spike,
    no term)."""
    T = TA.shape[1] - 1
    n_pre = A.shape[1]
    n_post = B.shape[2]
    for p in range(prod.shape[0]):
        dep = prod[p, P_DEP]
        m = prod[p, P_MANT]
        f0 = prod[p, P_F0]
        f1 = prod[p, P_F1]
        cross = prod[p, P_CROSS]
        Ap = A[p]
        rs = prod[p, P_RSHIFT]
        ls = prod[p, P_LSHIFT]
        mode = prod[p, P_MODE]
        if mode == M_COL:
            # the row part is the same on every row where the product is active
            aref = m
            for f in range(f0, f1):
                if fac[f, F_CLASS] == C_ROW:
                    aref = wrap32(aref * factor_value(1 if fac[f, F_VAR] == V_X0 else 0, f, fac,
                                                      fac_c))
            s0 = 1 if dep == D_X0 else 0
            s1 = T if dep == D_X0 else 0
            for s in range(s0, s1 + 1):
                for j in range(n_post):
                    TB[p, s, j] = finish_term(wrap32(aref * B[p, s, j]), rs, ls, acc_lo, acc_hi)
        elif mode == M_ROW:
            if dep == D_Y0:
                bref = 1
                for f in range(f0, f1):
                    if fac[f, F_CLASS] == C_COL:
                        bref = wrap32(bref * factor_value(np.int64(1), f, fac, fac_c))
                for i in range(n_pre):
                    TA[p, 0, i] = 0
                for s in range(1, T + 1):
                    for i in range(n_pre):
                        g = G[p, s, i] if cross else 1
                        TA[p, s, i] = finish_term(wrap32(wrap32(Ap[i] * g) * bref), rs, ls, acc_lo,
                                                  acc_hi)
            else:
                for i in range(n_pre):
                    TA[p, 0, i] = finish_term(Ap[i], rs, ls, acc_lo, acc_hi)
