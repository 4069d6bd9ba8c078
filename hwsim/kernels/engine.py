r"""The whole time loop of a network instance, inside numba; and its batched driver.

One step ``t`` (Lava's 1-based ``time_step``) reads as these phases::

    1. compartments   for every core block: a = ring[t % R]; u, v, s = LIF update; count
    2. probes         record u / v of the probed compartments
    3. inputs         deliver the input events of the step (RingBuffer column t-1)
    4. spikes         deliver the step's spikes (event-driven, fan-out segments)
    5. hand-off       shift each touched projection's sums into ring[(t+1+delay) % R]

so a spike at ``t`` (or input row ``t-1``) reaches its targets' ``u`` at ``t + 1 + delay``,
Lava's one-step synaptic buffering. Counters are per step and per core (mapping of blocks).

Arguments are grouped into tuples of flat arrays (built by :mod:`hwsim.program`)::

    neu = (blk_c0, blk_c1, blk_core, blk_pop, pop_kind, pop_fu, pop_fv, pop_vth_hi, pop_vth_lo,
           pop_reset_interval, pop_reset_offset, pop_uv_half, pop_decay_shift, comp_bias,
           pop_c0, pop_partner0, pop_tgt, pop_shift, pop_lut0, pop_nlut, pop_lut_shift, pop_delay,
           pop_seed, pop_vth6_partner, lut, y_lo, y_hi)      # the last 13: graded kinds (compartments.py)
    syn = (seg_ptr, seg_kind, seg_proj, seg_base, seg_woff, seg_ioff, seg_len, syn_w, syn_w8, syn_idx)
    prj = (prj_acc, prj_wide, prj_ndst, prj_nslot, prj_dst0, prj_exp, prj_wrap24)
    cnt = (sc_ptr, sc_core, sc_nsyn, sc_bytes)
    lrn = None for a network without learning projections (the branch is compiled away), else
          (meta, every, batch, host, uv0), with the typed lists ``links`` and ``hist`` passed beside it
          (None without learning): :func:`learn_phase` and :func:`host_ops` take them joined,
          ``(meta, links, hist, every, batch, host, uv0)``. The lists are separate arguments because
          numba's dispatcher types a tuple holding a typed list in Python (~130 us a call for a
          learning link's ~50 arrays) and a typed list on its own in ~2 us

Learning projections (Lava ``LearningDense``) run as phase 6 of the same step, after the static
hand-off: each accumulates the step's pre spikes with its current weights into the input of
``t + 1`` and then learns (:func:`hwsim.learning.kernels.learn_step`), as Lava's ``run_spk`` then
``run_lrn``. Counter fields (last axis of ``ctr``) are the ``C_*`` constants below.
"""
import numpy as np
from numba import njit, prange, uint64

from ..learning.kernels import (CNT_SYN_D, CNT_SYN_T, CNT_SYN_W, CNT_TRACE_UPDATES, F_TMIN, PAR_WEIGHT_EXP, S_CNT,
                                S_FAST, S_SV, S_TX, S_TY, S_XTR, S_YTR, X_A32, X_ACC, X_HX, X_HY, X_ROWS,
                                dense_backward_graded, dense_forward, dense_forward_graded, learn_step, weight_bound)
from ..overflow import RAISE
from .compartments import error_block, learning_block
from .neuron import ERROR, LEARNING, LIF_RESET, lif_block
from .arith import add_wrap32
from .borrow import borrowed_item
from .synapse import deliver, handoff, wraps_of

C_SYN_OPS = 0        # synaptic operations (one per (spike, target synapse))
C_SPIKES = 1         # spikes emitted by the core's compartments
C_MESSAGES = 2       # spike messages received by the core (one per (spike, target core))
C_NEURON = 3         # compartment updates (filled outside the kernel: all compartments, every step)
C_ACTIVE = 4         # compartment updates with nonzero input or state ("active" in Loihi's table)
C_SYN_BYTES = 5      # bytes of synaptic memory read
N_COUNTERS = 6

