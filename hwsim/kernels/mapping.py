"""Greedy packing of one population's compartments onto cores (used by :mod:`hwsim.mapper`)."""
import numpy as np
from numba import njit

RES_OK = 0
RES_FAN_IN = 1
RES_MEMORY = 2


@njit(cache=True)
def pack_population(n, in_ptr, in_axon, comp_bits, n_axons, cap, max_fan_in, max_bits, strict):
    """Split compartments ``0..n-1`` into consecutive cores, in order, as full as the limits allow.

    Parameters
    ----------
    n : int
        Compartments in the population.
    in_ptr, in_axon : int64 arrays
        CSR by compartment of the input axons (global source ids) of its incoming synapses.
    comp_bits : int64 array (n,)
        Bits of synaptic memory of each compartment's incoming synapses.
    n_axons : int
        Number of distinct axon ids (size of the marker arrays).
    cap, max_fan_in, max_bits : int
        Compartments, distinct input axons and synaptic-memory bits allowed per core.
    strict : bool
        When a single compartment exceeds a limit: stop with an error code (True) or give it a
        core of its own, over the limit (False).

    Returns
    -------
    code, bad_j, need : int
        ``RES_OK``, or the resource (``RES_FAN_IN``/``RES_MEMORY``) one compartment ``bad_j`` alone
        exceeds and what it needs (axons or bits).
    starts : int64 array
        First compartment of each core, then ``n`` (length n_cores + 1).
    fan_in, bits : int64 arrays (n_cores,)
        Distinct input axons and bits of synaptic memory used on each core.
    """
    core_mark = np.full(n_axons, -1, np.int64)
    comp_mark = np.full(n_axons, -1, np.int64)
    starts = np.empty(n + 1, np.int64)
    fan_in = np.zeros(n + 1, np.int64)
    bits = np.zeros(n + 1, np.int64)
    core = 0
    starts[0] = 0
    used = 0
    for j in range(n):
        # distinct axons of j not yet on this core
        new = 0
        own = 0
        for k in range(in_ptr[j], in_ptr[j + 1]):
            a = in_axon[k]
            if comp_mark[a] != j:
                comp_mark[a] = j
                own += 1
                if core_mark[a] != core:
                    new += 1
        if own > max_fan_in and strict:
            return RES_FAN_IN, j, own, starts[:1], fan_in[:0], bits[:0]
        if comp_bits[j] > max_bits and strict:
            return RES_MEMORY, j, comp_bits[j], starts[:1], fan_in[:0], bits[:0]
        if used > 0 and (used + 1 > cap or fan_in[core] + new > max_fan_in or bits[core] + comp_bits[j] > max_bits):
            core += 1
            starts[core] = j
            used = 0
            new = own
        for k in range(in_ptr[j], in_ptr[j + 1]):
            core_mark[in_axon[k]] = core
        fan_in[core] += new
        bits[core] += comp_bits[j]
        used += 1
    starts[core + 1] = n
    return RES_OK, 0, 0, starts[:core + 2], fan_in[:core + 1], bits[:core + 1]


@njit(cache=True)
def split_counts(n, share, out):
    """Counts ``n`` (T,) split over cores in proportion to ``share`` (n_cores,) into ``out`` (T, n_cores),
    each row summing exactly to its count: ``n * share // total`` per core, and the rest one each to the
    cores with the largest remainders ``n * share % total`` (ties to the lower core index), the
    largest-remainder method. ``total = sum(share) > 0``."""
    total = np.int64(0)
    for c in range(share.shape[0]):
        total += share[c]
    nc = share.shape[0]
    taken = np.zeros(nc, np.bool_)
    for r in range(n.shape[0]):
        rest = n[r]
        for c in range(nc):
            q = n[r] * share[c]
            out[r, c] = q // total
            rest -= out[r, c]
            taken[c] = False
        for _ in range(rest):
            best = -1
            best_rem = np.int64(-1)
            for c in range(nc):
                rem = (n[r] * share[c]) % total
                if not taken[c] and rem > best_rem:
                    best = c
                    best_rem = rem
            taken[best] = True
            out[r, best] += 1
