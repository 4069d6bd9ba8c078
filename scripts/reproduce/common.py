"""What the four reproduction scripts share: running a claim's cells, tidy tables, plots, printing.

A claim module (``scripts/reproduce/<claim>.py``) defines

* ``SEEDS``: default seeds per mode; ``cells(mode, seeds) -> list[rules.cells.Cell]``;
* ``report(tables, out_dir) -> Report``: the summary tables, the plots and the measured verdict
  inputs (notes), from the tidy tables.

``run_claim`` runs the cells (resumable, ``rules.cells``), builds the tidy tables

* ``results``: one row per cell: its configuration (flattened), scalar measurements, key, wall seconds;
* ``epochs``: one row per cell and epoch (``history``; its ``loss`` value is ``train_loss``);
* ``health``: one row per cell, phase (``init`` / ``final``) and spiking layer (``layer``, ``layer_kind``);

writes them as CSV (and Parquet when pyarrow is installed) under ``OUT/<claim>/``, asks the claim
for its report, writes ``summary_<name>.csv`` and the PNGs, and returns everything. Modes: ``full`` (what
docs/reproductions.md shows), ``quick`` (minutes), ``test`` (seconds; the test suite's size).
"""
from __future__ import annotations

import importlib
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rules.cells import Cell, CellResult, atomic_output, run_cells

from . import CLAIMS

MODES = ("test", "quick", "full")
CELL_FN = "rules.experiment:run"
RENAMED_EPOCH = {"loss": "train_loss"}      # history fields named like config columns
RENAMED_HEALTH = {"kind": "layer_kind", "index": "layer"}
CONFIG_COLUMNS = ("kind", "arch", "rule", "T", "truncation", "block_size", "init", "loss", "depth", "width",
                  "epochs", "lr", "batch_size", "seed")


@dataclass
class Report:
    """A claim's summary tables (name -> DataFrame), verdict notes (text lines) and plot paths."""

    summary: dict
    notes: list = field(default_factory=list)
    plots: list = field(default_factory=list)


@dataclass
class ClaimOutput:
    claim: str
    mode: str
    out_dir: Path
    tables: dict
    report: Report
    ran: int
    cached: int
    seconds: float


def cell(**config) -> Cell:
    """A cell of the shared experiment function ``rules.experiment.run``."""
    return Cell(CELL_FN, config)


def _flat_config(config: dict) -> dict:
    row = {k: config.get(k) for k in CONFIG_COLUMNS if k in config}
    data = config.get("data", {})
    row["data"] = data.get("name")
    if "widths" in config:
        row["widths"] = "x".join(str(w) for w in config["widths"])
    return row


def tidy(results: list[CellResult]) -> dict[str, pd.DataFrame]:
    """The ``results`` / ``epochs`` / ``health`` tables (module docstring) of finished cells."""
    rows, epochs, health = [], [], []
    for r in results:
        base = _flat_config(r.config)
        scal = {k: v for k, v in r.result.items() if not isinstance(v, (list, dict))}
        rows.append({**base, **scal, "key": r.key, "cell_seconds": r.seconds, "cached": r.cached})
        for h in r.result.get("history", []):       # the epoch's loss value must not hide the config's loss
            epochs.append({**base, "key": r.key, **{RENAMED_EPOCH.get(k, k): v for k, v in h.items()}})
        for phase in ("init", "final"):
            for h in r.result.get(f"health_{phase}", []):
                health.append({**base, "key": r.key, "phase": phase,
                               **{RENAMED_HEALTH.get(k, k): v for k, v in h.items()}})
    return {"results": pd.DataFrame(rows), "epochs": pd.DataFrame(epochs), "health": pd.DataFrame(health)}


def write_table(df: pd.DataFrame, path_stem: Path) -> list[Path]:
    """``<stem>.csv`` and, when pyarrow is installed, ``<stem>.parquet`` (each written atomically)."""
    out = []
    with atomic_output(path_stem.with_suffix(".csv")) as tmp:
        df.to_csv(tmp, index=False)
    out.append(path_stem.with_suffix(".csv"))
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return out
    with atomic_output(path_stem.with_suffix(".parquet")) as tmp:
        df.to_parquet(tmp, index=False)
    out.append(path_stem.with_suffix(".parquet"))
    return out


def save_figure(fig, path: Path) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def mean_std(df: pd.DataFrame, by: list, cols: list) -> pd.DataFrame:
    """Mean and std (over seeds) of ``cols`` per group ``by``; std is 0 for a single seed."""
    g = df.groupby(by, dropna=False)[cols]
    m, s = g.mean(), g.std(ddof=1).fillna(0.0)
    out = m.copy()
    for c in cols:
        out[c + "_std"] = s[c]
    out["n_seeds"] = g.size()
    return out.reset_index()


def run_claim(claim: str, mode: str = "quick", out=Path("runs/reproduce"), seeds=None, workers: int = 1,
              echo=print) -> ClaimOutput:
    """Run one claim's cells (resumable), write its tables and plots, return them."""
    if claim not in CLAIMS:
        raise ValueError(f"claim={claim!r} is not one of {CLAIMS}")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of {MODES}")
    mod = importlib.import_module(f"scripts.reproduce.{claim}")
    seeds = list(mod.SEEDS[mode] if not seeds else seeds)
    cells = mod.cells(mode, seeds)
    out_dir = Path(out) / claim
    counter = {"new": 0, "cached": 0}

    def done(r: CellResult):
        counter["cached" if r.cached else "new"] += 1
        if echo and not r.cached:
            c = r.config
            echo(f"[{claim}] cell {r.key} done in {r.seconds:.1f} s: {c.get('rule')} {c.get('arch')} "
                 f"{c.get('data', {}).get('name')} T={c.get('T')} seed={c.get('seed')}")

    t0 = time.perf_counter()
    results = run_cells(cells, out_dir / "cells", workers=workers, on_done=done)
    tables = tidy(results)
    for name, df in tables.items():
        if len(df):
            write_table(df, out_dir / name)
    rep = mod.report(tables, out_dir)
    for name, df in rep.summary.items():
        write_table(df, out_dir / f"summary_{name}")
    meta = {"claim": claim, "mode": mode, "seeds": seeds, "workers": workers, "cells": len(cells),
            "ran": counter["new"], "cached": counter["cached"], "seconds": time.perf_counter() - t0,
            "python": platform.python_version(), "machine": platform.machine(),
            "data_used": sorted(set(tables["results"].get("data_used", pd.Series(dtype=str)).dropna()))}
    with atomic_output(out_dir / "run.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2))
    return ClaimOutput(claim, mode, out_dir, tables, rep, counter["new"], counter["cached"], meta["seconds"])


def format_output(res: ClaimOutput) -> str:
    """The printed form: data used, the summary table, the notes, where the files are."""
    lines = [f"== {res.claim} ({res.mode}): {res.ran} cells run, {res.cached} reused, {res.seconds:.0f} s"]
    used = sorted(set(res.tables["results"].get("data_used", pd.Series(dtype=str)).dropna()))
    lines += [f"data: {u}" for u in used]
    with pd.option_context("display.width", 200, "display.max_columns", 40, "display.max_rows", 200):
        for name, df in res.report.summary.items():
            lines.append(f"-- {name}")
            shown = [c for c in df.columns if not c.endswith("_std") or c == "final_test_acc_std"]
            lines.append(df[shown].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    lines += res.report.notes
    lines.append(f"tables and plots: {res.out_dir}/ ({', '.join(p.name for p in res.report.plots)})")
    return "\n".join(lines)
