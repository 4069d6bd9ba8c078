"""Input arrays -> validated event lists (one pass to check and count, one to fill).

An input array is viewed as ``(T, B, n)`` (time, batch instance, flat channel). Nonzero entries
become events ``(source, payload)`` grouped by (instance, step) in CSR form: the events of
instance ``b`` at record row ``ti`` are ``ev_ptr[b, ti] .. ev_ptr[b, ti + 1]``. Zero entries cost
nothing downstream (a zero payload adds nothing in Lava either).
"""
import numpy as np
from numba import njit, prange, uint64

ERR_OK = 0
ERR_NAN = 1          # NaN (or other non-finite) entry
ERR_RANGE = 2        # outside [lo, hi]
ERR_NONINT = 3       # not an integer


@njit(cache=True)
def _count_row(row, lo, hi):
    """(nonzero entries, bad entries) of one input row: bad = NaN, outside [lo, hi] or, when all
    are in range, not an integer. Branch-free loops, so the valid case vectorises."""
    c = 0
    bad = 0
    for i in range(uint64(row.shape[0])):
        val = row[i]
        c += val != 0
        bad += (val != val) | (val < lo) | (val > hi)
    if bad == 0:
        for i in range(uint64(row.shape[0])):
            val = row[i]
            bad += np.int64(val) != val
    return c, bad


@njit(cache=True)
def check_and_count(x, lo, hi, counts):
    """Check every entry of ``x`` (T, B, n) is an integer in [lo, hi]; add nonzeros to ``counts`` (B, T).

    Returns ``(code, t, b, i, value)`` of the first bad entry (code ``ERR_OK`` if none); ``value``
    is returned as float64 for the message. The common, valid case runs a branch-free
    (vectorised) loop; the first bad entry is located only when there is one.
    """
    T, B, n = x.shape
    for t in range(T):
        for b in range(B):
            row = x[t, b]
            c, bad = _count_row(row, lo, hi)
            if bad != 0:
                return _locate(row, lo, hi, t, b)
            counts[b, t] += c
    return ERR_OK, 0, 0, 0, 0.0


@njit(cache=True)
def _locate(row, lo, hi, t, b):
    for i in range(row.shape[0]):
        val = row[i]
        if val != val:
            return ERR_NAN, t, b, i, np.float64(val)
        if val < lo or val > hi:
            return ERR_RANGE, t, b, i, np.float64(val)
        if np.int64(val) != val:
            return ERR_NONINT, t, b, i, np.float64(val)
    return ERR_OK, t, b, 0, 0.0  # pragma: no cover - called only when a bad entry exists


@njit(cache=True, inline="always")
def _fill_row(row, src_offset, k, ev_src, ev_val, tmp_src, tmp_val):
    """Append the nonzeros of one row at ``k``; branch-free compaction into scratch, then a copy."""
    m = 0
    for i in range(uint64(row.shape[0])):
        val = np.int64(row[i])
        tmp_src[m] = i
        tmp_val[m] = val
        m += val != 0
    for j in range(m):
        ev_src[k + j] = src_offset + tmp_src[j]
        ev_val[k + j] = tmp_val[j]
    return k + m


@njit(cache=True)
def fill_events(x, src_offset, cursor, ev_src, ev_val):
    """Append the nonzero entries of ``x`` (T, B, n) as events at ``cursor[b, t]`` (advanced)."""
    T, B, n = x.shape
    tmp_src = np.empty(n, np.int64)
    tmp_val = np.empty(n, np.int64)
    for t in range(T):
        for b in range(B):
            cursor[b, t] = _fill_row(x[t, b], src_offset, cursor[b, t], ev_src, ev_val, tmp_src, tmp_val)


@njit(cache=True, parallel=True)
def count_parallel(x, lo, hi, counts, bad):
    """``check_and_count`` for large batches, parallel over instances: adds nonzeros to ``counts``
    (B, T) and the number of bad entries of each instance to ``bad`` (B,); call ``check_and_count``
    to locate a bad entry."""
    T, B, n = x.shape
    for b in prange(B):
        nb = 0
        for t in range(T):
            c, bad_row = _count_row(x[t, b], lo, hi)
            nb += bad_row
            counts[b, t] += c
        bad[b] += nb


@njit(cache=True, parallel=True)
def fill_parallel(x, src_offset, cursor, ev_src, ev_val):
    """``fill_events`` parallel over instances (each writes only its own event ranges)."""
    T, B, n = x.shape
    for b in prange(B):
        tmp_src = np.empty(n, np.int64)
        tmp_val = np.empty(n, np.int64)
        for t in range(T):
            cursor[b, t] = _fill_row(x[t, b], src_offset, cursor[b, t], ev_src, ev_val, tmp_src, tmp_val)


@njit(cache=True)
def sample_frames(X, idx, n_frames, shift, out):
    """Per-sample input frames ``out`` (S, steps, n): ``out[s, t] = X[idx[s], t % X.shape[1]] << shift``
    for the first ``n_frames`` steps of each sample, zeros for the later steps (silent drain steps);
    every entry of ``out`` is written. The caller checked that every shifted payload fits ``out``'s
    integer type (the cast does not wrap)."""
    S = idx.shape[0]
    steps = out.shape[1]
    Tx = X.shape[1]
    n = X.shape[2]
    sh = out.dtype.type(shift)
    zero = out.dtype.type(0)
    for s in range(S):
        xs = X[idx[s]]
        for t in range(steps):
            dst = out[s, t]
            if t < n_frames:
                src = xs[t % Tx]
                for i in range(n):
                    dst[i] = out.dtype.type(src[i]) << sh
            else:
                for i in range(n):
                    dst[i] = zero
