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
