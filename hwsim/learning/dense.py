"""Dense accumulation of a learning projection's spikes with its weights (fan-out major ``W`` (n_pre, n_post),
int16 / int32 mantissas): binary and graded (payload) pre spikes forward, graded post values backward (a mirror).
Sums exact (int64, or int32 lanes where the number of rows bounds them), shifted by ``weight_exp`` and
wrapped to Lava's int32 output port."""
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


@njit(cache=True, inline="always")
def _sum_rows16(W, rows, n, acc16):
    """``acc16 = sum_r W[rows[r], :]`` in int16 lanes, eight rows per pass over ``acc16`` (one load and
    store of the sums per eight rows: the pass is bound by those stores otherwise). The caller checked that
    no partial sum leaves int16; any order of the additions then gives the same integers."""
    n_post = W.shape[1]
    for j in range(n_post):
        acc16[j] = 0
    r = 0
    while r + 8 <= n:
        w0, w1, w2, w3 = W[rows[r]], W[rows[r + 1]], W[rows[r + 2]], W[rows[r + 3]]
        w4, w5, w6, w7 = W[rows[r + 4]], W[rows[r + 5]], W[rows[r + 6]], W[rows[r + 7]]
        for j in range(n_post):
            acc16[j] = np.int16(acc16[j] + (((w0[j] + w1[j]) + (w2[j] + w3[j]))
                                            + ((w4[j] + w5[j]) + (w6[j] + w7[j]))))
        r += 8
    while r < n:
        w0 = W[rows[r]]
        for j in range(n_post):
            acc16[j] = np.int16(acc16[j] + w0[j])
        r += 1


@njit(cache=True, inline="always")
def _sum_rows32(W, x, rows, n, acc32):
    """``acc32 = sum_r x[i] W[i, :]`` (``i = rows[r]``) in int32 lanes, four rows per pass; the caller
    checked that no partial sum leaves int32."""
    n_post = W.shape[1]
    for j in range(n_post):
        acc32[j] = 0
    r = 0
    while r + 4 <= n:
        i0, i1, i2, i3 = rows[r], rows[r + 1], rows[r + 2], rows[r + 3]
        p0, p1, p2, p3 = np.int32(x[i0]), np.int32(x[i1]), np.int32(x[i2]), np.int32(x[i3])
        w0, w1, w2, w3 = W[i0], W[i1], W[i2], W[i3]
        for j in range(n_post):
            acc32[j] = np.int32(acc32[j] + ((np.int32(w0[j]) * p0 + np.int32(w1[j]) * p1)
                                            + (np.int32(w2[j]) * p2 + np.int32(w3[j]) * p3)))
        r += 4
    while r < n:
        i0 = rows[r]
        p0 = np.int32(x[i0])
        w0 = W[i0]
        for j in range(n_post):
            acc32[j] = np.int32(acc32[j] + np.int32(w0[j]) * p0)
        r += 1


@njit(cache=True)
def _forward_sum(W, x, acc, rows, acc32, w_abs):
    """``acc = sum_i x_i W[i, :]`` (exact integers) over the rows with ``x_i != 0``, for binary (bool) or
    graded (int) pre values ``x``; returns the number of those rows. ``w_abs`` bounds ``|W|`` (the sign
    mode's weight range, which learning and the host operations clip to).

    Lanes narrower than int64 give the same integers where the rows bound every partial sum: int16
    lanes (int16 weights) when every non-zero ``x_i`` is one value p (spikes; a graded input's
    constant payload) and ``rows x w_abs < 2**15``, the sum then multiplied by p; int32 lanes when
    ``rows x max|W| x max|x| < 2**31`` (binary spikes on int16 weights always; tens of 8-bit
    payloads); int64 otherwise. ``acc32`` (int32, n_post) is the narrow lanes' scratch."""
    n_pre, n_post = W.shape
    n = 0
    for i in range(n_pre):                      # branch-free compaction of the non-zero rows
        rows[n] = i
        n += x[i] != 0
    x_max = np.int64(0)
    p0 = np.int64(x[rows[0]]) if n > 0 else np.int64(0)
    same = True
    for r in range(n):
        v = np.int64(x[rows[r]])
        x_max = max(x_max, abs(v))
        same &= v == p0
    if W.itemsize == 2 and same and n * w_abs < (np.int64(1) << 15):
        acc16 = acc32.view(np.int16)[:n_post]
        _sum_rows16(W, rows, n, acc16)
        for j in range(n_post):
            acc[j] = np.int64(acc16[j]) * p0
    elif n * (np.int64(1) << (8 * W.itemsize - 1)) * x_max < (np.int64(1) << 31):
        _sum_rows32(W, x, rows, n, acc32)
        for j in range(n_post):
            acc[j] = acc32[j]
    else:
        for j in range(n_post):
            acc[j] = 0
        for r in range(n):
            i = rows[r]
            p = np.int64(x[i])
            for j in range(n_post):
                acc[j] += W[i, j] * p
    return n


@njit(cache=True)
def dense_forward(W, s_in, weight_exp, acc, a_buff, rows, acc32, w_abs):
    """Dense accumulation of binary spikes: ``a_buff = wrap32(shift(sum_{i: s_i} W[i, :], weight_exp))``.

    W is fan-out major (n_pre, n_post), ``|W| <= w_abs``. Returns ``(synaptic operations, int32 wraps)``:
    spikes x n_post, and the entries whose shifted sum left int32 (Lava wraps them on its int32 output port).
    """
    n = _forward_sum(W, s_in, acc, rows, acc32, w_abs)
    return n * W.shape[1], _send(acc, W.shape[1], weight_exp, a_buff)


@njit(cache=True)
def dense_forward_graded(W, payload, weight_exp, acc, a_buff, rows, acc32, w_abs):
    """Dense accumulation of graded spikes (Lava ``num_message_bits > 0``):
    ``a_buff = wrap32(shift(sum_i payload_i W[i, :], weight_exp))``, ``|W| <= w_abs``. Returns
    ``(synaptic operations, wraps)``."""
    n = _forward_sum(W, payload, acc, rows, acc32, w_abs)
    return n * W.shape[1], _send(acc, W.shape[1], weight_exp, a_buff)


@njit(cache=True)
def dense_backward_graded(W, y, weight_exp, acc, out):
    """The transpose of a dense accumulation, for graded values ``y`` (n_post) of the post side:
    ``out = wrap32(shift(sum_j W[:, j] y_j, weight_exp))`` (n_pre), in int64 before the shift, as
    :func:`dense_forward_graded` sums. W is fan-out major (n_pre, n_post). Returns ``(synaptic
    operations, int32 wraps)``: non-zero y x n_pre, and the entries the int32 wrap changed."""
    n_pre, n_post = W.shape
    n = 0
    for j in range(n_post):
        n += y[j] != 0
    if 4 * n < n_post:                  # few non-zero values (an error mostly is): a strided pass per value
        for i in range(n_pre):
            acc[i] = 0
        for j in range(n_post):
            yj = np.int64(y[j])
            if yj != 0:
                for i in range(n_pre):
                    acc[i] += np.int64(W[i, j]) * yj
    else:
        for i in range(n_pre):
            a = np.int64(0)
            for j in range(n_post):
                a += np.int64(W[i, j]) * y[j]
            acc[i] = a
    return n * n_pre, _send(acc, n_pre, weight_exp, out)
