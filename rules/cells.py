"""Cells: resumable, parallel runs of one function over many configurations.

A **cell** is one call ``fn(config) -> dict`` with a JSON-serialisable ``config`` (seed included).
Its key is the SHA-256 of the canonical JSON of ``{"fn": fn, "config": config}`` (sorted keys, no
whitespace), first 16 hex digits: two cells with the same function and the same full configuration
share a key, any changed field gives a new one.

``run_cells(cells, store)`` runs every cell whose record ``store/<key>.h5`` does not exist yet and
writes the record when the cell finishes, through ``hwsim.io.save_run`` (temporary file, then
rename: a killed run leaves no half-written record). A rerun loads the finished records and runs
only the missing cells; a record that cannot be read back (damaged) is run again. Cells run in the
calling process (``workers=1``) or in a local process pool (``spawn`` start method, so a worker
never inherits torch's thread pools) of ``workers`` processes.

The record holds ``{"key", "fn", "config", "result", "seconds"}``; ``seconds`` is the cell's wall
time. The cell function must be importable by name (``"package.module:function"``) so that pool
workers can find it.

Options used by ``hwlearn sweep`` (``rules.sweep``), all off by default:

* ``catch_errors=True``: a cell that raises is recorded as finished with the result
  ``{"error": "Type: message", "traceback": ...}`` (see :func:`failed`) and the other cells go on;
  a rerun does not run it again (``retry_failed=True`` does).
* ``engine="ray"``: the same cells run as Ray tasks (``ray.init(address=ray_address)``, a local Ray
  when None); the calling process writes every record, so the store is the same as the local
  engine's. Workers must see the store's filesystem and import this package.
* ``Cell.context``: values passed to the cell function with its config but not part of its key
  (e.g. a folder of shared artefacts).

This is the engine ``hwlearn reproduce`` and ``hwlearn sweep`` use.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Sequence

KEY_DIGITS = 16  # hex digits of the SHA-256 kept as the key (64 bits)


def canonical_json(obj) -> str:
    """The canonical JSON text hashed into a key: sorted keys, no whitespace, plain floats."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class Cell:
    """One configuration of ``fn`` (``"module:function"``); ``config`` must be JSON-serialisable."""

    fn: str
    config: dict = field(default_factory=dict)
    context: dict = field(default_factory=dict, compare=False)   # passed to fn, not hashed

    def __post_init__(self):
        if ":" not in self.fn:
            raise ValueError(f"fn={self.fn!r} must be 'package.module:function'")
        try:
            canonical_json(self.config)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"config of cell {self.fn} is not JSON-serialisable: {exc}") from None

    @property
    def key(self) -> str:
        text = canonical_json({"fn": self.fn, "config": self.config})
        return hashlib.sha256(text.encode()).hexdigest()[:KEY_DIGITS]


@dataclass(frozen=True)
class CellResult:
    """A finished cell: its key, config, the function's result, wall seconds, and whether it was
    loaded from the store (``cached``) rather than run now."""

    key: str
    config: dict
    result: dict
    seconds: float
    cached: bool