# learning counters (last axis of ``lctr``)
L_TRACE = 0          # trace values decayed
L_SYN_UPDATES = 1    # synapses evaluated (w, tag_2 and tag_1 targets)
L_WRITES = 2         # weight write-backs (the w target)
L_MIRROR_OPS = 3     # synaptic operations of the projection's mirror (graded messages x n_pre)
N_LEARN_COUNTERS = 4

# columns of the learning links' int64 metadata ``meta`` (one row per learning projection)
M_SRC_INPUT = 0      # 1: the pre spikes come from an input (index into the step's input values)
M_SRC0 = 1           # first pre compartment (or input source)
M_NPRE = 2
M_DST0 = 3           # first post compartment
M_NPOST = 4
M_BAP = 5            # 1: the post spikes drive the post traces (2F / 3F)
M_Y1 = 6             # M_Y1 + k: first input source (or compartment) of y_{k+1}, or -1 (unwired: reads 0)
M_YPOP1 = 9          # M_YPOP1 + k: 1 when y_{k+1} is read from a graded population's outputs ``y``
M_GRADED = 12        # 1: graded pre spikes from an input (GradedSpikeCfg.OVERWRITE; payloads in [0, 255])
M_PRJ = 13           # the projection's index in the network (for SynapseOverflowError)
M_DSTPOP = 14        # the destination population's index (its overflow count)
M_MIR_SRC = 15       # mirror (network.Mirror): first compartment of its graded source, or -1 (no mirror)
M_MIR_DST = 16       # first compartment of the mirror's destination
M_MIR_EXP = 17       # the mirror's weight_exp
M_MIR_DSTPOP = 18    # the mirror destination population's index
M_WLO = 19           # the weight range of the projection's sign mode (host operation add_tags)
M_WHI = 20
N_META = 21


@njit(cache=True, inline="always")
def count_event(g, sc_ptr, sc_core, sc_nsyn, sc_bytes, cstep):
    """Count one message of source ``g`` into the step's per-core counters ``cstep`` (n_cores x N_COUNTERS)."""
    gu = uint64(g)
    for k in range(uint64(sc_ptr[gu]), uint64(sc_ptr[gu + uint64(1)])):
        row = cstep[uint64(sc_core[k])]
        row[C_SYN_OPS] += sc_nsyn[k]
        row[C_MESSAGES] += 1
        row[C_SYN_BYTES] += sc_bytes[k]


