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

An *outer* program (``t_epoch == 1``, products of x0, y0 or u without a synaptic factor, any number per
target: OTTT's ``m*2^e*u0*x1*y2``, pair STDP's ``a*x0*y1 + b*y0*x1``) takes the fast path of :mod:`.outer`
instead of ``learn_rows``: Lava's full sequence on the rows with a non-zero row part, for the products
with a non-zero column part only (single-product rows in int16 / int32 vector lanes where no term can
wrap or leave the accumulator), which is where a term can be non-zero; it falls back to ``learn_rows``
for an epoch in which Lava's clip would move a tag_1 at its lowest value. Counters follow the generic definition on both paths. For such a program ``learn_step``
also does the spike phase, the trace history and the end of the epoch in one pass over the pre and one
over the post neurons (:func:`~.traces.pre_epoch1`, :func:`~.traces.post_epoch1`: the same operations
in the same order per neuron, 5 % of the OTTT_O benchmark's time), then the factor tables and the fast path.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .dense import _send, dense_backward_graded, dense_forward, dense_forward_graded  # noqa: F401
from .outer import F_OUTER, F_TMIN, learn_outer
from .program import (CNT_EPOCHS, CNT_STEPS, CNT_SYN_D, CNT_SYN_OPS, CNT_SYN_T, CNT_SYN_W,  # noqa: F401
                      CNT_TRACE_UPDATES, G_ACTIVE, G_HI, G_LO, KIND_2F, KIND_3F, KIND_PLAIN, N_CNT, N_PAR, PAR_ACC_HI,
                      PAR_ACC_LO, PAR_DECIM, PAR_KIND, PAR_ROUNDING, PAR_T_EPOCH, PAR_TRACE_MAX, PAR_WEIGHT_EXP, T_T,
                      T_W)
from .rows import learn_rows  # noqa: F401
from .tables import build_factors, build_tables, build_terms  # noqa: F401
from .terms import (ROUND_FLOOR, ROUND_NEAREST, ROUND_STOCHASTIC, ROUNDINGS, add_impulse, clip,  # noqa: F401
                    decay_value, delta_of, factor_value, finish_term, mul_factor, round_threshold, wrap32)
from .traces import overwrite_value, post_epoch1, pre_epoch1, recv_spikes, trace_history  # noqa: F401

# Modules of the engine, bottom up: .terms (scalar arithmetic), .dense (accumulation), .traces, .tables
# (per-epoch factor tables), .rows (the generic evaluation), .outer (the fast path of outer-product
# rules), and this module: one epoch / one step / a run of steps of a LearningDense.


# ---- the engine's entry points: arguments grouped as LearningDenseEngine.kernel_args -------------
#   The per-step entry points (learn_step, engine_step; hwsim.kernels.engine.learn_phase) compile with
#   ``_nrt=False``: no reference counts on the ~50 arrays of these tuples at every call and unpacking
#   (they cost more than a small network's learning arithmetic). So nothing they call may allocate:
#   every work array is in ``scratch`` (a kernel that allocates fails to compile there).
#   args = (prog, state, rng, scratch)
#   prog    = (par, prod, fac, fac_c, tgt, imp_int, imp_frac, decay, tau_nz, need)  compiled rule, fixed
#   state   = (xtr, ytr, tx, ty, SV, cnt, fast)                                     changes every step
#   rng     = (r_xd, r_xi, r_yd, r_yi, offs, r_conn)     random-draw windows, offs = [r_off, c_off]
#   scratch = (Hx, Hy, A, B, G, TA, TB, acc, gb, R, dvec, y0m, y0b, Dx, raw_pre, raw_post, rows, a32, d16,
#              small): rows int64 (n_pre), a32 int32 / d16 int16 (n_post), small int64 (32)
S_XTR, S_YTR, S_TX, S_TY, S_SV, S_CNT, S_FAST = range(7)        # indices into ``state``
X_HX, X_HY, X_ACC, X_GB, X_ROWS, X_A32 = 0, 1, 7, 8, 16, 17    # indices into ``scratch``


@njit(cache=True)
def tmin_present(SV, tgt):
    """True when the tag_1 target is active and some tag_1 equals its lowest value t_min (.outer)."""
    if not tgt[T_T, G_ACTIVE]:
        return False
    t_min = tgt[T_T, G_LO]
    for i in range(SV.shape[1]):
        for j in range(SV.shape[2]):
            if SV[2, i, j] == t_min:
                return True
    return False


@njit(cache=True, inline="always")
def weight_bound(tgt):
    """Bound on ``|w|``: the weight target's range (the sign mode's; weights are validated into it and
    learning and the host operations clip to it), for the dense sums' narrow lanes."""
    return max(abs(tgt[T_W, G_LO]), abs(tgt[T_W, G_HI]))


@njit(cache=True, inline="always")
def u_of(par, t):
    """The rule's ``u`` at the end of the epoch of step t: 1 every ``2**k`` epochs (``u<k>``), 0 without
    a u term."""
    decim = par[PAR_DECIM]
    if decim >= 0 and (t // par[PAR_T_EPOCH]) % (1 << decim) == 0:
        return np.int64(1)
    return np.int64(0)


@njit(cache=True)
def one_pass_epoch(prog, state):
    """True when a step's learning takes :func:`learn_step`'s one-pass form: one step per epoch and an
    outer program (:mod:`.outer`) whose epoch the fast path evaluates (no tag_1 that Lava's clip would
    move: ``learn_outer``)."""
    fast = state[S_FAST]
    return prog[0][PAR_T_EPOCH] == 1 and fast[F_OUTER] != 0 and (fast[F_TMIN] == 0 or not prog[4][T_T, G_ACTIVE])


@njit(cache=True, _nrt=False, inline="always")
def learn_epoch(t, prog, state, scratch, r_xd, r_xi, r_yd, r_yi, r_conn, traces_done=False):
    """``run_lrn`` at step t (t % t_epoch == 0): traces over the epoch, then dw, dd, dt (the fast path
    of :mod:`.outer` where the program is outer, else :func:`learn_rows`). ``r_*``: this epoch's draws.
    ``traces_done``: the histories ``H[1]`` and the traces at the epoch's end were computed already
    (:func:`~.traces.pre_epoch1` / :func:`~.traces.post_epoch1`, one step per epoch)."""
    par, prod, fac, fac_c, tgt, imp_int, imp_frac, decay, tau_nz, need = prog
    xtr, ytr, tx, ty, SV, cnt, fast = state
    (Hx, Hy, A, B, G, TA, TB, acc, gb, R, dvec, y0m, y0b, Dx, raw_pre, raw_post, rows, a32, d16,
     small) = scratch
    T = par[PAR_T_EPOCH]
    trace_max = par[PAR_TRACE_MAX]
    cnt[CNT_EPOCHS] += 1
    u = u_of(par, t)
    if not traces_done:
        cnt[CNT_TRACE_UPDATES] += trace_history(Hx, xtr, tx, np.int64(0), decay, tau_nz, imp_int,
                                                imp_frac, r_xd, r_xi, trace_max, need)
        cnt[CNT_TRACE_UPDATES] += trace_history(Hy, ytr, ty, np.int64(2), decay, tau_nz, imp_int,
                                                imp_frac, r_yd, r_yi, trace_max, need)
    if prod.shape[0] > 0:
        build_factors(prod, fac, fac_c, u, tx, ty, Hx, Hy, A, B, G, raw_pre, raw_post)
        done = False
        if fast[F_OUTER] != 0:
            done = learn_outer(u, prod, tgt, tx, ty, A, B, G, SV, r_conn, par[PAR_ROUNDING], par[PAR_ACC_LO],
                               par[PAR_ACC_HI], cnt, gb[3], gb[4], fast, rows, raw_pre, a32, d16, small, acc)
        if not done:               # the generic evaluation also reads the finished terms and the post spikes R
            nR = np.int64(0)
            for j in range(ty.shape[0]):
                if ty[j] > 0:
                    R[nR] = j
                    nR += 1
            build_terms(prod, fac, fac_c, A, B, G, TA, TB, par[PAR_ACC_LO], par[PAR_ACC_HI])
            learn_rows(prod, fac, fac_c, tgt, u, r_conn, tx, ty, R, nR, A, B, G, TA, TB, SV, acc, gb,
                       dvec, y0m, y0b, Dx, par[PAR_ACC_LO], par[PAR_ACC_HI], cnt, small, par[PAR_ROUNDING])
            if fast[F_OUTER] != 0:
                fast[F_TMIN] = 1 if tmin_present(SV, tgt) else 0
    if not traces_done:
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


@njit(cache=True, _nrt=False, inline="always")
def learn_step(t, s_in, bap, use_bap, y1, y2, y3, use_y, args, payload=None, graded=True):
    """The learning part of step t (1-based) of a LearningDense, for a simulator that does the
    dense accumulation itself: record the pre spikes ``s_in`` and bap spikes of step t in the
    traces (``recv_traces``), take the 3F inputs, and at the end of an epoch learn (``run_lrn``).
    Call it after the step's spikes were accumulated with the weights as they were (``SV[0]``,
    fan-out major): an update at t affects accumulation from t+1 on.

    ``args`` is :meth:`hwsim.learning.LearningDenseEngine.kernel_args` (the grouped tuples above).
    Trace random draws are indexed ``d - r_off`` (draw d = 2t-1, 2t), connection draws
    ``n - c_off`` (``offs = [r_off, c_off]``) (epoch n = t / t_epoch). ``use_y`` holds three flags for y1..y3 (3F only); an
    unused input reads as zeros. With graded pre spikes (``GradedSpikeCfg.OVERWRITE``), ``payload``
    holds the step's payloads in [0, 255] and ``graded`` is True: a spiking pre neuron's x1 becomes
    :func:`overwrite_value` of its payload after the spike phase (the rule's x1 impulse is 0, so the
    regular impulse adds nothing), as Lava's ``_process_pre_spikes``; ``graded`` False ignores
    ``payload`` (binary spikes).

    Inlined into its callers (``inline="always"``, numba IR), as is :func:`learn_epoch`: each call
    would copy the ~50 arrays of ``args`` once more (with the Simulator's former per-link function,
    ~10 % of a small STDP network's step; docs/hwsim.md). So are the one-step epoch's callees
    (``pre_epoch1``, ``post_epoch1``, ``build_factors``, ``learn_outer``), whose calls pushed 70-150
    words of flattened array arguments each: 4-10 % of an OTTT_O step (interleaved A/B), for ~20 % more
    compile time.
    """
    prog, state, rng, scratch = args
    par = prog[0]
    imp_int = prog[5]
    imp_frac = prog[6]
    xtr, ytr, tx, ty, SV, cnt, fast = state
    r_xd, r_xi, r_yd, r_yi, offs, r_conn = rng
    r_off = offs[0]
    c_off = offs[1]
    T = par[PAR_T_EPOCH]
    kind = par[PAR_KIND]
    one_pass = one_pass_epoch(prog, state)
    if one_pass:
        # one step per epoch: the spike phase, the trace history and the epoch's end in one pass per side
        # (traces.pre_epoch1 / post_epoch1: the operations below and learn_epoch's, per neuron), then the
        # rest of learn_epoch
        decay, tau_nz, need = prog[7], prog[8], prog[9]
        d = 2 * t - r_off
        trace_max = par[PAR_TRACE_MAX]
        if payload is not None:
            n_tr = pre_epoch1(s_in, payload, graded, xtr, tx, scratch[X_HX], decay, tau_nz, imp_int, imp_frac,
                              r_xd[d], r_xi[d], trace_max)
        else:
            n_tr = pre_epoch1(s_in, s_in, False, xtr, tx, scratch[X_HX], decay, tau_nz, imp_int, imp_frac,
                              r_xd[d], r_xi[d], trace_max)
        n_tr += post_epoch1(bap, use_bap and kind != KIND_PLAIN, kind == KIND_3F, kind == KIND_2F, y1, y2, y3, use_y,
                            ytr, ty, scratch[X_HY], decay, tau_nz, imp_int, imp_frac, need, r_yd[d], r_yi[d],
                            trace_max)
        cnt[CNT_TRACE_UPDATES] += n_tr
    else:
        te = t % T
        if te == 0:
            te = T
        recv_spikes(te, s_in, bap, use_bap and kind != KIND_PLAIN, xtr, ytr, tx, ty, imp_int, imp_frac,
                    r_yi[2 * t - 1 - r_off], par[PAR_TRACE_MAX])
        if payload is not None:
            if graded:
                for i in range(s_in.shape[0]):
                    if s_in[i]:
                        xtr[0, i] = overwrite_value(payload[i])
        if kind == KIND_3F:
            for j in range(ytr.shape[1]):
                ytr[0, j] = y1[j] if use_y[0] else 0
                ytr[1, j] = y2[j] if use_y[1] else 0
                ytr[2, j] = y3[j] if use_y[2] else 0
    cnt[CNT_STEPS] += 1
    if one_pass or t % T == 0:
        # one call site: learn_step and learn_epoch are inlined into their callers (numba IR), and each
        # call site would compile the epoch's code again
        d = 2 * t - r_off
        learn_epoch(t, prog, state, scratch, r_xd[d], r_xi[d], r_yd[d], r_yi[d], r_conn[t // T - c_off], one_pass)


@njit(cache=True, _nrt=False)
def engine_step(t, s_in, bap, use_bap, y1, y2, y3, use_y, a_buff, a_out, args):
    """One LoihiProtocol step t (1-based) of a LearningDense: ``run_spk`` (send ``a_buff``, the
    activation computed at t-1, into ``a_out``; accumulate the binary spikes ``s_in`` with the
    current weights into ``a_buff``), then :func:`learn_step`."""
    par = args[0][0]
    SV = args[1][S_SV]
    cnt = args[1][S_CNT]
    acc = args[3][X_ACC]
    for j in range(a_out.shape[0]):
        a_out[j] = a_buff[j]
    ops, _ = dense_forward(SV[0], s_in, par[PAR_WEIGHT_EXP], acc[0], a_buff, args[3][X_ROWS], args[3][X_A32],
                           weight_bound(args[0][4]))
    cnt[CNT_SYN_OPS] += ops
    learn_step(t, s_in, bap, use_bap, y1, y2, y3, use_y, args)


@njit(cache=True)
def engine_run(t0, n_steps, S, BAP, use_bap, Y1, Y2, Y3, use_y, a_buff, A_OUT, args, rec_every, W_REC,
               EPOCH_LOG):
    """Steps t0+1 .. t0+n_steps. Row k of S, BAP, Y* is step t0+1+k (BAP/Y* may have a single dummy
    row when unused). ``A_OUT[k]`` receives the activation sent at that step. With rec_every > 0,
    ``W_REC[m]`` receives the (n_pre, n_post) weights after step t0 + (m+1)*rec_every. EPOCH_LOG
    (rows: epochs of this run) receives [t, trace updates, synapse updates (all targets), weight
    updates, tag updates] per epoch when it has rows."""
    SV = args[1][S_SV]
    cnt = args[1][S_CNT]
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
        engine_step(t, S[k], BAP[kb], use_bap, Y1[k1], Y2[k2], Y3[k3], use_y, a_buff, A_OUT[k], args)
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
