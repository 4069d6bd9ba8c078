r"""Event-driven synapses: spike delivery into dendritic accumulators, and their hand-off.

Layout (built once by :mod:`hwsim.program`):

* The fan-out of every *source* (input channel or compartment) is a list of **segments**,
  CSR-indexed by source: ``seg_ptr[g] .. seg_ptr[g+1]``. A segment is one source's row in one
  projection: ``seg_len`` synapses whose weight mantissas (after the chip's clip and truncation)
  start at ``seg_woff`` in ``syn_w`` (int16/int32) or ``syn_w8`` (int8 kinds) and, for indexed
  kinds, whose accumulator indices start at ``seg_ioff`` in ``syn_idx``.
  Dense rows without delays are *contiguous*: they hit ``acc[seg_base + j]`` for ``j < seg_len``
  (the dense weight matrix is stored transposed so a source's row is contiguous).
* Each projection ``q`` owns accumulators ``acc[prj_acc[q] + k*n_dst + j]`` for delay slot ``k``
  and target ``j`` (int32 ``acc32``, or int64 ``acc64`` for wide projections).

Spike delivery costs one add per (spike, synapse): silent sources cost nothing. At the end of a
step each touched projection hands its sums to the targets' input ring (Lava: ``a_buff``)::

    x = acc[k, j];  y = floor_shift(x, weight_exp);  conv: y = wrap24(y)
    ring[(t + 1 + k) % R, dst0 + j] = wrap32(ring[...] + y)

which arrives at the compartments at step ``t + 1 + k`` (delay ``k``; the one-step synaptic buffer
of Lava's Dense/Sparse/Conv).

Segment kinds (Lava's accumulator types are reproduced, see the semantics notes):

=====================  =========================================================================
``K_CONTIG_BIN``       dense row, binary spikes: ``acc32[base+j] += w``
``K_INDEX_BIN``        sparse/conv/delayed row, binary: ``acc32[idx] += w``
``K_CONTIG_GRADED``    dense row, graded payload p: ``acc32[base+j] += p*w`` (int32 wrap, as
                       Lava's int32 ``weights.dot(s_in)``)
``K_INDEX_GRADED``     sparse row, graded: ``acc32[idx] += p*w`` (int32 wrap, scipy int32 dot)
``K_WIDE_WRAPPROD``    DelayDense row, graded: ``acc64[idx] += wrap32(p*w)`` (Lava multiplies
                       int32 arrays, then sums in int64)
``K_WIDE_EXACT``       conv row, graded: ``acc64[idx] += p*w`` (Lava convolves in float64, exact)
``K_CONTIG_BIN8``      as ``K_CONTIG_BIN`` with int8 weights ``w >> ntb`` (``syn_w8``); the
``K_INDEX_BIN8``       projection's exponent is then ``weight_exp + ntb`` (exact for binary sums)
=====================  =========================================================================
"""
import numpy as np
from numba import njit, uint64

from ..constants import CONV_ACC_BITS
from .arith import floor_shift, wrap32

K_CONTIG_BIN = 0
K_INDEX_BIN = 1
K_CONTIG_GRADED = 2
K_INDEX_GRADED = 3
K_WIDE_WRAPPROD = 4
K_WIDE_EXACT = 5
K_CONTIG_BIN8 = 6
K_INDEX_BIN8 = 7



