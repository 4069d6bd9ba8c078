"""Dense accumulation of a learning projection's spikes with its weights (fan-out major ``W`` (n_pre, n_post),
int16 / int32 mantissas): binary and graded (payload) pre spikes forward, graded post values backward (a mirror).
Sums in int64, shifted by ``weight_exp`` and wrapped to Lava's int32 output port."""
from __future__ import annotations

import numpy as np
from numba import njit

from ..kernels.arith import floor_shift
from .terms import wrap32


@njit(cache=True, inline="always")
def _send(acc, n_post, weight_exp, a_buff):
    """``a_buff = wrap32(shift(acc, weight_exp))`` (Lava's shift, then its int32 output port);
    returns the number of entries the int32 wrap changed."""
    wraps = 0
    for j in range(n_post):
        v = floor_shift(acc[j], weight_exp)
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
