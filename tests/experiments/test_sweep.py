"""hwlearn sweep runs: local vs Ray tables, kill-and-resume, failing cells, the report's numbers and plots."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rules.study import parse_study
from rules.sweep import TIMING_COLUMNS, load_table, run_study
from rules.sweep_report import format_summary, pareto_front, plots, summarize, within_float

ROOT = Path(__file__).resolve().parents[2]
# 4 points x 2 seeds of a tiny on-chip network (seconds per cell)
TINY = {"name": "tiny", "base": "onchip", "epochs": 2, "limit": 64, "seeds": [0, 1], "crosscheck_samples": 8,
        "fixed": {"hidden": [16], "T": 4, "in_bits": "auto", "timing": "chip"},
        "axes": {"weight_bits": [6, 8], "trace_bits": [5, 7]}}
TOML = """name = "tiny"
base = "onchip"
epochs = 2
limit = 64
seeds = [0, 1]
crosscheck_samples = 8
[fixed]
hidden = [16]
T = 4
in_bits = "auto"
timing = "chip"
[axes]
weight_bits = [6, 8]
trace_bits = [5, 7]
"""


def _results(df):
    return df.drop(columns=list(TIMING_COLUMNS)).reset_index(drop=True)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "res"
    df = run_study(parse_study(TINY), out, workers=1)
    return out, df


def test_local_table_is_tidy(local_run):
    out, df = local_run
    assert len(df) == 8 and (df.status == "ok").all()
    assert list(df.columns[:3]) == ["weight_bits", "trace_bits", "seed"]
    assert sorted(zip(df.weight_bits, df.trace_bits, df.seed)) == sorted(
        (w, t, s) for w in (6, 8) for t in (5, 7) for s in (0, 1))
    for c in ("chip_accuracy", "float_accuracy", "update_cosine_min", "energy_J"):
        assert df[c].between(0, 1).all() if "accuracy" in c else df[c].notna().all()
    assert (df.synaptic_ops > 0).all() and (df.learning_updates > 0).all() and (df.weight_writes > 0).all()
    np.testing.assert_allclose(df.gap_points, 100 * (df.float_accuracy - df.chip_accuracy))
    assert (df.update_cosine_min <= df.update_cosine_mean + 1e-12).all()
    back = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(back, df)
    csv = pd.read_csv(out / "results.csv")
    np.testing.assert_allclose(csv.chip_accuracy, df.chip_accuracy)
    assert len(list((out / "cells").glob("*.h5"))) == 8
    assert json.loads((out / "study.json").read_text())["hash"] == parse_study(TINY).hash


def test_ray_engine_gives_the_same_table(local_run, tmp_path, ray_pkg):
    """A local Ray started here runs the same cells: the table is identical to the local engine's."""
    _, local = local_run
    df = run_study(parse_study(TINY), tmp_path / "ray", engine="ray", workers=2)
    pd.testing.assert_frame_equal(_results(df), _results(local))


def test_kill_and_resume(local_run, tmp_path):
    """Kill a sweep (SIGKILL) once its first records exist; the rerun does not run those cells again
    (their records are untouched) and its table equals the uninterrupted run's."""
    _, local = local_run
    study = tmp_path / "tiny.toml"
    study.write_text(TOML)
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "scripts.cli", "sweep", str(study), "--out", str(out), "--workers", "1",
           "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cells = out / "cells"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list(cells.glob("*.h5")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in cells.glob("*.h5")}
    assert 1 <= len(before) < 8, f"{len(before)} records when killed"
    assert not (out / "results.parquet").exists()
    from hwsim.io import load_run
    for p in cells.glob("*.h5"):                                               # no half-written record
        assert load_run(p, rebuild=False)["key"] == p.stem
    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    after = {p.name: p.stat().st_mtime_ns for p in cells.glob("*.h5")}
    assert len(after) == 8
    assert all(after[k] == v for k, v in before.items())                      # finished cells not run again
    df, _ = load_table(out)
    pd.testing.assert_frame_equal(_results(df), _results(local))


def test_failing_cell_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    import rules.onchip as onchip

    real = onchip.train_chip

    def flaky(cfg, **kw):
        if cfg.weight_bits == 6 and cfg.trace_bits == 7:
            raise RuntimeError("boom at 6/7")
        return real(cfg, **kw)

    monkeypatch.setattr(onchip, "train_chip", flaky)
    study = parse_study({**TINY, "epochs": 1, "crosscheck_samples": 0})
    df = run_study(study, tmp_path / "r", workers=1)
    bad = df[df.status == "error"]
    assert sorted(zip(bad.weight_bits, bad.trace_bits)) == [(6, 7), (6, 7)]
    assert bad.error.str.contains("RuntimeError: boom at 6/7").all() and bad.chip_accuracy.isna().all()
    assert (df[df.status == "ok"].chip_accuracy.notna()).sum() == 6
    from hwsim.io import load_run
    rec = load_run(tmp_path / "r" / "cells" / f"{bad.key.iloc[0]}.h5", rebuild=False)
    assert "boom at 6/7" in rec["result"]["error"] and "Traceback" in rec["result"]["traceback"]
    text = format_summary(df, json.loads((tmp_path / "r" / "study.json").read_text()))
    assert "6 finished, 2 failed" in text and "boom at 6/7" in text
    # a rerun keeps the recorded failure; --retry-failed runs it again (now it succeeds)
    monkeypatch.setattr(onchip, "train_chip", real)
    assert (run_study(study, tmp_path / "r", workers=1).status == "error").sum() == 2
    assert (run_study(study, tmp_path / "r", workers=1, retry_failed=True).status == "ok").all()


