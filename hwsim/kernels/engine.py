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
           pop_reset_interval, pop_reset_offset, pop_uv_half, pop_decay_shift, comp_bias)
    syn = (seg_ptr, seg_kind, seg_proj, seg_base, seg_woff, seg_ioff, seg_len, syn_w, syn_w8, syn_idx)
    prj = (prj_acc, prj_wide, prj_ndst, prj_nslot, prj_dst0, prj_exp, prj_wrap24)
    cnt = (sc_ptr, sc_core, sc_nsyn, sc_bytes)

Counter fields (last axis of ``ctr``) are the ``C_*`` constants below.
"""
import numpy as np
from numba import njit, prange, uint64

from ..overflow import RAISE
from .neuron import LIF_RESET, lif_block
from .synapse import deliver, handoff, wraps_of

C_SYN_OPS = 0        # synaptic operations (one per (spike, target synapse))
C_SPIKES = 1         # spikes emitted by the core's compartments
C_MESSAGES = 2       # spike messages received by the core (one per (spike, target core))
C_NEURON = 3         # compartment updates (filled outside the kernel: all compartments, every step)
C_ACTIVE = 4         # compartment updates with nonzero input or state ("active" in Loihi's table)
C_SYN_BYTES = 5      # bytes of synaptic memory read
N_COUNTERS = 6


@njit(cache=True, inline="always")
def count_event(g, sc_ptr, sc_core, sc_nsyn, sc_bytes, cstep):
    """Count one message of source ``g`` into the step's per-core counters ``cstep`` (n_cores x N_COUNTERS)."""
    for k in range(uint64(sc_ptr[g]), uint64(sc_ptr[g + 1])):
        row = cstep[uint64(sc_core[k])]
        row[C_SYN_OPS] += sc_nsyn[k]
        row[C_MESSAGES] += 1
        row[C_SYN_BYTES] += sc_bytes[k]


@njit(cache=True)
def run_instance(T, t0, policy, n_in_src, neu, syn, prj, cnt, u, v, ring, acc32, acc64,
                 ev_ptr, ev_src, ev_val, rec_spk, probe_u, rec_u, probe_v, rec_v, ctr, ovf):
    """Run ``T`` steps of one instance from Lava time step ``t0`` (the steps are t0+1 .. t0+T).

    State arrays ``u``, ``v`` (int32, N), ``ring`` (int32, R x N), ``acc32``, ``acc64`` are
    updated in place; ``rec_spk`` (int8, T x N), ``rec_u``/``rec_v`` (int32, T x n_probe),
    ``ctr`` (int64, T x n_cores x N_COUNTERS) and ``ovf`` (int64, per population) are added to.
    ``ev_ptr`` (T+1) indexes this instance's input events ``ev_src`` (source) and ``ev_val``.

    Returns ``(status, row, compartment, var)``: status 0 when all steps ran, 1 when the RAISE
    policy stopped at an overflow of ``var`` (0: u, 1: v) in ``compartment`` at record ``row``, or
    at a wrap of the synaptic input of projection ``var - 2`` (var >= 2; compartment: the first of
    its destination) sent at record ``row``.
    """
    (blk_c0, blk_c1, blk_core, blk_pop, pop_kind, pop_fu, pop_fv, pop_vhi, pop_vlo,
     pop_rint, pop_roff, pop_uvh, pop_dsh, comp_bias) = neu
    (seg_ptr, seg_kind, seg_proj, seg_base, seg_woff, seg_ioff, seg_len, syn_w, syn_w8, syn_idx) = syn
    (prj_acc, prj_wide, prj_ndst, prj_nslot, prj_dst0, prj_exp, prj_wrap24) = prj
    (sc_ptr, sc_core, sc_nsyn, sc_bytes) = cnt
    n = u.shape[0]
    r = ring.shape[0]
    n_prj = prj_acc.shape[0]
    spk_idx = np.empty(n, np.int64)
    spk_val = np.empty(n, np.int64)
    s_row = np.zeros(n, np.int8)
    ovf_flag = np.zeros(n, np.int8)
    active = np.zeros(n_prj, np.int64)     # per projection: touched this step, and its wraps (synapse.deliver)
    for ti in range(T):
        t = t0 + ti + 1
        slot = ring[t % r]
        # -- 1. compartments ------------------------------------------------------------------
        ns = 0
        for blk in range(blk_c0.shape[0]):
            p = blk_pop[blk]
            kind = pop_kind[p]
            c0 = blk_c0[blk]
            c1 = blk_c1[blk]
            reset_now = kind == LIF_RESET and t % pop_rint[p] == pop_roff[p]
            n_ovf, n_act, n_spk = lif_block(slot, u, v, comp_bias, c0, c1, kind, pop_fu[p], pop_fv[p], pop_vhi[p],
                                            pop_vlo[p], policy, reset_now, s_row, ovf_flag, pop_uvh[p], pop_dsh[p])
            if n_ovf != 0:
                ovf[p] += n_ovf
                if policy == RAISE:
                    for c in range(c0, c1):
                        if ovf_flag[c] != 0:
                            return 1, ti, c, 0 if ovf_flag[c] & 1 else 1
            if n_spk != 0:
                for c in range(uint64(c0), uint64(c1)):
                    if s_row[c] != 0:
                        spk_idx[ns] = c
                        spk_val[ns] = s_row[c]
                        rec_spk[ti, c] = s_row[c]
                        ns += 1
            core = blk_core[blk]
            ctr[ti, core, C_SPIKES] += n_spk
            ctr[ti, core, C_ACTIVE] += n_act
        # -- 2. probes ------------------------------------------------------------------------
        for k in range(probe_u.shape[0]):
            rec_u[ti, k] = u[uint64(probe_u[k])]
        for k in range(probe_v.shape[0]):
            rec_v[ti, k] = v[uint64(probe_v[k])]
        # -- 3./4. deliver input events and spikes ----------------------------------------------
        cstep = ctr[ti]
        for e in range(ev_ptr[ti], ev_ptr[ti + 1]):
            g = ev_src[e]
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
    return 0, 0, 0, 0


