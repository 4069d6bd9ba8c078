"""Inputs -> validated event lists (one pass to check and count, one to fill).

A dense input array is viewed as ``(T, B, n)`` (time, batch instance, flat channel). Nonzero entries
become events ``(source, payload)`` grouped by (instance, step) in CSR form: the events of
instance ``b`` at record row ``ti`` are ``ev_ptr[b, ti] .. ev_ptr[b, ti + 1]``. Zero entries cost
nothing downstream (a zero payload adds nothing in Lava either). Sparse inputs
(:class:`hwsim.inputs.InputEvents`) are in that form already: ``check_events`` validates them and
``copy_events`` merges them into the run's lists; ``sample_events`` builds them from per-sample
payload frames without a dense array.
"""
import numpy as np
from numba import njit, prange, uint64

ERR_OK = 0
ERR_NAN = 1          # NaN (or other non-finite) entry
ERR_RANGE = 2        # outside [lo, hi]
ERR_NONINT = 3       # not an integer
ERR_CHANNEL = 4      # sparse event: channel outside [0, n)
ERR_ORDER = 5        # sparse event: channels of one step not strictly increasing
ERR_ZERO = 6         # sparse event: zero payload (0 means "no event")


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
def check_events(ptr, ch, val, n, lo, hi, counts):
    """Check sparse events: instance ``b``, row ``t`` holds events ``ptr[b, t] .. ptr[b, t + 1]`` of
    ``ch`` (channels) and ``val`` (payloads; an empty ``val`` means every payload is 1). The caller
    checked ``ptr`` (each row non-decreasing, within ``[0, len(ch)]``). Channels of a step must be
    strictly increasing in ``[0, n)`` and payloads non-zero integers in ``[lo, hi]``; the event counts
    are added to ``counts`` (B, T). Returns ``(code, t, b, k, value)`` of the first bad event (``k``:
    its index into ``ch``; code ``ERR_OK`` if none), ``value`` the channel or payload as float64."""
    B = ptr.shape[0]
    T = ptr.shape[1] - 1
    graded = val.shape[0] > 0
    for b in range(B):
        for t in range(T):
            k0 = ptr[b, t]
            k1 = ptr[b, t + 1]
            bad = 0
            prev = np.int64(-1)
            for k in range(k0, k1):
                c = np.int64(ch[k])
                bad += (c <= prev) | (c >= n)
                prev = c
            if graded:
                for k in range(k0, k1):
                    v = val[k]
                    bad += (v != v) | (v < lo) | (v > hi) | (v == 0)
                if bad == 0:
                    for k in range(k0, k1):
                        bad += np.int64(val[k]) != val[k]
            if bad != 0:
                return _locate_event(ch, val, graded, n, lo, hi, k0, k1, t, b)
            counts[b, t] += k1 - k0
    return ERR_OK, 0, 0, 0, 0.0


@njit(cache=True)
def _locate_event(ch, val, graded, n, lo, hi, k0, k1, t, b):
    prev = np.int64(-1)
    for k in range(k0, k1):
        c = np.int64(ch[k])
        if c < 0 or c >= n:
            return ERR_CHANNEL, t, b, k, np.float64(c)
        if c <= prev:
            return ERR_ORDER, t, b, k, np.float64(c)
        prev = c
        if graded:
            v = val[k]
            if v != v:
                return ERR_NAN, t, b, k, np.float64(v)
            if v == 0:
                return ERR_ZERO, t, b, k, 0.0
            if v < lo or v > hi:
                return ERR_RANGE, t, b, k, np.float64(v)
            if np.int64(v) != v:
                return ERR_NONINT, t, b, k, np.float64(v)
    return ERR_OK, t, b, 0, 0.0  # pragma: no cover - called only when a bad event exists


@njit(cache=True)
def copy_events(ptr, ch, val, src_offset, cursor, ev_src, ev_val):
    """Append checked sparse events (``check_events``) at ``cursor[b, t]`` (advanced): source
    ``src_offset + ch[k]``, payload ``val[k]`` (1 where ``val`` is empty)."""
    B = ptr.shape[0]
    T = ptr.shape[1] - 1
    graded = val.shape[0] > 0
    for b in range(B):
        for t in range(T):
            m = cursor[b, t]
            for k in range(ptr[b, t], ptr[b, t + 1]):
                ev_src[m] = src_offset + ch[k]
                ev_val[m] = val[k] if graded else 1
                m += 1
            cursor[b, t] = m


@njit(cache=True)
def sample_event_ptr(nnz, idx, n_frames, steps):
    """The CSR ``ptr`` of :func:`sample_events` from ``nnz`` (N, Tx), the nonzero payloads of each
    sample's frames: int64 (S, steps + 1), sample-major and contiguous (``ptr[s, steps] == ptr[s + 1,
    0]``, so ``ptr[:, :-1]`` flattened plus the last entry is the CSR of the S * steps steps run one
    after the other); ``ptr[-1, -1]`` events in all."""
    S = idx.shape[0]
    Tx = nnz.shape[1]
    ptr = np.empty((S, steps + 1), np.int64)
    k = 0
    for s in range(S):
        for t in range(steps):
            ptr[s, t] = k
            if t < n_frames:
                k += nnz[idx[s], t % Tx]
        ptr[s, steps] = k
    return ptr


@njit(cache=True)
def sample_events(X, idx, n_frames, shift, ptr, ch, val):
    """Sparse events of the samples ``X[idx]`` (X: (N, Tx, n) non-negative payloads) into ``ch`` / ``val``
    (int32, at least ``ptr[-1, -1]`` entries) at the offsets ``ptr`` of :func:`sample_event_ptr`: step
    ``t < n_frames`` of a sample carries the nonzero entries of frame ``t % Tx`` as ``payload << shift``
    (channels in increasing order), the later steps none. The same events as the nonzero entries of the
    dense frames, without the dense array. The caller checked that the shifted payloads fit int32."""
    S = idx.shape[0]
    Tx = X.shape[1]
    n = X.shape[2]
    tmp_ch = np.empty(n, np.int32)
    tmp_val = np.empty(n, np.int32)
    for s in range(S):
        for t in range(min(ptr.shape[1] - 1, n_frames)):
            k0 = ptr[s, t]
            if t >= Tx:                       # a repeated frame: copy its first occurrence
                j0 = ptr[s, t % Tx]
                for j in range(ptr[s, t + 1] - k0):
                    ch[k0 + j] = ch[j0 + j]
                    val[k0 + j] = val[j0 + j]
                continue
            row = X[idx[s], t]
            m = 0
            for i in range(uint64(n)):        # branch-free compaction into scratch, then a copy
                v = np.int32(row[i])
                tmp_ch[m] = i
                tmp_val[m] = v << shift
                m += v != 0
            for j in range(m):
                ch[k0 + j] = tmp_ch[j]
                val[k0 + j] = tmp_val[j]
