"""The learning engine's traces in one epoch (Lava ``recv_traces`` and ``_compute_trace_histories``): spike
impulses with stochastic rounding of their fraction, float64 decays ``floor(f) + (r < frac(f))``, Lava's
OVERWRITE value of a graded pre spike. Traces are int64 in [0, 2**trace_bits - 1]."""
from __future__ import annotations

import numpy as np
from numba import njit

from .terms import add_impulse, decay_value


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
    now (pre: random 0, post: ``r_y_imp``); every spike records its within-epoch time ``te``.
    Selects, not branches, in the loops over neurons (they vectorise; spikes are irregular)."""
    again = False
    for i in range(s_in.shape[0]):
        again |= s_in[i] and tx[i] > 0
    if again:                      # only with t_epoch > 1: a pre neuron spiking twice in an epoch
        for i in range(s_in.shape[0]):
            if s_in[i] and tx[i] > 0:
                for k in range(2):
                    xtr[k, i] = add_impulse(xtr[k, i], np.int64(0), imp_int[k], imp_frac[k], trace_max)
    for i in range(s_in.shape[0]):
        tx[i] = te if s_in[i] else tx[i]
    if use_bap:
        for j in range(bap.shape[0]):
            if bap[j]:
                if ty[j] > 0:
                    for k in range(3):
                        ytr[k, j] = add_impulse(ytr[k, j], r_y_imp, imp_int[2 + k], imp_frac[2 + k],
                                                trace_max)
                ty[j] = te


@njit(cache=True)
def trace_history(H, tr, tspk, base, decay, tau_nz, imp_int, imp_frac, r_decay, r_imp, trace_max, need):
    """Trace values over the epoch, ``H[s]`` for s = 0..t_epoch (Lava ``_compute_trace_histories``).

    ``need[base + k]`` False marks a trace whose history nothing reads (a 3F rule's y trace that no
    factor reads: the third factors overwrite y every step): with one step per epoch only its
    count is taken. With one step per epoch (``t_epoch == 1``) ``H[0]`` is not written: every reader
    takes ``H[1]`` (a table entry read at s = 0 is multiplied by a zero dependency), so step 1 is
    computed from ``tr`` directly. Returns the number of trace values decayed (non-zero values of
    traces with tau != 0).
    """
    n_s = H.shape[0]
    K, n = tr.shape
    count = 0
    for k in range(K):
        b = base + k
        if not need[b] and n_s == 2:
            if tau_nz[b]:
                for i in range(n):
                    count += tr[k, i] != 0
            continue
        if n_s > 2:
            for i in range(n):
                H[0, k, i] = tr[k, i]
        ii = imp_int[b]
        fr = imp_frac[b]
        for s in range(1, n_s):
            prev = tr[k] if s == 1 else H[s - 1, k]
            if tau_nz[b]:
                fk = decay[b]
                for i in range(n):
                    v = prev[i]
                    count += v != 0
                    h = decay_value(v, fk, r_decay)
                    H[s, k, i] = add_impulse(h, r_imp, ii, fr, trace_max) if tspk[i] == s else h
            else:
                for i in range(n):
                    H[s, k, i] = add_impulse(np.int64(0), r_imp, ii, fr, trace_max) if tspk[i] == s else 0
    return count


# ---- one step per epoch (t_epoch == 1): the spike phase, the trace history and the end of the epoch in one
#      pass over the neurons per side: recv_spikes, the graded overwrite, the 3F inputs, trace_history's
#      step 1 and learn_epoch's copy of the traces, in Lava's order per neuron -----------------------------

@njit(cache=True, inline="always")
def pre_epoch1(s_in, payload, graded, xtr, tx, Hx, decay, tau_nz, imp_int, imp_frac, r_decay, r_imp, trace_max):
    """The pre side of a step of a ``t_epoch == 1`` engine: ``tx = 1`` at a spike, the graded overwrite of x1
    (``graded``; ``payload`` in [0, 255]), then ``H[1] = decay(x) + impulse`` (:func:`trace_history`'s step
    1) into ``Hx[1]`` (the factor tables read it) and into ``xtr`` (the end of the epoch). ``tx`` keeps
    the spike times (the epoch's learning reads them). Returns the trace values decayed, as
    :func:`trace_history` counts them. Selects, not branches: the loop vectorises. ``tx`` is 0 on entry
    (every step ends an epoch, which zeroes it), so no neuron spikes twice in an epoch (``recv_spikes``'
    second impulse)."""
    count = 0
    ii0 = imp_int[0]
    fr0 = imp_frac[0]
    ii1 = imp_int[1]
    fr1 = imp_frac[1]
    f0 = decay[0]
    f1 = decay[1]
    nz0 = tau_nz[0]
    nz1 = tau_nz[1]
    zero = np.int64(0)
    for i in range(tx.shape[0]):
        s = s_in[i] != 0
        ts = np.int64(1) if s else np.int64(0)
        v0 = xtr[0, i]
        v1 = xtr[1, i]
        if graded:
            v0 = overwrite_value(np.int64(payload[i])) if s else v0
        if nz0:
            count += v0 != 0
            h0 = decay_value(v0, f0, r_decay)
        else:
            h0 = zero
        if nz1:
            count += v1 != 0
            h1 = decay_value(v1, f1, r_decay)
        else:
            h1 = zero
        h0 = add_impulse(h0, r_imp, ii0, fr0, trace_max) if ts == 1 else h0
        h1 = add_impulse(h1, r_imp, ii1, fr1, trace_max) if ts == 1 else h1
        Hx[1, 0, i] = h0
        Hx[1, 1, i] = h1
        xtr[0, i] = h0
        xtr[1, i] = h1
        tx[i] = ts
    return count


@njit(cache=True, inline="always")
def post_epoch1(bap, use_bap, kind3, kind2, y1, y2, y3, use_y, ytr, ty, Hy, decay, tau_nz, imp_int, imp_frac, need,
                r_decay, r_imp, trace_max):
    """The post side of a step of a ``t_epoch == 1`` engine: ``ty = 1`` at a bap, the 3F inputs (``kind3``:
    ``ytr[k] = y_{k+1}``, 0 where unused), then ``H[1]`` (:func:`trace_history`) of the traces the engine
    needs into ``Hy[1]``, and for a 2F rule (``kind2``) the end of the epoch ``ytr = H[1]``. ``ty`` keeps
    the bap times. Returns the trace values decayed. One trace at a time over the neurons (three traces
    in one loop vectorise worse)."""
    count = 0
    zero = np.int64(0)
    n = ty.shape[0]
    if use_bap:                            # ty is 0 on entry (pre_epoch1): no second bap in the epoch
        for j in range(n):
            ty[j] = np.int64(1) if bap[j] else ty[j]
    for k in range(3):
        g = 2 + k
        yk = y1 if k == 0 else (y2 if k == 1 else y3)
        use = use_y[k]
        row = ytr[k]
        nz = tau_nz[g]
        if not need[g]:                    # only the count (and the 3F input)
            if kind3:
                for j in range(n):
                    w = np.int64(yk[j]) if use else zero
                    row[j] = w
                    count += nz & (w != 0)
            elif nz:
                for j in range(n):
                    count += row[j] != 0
            continue
        fk = decay[g]
        ii = imp_int[g]
        fr = imp_frac[g]
        Hk = Hy[1, k]
        for j in range(n):
            w = row[j]
            if kind3:
                w = np.int64(yk[j]) if use else zero
                row[j] = w
            if nz:
                count += w != 0
                h = decay_value(w, fk, r_decay)
            else:
                h = zero
            h = add_impulse(h, r_imp, ii, fr, trace_max) if ty[j] == 1 else h
            Hk[j] = h
            if kind2:
                row[j] = h
    return count