@njit(cache=True, inline="always")
def deliver(g, payload, seg_ptr, seg_kind, seg_proj, seg_base, seg_woff, seg_ioff, seg_len, syn_w, syn_w8, syn_idx,
            acc32, acc64, active):
    """Add the fan-out of source ``g`` carrying ``payload`` into the accumulators.

    ``payload`` is 1 for a binary spike, the signed message otherwise (binary segments ignore it:
    Lava's binary synapses apply ``astype(bool)``). Marks the touched projections in ``active``
    (int64 per projection: bit 0 set when touched, plus 2 per wrapped addition, see
    :func:`wraps_of`). Returns the number of wrapped additions.

    Wraps: graded sums are computed exactly in int64 and stored wrapped to int32 (Lava's int32
    ``weights.dot(s_in)``); every addition whose exact value differs from the stored one is a
    wrap, and so is a DelayDense product ``p * w`` outside int32. Binary sums cannot wrap (at
    most 2**24 synapses of magnitude < 2**16 per accumulator).

    Indices are unsigned (``uint64``) so that numba emits no negative-index wrap-around test and
    LLVM vectorises the contiguous rows (about 20x faster than signed indexing). The loops are
    written out here rather than in helpers, and the function is inlined into its caller: a numba
    call with a dozen array arguments costs as much as adding a 500-synapse row.
    """
    n_wrap = 0
    gu = uint64(g)
    for sg in range(uint64(seg_ptr[gu]), uint64(seg_ptr[gu + uint64(1)])):
        kind = seg_kind[sg]
        wo = uint64(seg_woff[sg])
        io = uint64(seg_ioff[sg])
        n = uint64(seg_len[sg])
        base = uint64(seg_base[sg])
        q = uint64(seg_proj[sg])
        active[q] |= 1
        nw = 0
        if kind == K_CONTIG_BIN8:
            for j in range(n):
                acc32[base + j] += syn_w8[wo + j]
        elif kind == K_INDEX_BIN8:
            for j in range(n):
                acc32[uint64(syn_idx[io + j])] += syn_w8[wo + j]
        elif kind == K_CONTIG_BIN:
            for j in range(n):
                acc32[base + j] += syn_w[wo + j]
        elif kind == K_INDEX_BIN:
            for j in range(n):
                acc32[uint64(syn_idx[io + j])] += syn_w[wo + j]
        elif kind == K_CONTIG_GRADED:
            for j in range(n):
                x = np.int64(acc32[base + j]) + payload * np.int64(syn_w[wo + j])
                y = wrap32(x)
                acc32[base + j] = y
                nw += y != x
        elif kind == K_INDEX_GRADED:
            for j in range(n):
                k = uint64(syn_idx[io + j])
                x = np.int64(acc32[k]) + payload * np.int64(syn_w[wo + j])
                y = wrap32(x)
                acc32[k] = y
                nw += y != x
        elif kind == K_WIDE_WRAPPROD:
            for j in range(n):
                x = payload * np.int64(syn_w[wo + j])
                y = wrap32(x)
                acc64[uint64(syn_idx[io + j])] += y
                nw += y != x
        else:  # K_WIDE_EXACT
            for j in range(n):
                acc64[uint64(syn_idx[io + j])] += payload * syn_w[wo + j]
        if nw != 0:
            active[q] += 2 * nw
            n_wrap += nw
    return n_wrap


@njit(cache=True, inline="always")
def wraps_of(active_q):
    """Wrapped additions recorded in an ``active`` entry by :func:`deliver`."""
    return active_q >> 1


@njit(cache=True)
def handoff(q, t, prj_acc, prj_wide, prj_ndst, prj_nslot, prj_dst0, prj_exp, prj_wrap24, acc32, acc64, ring):
    """Shift projection ``q``'s sums of step ``t`` by its weight exponent into the input ring; clear them.

    Returns the number of wraps: a conv sum outside its 24-bit accumulator (``CONV_ACC_BITS``), or
    an int32 ring entry whose exact sum (earlier projections' input plus this one) does not fit.
    """
    nd = uint64(prj_ndst[q])
    d0 = uint64(prj_dst0[q])
    e = prj_exp[q]
    r = ring.shape[0]
    wide = prj_wide[q]
    conv = prj_wrap24[q]
    half = 1 << (CONV_ACC_BITS - 1)
    mask = (1 << CONV_ACC_BITS) - 1
    n_wrap = 0
    for k in range(prj_nslot[q]):
        row = ring[(t + 1 + k) % r]
        b = uint64(prj_acc[q] + k * prj_ndst[q])
        if wide or conv:
            for j in range(nd):
                if wide:
                    x = acc64[b + j]
                    acc64[b + j] = 0
                else:
                    x = np.int64(acc32[b + j])
                    acc32[b + j] = 0
                y = floor_shift(x, e)
                if conv:
                    yc = ((y + half) & mask) - half
                    n_wrap += yc != y
                    y = yc
                z = np.int64(row[d0 + j]) + y
                w = wrap32(z)
                row[d0 + j] = w
                n_wrap += w != z
        elif e >= 0:
            for j in range(nd):
                z = np.int64(row[d0 + j]) + (np.int64(acc32[b + j]) << e)
                w = wrap32(z)
                row[d0 + j] = w                    # int32 store wraps, as Lava's int32 channel
                n_wrap += w != z
                acc32[b + j] = 0
        else:
            s = -e
            for j in range(nd):
                z = np.int64(row[d0 + j]) + (np.int64(acc32[b + j]) >> s)
                w = wrap32(z)
                row[d0 + j] = w
                n_wrap += w != z
                acc32[b + j] = 0
    return n_wrap
