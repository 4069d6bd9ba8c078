"""A guard for numba's on-disk cache: drop every cached compiled function when any compiled source changed.

numba's ``cache=True`` checks only the timestamp of the file that defines a function, not of the files it
calls into or takes constants from, so an edit of ``kernels/neuron.py`` would leave ``kernels/engine.py``'s
(or the learning engine's) cached machine code stale. One hash over all :data:`COMPILED_SOURCES` is kept
next to each cache folder; a mismatch clears the ``.nbi`` / ``.nbc`` files of every folder. It runs once,
from ``hwsim/__init__.py``, before any compiled module is imported.

``tests/hwsim/test_numba_cache.py`` checks that every module with ``@njit`` functions, and every hwsim
module such a module imports, is covered.
"""
from __future__ import annotations

import hashlib
import os

_HERE = os.path.dirname(os.path.abspath(__file__))

#: folders (all their .py files) and single files, relative to the hwsim package, that compiled code reads
COMPILED_DIRS = ("kernels", "learning", "circuits")
COMPILED_FILES = ("overflow.py", "constants.py")


def compiled_sources() -> list:
    """Absolute paths of the sources the guard hashes, sorted."""
    out = []
    for d in COMPILED_DIRS:
        folder = os.path.join(_HERE, d)
        if os.path.isdir(folder):
            out += [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".py")]
    out += [os.path.join(_HERE, f) for f in COMPILED_FILES]
    return sorted(out)


def source_hash() -> str:
    h = hashlib.sha256()
    for path in compiled_sources():
        with open(path, "rb") as f:
            h.update(os.path.relpath(path, _HERE).encode() + b"\0" + f.read())
    return h.hexdigest()


def drop_stale_cache() -> None:
    """Delete the numba cache files of every compiled folder when the sources' hash changed."""
    digest = source_hash()
    caches = [os.path.join(_HERE, d, "__pycache__") for d in COMPILED_DIRS if os.path.isdir(os.path.join(_HERE, d))]
    try:
        stale = False
        for cache in caches:
            try:
                with open(os.path.join(cache, "hwsim.srchash")) as f:
                    stale |= f.read().strip() != digest
            except OSError:
                stale = True
        if not stale:
            return
        for cache in caches:
            os.makedirs(cache, exist_ok=True)
            for name in os.listdir(cache):
                if name.endswith((".nbi", ".nbc")):
                    try:
                        os.remove(os.path.join(cache, name))
                    except OSError:
                        pass
            with open(os.path.join(cache, "hwsim.srchash"), "w") as f:
                f.write(digest)
    except OSError:  # read-only install: numba falls back to its own checks
        pass