def _hand_table(tmp_path):
    """A results folder with hand-chosen numbers (2 x 2 points, 2 seeds)."""
    rows = []
    chip = {(4, 5): (0.80, 0.82), (4, 7): (0.895, 0.905), (8, 5): (0.89, 0.90), (8, 7): (0.90, 0.91)}
    energy = {(4, 5): 1.0e-3, (4, 7): 2.0e-3, (8, 5): 3.0e-3, (8, 7): 4.0e-3}
    for (w, t), accs in chip.items():
        for seed, a in enumerate(accs):
            rows.append(dict(weight_bits=w, trace_bits=t, seed=seed, chip_accuracy=a, float_accuracy=0.90,
                             gap_points=100 * (0.90 - a), update_cosine_min=0.5 + 0.05 * w + 0.01 * t,
                             energy_J=energy[(w, t)], status="ok", error=None))
    df = pd.DataFrame(rows)
    out = tmp_path / "hand"
    out.mkdir()
    df.to_parquet(out / "results.parquet", index=False)
    meta = {"hash": "0123456789abcdef", "name": "hand",
            "study": {"base": "onchip", "axes": ["weight_bits", "trace_bits"], "seeds": [0, 1]}}
    (out / "study.json").write_text(json.dumps(meta))
    return out


def test_report_numbers_against_a_hand_computed_table(tmp_path):
    out = _hand_table(tmp_path)
    df, meta = load_table(out)
    s = summarize(df, ["weight_bits", "trace_bits"]).set_index(["weight_bits", "trace_bits"])
    assert s.loc[(4, 5), "chip_accuracy_mean"] == pytest.approx(0.81)
    assert s.loc[(4, 5), "chip_accuracy_std"] == pytest.approx(0.02 / np.sqrt(2))     # sample std of 2 values
    assert s.loc[(8, 7), "chip_accuracy_mean"] == pytest.approx(0.905)
    assert s.loc[(4, 7), "gap_points_mean"] == pytest.approx(0.0)
    within, smallest = within_float(s.reset_index(), ["weight_bits", "trace_bits"], 1.0)
    assert sorted(zip(within.weight_bits, within.trace_bits)) == [(4, 7), (8, 5), (8, 7)]   # (4, 5): 9 points off
    assert sorted(zip(smallest.weight_bits, smallest.trace_bits)) == [(4, 7), (8, 5)]        # (8, 7) is dominated
    text = format_summary(df, meta)
    assert "81.00 ± 1.41" in text and "90.00 ± 0.71" in text
    assert "3 point(s) within 1 point(s) of float; smallest widths:" in text
    assert "weight_bits=4, trace_bits=7: chip 90.00 %" in text and "weight_bits=8, trace_bits=5" in text
    assert "weight_bits=8, trace_bits=7: chip" not in text
    assert "no point is within" in format_summary(df, meta, tol_points=-20)


def test_pareto_front():
    energy = np.array([1.0, 2.0, 3.0, 2.5, 4.0])
    acc = np.array([0.5, 0.8, 0.9, 0.7, 0.9])
    assert pareto_front(energy, acc).tolist() == [0, 1, 2]


def test_report_writes_the_plots(tmp_path, capsys):
    from scripts.cli import main

    out = _hand_table(tmp_path)
    rc = main(["sweep", "report", str(out)])
    assert rc == 0
    names = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert names == ["accuracy_vs_trace_bits.png", "accuracy_vs_weight_bits.png", "energy_vs_accuracy.png",
                     "heatmap_weight_bits_trace_bits.png", "update_cosine_vs_bits.png"]
    for n in names:
        data = (out / "plots" / n).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    printed = capsys.readouterr().out
    assert "smallest widths" in printed and printed.count("wrote ") == 5
    df, meta = load_table(out)
    assert len(plots(df, meta, tmp_path / "again")) == 5


def test_a_chip_timing_cell_runs(tmp_path):
    """The default on-chip backend (timing='chip', the OTTT network on the Simulator) through a sweep."""
    study = parse_study({"base": "onchip", "epochs": 1, "limit": 64, "seeds": [0], "crosscheck_samples": 8,
                         "fixed": {"hidden": [32]}, "axes": {"weight_bits": [8]}})
    assert study.cells()[0][2].config["chip"]["timing"] == "chip"
    df = run_study(study, tmp_path / "r", workers=1)
    r = df.iloc[0]
    assert r.status == "ok" and 0 <= r.chip_accuracy <= 1 and 0 <= r.float_accuracy <= 1
    assert r.synaptic_ops > 0 and r.learning_updates > 0 and -1 <= r.update_cosine_min <= 1