@njit(cache=True)
def run_serial(T, t0, policy, n_in_src, neu, syn, prj, cnt, U, V, RING, ACC32, ACC64,
               EV_PTR, ev_src, ev_val, REC_SPK, probe_u, REC_U, probe_v, REC_V, CTR, OVF, STATUS):
    """``run_instance`` over the batch axis (axis 0 of the state and record arrays), one thread."""
    for b in range(U.shape[0]):
        st = run_instance(T, t0, policy, n_in_src, neu, syn, prj, cnt, U[b], V[b], RING[b], ACC32[b],
                          ACC64[b], EV_PTR[b], ev_src, ev_val, REC_SPK[b], probe_u, REC_U[b], probe_v,
                          REC_V[b], CTR[0], OVF[b])
        STATUS[b, 0] = st[0]
        STATUS[b, 1] = st[1]
        STATUS[b, 2] = st[2]
        STATUS[b, 3] = st[3]


@njit(cache=True, parallel=True)
def run_parallel(T, t0, policy, n_in_src, neu, syn, prj, cnt, U, V, RING, ACC32, ACC64,
                 EV_PTR, ev_src, ev_val, REC_SPK, probe_u, REC_U, probe_v, REC_V, CTR, OVF, STATUS):
    """Independent instances in parallel: chunk ``ch`` of ``CTR.shape[0]`` runs instances
    ``ch, ch + n_chunks, ...`` and adds its counters into ``CTR[ch]`` (summed by the caller)."""
    n_chunks = CTR.shape[0]
    for ch in prange(n_chunks):
        for b in range(ch, U.shape[0], n_chunks):
            st = run_instance(T, t0, policy, n_in_src, neu, syn, prj, cnt, U[b], V[b], RING[b], ACC32[b],
                              ACC64[b], EV_PTR[b], ev_src, ev_val, REC_SPK[b], probe_u, REC_U[b], probe_v,
                              REC_V[b], CTR[ch], OVF[b])
            STATUS[b, 0] = st[0]
            STATUS[b, 1] = st[1]
            STATUS[b, 2] = st[2]
            STATUS[b, 3] = st[3]
