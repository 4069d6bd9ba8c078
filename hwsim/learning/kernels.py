"""Numba kernels of the learning engine: one Lava ``LearningDense`` step, bit-exact in fixed point.

Layout: the synaptic variables live in one array ``SV`` of shape ``(3, n_pre, n_post)`` (index 0 =
weights w, 1 = tag_2 "d", 2 = tag_1 "t"), **fan-out major**: row ``SV[g, i]`` holds the synapses
of pre neuron i, the transpose of Lava's ``(n_post, n_pre)``. A pre spike reads one contiguous row,
and so does every product that depends on ``x0``. Traces are int64 ``(2, n_pre)`` (x1, x2) and
``(3, n_post)`` (y1, y2, y3); ``tx``/``ty`` hold the within-epoch time of the last spike
(1..t_epoch, 0 = none).

Per step t (Lava: ``PyLearningDenseModelBitApproximate.run_spk`` then ``run_lrn``)::

    a_out = a_buff                                  # sent now, computed at t-1
    a_buff = wrap32(shift(sum_{i: s_i} W[i, :], weight_exp))
    te = t % t_epoch or t_epoch
    x[:, s & (tx > 0)] = clip(x + imp_int + (0 < imp_frac), 0, trace_max);  tx[s] = te
    (2F/3F) y[:, bap & (ty > 0)] = clip(y + imp_int + (r_imp(2t-1) < imp_frac), ...);  ty[bap] = te
    (3F) y1, y2, y3 = inputs of this step (unclipped int32)
    if t % t_epoch == 0: learn

Learning at the end of an epoch (random numbers: trace draw 2t, connection draw t / t_epoch)::

    H[0] = trace;  H[s] = floor(f) + (r_decay < f - floor(f)),  f = exp(-1/tau) * H[s-1]   (float64)
                   H[s][:, spikes at s] = clip(H[s] + imp_int + (r_imp < imp_frac), 0, trace_max)
    for each target v in (w, tag_2, tag_1), all from the values before this epoch's update:
        acc = v << sh                                   # sh = accumulator_bits - var_bits (7)
        for each product: term = clip(wrap32(m * dep * prod(clip(factor + c))) >> rshift << (e + 7))
                          acc = clip(acc + term)        # to [-2**15 - 1, 2**15 - 1]
        acc = max(0, acc) for excitatory w and tag_2;  min(0, acc) for inhibitory w
        v = clip(floor(acc / 2**sh) + (r_conn < frac(acc / 2**sh)), lo, hi)   # rounding 'stochastic'
        (rounding 'nearest': v = clip(floor(acc / 2**sh + 1/2)), half up, i.e. ties toward +inf;
         rounding 'floor': v = clip(acc >> sh), the arithmetic shift; see ``round_threshold``)
    x = H_x[t_epoch];  (2F) y = H_y[t_epoch];  tx = ty = 0

Evaluation is event-driven and exact. A product that depends on x0 touches only the rows of pre
neurons that spiked in the epoch, one on y0 only the columns of post neurons that spiked, and u
products every synapse (when u = 1). Synapses no product touches keep their value, which is what
Lava computes for them, except ``tag_1 == -(2**tag_bits) - 1``, which Lava's accumulator clip moves;
that case is fixed up explicitly. Paths (``learn_rows``), all computing the formula above:

* per-epoch tables (``build_tables``): each product's row part ``A``, column part ``B``, cross
  factors ``G``, and finished terms ``TA`` (per row) / ``TB`` (per column) where they exist;
* rows of a class (pre spike or not) share their active products: classified once, then one
  fused pass per row (accumulate, saturate, round, clip) over terms materialised in L1 scratch;
* where a single product touches a synapse of w or tag_2, the update is
  ``clip(v + (term >> sh) + (rem(term) > thr))``, equal to the sequence above for these targets
  (their values start inside the accumulator range); with int16 storage it runs in int16 lanes.
  Rows without a pre spike (y0 products only) and the no-post-spike columns of rows with one take
  this form; the post-spike columns of those rows are computed in full from the old values;
* when a product reads w, d or t, all targets of a row are computed before any is written.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .program import (C_COL, C_CROSSX, C_CROSSY, C_ROW, C_SYN, D_U, D_X0, D_Y0, F_CINT, F_CLASS,
                      F_HI, F_ISINT, F_LO, F_SGN, F_TRACE, F_VAR, G_ACTIVE, G_HAS_U, G_HAS_X0,
                      G_HAS_Y0, G_HI, G_LO, G_SAT, G_SHIFT, M_COL, M_GEN, M_ROW, P_CROSS, P_DEP,
                      P_F0, P_F1, P_LSHIFT, P_MANT, P_MODE, P_RSHIFT, P_SYN, P_TARGET, SAT_MAX0,
                      SAT_MIN0,
                      T_T, V_C, V_D, V_W, V_X0, V_Y0)

# indices of the int64 parameter vector ``par``
(PAR_T_EPOCH, PAR_KIND, PAR_DECIM, PAR_TRACE_MAX, PAR_ACC_LO, PAR_ACC_HI, PAR_WEIGHT_EXP,
 PAR_ROUNDING) = range(8)
N_PAR = 8
# rounding of the accumulator to the weight / tag (``par[PAR_ROUNDING]``); stochastic is Lava's
ROUNDINGS = ("stochastic", "nearest", "floor")
ROUND_STOCHASTIC, ROUND_NEAREST, ROUND_FLOOR = range(3)
KIND_2F, KIND_3F, KIND_PLAIN = 0, 1, 2
# indices of the int64 counter vector ``cnt``
(CNT_STEPS, CNT_EPOCHS, CNT_TRACE_UPDATES, CNT_SYN_W, CNT_SYN_D, CNT_SYN_T,
 CNT_SYN_OPS) = range(7)
N_CNT = 7
# how a target is evaluated on a row
R_SKIP, R_FULL, R_GATHER, R_DELTA_GATHER, R_DELTA_MASKED = range(5)

_HALF32 = np.int64(1 << 31)
_MASK32 = np.int64((1 << 32) - 1)


@njit(cache=True)
def wrap32(x):
    """Two's-complement wrap of an int64 to 32 bits (the int32 MAC register of Lava's applier)."""
    return ((x + _HALF32) & _MASK32) - _HALF32


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
    """``floor(f) + (r < f - floor(f))`` with ``f = factor * v`` in float64 (Lava's ``_decay_trace``)."""
    if v == 0:
        return np.int64(0)
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


@njit(cache=True, inline="always")
def _send(acc, n_post, weight_exp, a_buff):
    """``a_buff = wrap32(shift(acc, weight_exp))`` (Lava's shift, then its int32 output port);
    returns the number of entries the int32 wrap changed."""
    wraps = 0
    for j in range(n_post):
        v = acc[j]
        if weight_exp > 0:
            v = v << weight_exp
        else:
            v = v >> -weight_exp
        w = wrap32(v)
        wraps += w != v
        a_buff[j] = w
    return wraps


@njit(cache=True)
def dense_forward(W, s_in, weight_exp, acc, a_buff):
    """Dense accumulation of binary spikes: ``a_buff = wrap32(shift(sum_{i: s_i} W[i, :], weight_exp))``.

    W is fan-out major (n_pre, n_post). Returns ``(synaptic operations, int32 wraps)``: spikes x n_post,
    and the entries whose shifted sum left int32 (Lava wraps them on its int32 output port).
    """
    n_pre, n_post = W.shape
    for j in range(n_post):
        acc[j] = 0
    n = 0
    for i in range(n_pre):
        if s_in[i]:
            n += 1
            for j in range(n_post):
                acc[j] += W[i, j]
    return n * n_post, _send(acc, n_post, weight_exp, a_buff)


@njit(cache=True)
def dense_forward_graded(W, payload, weight_exp, acc, a_buff):
    """Dense accumulation of graded spikes (Lava ``num_message_bits > 0``):
    ``a_buff = wrap32(shift(sum_i payload_i W[i, :], weight_exp))``. Returns ``(synaptic operations, wraps)``."""
    n_pre, n_post = W.shape
    for j in range(n_post):
        acc[j] = 0
    n = 0
    for i in range(n_pre):
        p = payload[i]
        if p != 0:
            n += 1
            for j in range(n_post):
                acc[j] += W[i, j] * p
    return n * n_post, _send(acc, n_post, weight_exp, a_buff)


@njit(cache=True)
def dense_backward_graded(W, y, weight_exp, acc, out):
    """The transpose of a dense accumulation, for graded values ``y`` (n_post) of the post side:
    ``out = wrap32(shift(sum_j W[:, j] y_j, weight_exp))`` (n_pre), in int64 before the shift, as
    :func:`dense_forward_graded` sums. W is fan-out major (n_pre, n_post). Returns ``(synaptic
    operations, int32 wraps)``: non-zero y x n_pre, and the entries the int32 wrap changed."""
    n_pre, n_post = W.shape
    n = 0
    for j in range(n_post):
        if y[j] != 0:
            n += 1
    for i in range(n_pre):
        a = np.int64(0)
        for j in range(n_post):
            a += np.int64(W[i, j]) * y[j]
        acc[i] = a
    return n * n_pre, _send(acc, n_pre, weight_exp, out)


@njit(cache=True, inline="always")
def overwrite_value(p):
    """Lava's ``GradedSpikeCfg.OVERWRITE`` trace value of a payload ``p`` in [0, 255]:
    ``np.round(p / 2)``, i.e. half to even (3 -> 2, 5 -> 2)."""
    q = p >> 1
    if p & 1 and q & 1:
        q += 1
    return q


@njit(cache=True)
def recv_spikes(te, s_in, bap, use_bap, xtr, ytr, tx, ty, imp_int, imp_frac, r_y_imp, trace_max):
    """Spike phase of the traces (Lava ``recv_traces``): a second spike in an epoch adds its impulse
    now (pre: random 0, post: ``r_y_imp``); every spike records its within-epoch time ``te``."""
    for i in range(s_in.shape[0]):
        if s_in[i]:
            if tx[i] > 0:
                for k in range(2):
                    xtr[k, i] = add_impulse(xtr[k, i], np.int64(0), imp_int[k], imp_frac[k],
                                            trace_max)
            tx[i] = te
    if use_bap:
        for j in range(bap.shape[0]):
            if bap[j]:
                if ty[j] > 0:
                    for k in range(3):
                        ytr[k, j] = add_impulse(ytr[k, j], r_y_imp, imp_int[2 + k], imp_frac[2 + k],
                                                trace_max)
                ty[j] = te


@njit(cache=True)
def trace_history(H, tr, tspk, base, decay, tau_nz, imp_int, imp_frac, r_decay, r_imp, trace_max):
    """Trace values over the epoch, ``H[s]`` for s = 0..t_epoch (Lava ``_compute_trace_histories``).

    Returns the number of trace values decayed (non-zero values of traces with tau != 0).
    """
    n_s = H.shape[0]
    K, n = tr.shape
    count = 0
    for k in range(K):
        for i in range(n):
            H[0, k, i] = tr[k, i]
    for s in range(1, n_s):
        for k in range(K):
            if tau_nz[base + k]:
                fk = decay[base + k]
                for i in range(n):
                    v = H[s - 1, k, i]
                    count += v != 0
                    H[s, k, i] = decay_value(v, fk, r_decay)
            else:
                for i in range(n):
                    H[s, k, i] = 0
        for i in range(n):
            if tspk[i] == s:
                for k in range(K):
                    H[s, k, i] = add_impulse(H[s, k, i], r_imp, imp_int[base + k],
                                             imp_frac[base + k], trace_max)
    return count


@njit(cache=True)
def build_tables(prod, fac, fac_c, u, tx, ty, Hx, Hy, A, B, G, TA, TB, raw_pre, raw_post, acc_lo,
                 acc_hi):
    """Per-epoch factor tables of every product.

    * ``A[p, i]``: wrap32(dep_i * m * row factors), dep_i = x0_i (x0), u (u) or 1 (y0).
    * ``B[p, s, j]``: wrap32(column factors); for x0 products at the pre spike time s = 1..t_epoch
      (cross y-trace factors), else s = 0, including y0_j for y0 products.
    * ``G[p, s, i]``: wrap32(cross x-trace factors at the post spike time s = 1..t_epoch), y0 products.
    * ``TB[p, s, j]`` (mode COL) and ``TA[p, s, i]`` (mode ROW): finished accumulator terms; for y0
      products ``TA[p, 0, i] = 0`` (no post spike, no term).
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
                if dep == D_X0:
                    for i in range(n_pre):
                        raw_pre[i] = Hx[tx[i], tr, i]
                else:
                    for i in range(n_pre):
                        raw_pre[i] = Hx[T, tr, i]
            mul_factor(Ap, raw_pre, n_pre, f, fac, fac_c)
        # ---- B: column factors
        if dep == D_X0:
            for s in range(1, T + 1):
                Bps = B[p, s]
                for j in range(n_post):
                    Bps[j] = 1
                for f in range(f0, f1):
                    cl = fac[f, F_CLASS]
                    if cl == C_CROSSY:
                        tr = fac[f, F_TRACE]
                        for j in range(n_post):
                            raw_post[j] = Hy[s, tr, j]
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
                    if dep == D_Y0:
                        for j in range(n_post):
                            raw_post[j] = Hy[ty[j], tr, j]
                    else:
                        for j in range(n_post):
                            raw_post[j] = Hy[T, tr, j]
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
        # ---- finished terms
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
def _fused_value(old, sh, th, sat_lo, sat_hi, lo, hi, pre_lo, pre_hi, t1, t2, acc_lo, acc_hi):
    a = clip(np.int64(old) << sh, pre_lo, pre_hi)
    a = clip(a + t1, acc_lo, acc_hi)
    a = clip(a + t2, acc_lo, acc_hi)
    a = clip(a, sat_lo, sat_hi)
    q = a >> sh
    return clip(q + (1 if a - (q << sh) > th else 0), lo, hi)


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
def _fused_bounds(sat, preclip, acc_lo, acc_hi):
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
               y0m, y0b, Dx, acc_lo, acc_hi, cnt, rounding=ROUND_STOCHASTIC):
    """Apply dw, dd, dt to the synapses their products touch (see the module docstring).

    SV (3, n_pre, n_post) is updated in place. R (uint32) lists the nR post neurons that spiked.
    Scratch: acc int64 (3, n_post), gb int64 (5, n_post), dvec int64 (3, n_pre, t_epoch + 1),
    y0m int64 (n_post,), y0b bool (n_post,), Dx int16 (3, t_epoch + 1, n_post). ``rounding``: one
    of ROUND_STOCHASTIC (Lava's, with ``r_conn``), ROUND_NEAREST, ROUND_FLOOR (:func:`round_threshold`).
    """
    n_pre = tx.shape[0]
    n_post = ty.shape[0]
    n_prod = prod.shape[0]
    T = TA.shape[1] - 1
    no = np.bool_(False)     # typed flags: literal True/False arguments would compile callees twice
    yes = np.bool_(True)
    terms = np.zeros((2, 4), dtype=np.int64)
    thr = np.zeros(3, dtype=np.int64)
    delta_p = np.full(3, -1, dtype=np.int64)
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
        split_p = np.full(3, -1, dtype=np.int64)
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
        kinds = np.zeros(2, dtype=np.int64)
        ps = np.zeros(2, dtype=np.int64)
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
    mode = np.zeros(3, dtype=np.int64)
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


@njit(cache=True)
def learn_epoch(t, par, prod, fac, fac_c, tgt, imp_int, imp_frac, decay, tau_nz, xtr, ytr, tx, ty,
                r_xd, r_xi, r_yd, r_yi, r_conn, SV, Hx, Hy, A, B, G, TA, TB, acc, gb, R, dvec,
                y0m, y0b, Dx, raw_pre, raw_post, cnt):
    """``run_lrn`` at step t (t % t_epoch == 0): traces over the epoch, then dw, dd, dt."""
    T = par[PAR_T_EPOCH]
    trace_max = par[PAR_TRACE_MAX]
    cnt[CNT_EPOCHS] += 1
    decim = par[PAR_DECIM]
    u = np.int64(0)
    if decim >= 0 and (t // T) % (1 << decim) == 0:
        u = np.int64(1)
    cnt[CNT_TRACE_UPDATES] += trace_history(Hx, xtr, tx, np.int64(0), decay, tau_nz, imp_int,
                                            imp_frac, r_xd, r_xi, trace_max)
    cnt[CNT_TRACE_UPDATES] += trace_history(Hy, ytr, ty, np.int64(2), decay, tau_nz, imp_int,
                                            imp_frac, r_yd, r_yi, trace_max)
    nR = np.int64(0)
    for j in range(ty.shape[0]):
        if ty[j] > 0:
            R[nR] = j
            nR += 1
    if prod.shape[0] > 0:
        build_tables(prod, fac, fac_c, u, tx, ty, Hx, Hy, A, B, G, TA, TB, raw_pre, raw_post,
                     par[PAR_ACC_LO], par[PAR_ACC_HI])
        learn_rows(prod, fac, fac_c, tgt, u, r_conn, tx, ty, R, nR, A, B, G, TA, TB, SV, acc, gb,
                   dvec, y0m, y0b, Dx, par[PAR_ACC_LO], par[PAR_ACC_HI], cnt, par[PAR_ROUNDING])
    for k in range(2):
        for i in range(xtr.shape[1]):
            xtr[k, i] = Hx[T, k, i]
    if par[PAR_KIND] == KIND_2F:
        for k in range(3):
            for j in range(ytr.shape[1]):
                ytr[k, j] = Hy[T, k, j]
    for i in range(tx.shape[0]):
        tx[i] = 0
    for j in range(ty.shape[0]):
        ty[j] = 0


@njit(cache=True)
def learn_step(t, s_in, bap, use_bap, y1, y2, y3, use_y, par, prod, fac, fac_c, tgt, imp_int,
               imp_frac, decay, tau_nz, xtr, ytr, tx, ty, SV, r_xd, r_xi, r_yd, r_yi, r_off, r_conn,
               c_off, Hx, Hy, A, B, G, TA, TB, acc, gb, R, dvec, y0m, y0b, Dx, raw_pre, raw_post,
               cnt, payload=None):
    """The learning part of step t (1-based) of a LearningDense, for a simulator that does the
    dense accumulation itself: record the pre spikes ``s_in`` and bap spikes of step t in the
    traces (``recv_traces``), take the 3F inputs, and at the end of an epoch learn (``run_lrn``).
    Call it after the step's spikes were accumulated with the weights as they were (``SV[0]``,
    fan-out major): an update at t affects accumulation from t+1 on.

    Trace random draws are indexed ``d - r_off`` (draw d = 2t-1, 2t), connection draws
    ``n - c_off`` (epoch n = t / t_epoch). ``use_y`` holds three flags for y1..y3 (3F only); an
    unused input reads as zeros. The arguments after ``use_y`` are
    :meth:`hwsim.learning.LearningDenseEngine.kernel_args`. With graded pre spikes
    (``GradedSpikeCfg.OVERWRITE``), ``payload`` holds the step's payloads in [0, 255]: a spiking
    pre neuron's x1 becomes :func:`overwrite_value` of its payload after the spike phase (the rule's
    x1 impulse is 0, so the regular impulse adds nothing), as Lava's ``_process_pre_spikes``.
    """
    T = par[PAR_T_EPOCH]
    te = t % T
    if te == 0:
        te = T
    kind = par[PAR_KIND]
    recv_spikes(te, s_in, bap, use_bap and kind != KIND_PLAIN, xtr, ytr, tx, ty, imp_int, imp_frac,
                r_yi[2 * t - 1 - r_off], par[PAR_TRACE_MAX])
    if payload is not None:
        for i in range(s_in.shape[0]):
            if s_in[i]:
                xtr[0, i] = overwrite_value(payload[i])
    if kind == KIND_3F:
        for j in range(ytr.shape[1]):
            ytr[0, j] = y1[j] if use_y[0] else 0
            ytr[1, j] = y2[j] if use_y[1] else 0
            ytr[2, j] = y3[j] if use_y[2] else 0
    cnt[CNT_STEPS] += 1
    if t % T == 0:
        d = 2 * t - r_off
        learn_epoch(t, par, prod, fac, fac_c, tgt, imp_int, imp_frac, decay, tau_nz, xtr, ytr, tx, ty,
                    r_xd[d], r_xi[d], r_yd[d], r_yi[d], r_conn[t // T - c_off], SV, Hx, Hy, A, B, G,
                    TA, TB, acc, gb, R, dvec, y0m, y0b, Dx, raw_pre, raw_post, cnt)


@njit(cache=True)
def engine_step(t, s_in, bap, use_bap, y1, y2, y3, use_y, a_buff, a_out, par, prod, fac, fac_c, tgt,
                imp_int, imp_frac, decay, tau_nz, xtr, ytr, tx, ty, SV, r_xd, r_xi, r_yd, r_yi, r_off,
                r_conn, c_off, Hx, Hy, A, B, G, TA, TB, acc, gb, R, dvec, y0m, y0b, Dx, raw_pre,
                raw_post, cnt):
    """One LoihiProtocol step t (1-based) of a LearningDense: ``run_spk`` (send ``a_buff``, the
    activation computed at t-1, into ``a_out``; accumulate the binary spikes ``s_in`` with the
    current weights into ``a_buff``), then :func:`learn_step`."""
    for j in range(a_out.shape[0]):
        a_out[j] = a_buff[j]
    ops, _ = dense_forward(SV[0], s_in, par[PAR_WEIGHT_EXP], acc[0], a_buff)
    cnt[CNT_SYN_OPS] += ops
    learn_step(t, s_in, bap, use_bap, y1, y2, y3, use_y, par, prod, fac, fac_c, tgt, imp_int,
               imp_frac, decay, tau_nz, xtr, ytr, tx, ty, SV, r_xd, r_xi, r_yd, r_yi, r_off, r_conn,
               c_off, Hx, Hy, A, B, G, TA, TB, acc, gb, R, dvec, y0m, y0b, Dx, raw_pre, raw_post,
               cnt)


@njit(cache=True)
def engine_run(t0, n_steps, S, BAP, use_bap, Y1, Y2, Y3, use_y, a_buff, A_OUT, par, prod, fac, fac_c,
               tgt, imp_int, imp_frac, decay, tau_nz, xtr, ytr, tx, ty, SV, r_xd, r_xi, r_yd, r_yi,
               r_off, r_conn, c_off, Hx, Hy, A, B, G, TA, TB, acc, gb, R, dvec, y0m, y0b, Dx,
               raw_pre, raw_post, cnt, rec_every, W_REC, EPOCH_LOG):
    """Steps t0+1 .. t0+n_steps. Row k of S, BAP, Y* is step t0+1+k (BAP/Y* may have a single dummy
    row when unused). ``A_OUT[k]`` receives the activation sent at that step. With rec_every > 0,
    ``W_REC[m]`` receives the (n_pre, n_post) weights after step t0 + (m+1)*rec_every. EPOCH_LOG
    (rows: epochs of this run) receives [t, trace updates, synapse updates (all targets), weight
    updates, tag updates] per epoch when it has rows."""
    n_rec = 0
    n_log = 0
    prev = np.zeros(N_CNT, dtype=np.int64)
    for k in range(n_steps):
        t = t0 + 1 + k
        kb = k if use_bap else 0
        k1 = k if use_y[0] else 0
        k2 = k if use_y[1] else 0
        k3 = k if use_y[2] else 0
        for c in range(N_CNT):
            prev[c] = cnt[c]
        engine_step(t, S[k], BAP[kb], use_bap, Y1[k1], Y2[k2], Y3[k3], use_y, a_buff, A_OUT[k], par,
                    prod, fac, fac_c, tgt, imp_int, imp_frac, decay, tau_nz, xtr, ytr, tx, ty, SV,
                    r_xd, r_xi, r_yd, r_yi, r_off, r_conn, c_off, Hx, Hy, A, B, G, TA, TB, acc, gb,
                    R, dvec, y0m, y0b, Dx, raw_pre, raw_post, cnt)
        if cnt[CNT_EPOCHS] != prev[CNT_EPOCHS] and n_log < EPOCH_LOG.shape[0]:
            EPOCH_LOG[n_log, 0] = t
            EPOCH_LOG[n_log, 1] = cnt[CNT_TRACE_UPDATES] - prev[CNT_TRACE_UPDATES]
            EPOCH_LOG[n_log, 2] = (cnt[CNT_SYN_W] + cnt[CNT_SYN_D] + cnt[CNT_SYN_T]
                                   - prev[CNT_SYN_W] - prev[CNT_SYN_D] - prev[CNT_SYN_T])
            EPOCH_LOG[n_log, 3] = cnt[CNT_SYN_W] - prev[CNT_SYN_W]
            EPOCH_LOG[n_log, 4] = (cnt[CNT_SYN_D] + cnt[CNT_SYN_T] - prev[CNT_SYN_D]
                                   - prev[CNT_SYN_T])
            n_log += 1
        if rec_every > 0 and (k + 1) % rec_every == 0:
            W_REC[n_rec, :, :] = SV[0]
            n_rec += 1
