"""Run a quantization study (``rules.study``) on the cell engine of ``rules.cells`` and tabulate it.

``run_study(study, out)`` writes, in the results folder ``out``:

* ``study.json``: the study (its defining fields) and its hash; a folder that holds another study is
  refused (:class:`rules.study.StudyError` naming both hashes) before any cell runs;
* ``cells/<key>.h5``: one record per cell (``rules.cells``, written atomically as each finishes; a
  rerun skips finished cells; a failing cell records its error and the others go on);
* ``checkpoints/<key>.h5``: the float networks of a PTQ study (``rules.checkpoint``), one per
  rule, seed and training setting, shared by every quantization of it;
* ``results.parquet`` and ``results.csv``: the tidy table (:data:`COLUMNS`), one row per point and seed.

Cell functions (``config`` dicts; keys starting with ``_`` are context, not part of the key):
:func:`onchip_cell`, :func:`ptq_train_cell`, :func:`ptq_cell`. Every cell runs torch with one
thread (cells run side by side) and is reproducible from its seed, so the local and the Ray engines
give the same table (timing columns aside).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from .cells import Cell, atomic_output, default_workers, failed, run_cells
from .study import CELL_FNS, Study, StudyError

# the table's columns after the axes (fractions for accuracies; counts over the whole training run
# for on-chip cells, over the test-set evaluation for PTQ cells; energy in joules; wall time in s)
COLUMNS = ("seed", "chip_accuracy", "float_accuracy", "gap_points", "chip_train_accuracy", "float_train_accuracy",
           "mirror_accuracy", "update_cosine_min", "update_cosine_mean", "synaptic_ops", "learning_updates",
           "weight_writes", "energy_J", "energy_learning_J", "overflow_events", "float_source", "status", "error",
           "wall_s", "key", "hwlearn_version", "torch_version", "numpy_version")
TIMING_COLUMNS = ("wall_s",)   # differ between runs of the same cells


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import numpy as np
    import torch

    try:
        hw = version("hwlearn")
    except PackageNotFoundError:
        hw = "unknown"
    return {"hwlearn_version": str(hw), "torch_version": str(torch.__version__), "numpy_version": str(np.__version__)}


def _plain(result: dict) -> dict:
    """Plain JSON types only (what a record stores and reads back identically)."""
    return json.loads(json.dumps(result))


def _config(config: dict) -> tuple[dict, dict]:
    """(the hashed config, the context) of a cell function's argument."""
    return ({k: v for k, v in config.items() if not k.startswith("_")},
            {k: v for k, v in config.items() if k.startswith("_")})


# ------------------------------------------------------------------------------------------ cells

def onchip_cell(config: dict) -> dict:
    """On-chip OTTT (``train_chip``), its float twin when ``twin``, and the update cosines against
    the twin over ``crosscheck_samples`` samples (``rules.crosscheck``, lockstep) when > 0."""
    import torch

    from .crosscheck import crosscheck
    from .onchip import ChipTrainConfig, train_chip

    torch.set_num_threads(1)
    cfg, _ = _config(config)
    chip = ChipTrainConfig(**{**cfg["chip"], "hidden": tuple(cfg["chip"]["hidden"])})
    res = train_chip(chip, twin=bool(cfg["twin"]))
    c = res["chip"]
    out = {"chip_accuracy": c["test_accuracy"], "chip_train_accuracy": c["train_accuracy"],
           "chip_history": [h["test_accuracy"] for h in c["history"]], "chip_seconds": c["seconds"],
           "synaptic_ops": int(c["counters"]["synaptic_ops"]), "learning_updates": int(c["counters"]["synapse_updates"]),
           "weight_writes": int(c["counters"]["weight_writebacks"]), "energy_J": float(c["energy_J"]),
           "energy_learning_J": float(c["energy_learning_J"]), "overflow_events": int(c["overflow_events"]),
           "cores": int(res["mapping"]["cores"]), "lr_eff": [float(v) for v in res["scales"]["lr_eff"]],
           "lr_halvings": [int(v) for v in res["scales"]["lr_halvings"]], **versions()}
    if cfg["twin"]:
        f = res["float"]
        out.update(float_accuracy=f["test_accuracy"], float_train_accuracy=f["train_accuracy"],
                   float_history=[h["test_accuracy"] for h in f["history"]], float_seconds=f["seconds"])
    n = int(cfg.get("crosscheck_samples") or 0)
    if n:
        cc = crosscheck(chip, samples=n, evaluate=False)
        cos = {k: float(v["update_cosine"]) for k, v in cc["layers"].items()}
        out.update(update_cosine_min=min(cos.values()), update_cosine_mean=sum(cos.values()) / len(cos),
                   update_cosines=cos)
    return _plain(out)


def _train_key(train: dict) -> str:
    return Cell(CELL_FNS["ptq-train"], train).key


