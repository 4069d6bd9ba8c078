"""rules.cells: keys, resume (finished cells are not run again), damaged records, the process pool."""
import os

import pytest

from rules.cells import Cell, run_cells

CELL_MODULE = """
import os
from pathlib import Path

def count_run(config):
    # leaves one marker file per execution; returns x squared and the process id
    d = Path(config["dir"])
    (d / f"ran-{config['x']}-{os.getpid()}-{len(os.listdir(d))}").write_text("")
    return {"y": config["x"] ** 2, "pid": os.getpid()}
"""
FN = "hwlearn_cells_testfn:count_run"


@pytest.fixture(autouse=True)
def cell_module(tmp_path, monkeypatch):
    """The cell function lives in a module written here, importable here and in pool workers."""
    mod_dir = tmp_path / "mod"
    mod_dir.mkdir()
    (mod_dir / "hwlearn_cells_testfn.py").write_text(CELL_MODULE)
    monkeypatch.syspath_prepend(str(mod_dir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(mod_dir), os.environ.get("PYTHONPATH", "")]))


def runs(d):
    return len([p for p in os.listdir(d) if p.startswith("ran-")])


def test_key_depends_on_the_whole_config_only():
    a = Cell(FN, {"x": 1, "nested": {"a": 1, "b": 2}})
    b = Cell(FN, {"nested": {"b": 2, "a": 1}, "x": 1})
    assert a.key == b.key and len(a.key) == 16
    assert Cell(FN, {"x": 1, "nested": {"a": 1, "b": 3}}).key != a.key
    assert Cell("other.mod:count_run", a.config).key != a.key
    with pytest.raises(ValueError, match="JSON"):
        Cell(FN, {"x": object()})
    with pytest.raises(ValueError, match="module:function"):
        Cell("nofn", {})


def test_rerun_skips_finished_cells_and_reruns_damaged_ones(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    store = tmp_path / "store"
    cells = [Cell(FN, {"x": x, "dir": str(marks)}) for x in (1, 2, 3)]
    first = run_cells(cells, store)
    assert [r.result["y"] for r in first] == [1, 4, 9] and not any(r.cached for r in first)
    assert runs(marks) == 3 and len(list(store.glob("*.h5"))) == 3
    second = run_cells(cells + [Cell(FN, {"x": 4, "dir": str(marks)})], store)
    assert [r.cached for r in second] == [True, True, True, False]
    assert [r.result["y"] for r in second] == [1, 4, 9, 16]
    assert runs(marks) == 4                                   # only the new cell ran
    (store / f"{cells[1].key}.h5").write_bytes(b"not hdf5")    # damaged record -> run again
    third = run_cells(cells, store)
    assert [r.cached for r in third] == [True, False, True] and runs(marks) == 5
    assert not list(store.glob(".*tmp*"))                      # no temporary files left


def test_process_pool_runs_cells_in_other_processes(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    cells = [Cell(FN, {"x": x, "dir": str(marks)}) for x in range(3)]
    out = run_cells(cells, tmp_path / "store", workers=2)
    assert [r.result["y"] for r in out] == [0, 1, 4]
    assert all(r.result["pid"] != os.getpid() for r in out)
    with pytest.raises(ValueError, match="workers=0"):
        run_cells(cells, tmp_path / "store", workers=0)
