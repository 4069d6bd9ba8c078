"""Pure numba kernels of the chip: integer arithmetic over flat arrays, no Python objects.

Modules, bottom up:

* :mod:`.arith`   -- scalar bit operations (wrap, saturate, floor shift, 12-bit decay, Lava's u wrap).
* :mod:`.neuron`  -- one LIF / LIFReset / TernaryLIF compartment update.
* :mod:`.synapse` -- event-driven spike delivery into dendritic accumulators, and their hand-off
  (shift by ``weight_exp``) into the per-compartment input ring.
* :mod:`.conv`    -- unrolling a 2-D convolution into per-source fan-out lists.
* :mod:`.events`  -- validation and compaction of input arrays into event lists.
* :mod:`.engine`  -- the whole time loop of one network instance, and its batched (prange) driver.
* :mod:`.mapping` -- greedy packing of compartments onto cores.

Every kernel is ``@njit(cache=True)`` and callable from Python; tests compare them with slow
pure-Python forms of the same arithmetic (``tests/hwsim/test_kernels.py``).
"""

import hashlib as _hashlib
import os as _os


def _drop_stale_numba_cache() -> None:
    """Delete this package's numba cache files when any kernel source changed.

    numba's ``cache=True`` checks only the timestamp of the file defining a function, not of the
    files it calls into, so an edit of ``arith.py`` would leave ``engine.py``'s cached machine code
    stale. A hash of all kernel sources is kept next to the cache; a mismatch clears it.
    """
    here = _os.path.dirname(_os.path.abspath(__file__))
    cache = _os.path.join(here, "__pycache__")
    h = _hashlib.sha256()
    for name in sorted(_os.listdir(here)):
        if name.endswith(".py"):
            with open(_os.path.join(here, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    digest = h.hexdigest()
    stamp = _os.path.join(cache, "kernels.srchash")
    try:
        with open(stamp) as f:
            if f.read().strip() == digest:
                return
    except OSError:
        pass
    try:
        _os.makedirs(cache, exist_ok=True)
        for name in _os.listdir(cache):
            if name.endswith((".nbi", ".nbc")):
                try:
                    _os.remove(_os.path.join(cache, name))
                except OSError:
                    pass
        with open(stamp, "w") as f:
            f.write(digest)
    except OSError:  # read-only install: numba falls back to its own checks
        pass


_drop_stale_numba_cache()
