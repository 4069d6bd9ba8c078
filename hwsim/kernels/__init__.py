"""Pure numba kernels of the chip: integer arithmetic over flat arrays, no Python objects.

Modules, bottom up:

* :mod:`.arith`   -- scalar bit operations (wrap, saturate, floor shift, 12-bit decay, Lava's u wrap).
* :mod:`.neuron`  -- one LIF / LIFReset / TernaryLIF compartment update.
* :mod:`.synapse` -- event-driven spike delivery into dendritic accumulators, and their hand-off
  (shift by ``weight_exp``) into the per-compartment input ring.
* :mod:`.conv`    -- unrolling a 2-D convolution into per-source fan-out lists.
* :mod:`.events`  -- validation and compaction of input arrays into event lists.
* :mod:`.borrow`  -- typed lists for the learning phase: an item read without reference counts, new lists fast.
* :mod:`.engine`  -- the whole time loop of one network instance, and its batched (prange) driver.
* :mod:`.mapping` -- greedy packing of compartments onto cores.

Every kernel is ``@njit(cache=True)`` and callable from Python; tests compare them with slow
pure-Python forms of the same arithmetic (``tests/hwsim/test_kernels.py``).
"""

# The numba cache guard (stale machine code after an edit) is hwsim._numba_cache, run by hwsim/__init__.py.
