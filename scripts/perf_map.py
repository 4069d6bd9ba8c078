"""A symbol map of numba's compiled functions for Linux ``perf``, so that a profile of the Simulator names
the kernels (``_forward_sum``, ``learn_phase``, ...) instead of bare addresses.

perf resolves samples in anonymous executable memory (where numba's JIT places machine code) through
``/tmp/perf-<pid>.map``: one line ``<start hex> <size hex> <name>`` per function. :func:`write_map`
writes it for every function of every numba overload loaded in this process, from each overload's
object code (``nm -S`` gives each symbol's size, the loaded library its address).

Functions loaded from numba's on-disk cache carry no object code (numba keeps none for them), so run the
process to profile with an empty cache directory: everything then compiles in this process (minutes)::

    NUMBA_CACHE_DIR=$(mktemp -d) python scripts/perf_map.py ottt --reps 250 &
    # when it prints "ready <pid>":
    perf record -F 2999 -p <pid> -o perf.data -- sleep 8
    perf report -i perf.data --no-children --sort sym --stdio

``ottt`` trains the benchmark's OTTT_O network (``scripts/bench_learning``: 784 -> 512 -> 10,
``samples`` samples per call) ``--reps`` times after writing the map; inside another program, call
:func:`write_map` after the warm-up. Needs ``nm`` (binutils).
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _symbols(obj: bytes):
    """``(name, size)`` of the functions (text symbols) defined in an object file's bytes."""
    with tempfile.NamedTemporaryFile(suffix=".o", delete=False) as f:
        f.write(obj)
        path = f.name
    try:
        out = subprocess.run(["nm", "-S", "--defined-only", path], capture_output=True, text=True,
                             check=True).stdout
    finally:
        os.unlink(path)
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in ("t", "T"):
            yield parts[3], int(parts[1], 16)


def compiled_functions():
    """``{address: (size, name)}`` of every function of every loaded numba CPU overload compiled in this
    process (overloads loaded from the on-disk cache have no object code and are left out)."""
    from numba.core.registry import CPUDispatcher

    if shutil.which("nm") is None:
        raise RuntimeError("scripts/perf_map.py needs `nm` (binutils) on PATH")
    seen, found = set(), {}
    for obj in gc.get_objects():
        if not issubclass(type(obj), CPUDispatcher):     # type(): no __class__ lookup on proxies (torch warns)
            continue
        for cres in list(obj.overloads.values()):
            lib = cres.library
            if id(lib) in seen:
                continue
            seen.add(id(lib))
            try:
                code = lib.serialize_using_object_code()[2][0]
            except RuntimeError:            # "no compiled object yet": loaded from the cache
                continue
            for name, size in _symbols(code):
                addr = lib.get_pointer_to_function(name)
                if addr:
                    found[addr] = (size, name)
    return found


def write_map(path: str | None = None) -> tuple[str, dict]:
    """Write perf's map of :func:`compiled_functions` (default ``/tmp/perf-<pid>.map``); returns
    ``(path, the functions written)``."""
    path = path or f"/tmp/perf-{os.getpid()}.map"
    funcs = compiled_functions()
    tmp = path + ".part"
    with open(tmp, "w") as f:
        for addr in sorted(funcs):
            size, name = funcs[addr]
            f.write(f"{addr:x} {size:x} {name}\n")
    os.replace(tmp, path)
    return path, funcs


def _ottt(reps: int, samples: int) -> None:
    import inspect

    from scripts.bench_learning import _bench_network, simulator_ottt_steps_per_s

    d = {k: p.default for k, p in inspect.signature(simulator_ottt_steps_per_s).parameters.items()}
    chip, X, y, _ = _bench_network(d["n_in"], d["n_hidden"], d["n_out"], d["T"], samples, d["input_rate"], d["seed"],
                                   d["hidden_rate"])                # the bench's network, whatever its defaults
    chip.train(X[:2], y[:2])                             # compile
    path, funcs = write_map()
    print(f"map {path}: {len(funcs)} functions", flush=True)
    if not any("hwsim" in name for _, name in funcs.values()):
        print("perf_map: no hwsim kernel in the map: they were loaded from numba's on-disk cache, which "
              "keeps no object code; run with NUMBA_CACHE_DIR set to an empty directory", file=sys.stderr,
              flush=True)
    print(f"ready {os.getpid()}", flush=True)
    t0 = time.perf_counter()
    for _ in range(reps):
        chip.train(X, y)
    print(f"us/step {1e6 * (time.perf_counter() - t0) / (reps * samples * chip.steps):.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=["ottt"], help="what to run after writing the map")
    ap.add_argument("--reps", type=int, default=250, help="training calls after the map (default 250)")
    ap.add_argument("--samples", type=int, default=200, help="samples per training call (default 200)")
    a = ap.parse_args(argv)
    for name in ("reps", "samples"):
        if getattr(a, name) < 1:
            ap.error(f"--{name}={getattr(a, name)}: must be an integer >= 1")
    _ottt(a.reps, a.samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