def ptq_train_cell(config: dict) -> dict:
    """Train the float network of a PTQ study (``rules.train``) and store its checkpoint in
    ``_checkpoints/<key>.h5``."""
    import torch

    from . import checkpoint as ck
    from .train import TrainConfig, train

    torch.set_num_threads(1)
    cfg, ctx = _config(config)
    path = Path(ctx["_checkpoints"]) / f"{_train_key(cfg)}.h5"
    res = train(TrainConfig(**{**cfg, "hidden": tuple(cfg["hidden"])}))
    path.parent.mkdir(parents=True, exist_ok=True)
    ck.save(path, res)
    return {"float_accuracy": float(res.test_accuracy), "float_train_accuracy": float(res.train_accuracy),
            "train_seconds": float(res.seconds), "checkpoint": path.name, **versions()}  # plain types


def ptq_cell(config: dict) -> dict:
    """Quantize a trained float network (its checkpoint from :func:`ptq_train_cell`) with the cell's
    spec, weight bits and scale policy, and evaluate the test set on the chip and in float."""
    import numpy as np
    import torch

    from hwsim.spec import ChipSpec
    from models.quantize import quantize

    from . import checkpoint as ck
    from .chiprun import evaluate
    from .train import TrainConfig, load_data

    torch.set_num_threads(1)
    cfg, ctx = _config(config)
    path = Path(ctx["_checkpoints"]) / f"{_train_key(cfg['train'])}.h5"
    if not path.exists():
        raise FileNotFoundError(f"the float network's checkpoint {path} is missing (its training cell failed)")
    c = ck.load(path)
    net = ck.net_from_checkpoint(c)
    tc = c["config"]
    split = load_data(TrainConfig(dataset=cfg["train"]["dataset"], data_dir=cfg["train"]["data_dir"]))
    x = np.asarray(split.x_test).reshape(len(split.x_test), -1)
    spec = ChipSpec(**cfg["spec"])
    cm = quantize(net, spec, input_graded=tc["encoder"] == "direct", soft_reset="hard",
                  weight_bits=cfg["weight_bits"], scale_policy=cfg["scale_policy"])
    ev = evaluate(cm, x, split.y_test, tc["T"], float_net=net, encoder=tc["encoder"], seed=cfg["train"]["seed"])
    s = ev.summary
    return _plain({"chip_accuracy": s["chip_accuracy"], "float_accuracy": s["float_accuracy"],
                   "mirror_accuracy": s["mirror_accuracy"], "synaptic_ops": int(s["totals"]["synaptic_ops"]),
                   "learning_updates": 0, "weight_writes": 0, "energy_J": float(s["energy_J"]),
                   "overflow_events": int(sum(s["overflow"].values())), "cores": int(s["mapping"]["cores"]),
                   **versions()})


# ------------------------------------------------------------------------------------------ running

def check_folder(study: Study, out) -> Path:
    """Refuse a results folder that holds another study (both hashes named); else record this one."""
    from hwsim.io import atomic_write_bytes

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StudyError(f"results folder {str(out)!r} exists and is not a folder")
    meta = out / "study.json"
    if meta.exists():
        try:
            held = json.loads(meta.read_text())["hash"]
        except (ValueError, KeyError, TypeError):
            raise StudyError(f"results folder {str(out)!r}: {meta.name} is unreadable; not overwriting it") from None
        if held != study.hash:
            raise StudyError(f"results folder {str(out)!r} holds study {held}, this study is {study.hash}; "
                             "use another folder (or delete that one)")
    elif out.exists() and any(out.iterdir()):
        raise StudyError(f"results folder {str(out)!r} is not empty and holds no study.json; use an empty or new folder")
    else:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(meta, json.dumps({"hash": study.hash, "name": study.name, "study": study.as_dict()},
                                            indent=1).encode())
    return out


def preflight(study: Study, entries=None) -> int:
    """Build every on-chip cell's network before any cell runs (its scales, weight exponents and
    learning rates, and its mapping onto cores: what ``ChipTrainConfig`` cannot check alone);
    StudyError names the point. Returns the number of distinct networks built."""
    if study.base != "onchip":
        return 0
    from hwsim.spec import SpecError

    from .onchip import ChipTrainConfig, build, load_split

    entries = study.cells() if entries is None else entries
    split, seen = None, set()
    for point, seed, cell, ref in entries:
        for c in (cell, ref):
            if c is None:
                continue
            chip = c.config["chip"]
            k = json.dumps(chip, sort_keys=True)
            if k in seen:
                continue
            seen.add(k)
            cfg = ChipTrainConfig(**{**chip, "hidden": tuple(chip["hidden"])})
            try:
                split = split if split is not None else load_split(cfg)
                model, _, _ = build(cfg, split)
                model.chip.mapping()
            except (SpecError, ValueError) as exc:
                desc = ", ".join(f"{a}={v}" for a, v in point.items())
                raise StudyError(f"point {{{desc}}} seed {seed}: {exc}") from None
    return len(seen)


