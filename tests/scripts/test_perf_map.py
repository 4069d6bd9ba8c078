"""scripts/perf_map.py: the map names numba's functions at the addresses where their machine code runs."""
import ctypes

import pytest
from numba import njit

from scripts import perf_map


@njit(cache=False)
def _triple_plus_seven(x):
    return 3 * x + 7


def _entries(path):
    out = []
    with open(path) as f:
        for line in f:
            start, size, name = line.rstrip("\n").split(" ", 2)
            out.append((int(start, 16), int(size, 16), name))
    return out


def test_the_map_points_at_the_function_machine_code(tmp_path):
    assert _triple_plus_seven(1) == 10                       # compiled in this process: object code kept
    path, funcs = perf_map.write_map(str(tmp_path / "perf.map"))
    entries = _entries(path)
    assert len(funcs) == len(entries) > 0
    mine = [e for e in entries if "_triple_plus_seven" in e[2] and not e[2].startswith(("cfunc.", "_ZN7cpython"))]
    assert len(mine) == 1
    start, size, name = mine[0]
    assert size > 0
    # oracle: call the machine code at that address with numba's native calling convention
    # (int status(int64 *ret, void **excinfo, int64 x)); it computes the function
    proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_void_p),
                             ctypes.c_int64)
    fn = proto(start)
    for x in (0, 5, -11, 1 << 40):
        ret, exc = ctypes.c_int64(0), ctypes.c_void_p(0)
        assert fn(ctypes.byref(ret), ctypes.byref(exc), x) == 0
        assert ret.value == 3 * x + 7
    # perf attributes a sample to the one range holding it: the ranges, in address order, do not overlap
    assert [e[0] for e in entries] == sorted(e[0] for e in entries)
    for (s0, n0, a), (s1, _, b) in zip(entries, entries[1:]):
        assert s0 + n0 <= s1, (a, b)


@pytest.mark.parametrize("flag", ["--reps", "--samples"])
def test_bad_counts_are_refused_before_any_work(flag, capsys):
    with pytest.raises(SystemExit) as exc:
        perf_map.main(["ottt", flag, "0"])
    assert exc.value.code == 2
    assert f"{flag}=0: must be an integer >= 1" in capsys.readouterr().err