def resolve(fn: str) -> Callable[[dict], dict]:
    """Import ``"module:function"``."""
    mod, _, name = fn.partition(":")
    try:
        return getattr(importlib.import_module(mod), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cell function {fn!r} cannot be imported: {exc}") from None


ENGINES = ("local", "ray")


def failed(result: dict) -> bool:
    """Whether a cell's result is a recorded error (``catch_errors``)."""
    return isinstance(result, dict) and "error" in result and "traceback" in result


def _execute(fn: str, config: dict, context: dict | None = None, catch: bool = False) -> tuple[dict, float]:
    t0 = time.perf_counter()
    try:
        result = resolve(fn)({**config, **(context or {})})
        if not isinstance(result, dict):
            raise TypeError(f"cell function {fn} returned {type(result).__name__}, expected a dict")
    except Exception as exc:
        if not catch:
            raise
        import traceback

        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    return result, time.perf_counter() - t0


def record_path(store, key: str) -> Path:
    return Path(store) / f"{key}.h5"


def load_record(store, cell: Cell) -> CellResult | None:
    """The finished record of ``cell`` in ``store``, or None if absent or unreadable."""
    from hwsim.io import load_run

    path = record_path(store, cell.key)
    if not path.exists():
        return None
    try:
        rec = load_run(path, rebuild=False)
    except Exception:           # damaged record: run the cell again
        return None
    if not isinstance(rec, dict) or rec.get("key") != cell.key:
        return None
    return CellResult(cell.key, cell.config, rec["result"], float(rec["seconds"]), True)


def save_record(store, cell: Cell, result: dict, seconds: float) -> Path:
    """Write the record of a finished cell atomically (``hwsim.io.save_run``)."""
    from hwsim.io import save_run

    Path(store).mkdir(parents=True, exist_ok=True)
    rec = {"key": cell.key, "fn": cell.fn, "config": cell.config, "result": result, "seconds": float(seconds)}
    return save_run(rec, record_path(store, cell.key))


def run_cells(cells: Sequence[Cell], store, workers: int = 1,
              on_done: Callable[[CellResult], None] | None = None, *, catch_errors: bool = False,
              retry_failed: bool = False, engine: str = "local", ray_address: str | None = None) -> list[CellResult]:
    """Run the unfinished ``cells`` (``workers`` processes), store each, return all in input order.

    Duplicate cells (same key) run once. ``on_done`` is called in the calling process for every
    cell, cached or new, as it becomes available. ``catch_errors``, ``retry_failed``, ``engine``
    and ``ray_address``: see the module docstring (with Ray, ``workers`` caps the tasks in flight).
    """
    if int(workers) != workers or workers < 1:
        raise ValueError(f"workers={workers!r} must be an integer >= 1")
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r} is not one of {ENGINES}")
    cells = list(cells)
    done: dict[str, CellResult] = {}
    todo: dict[str, Cell] = {}
    for c in cells:
        if c.key in done or c.key in todo:
            continue
        rec = load_record(store, c)
        if rec is not None and retry_failed and failed(rec.result):
            rec = None
        if rec is not None:
            done[c.key] = rec
            if on_done:
                on_done(rec)
        else:
            todo[c.key] = c

    def finish(cell, result, seconds):
        save_record(store, cell, result, seconds)
        res = CellResult(cell.key, cell.config, result, seconds, False)
        done[cell.key] = res
        if on_done:
            on_done(res)

    if engine == "ray":
        _run_ray(list(todo.values()), workers, ray_address, catch_errors, finish)
    elif workers == 1 or len(todo) <= 1:
        for c in todo.values():
            finish(c, *_execute(c.fn, c.config, c.context, catch_errors))
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=get_context("spawn")) as ex:
            futs = {ex.submit(_execute, c.fn, c.config, c.context, catch_errors): c for c in todo.values()}
            for fut in as_completed(futs):
                finish(futs[fut], *fut.result())
    return [done[c.key] for c in cells]


def _run_ray(todo: list, workers: int, address: str | None, catch: bool, finish) -> None:
    """Run cells as Ray tasks, at most ``workers`` in flight, finishing each in this process."""
    if not todo:
        return
    try:
        import ray
    except ImportError as exc:
        raise ValueError(f"engine='ray' needs the ray package (pip install 'hwlearn[ray]'): {exc}") from None
    started = False
    if not ray.is_initialized():
        # workers import this package: give them this process's import path
        path = os.pathsep.join(p for p in [os.getcwd(), os.environ.get("PYTHONPATH", "")] if p)
        kw = dict(address=address, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
        if address is None:
            kw.update(num_cpus=workers, include_dashboard=False)
        ray.init(**kw)
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_execute)
        pending, queue = {}, list(todo)
        while queue or pending:
            while queue and len(pending) < workers:
                c = queue.pop(0)
                pending[task.remote(c.fn, c.config, c.context, catch)] = c
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                c = pending.pop(ref)
                finish(c, *ray.get(ref))
    finally:
        if started:
            ray.shutdown()


@contextmanager
def atomic_output(path):
    """Yield a temporary path (in the system's temp folder) for a library that writes files itself
    (pandas CSV / Parquet, matplotlib PNG); on success its bytes go to ``path`` through
    :func:`hwsim.io.atomic_write_bytes` (the one atomic writer: fsync'd rename, clear error on a
    full disk); the temporary file is always removed, so nothing half-written is left at ``path``."""
    import tempfile

    from hwsim.io import atomic_write_bytes

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(suffix=path.suffix, prefix="hwlearn-")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        atomic_write_bytes(path, tmp.read_bytes())
    finally:
        if tmp.exists():
            tmp.unlink()


def default_workers() -> int:
    """Cores available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:      # not Linux
        return max(1, os.cpu_count() or 1)