class _Progress:
    """A tqdm bar over cells, with the best chip accuracy so far."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        self.best = None
        self.failed = 0
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc="sweep", unit="cell")

    def __call__(self, res) -> None:
        r = res.result
        if failed(r):
            self.failed += 1
        elif r.get("chip_accuracy") is not None:
            self.best = max(self.best or 0.0, r["chip_accuracy"])
        if self.bar is not None:
            post = {} if self.best is None else {"best": f"{100 * self.best:.2f}%"}
            if self.failed:
                post["failed"] = self.failed
            self.bar.set_postfix(post)
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run_study(study: Study, out, engine: str = "local", workers: Optional[int] = None,
              ray_address: Optional[str] = None, progress: bool = False, retry_failed: bool = False):
    """Run (or resume) every cell of ``study`` into ``out``; write and return the table (pandas)."""
    entries = study.cells()
    preflight(study, entries)
    out = check_folder(study, out)
    workers = workers or default_workers()
    store = out / "cells"
    ctx = {"_checkpoints": str((out / "checkpoints").resolve())}
    kw = dict(workers=workers, catch_errors=True, retry_failed=retry_failed, engine=engine, ray_address=ray_address)
    if study.base == "ptq":
        trains = list({e[3].key: Cell(e[3].fn, e[3].config, ctx) for e in entries}.values())
        evals = [Cell(e[2].fn, e[2].config, ctx) for e in entries]
        bar = _Progress(len(trains) + len({c.key for c in evals}), progress)
        try:
            tres = {r.key: r for r in run_cells(trains, store, on_done=bar, **kw)}
            eres = {r.key: r for r in run_cells(evals, store, on_done=bar, **kw)}
        finally:
            bar.close()
        refs = {e[3].key: tres[e[3].key] for e in entries}
        res = eres
    else:
        cells = [e[2] for e in entries] + [e[3] for e in entries if e[3] is not None]
        # the float-twin cells take longest (~20 s per epoch): start them first, not as the tail
        cells.sort(key=lambda c: not c.config.get("twin"))
        bar = _Progress(len({c.key for c in cells}), progress)
        try:
            res = {r.key: r for r in run_cells(cells, store, on_done=bar, **kw)}
        finally:
            bar.close()
        refs = {e[3].key: res[e[3].key] for e in entries if e[3] is not None}
    df = table(study, entries, res, refs)
    write_table(df, out)
    return df


def _axis_value(v):
    return "-".join(str(h) for h in v) if isinstance(v, list) else v


def table(study: Study, entries, res: dict, refs: dict):
    """The tidy table: one row per (point, seed), axis columns first, then :data:`COLUMNS`."""
    import pandas as pd

    rows = []
    for point, seed, cell, ref in entries:
        r = res[cell.key].result
        row = {a: _axis_value(point.get(a)) for a in study.axes}
        row.update(seed=seed, key=cell.key, wall_s=res[cell.key].seconds)
        if failed(r):
            row.update(status="error", error=r["error"])
            rows.append(row)
            continue
        row.update({k: r.get(k) for k in COLUMNS if k in r and k not in ("seed", "key", "wall_s")})
        row.update(status="ok", error=None)
        if study.base == "ptq":
            row["float_source"] = "float"
        elif ref is not None:             # the float accuracy of the reference cell's twin
            rr = refs[ref.key].result
            row["float_source"] = "reference"
            if failed(rr):
                row.update(float_accuracy=None, float_train_accuracy=None,
                           error=f"reference cell {ref.key} failed: {rr['error']}")
            else:
                row.update(float_accuracy=rr.get("float_accuracy"), float_train_accuracy=rr.get("float_train_accuracy"))
        else:
            row["float_source"] = "twin" if r.get("float_accuracy") is not None else "none"
        if row.get("float_accuracy") is not None and row.get("chip_accuracy") is not None:
            row["gap_points"] = 100.0 * (row["float_accuracy"] - row["chip_accuracy"])
        rows.append(row)
    cols = list(study.axes) + [c for c in COLUMNS if c not in study.axes]
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df:
            df[c] = None
    df = df[cols]
    for c in ("chip_accuracy", "float_accuracy", "gap_points", "chip_train_accuracy", "float_train_accuracy",
              "mirror_accuracy", "update_cosine_min", "update_cosine_mean", "energy_J", "energy_learning_J", "wall_s"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    for c in ("synaptic_ops", "learning_updates", "weight_writes", "overflow_events"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    return df


def write_table(df, out) -> None:
    out = Path(out)
    with atomic_output(out / "results.parquet") as tmp:
        df.to_parquet(tmp, index=False)
    with atomic_output(out / "results.csv") as tmp:
        df.to_csv(tmp, index=False)


def load_table(results):
    """The table of a results folder (``results.parquet``), with its study."""
    import pandas as pd

    results = Path(results)
    pq, meta = results / "results.parquet", results / "study.json"
    if not results.is_dir():
        raise StudyError(f"results folder {str(results)!r} does not exist")
    if not pq.exists() or not meta.exists():
        raise StudyError(f"results folder {str(results)!r} holds no finished sweep (results.parquet and study.json)")
    return pd.read_parquet(pq), json.loads(meta.read_text())
