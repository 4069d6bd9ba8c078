"""rules.cells options used by hwlearn sweep: recorded errors, retrying them, context outside the key."""
import os

import pytest

from rules.cells import Cell, failed, run_cells

CELL_MODULE = """
import os
from pathlib import Path

def maybe_fail(config):
    d = Path(config["_marks"])
    (d / f"ran-{config['x']}-{len(os.listdir(d))}").write_text("")
    if config["x"] == 2 and not (d / "fixed").exists():
        raise ValueError("x=2 is unlucky")
    return {"y": config["x"] * 10}
"""
FN = "hwlearn_cells_optfn:maybe_fail"


@pytest.fixture(autouse=True)
def cell_module(tmp_path, monkeypatch):
    mod_dir = tmp_path / "mod"
    mod_dir.mkdir()
    (mod_dir / "hwlearn_cells_optfn.py").write_text(CELL_MODULE)
    monkeypatch.syspath_prepend(str(mod_dir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(mod_dir), os.environ.get("PYTHONPATH", "")]))


def test_context_is_passed_but_not_hashed(tmp_path):
    a = Cell(FN, {"x": 1}, {"_marks": "/a"})
    b = Cell(FN, {"x": 1}, {"_marks": "/b"})
    assert a.key == b.key == Cell(FN, {"x": 1}).key and a == b


@pytest.mark.parametrize("workers", [1, 2])
def test_errors_are_recorded_kept_and_retried(tmp_path, workers):
    marks = tmp_path / "marks"
    marks.mkdir()
    cells = [Cell(FN, {"x": x}, {"_marks": str(marks)}) for x in (1, 2, 3)]
    store = tmp_path / "store"
    with pytest.raises(ValueError, match="unlucky"):           # default: an error stops the run
        run_cells(cells, store, workers=workers)
    out = run_cells(cells, store, workers=workers, catch_errors=True)
    assert [failed(r.result) for r in out] == [False, True, False]
    assert out[1].result["error"] == "ValueError: x=2 is unlucky" and "Traceback" in out[1].result["traceback"]
    n = len(list(marks.glob("ran-*")))
    again = run_cells(cells, store, workers=workers, catch_errors=True)
    assert all(r.cached for r in again) and len(list(marks.glob("ran-*"))) == n     # the failure is kept
    (marks / "fixed").write_text("")
    retry = run_cells(cells, store, workers=workers, catch_errors=True, retry_failed=True)
    assert [r.cached for r in retry] == [True, False, True] and retry[1].result == {"y": 20}


def test_bad_engine_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"engine='spark' is not one of \('local', 'ray'\)"):
        run_cells([Cell(FN, {"x": 1})], tmp_path, engine="spark")
