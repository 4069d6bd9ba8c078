"""Numba kernels of the on-chip OTTT circuit (:mod:`hwsim.circuits.ottt_sync`): pure functions over
integer arrays; the state lives in :class:`~hwsim.circuits.ottt_sync.OTTTChip`.

Per sample (state zeroed at its start) and step t = 0..T-1, in this order:

1. Forward, layer by layer in the same step (layer-synchronous: no per-projection delay):
   ``a = floor_shift(sum_j W[j, i] * in_j, wexp)``; LIF (Lava fixed-point arithmetic,
   :func:`hwsim.kernels.neuron.lif_subthreshold`, bias 0); spike when ``v > vth << 6``, then v = 0.
   ``in`` is the graded input payload for layer 0 and the spikes of the layer below otherwise.
   The membrane before reset ``vpre`` is kept for the learning compartment.
2. Presynaptic traces ``x = SR(x * dec / 2**12) + imp * s`` clipped to [0, 2**trace_bits - 1]
   (SR: stochastic rounding). The input's trace is the payload itself, ``p << in_shift`` (OTTT's
   first op uses the input frame, no memory).
3. Readout heads ``o[c] = floor_shift(sum_{j spiking} R[j, c], head_wexp)``, error compartments
   ``e = o - tgt * onehot(label)`` and their graded output ``y2e = clip(SR(e / 2**es))``.
4. Learning compartments, top layer first: ``fb[i] = sum_k F[i, k] * y2src[k]`` over the feedback
   synapses (a head's feedback matrix, or the layer above's weights in global mode), then
   ``y2 = clip(SR(fb * LUT[vpre]/ 2**sh))`` with ``LUT`` the surrogate derivative on ``vpre - vth``.
5. Learning (Lava's sum-of-products arithmetic for ``dw = m * 2**e * u0 * x1 * y2``):
   ``cur = ((m * x * y2) >> ps) << (e + frac)``, clipped to the accumulator; OTTT_O adds it to
   ``w << frac`` and writes ``SR(acc / 2**frac)`` clipped to the weight range back at once; OTTT_A
   adds it to ``tag << frac`` (tag range) and adds the tag to the weight at the sample's end.

Clips are ``[-2**w, 2**w - 1]`` for a w-bit factor (Lava's). Random numbers come from a
xorshift64* stream seeded per sample with ``splitmix64(seed ^ sample_index)``, consumed in a fixed
order, so a run is reproducible from the seed whatever the chunking.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..kernels.neuron import lif_subthreshold

# counter fields (same order as hwsim.counters.FIELDS)
C_SYNOPS, C_SPIKES, C_MESSAGES, C_NEURON, C_ACTIVE, C_BYTES, C_TRACE, C_SYNUPD, C_WRITES = range(9)
N_FIELDS = 9


@njit(cache=True, inline="always")
def splitmix64(x):
    x = (x + np.uint64(0x9E3779B97F4A7C15))
    z = x
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def next_rand(state):
    """xorshift64*: advances ``state[0]`` and returns 64 random bits (uint64)."""
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    return x * np.uint64(0x2545F4914F6CDD1D)


@njit(cache=True, inline="always")
def sr_shift(z, sh, state):
    """``z / 2**sh`` with stochastic rounding (exact shift left when ``sh <= 0``); ``sh <= 62``."""
    if sh <= 0:
        return z << (-sh)
    q = z >> sh
    rem = z & ((np.int64(1) << sh) - 1)
    r = np.int64(next_rand(state) >> np.uint64(64 - sh))
    return q + (1 if r < rem else 0)


@njit(cache=True, inline="always")
def clip(x, lo, hi):
    return lo if x < lo else (hi if x > hi else x)


@njit(cache=True)
def _learn(Wt, pre, post, n_pre, n_post, m, e, ps, frac, lo, hi, tag_lo, tag_hi, acc_lo, acc_hi, state, tag, online):
    """Apply ``dw = m 2**e x1 y2`` to ``Wt`` (online) or ``tag``; returns (synapse updates, weights
    written); tag writes are part of the synapse update, weights are written at the sample's end.

    Stochastic rounding as ``sr_shift``; the random bits of synapse (j, i) are the top bits of
    ``(d_j ^ (i * 0x9E37...)) * 0xBF58...`` with d_j one draw of the stream per active row."""
    my = np.empty(n_post, np.int64)
    k = 0
    for i in range(n_post):
        my[i] = m * post[i]
        if post[i] != 0:
            k += 1
    if k == 0:
        return 0, 0
    upd = 0
    writes = 0
    ls = e + frac
    mask = (np.int64(1) << frac) - 1
    rshift = np.uint64(64 - frac) if frac > 0 else np.uint64(63)
    bump = 1 if frac > 0 else 0
    x = state[0]
    for j in range(n_pre):
        xj = pre[j]
        if xj == 0:
            continue
        row = Wt[j] if online else tag[j]
        # one stream draw per row; per synapse a multiplicative hash of (draw, post index). Synapses
        # with y2 = 0 are visited too (branch-free, vectorised) but keep their value exactly.
        x ^= x >> np.uint64(12)
        x ^= x << np.uint64(25)
        x ^= x >> np.uint64(27)
        base = x * np.uint64(0x2545F4914F6CDD1D)
        if online:
            for i in range(n_post):
                cur = min(max(((xj * my[i]) >> ps) << ls, acc_lo), acc_hi)
                old = row[i]
                acc = min(max((old << frac) + cur, acc_lo), acc_hi)
                h = (base ^ (np.uint64(i) * np.uint64(0x9E3779B97F4A7C15))) * np.uint64(0xBF58476D1CE4E5B9)
                q = (acc >> frac) + (bump if np.int64(h >> rshift) < (acc & mask) else 0)
                w = min(max(q, lo), hi)
                writes += 1 if w != old else 0
                row[i] = w
        else:
            for i in range(n_post):
                cur = min(max(((xj * my[i]) >> ps) << ls, acc_lo), acc_hi)
                acc = min(max((row[i] << frac) + cur, acc_lo), acc_hi)
                h = (base ^ (np.uint64(i) * np.uint64(0x9E3779B97F4A7C15))) * np.uint64(0xBF58476D1CE4E5B9)
                q = (acc >> frac) + (bump if np.int64(h >> rshift) < (acc & mask) else 0)
                row[i] = min(max(q, tag_lo), tag_hi)
        upd += k
    state[0] = x
    return upd, writes


@njit(cache=True)
def _apply_tag(Wt, tag, lo, hi):
    """End of sample (OTTT_A): ``w = clip(w + tag)``, tag = 0; returns the weights written."""
    n = 0
    for j in range(Wt.shape[0]):
        for i in range(Wt.shape[1]):
            t = tag[j, i]
            if t != 0:
                w = clip(Wt[j, i] + t, lo, hi)
                if w != Wt[j, i]:
                    Wt[j, i] = w
                    n += 1
                tag[j, i] = 0
    return n


@njit(cache=True)
def run_samples(X, labels, order, T, learn, online, local, seed, sample_base,
                Wt, wexp, fu, fv, vth6, Rt, Ft, head_layer, head_wexp, tgt, es,
                lut, lut_shift, lut_half, sh, m, e, ps, frac, wlo, whi, tag_lo, tag_hi, mirror,
                acc_lo, acc_hi, y_lo, y_hi, x_dec, x_imp, x_max, in_shift,
                policy, uv_half, dshift, tags, out_sum, counters, bytes_per_syn,
                record, rec_s, rec_v, rec_y2, rec_o, ovf):
    """Run ``order`` samples through the circuit (learning when ``learn``); see the module doc.

    X : int64 (N, Tx, n0) graded input payloads (step t uses ``X[n, t % Tx]``).
    Wt[l] : int64 (n_{l-1}, n_l) weights, fan-out major; Rt[h], Ft[h] : (n_{layer}, C) head and
        feedback weights (the same array when the feedback mirrors the head).
    m, e : int64 (L + H,) rule mantissa/exponent per learning projection (layers, then heads);
    mirror : the feedback weights are a mirrored copy of the heads (their writes count twice);
    sh : int64 (L,) learning-compartment shift; es, tgt : (H,) error shift and target.
    tags : typed list like Wt + Rt (OTTT_A tag_1 per projection).
    out_sum : int64 (len(order), C) sum over steps of the last head's readout.
    counters : int64 (T, N_FIELDS, n_roles); roles: input, layers, heads (readout), errors.
    rec_* : when ``record``, per sample-in-order (S, T, n) spikes / vpre / y2 for each layer and
        readout per head (S, T, C).
    ovf : int64 (L,) overflow events of u or v per layer.
    """
    L = len(Wt)
    H = len(Rt)
    C = Rt[0].shape[1]
    state = np.zeros(1, np.uint64)
    n0 = X.shape[2]
    Tx = X.shape[1]
    sizes = np.empty(L, np.int64)
    for l in range(L):
        sizes[l] = Wt[l].shape[1]
    nmax = max(n0, sizes.max())
    u = np.zeros((L, nmax), np.int64)
    v = np.zeros((L, nmax), np.int64)
    vpre = np.zeros((L, nmax), np.int64)
    s = np.zeros((L, nmax), np.int64)
    xtr = np.zeros((L, nmax), np.int64)
    y2 = np.zeros((L, nmax), np.int64)
    fb = np.zeros(nmax, np.int64)
    acc = np.zeros(nmax, np.int64)
    x0 = np.zeros(n0, np.int64)
    o = np.zeros((H, C), np.int64)
    y2e = np.zeros((H, C), np.int64)
    nlut = lut.shape[0]
    for si in range(order.shape[0]):
        n = order[si]
        lab = labels[n]
        state[0] = splitmix64(np.uint64(seed) ^ (np.uint64(sample_base + si) * np.uint64(0x632BE59BD9B4E019)))
        if state[0] == 0:
            state[0] = np.uint64(1)
        u[:] = 0
        v[:] = 0
        xtr[:] = 0
        for t in range(T):
            # ---- forward -------------------------------------------------------------------
            nz_in = 0
            for j in range(n0):
                p = X[n, t % Tx, j]
                x0[j] = p << in_shift
                if p != 0:
                    nz_in += 1
            counters[t, C_SYNOPS, 1] += nz_in * sizes[0]
            counters[t, C_MESSAGES, 1] += nz_in
            counters[t, C_SPIKES, 0] += nz_in
            for l in range(L):
                nl = sizes[l]
                acc[:nl] = 0
                W = Wt[l]
                if l == 0:
                    for j in range(n0):
                        p = X[n, t % Tx, j]
                        if p != 0:
                            for i in range(nl):
                                acc[i] += W[j, i] * p
                else:
                    nprev = sizes[l - 1]
                    nsp = 0
                    for j in range(nprev):
                        if s[l - 1, j] != 0:
                            nsp += 1
                            for i in range(nl):
                                acc[i] += W[j, i]
                    counters[t, C_SYNOPS, 1 + l] += nsp * nl
                    counters[t, C_MESSAGES, 1 + l] += nsp
                nsp = 0
                nact = 0
                for i in range(nl):
                    a = acc[i] << wexp[l] if wexp[l] >= 0 else acc[i] >> (-wexp[l])
                    un, vn, ou, ov = lif_subthreshold(u[l, i], v[l, i], a, fu[l], fv[l], 0, policy, uv_half, dshift)
                    if ou or ov:
                        ovf[l] += 1
                    if a != 0 or u[l, i] != 0 or v[l, i] != 0:
                        nact += 1
                    u[l, i] = un
                    vpre[l, i] = vn
                    if vn > vth6[l]:
                        s[l, i] = 1
                        v[l, i] = 0
                        nsp += 1
                    else:
                        s[l, i] = 0
                        v[l, i] = vn
                counters[t, C_SPIKES, 1 + l] += nsp
                counters[t, C_NEURON, 1 + l] += nl
                counters[t, C_ACTIVE, 1 + l] += nact
            # ---- presynaptic traces ------------------------------------------------------------
            for l in range(L):
                ntr = 0
                for i in range(sizes[l]):
                    xv = xtr[l, i]
                    if xv != 0:
                        pr = xv * x_dec
                        q = pr >> 12
                        r = np.int64(next_rand(state) >> np.uint64(52))
                        xv = q + (1 if r < (pr & 4095) else 0)
                    if s[l, i] != 0:
                        xv = xv + x_imp
                    if xv > x_max:
                        xv = x_max
                    if xv != 0 or xtr[l, i] != 0:
                        ntr += 1
                    xtr[l, i] = xv
                counters[t, C_TRACE, 1 + l] += ntr
            # ---- readout and error ---------------------------------------------------------
            for h in range(H):
                lh = head_layer[h]
                R = Rt[h]
                o[h, :] = 0
                nsp = 0
                for j in range(sizes[lh]):
                    if s[lh, j] != 0:
                        nsp += 1
                        for c in range(C):
                            o[h, c] += R[j, c]
                counters[t, C_SYNOPS, 1 + L + h] += nsp * C
                counters[t, C_MESSAGES, 1 + L + h] += nsp
                counters[t, C_NEURON, 1 + L + h] += C
                counters[t, C_NEURON, 1 + L + H + h] += C
                nerr = 0
                for c in range(C):
                    oc = o[h, c] << head_wexp[h] if head_wexp[h] >= 0 else o[h, c] >> (-head_wexp[h])
                    o[h, c] = oc
                    ec = oc - (tgt[h] if c == lab else 0)
                    y = clip(sr_shift(ec, es[h], state), y_lo, y_hi)
                    y2e[h, c] = y
                    if y != 0:
                        nerr += 1
                counters[t, C_SYNOPS, 1 + L + H + h] += C + 1          # readout -> error, label
                counters[t, C_SPIKES, 1 + L + H + h] += nerr
                counters[t, C_MESSAGES, 1 + L + H + h] += nerr
                if h == H - 1:
                    for c in range(C):
                        out_sum[si, c] += o[h, c]
            # ---- learning compartments (top down) ------------------------------------------
            if learn or record:
                for l in range(L - 1, -1, -1):
                    nl = sizes[l]
                    fb[:nl] = 0
                    nmsg = 0
                    if local or l == L - 1:
                        h = l if local else 0
                        F = Ft[h]
                        for c in range(C):
                            yc = y2e[h, c]
                            if yc != 0:
                                nmsg += 1
                                for i in range(nl):
                                    fb[i] += F[i, c] * yc
                    else:
                        Wn = Wt[l + 1]
                        for k in range(sizes[l + 1]):
                            yk = y2[l + 1, k]
                            if yk != 0:
                                nmsg += 1
                                for i in range(nl):
                                    fb[i] += Wn[i, k] * yk
                    counters[t, C_SYNOPS, 1 + l] += nmsg * nl
                    nyl = 0
                    for i in range(nl):
                        if fb[i] == 0:
                            y2[l, i] = 0
                            continue
                        d = vpre[l, i] - vth6[l]
                        idx = (d >> lut_shift) + lut_half
                        if idx < 0 or idx >= nlut:
                            y2[l, i] = 0
                            continue
                        y = clip(sr_shift(fb[i] * lut[idx], sh[l], state), y_lo, y_hi)
                        y2[l, i] = y
                        if y != 0:
                            nyl += 1
                    if not local and l > 0:
                        counters[t, C_SPIKES, 1 + l] += nyl
                        counters[t, C_MESSAGES, 1 + l] += nyl
            # ---- record ----------------------------------------------------------------------
            if record:
                for l in range(L):
                    for i in range(sizes[l]):
                        rec_s[l][si, t, i] = s[l, i]
                        rec_v[l][si, t, i] = vpre[l, i]
                        rec_y2[l][si, t, i] = y2[l, i]
                for h in range(H):
                    for c in range(C):
                        rec_o[h][si, t, c] = o[h, c]
            # ---- weight updates --------------------------------------------------------------
            if learn:
                for l in range(L):
                    pre = x0 if l == 0 else xtr[l - 1]
                    n_pre = n0 if l == 0 else sizes[l - 1]
                    nu, nw = _learn(Wt[l], pre, y2[l], n_pre, sizes[l], m[l], e[l], ps, frac, wlo, whi,
                                    tag_lo, tag_hi, acc_lo, acc_hi, state, tags[l], online)
                    counters[t, C_SYNUPD, 1 + l] += nu
                    counters[t, C_WRITES, 1 + l] += nw
                for h in range(H):
                    lh = head_layer[h]
                    nu, nw = _learn(Rt[h], xtr[lh], y2e[h], sizes[lh], C, m[L + h], e[L + h], ps, frac, wlo, whi,
                                    tag_lo, tag_hi, acc_lo, acc_hi, state, tags[L + h], online)
                    counters[t, C_SYNUPD, 1 + L + h] += nu
                    counters[t, C_WRITES, 1 + L + h] += nw * (2 if mirror else 1)
        if learn and not online:
            for l in range(L):
                counters[T - 1, C_WRITES, 1 + l] += _apply_tag(Wt[l], tags[l], wlo, whi)
            for h in range(H):
                counters[T - 1, C_WRITES, 1 + L + h] += _apply_tag(Rt[h], tags[L + h], wlo, whi) * (2 if mirror else 1)
    for t in range(T):
        for r in range(counters.shape[2]):
            counters[t, C_BYTES, r] = counters[t, C_SYNOPS, r] * bytes_per_syn
