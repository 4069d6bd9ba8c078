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