@njit(cache=True, inline="always")
def _joined(lrn, links, hist):
    """The learning arguments of :func:`learn_phase` / :func:`host_ops`: ``(meta, links, hist, every,
    batch, host, uv0)`` from the runner's ``lrn = (meta, every, batch, host, uv0)`` and the two lists."""
    return lrn[0], links, hist, lrn[1], lrn[2], lrn[3], lrn[4]


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def learn_phase(ti, t, b, s_row, inp, y, ring, lrn, lctr, ovf, policy):
    """Phase 6 of step ``t`` for instance ``b``: every learning projection accumulates the step's pre
    spikes (``s_row`` for a population source, the step's input values ``inp`` for an input) with its
    weights into ``ring[(t + 1) % R]`` (int32, as Lava sums its input channels) and learns; a third
    factor comes from a graded input (``inp``) or from a graded population's outputs of the step (``y``).

    ``lrn = (meta, links, hist, every, batch)``: ``meta`` int64 (n_links, N_META);
    ``links[k * batch + b]`` = ``(scratch, args)`` of link k, instance b, with ``scratch =
    (a_buff int32 (n_post), s_in bool (n_pre), bap bool (n_post), Y int64 (3, n_post), use_y bool (3),
    P int64 (n_pre): graded payloads, MY int64 (n_post), MA int64 (n_pre), MB int32 (n_pre): the
    mirror's input, sums and output)``
    and ``args`` :meth:`hwsim.learning.LearningDenseEngine.kernel_args`. ``lctr`` int64
    (T, n_links, N_LEARN_COUNTERS) receives this step's learning counters; with ``every > 0``,
    ``hist[k][(ti + 1) // every - 1, b]`` receives the (n_pre, n_post) weights after the step.
    An int32 wrap of the input slot is counted in the destination's ``ovf``; with the RAISE policy
    the index of the first link that wrapped is returned (else -1).

    A link with a mirror (``meta[k, M_MIR_SRC] >= 0``) also sends the step's graded outputs ``y`` of
    the mirror's source back through the transpose of the same weights the forward sum used (before
    this step's learning) into ``ring[(t + 1) % R]`` of the mirror's destination.
    """
    meta, links, hist, every, batch, host, uv0 = lrn
    r = ring.shape[0]
    slot = ring[(t + 1) % r]
    for k in range(meta.shape[0]):
        # compiled without reference counting (``_nrt=False``) and reading the typed lists borrowed
        # (hwsim.kernels.borrow): the caller holds them; len(links) == n_links * batch, len(hist) == n_links.
        # Everything below and everything it calls only reads and writes arrays the caller owns and
        # allocates nothing (the scratch holds the work arrays). The link's body is written here, not
        # in a function of its own, and learn_step / learn_epoch are inlined: numba copies the ~50
        # arrays of a tuple argument at every call, and the three calls cost ~10 % of a small STDP
        # network's step (docs/hwsim.md, "The link's call chain inlined")
        scratch, args = borrowed_item(links, k * batch + b)
        hist_k = borrowed_item(hist, k)
        a_buff, s_in, bap, Y, use_y, P, MY, MA, MB = scratch
        par = args[0][0]
        SV = args[1][S_SV]
        cnt = args[1][S_CNT]
        acc = args[3][X_ACC]
        src0 = meta[k, M_SRC0]
        n_pre = meta[k, M_NPRE]
        dst0 = meta[k, M_DST0]
        n_post = meta[k, M_NPOST]
        graded = meta[k, M_GRADED] != 0
        # views at the offsets (the loops below then read contiguously: an index ``o + i`` of a possibly
        # negative ``o`` compiles to a gather for numba's wrap-around)
        dst_slot = slot[dst0:dst0 + n_post]
        if graded:
            src = inp[src0:src0 + n_pre]
            for i in range(n_pre):
                P[i] = src[i]
                s_in[i] = src[i] != 0
        elif meta[k, M_SRC_INPUT] != 0:
            src = inp[src0:src0 + n_pre]
            for i in range(n_pre):
                s_in[i] = src[i] != 0
        else:
            s_src = s_row[src0:src0 + n_pre]
            for i in range(n_pre):
                s_in[i] = s_src[i] != 0
        use_bap = meta[k, M_BAP] != 0
        if use_bap:
            s_dst = s_row[dst0:dst0 + n_post]
            for j in range(n_post):
                bap[j] = s_dst[j] != 0
        for q in range(3):
            y0 = meta[k, M_Y1 + q]
            if y0 >= 0:
                if meta[k, M_YPOP1 + q] != 0:
                    yq = y[y0:y0 + n_post]
                    for j in range(n_post):
                        Y[q, j] = yq[j]
                else:
                    iq = inp[y0:y0 + n_post]
                    for j in range(n_post):
                        Y[q, j] = iq[j]
        tr0 = cnt[CNT_TRACE_UPDATES]
        syn0 = cnt[CNT_SYN_W] + cnt[CNT_SYN_D] + cnt[CNT_SYN_T]
        w0 = cnt[CNT_SYN_W]
        m0 = meta[k, M_MIR_SRC]
        if m0 >= 0:
            ym = y[m0:m0 + n_post]
            for j in range(n_post):
                MY[j] = ym[j]
            ops, m_wrap = dense_backward_graded(SV[0], MY, meta[k, M_MIR_EXP], MA, MB)
            md = meta[k, M_MIR_DST]
            m_wrap += add_wrap32(slot[md:md + n_pre], MB)
            lctr[ti, k, L_MIRROR_OPS] += ops
            if m_wrap != 0:
                ovf[meta[k, M_MIR_DSTPOP]] += m_wrap
                if policy == RAISE:
                    return k
        if graded:
            _, n_wrap = dense_forward_graded(SV[0], P, par[PAR_WEIGHT_EXP], acc[0], a_buff, args[3][X_ROWS],
                                             args[3][X_A32], weight_bound(args[0][4]))
        else:
            _, n_wrap = dense_forward(SV[0], s_in, par[PAR_WEIGHT_EXP], acc[0], a_buff, args[3][X_ROWS],
                                      args[3][X_A32], weight_bound(args[0][4]))
        learn_step(t, s_in, bap, use_bap, Y[0], Y[1], Y[2], use_y, args, P, graded)    # inlined: one call site
        n_wrap += add_wrap32(dst_slot, a_buff)
        if n_wrap != 0:
            ovf[meta[k, M_DSTPOP]] += n_wrap
            if policy == RAISE:
                return k
        lctr[ti, k, L_TRACE] += cnt[CNT_TRACE_UPDATES] - tr0
        lctr[ti, k, L_SYN_UPDATES] += cnt[CNT_SYN_W] + cnt[CNT_SYN_D] + cnt[CNT_SYN_T] - syn0
        lctr[ti, k, L_WRITES] += cnt[CNT_SYN_W] - w0
        if every > 0 and (ti + 1) % every == 0:
            h = hist_k[(ti + 1) // every - 1, b]
            W = SV[0]
            for i in range(W.shape[0]):
                for j in range(W.shape[1]):
                    h[i, j] = W[i, j]
    return -1


@njit(cache=True)
def host_ops(ti, b, lrn, u, v, ring, acc32, acc64, y, vh, lctr):
    """The host's operations at the end of a sample (``lrn[5]`` int64 ``[sample_steps, add_tags, reset,
    row0]``, ``lrn[6]`` int32 (2, N) the initial u and v), as :meth:`hwsim.simulator.Simulator.add_tags_to_weights` and
    :meth:`~hwsim.simulator.Simulator.reset_dynamics` do between two runs: add_tags sets every learning
    projection's ``w = clip(w + tag_1)``, ``tag_1 = 0`` (changed weights counted as write-backs of
    step ``ti``); reset zeroes u, v (to their initial values), the synaptic buffers, y, the vpre
    history and every learning projection's traces."""
    meta, links, hist, every, batch, host, uv0 = lrn
    if host[1] != 0:
        for k in range(meta.shape[0]):
            SV = links[k * batch + b][1][1][S_SV]
            lo = meta[k, M_WLO]
            hi = meta[k, M_WHI]
            n = 0
            for i in range(SV.shape[1]):
                for j in range(SV.shape[2]):
                    tg = SV[2, i, j]
                    if tg != 0:
                        w = np.int64(SV[0, i, j]) + tg
                        w = lo if w < lo else (hi if w > hi else w)
                        if w != SV[0, i, j]:
                            n += 1
                            SV[0, i, j] = w
                        SV[2, i, j] = 0
            lctr[ti, k, L_WRITES] += n
            links[k * batch + b][1][1][S_FAST][F_TMIN] = 0      # every tag_1 is 0 now
    if host[2] != 0:
        u[:] = uv0[0]
        v[:] = uv0[1]
        ring[:] = 0
        acc32[:] = 0
        acc64[:] = 0
        y[:] = 0
        vh[:] = 0
        for k in range(meta.shape[0]):
            _, state, _, scr = links[k * batch + b][1]
            state[S_XTR][:] = 0
            state[S_YTR][:] = 0
            state[S_TX][:] = 0
            state[S_TY][:] = 0
            scr[X_HX][:] = 0
            scr[X_HY][:] = 0


@njit(cache=True)
def run_instance(T, t0, policy, n_in_src, neu, syn, prj, cnt, u, v, ring, acc32, acc64, y, vh,
                 ev_ptr, ev_src, ev_val, rec_spk, probe_u, rec_u, probe_v, rec_v, probe_y, rec_y, ctr, ovf, lrn, links,
                 hist, b, lctr):
    """Run ``T`` steps of one instance from Lava time step ``t0`` (the steps are t0+1 .. t0+T).

    State arrays ``u``, ``v`` (int32, N), ``ring`` (int32, R x N), ``acc32``, ``acc64``, ``y`` (int32,
    N: the graded outputs of error / learning compartments) and ``vh`` (int32, H x N: ``vpre`` of step
    t in row ``t % H``, read by learning compartments with a delay < H) are updated in place;
    ``rec_spk`` (int8, T x N; spiking kinds), ``rec_u``/``rec_v``/``rec_y`` (int32, T x n_probe),
    ``ctr`` (int64, T x n_cores x N_COUNTERS) and ``ovf`` (int64, per population) are added to.
    ``ev_ptr`` (T+1) indexes this instance's input events ``ev_src`` (source) and ``ev_val``.
    ``lrn``, ``links``, ``hist`` (None without learning), ``b`` (the instance) and ``lctr`` (this
    thread's learning counters) drive :func:`learn_phase`.

    Returns ``(status, row, compartment, var)``: status 0 when all steps ran, 1 when the RAISE
    policy stopped at an overflow of ``var`` (0: u, 1: v) in ``compartment`` at record ``row``, or
    at a wrap of the synaptic input of projection ``var - 2`` (var >= 2; compartment: the first of
    its destination) sent at record ``row``.
    """
    (blk_c0, blk_c1, blk_core, blk_pop, pop_kind, pop_fu, pop_fv, pop_vhi, pop_vlo,
     pop_rint, pop_roff, pop_uvh, pop_dsh, comp_bias, pop_c0, pop_partner0, pop_tgt, pop_shift, pop_lut0,
     pop_nlut, pop_lut_shift, pop_delay, pop_seed, pop_vth6p, lut, y_lo, y_hi) = neu
    (seg_ptr, seg_kind, seg_proj, seg_base, seg_woff, seg_ioff, seg_len, syn_w, syn_w8, syn_idx) = syn
    (prj_acc, prj_wide, prj_ndst, prj_nslot, prj_dst0, prj_exp, prj_wrap24) = prj
    (sc_ptr, sc_core, sc_nsyn, sc_bytes) = cnt
    n = u.shape[0]
    r = ring.shape[0]
    H = vh.shape[0]
    n_prj = prj_acc.shape[0]
    spk_idx = np.empty(n, np.int64)
    spk_val = np.empty(n, np.int64)
    s_row = np.zeros(n, np.int8)
    ovf_flag = np.zeros(n, np.int8)
    active = np.zeros(n_prj, np.int64)     # per projection: touched this step, and its wraps (synapse.deliver)
    inp = np.zeros(n_in_src if lrn is not None else 0, np.int64)
    for ti in range(T):
        t = t0 + ti + 1
        slot = ring[t % r]
        # -- 1. compartments ------------------------------------------------------------------
        ns = uint64(0)         # spikes of the step (unsigned: no wrap-around test on the compaction stores)
        for blk in range(blk_c0.shape[0]):
            p = blk_pop[blk]
            kind = pop_kind[p]
            c0 = blk_c0[blk]
            c1 = blk_c1[blk]
            core = blk_core[blk]
            if kind == ERROR or kind == LEARNING:
                if kind == ERROR:
                    n_msg, n_act = error_block(slot, v, y, c0, c1, pop_c0[p], pop_partner0[p], pop_tgt[p],
                                               pop_shift[p], pop_seed[p], t, y_lo, y_hi)
                else:
                    n_msg, n_act = learning_block(slot, vh[(t - pop_delay[p]) % H], y, c0, c1, pop_c0[p],
                                                  pop_partner0[p], pop_vth6p[p], lut, pop_lut0[p], pop_nlut[p],
                                                  pop_lut_shift[p], pop_shift[p], pop_seed[p], t, y_lo, y_hi)
                # graded messages of the block, unless no compartment of it has a synapse or counter
                # segment (learning / error outputs read by the learning phase only): then nothing to send
                g0 = n_in_src + c0
                g1 = n_in_src + c1
                if n_msg != 0 and (seg_ptr[g1] != seg_ptr[g0] or sc_ptr[g1] != sc_ptr[g0]):
                    for c in range(uint64(c0), uint64(c1)):      # branch-free compaction
                        spk_idx[ns] = c
                        spk_val[ns] = y[c]
                        ns += uint64(y[c] != 0)
                ctr[ti, core, C_SPIKES] += n_msg
                ctr[ti, core, C_ACTIVE] += n_act
                continue
            reset_now = kind == LIF_RESET and t % pop_rint[p] == pop_roff[p]
            if reset_now and H > 1:
                # the reset also forgets the vpre history: a learning compartment reading vpre(t - d)
                # from before the reset reads 0 (docs/compartments.md)
                for hrow in range(H):
                    for c in range(c0, c1):
                        vh[hrow, c] = 0
            n_ovf, n_act, n_spk = lif_block(slot, u, v, comp_bias, c0, c1, kind, pop_fu[p], pop_fv[p], pop_vhi[p],
                                            pop_vlo[p], policy, reset_now, s_row, ovf_flag, pop_uvh[p], pop_dsh[p],
                                            vh[t % H])
            if n_ovf != 0:
                ovf[p] += n_ovf
                if policy == RAISE:
                    for c in range(c0, c1):
                        if ovf_flag[c] != 0:
                            return 1, ti, c, 0 if ovf_flag[c] & 1 else 1
            if n_spk != 0:
                for c in range(uint64(c0), uint64(c1)):          # branch-free compaction
                    sc = s_row[c]
                    spk_idx[ns] = c
                    spk_val[ns] = sc
                    rec_spk[ti, c] = sc
                    ns += uint64(sc != 0)
            ctr[ti, core, C_SPIKES] += n_spk
            ctr[ti, core, C_ACTIVE] += n_act
        # -- 2. probes ------------------------------------------------------------------------
        for k in range(probe_u.shape[0]):
            rec_u[ti, k] = u[uint64(probe_u[k])]
        for k in range(probe_v.shape[0]):
            rec_v[ti, k] = v[uint64(probe_v[k])]
        for k in range(probe_y.shape[0]):
            rec_y[ti, k] = y[uint64(probe_y[k])]
        # -- 3./4. deliver input events and spikes ----------------------------------------------
        cstep = ctr[ti]
        for e in range(ev_ptr[ti], ev_ptr[ti + 1]):
            g = ev_src[e]
            if lrn is not None:
                inp[g] = ev_val[e]
            deliver(g, np.int64(ev_val[e]), seg_ptr, seg_kind, seg_proj, seg_base, seg_woff, seg_ioff, seg_len,
                    syn_w, syn_w8, syn_idx, acc32, acc64, active)
            count_event(g, sc_ptr, sc_core, sc_nsyn, sc_bytes, cstep)
        for i in range(ns):
            g = n_in_src + spk_idx[i]
            deliver(g, spk_val[i], seg_ptr, seg_kind, seg_proj, seg_base, seg_woff, seg_ioff, seg_len,
                    syn_w, syn_w8, syn_idx, acc32, acc64, active)
            count_event(g, sc_ptr, sc_core, sc_nsyn, sc_bytes, cstep)
        # -- 5. hand-off to the input ring ------------------------------------------------------
        for q in range(n_prj):
            if active[q]:
                n_wrap = wraps_of(active[q]) + handoff(q, t, prj_acc, prj_wide, prj_ndst, prj_nslot, prj_dst0,
                                                       prj_exp, prj_wrap24, acc32, acc64, ring)
                active[q] = 0
                if n_wrap != 0:
                    # a wrap of the synaptic input counts as an overflow of the destination population
                    for blk in range(blk_c0.shape[0]):
                        if blk_c0[blk] <= prj_dst0[q] < blk_c1[blk]:
                            ovf[blk_pop[blk]] += n_wrap
                            break
                    if policy == RAISE:
                        return 1, ti, prj_dst0[q], 2 + q      # var >= 2: synaptic input of projection var - 2
        # -- 6. learning projections -------------------------------------------------------------
        if lrn is not None:
            kw = learn_phase(ti, t, b, s_row, inp, y, ring, _joined(lrn, links, hist), lctr, ovf, policy)
            if kw >= 0:
                return 1, ti, lrn[0][kw, M_DST0], 2 + lrn[0][kw, M_PRJ]
            for e in range(ev_ptr[ti], ev_ptr[ti + 1]):
                inp[ev_src[e]] = 0
            host = lrn[3]
            K = host[0]
            if K > 0 and (host[3] + ti + 1) % K == 0:
                host_ops(ti, b, _joined(lrn, links, hist), u, v, ring, acc32, acc64, y, vh, lctr)
    return 0, 0, 0, 0


@njit(cache=True)
def run_serial(T, t0, policy, n_in_src, neu, syn, prj, cnt, U, V, RING, ACC32, ACC64, Y, VH,
               EV_PTR, ev_src, ev_val, REC_SPK, probe_u, REC_U, probe_v, REC_V, probe_y, REC_Y, CTR, OVF, STATUS, lrn,
               links, hist, LCTR):
    """``run_instance`` over the batch axis (axis 0 of the state and record arrays), one thread.
    ``LCTR`` (n_chunks, T, n_links, N_LEARN_COUNTERS) receives the learning counters in chunk 0."""
    for b in range(U.shape[0]):
        st = run_instance(T, t0, policy, n_in_src, neu, syn, prj, cnt, U[b], V[b], RING[b], ACC32[b],
                          ACC64[b], Y[b], VH[b], EV_PTR[b], ev_src, ev_val, REC_SPK[b], probe_u, REC_U[b], probe_v,
                          REC_V[b], probe_y, REC_Y[b], CTR[0], OVF[b], lrn, links, hist, b, LCTR[0])
        STATUS[b, 0] = st[0]
        STATUS[b, 1] = st[1]
        STATUS[b, 2] = st[2]
        STATUS[b, 3] = st[3]


@njit(cache=True, parallel=True)
def run_parallel(T, t0, policy, n_in_src, neu, syn, prj, cnt, U, V, RING, ACC32, ACC64, Y, VH,
                 EV_PTR, ev_src, ev_val, REC_SPK, probe_u, REC_U, probe_v, REC_V, probe_y, REC_Y, CTR, OVF, STATUS,
                 lrn, links, hist, LCTR):
    """Independent instances in parallel: chunk ``ch`` of ``CTR.shape[0]`` runs instances
    ``ch, ch + n_chunks, ...`` and adds its counters into ``CTR[ch]`` and ``LCTR[ch]`` (summed by
    the caller). Each instance of a learning projection has its own state (``lrn``)."""
    n_chunks = CTR.shape[0]
    for ch in prange(n_chunks):
        for b in range(ch, U.shape[0], n_chunks):
            st = run_instance(T, t0, policy, n_in_src, neu, syn, prj, cnt, U[b], V[b], RING[b], ACC32[b],
                              ACC64[b], Y[b], VH[b], EV_PTR[b], ev_src, ev_val, REC_SPK[b], probe_u, REC_U[b],
                              probe_v, REC_V[b], probe_y, REC_Y[b], CTR[ch], OVF[b], lrn, links, hist, b,
                              LCTR[ch])
            STATUS[b, 0] = st[0]
            STATUS[b, 1] = st[1]
            STATUS[b, 2] = st[2]
            STATUS[b, 3] = st[3]
