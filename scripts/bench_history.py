"""Benchmark baselines from the repository's history: code that main no longer has (the removed
layer-synchronous OTTT circuit kernel, the Simulator's former per-step Python learning loop) is run
from its own git commit, in a subprocess, on the same machine and in the same benchmark run.

:func:`checkout` extracts a commit's tracked files (``git archive``) into a cache directory
(``$XDG_CACHE_HOME/hwlearn/history/<sha>``, default ``~/.cache``; extracted once, atomically, so the
old code's numba cache is kept between runs); :func:`call` runs ``module.function(**kwargs)`` there in
a fresh interpreter (this one, ``sys.executable``) and returns its JSON result; :func:`run_source`
runs a source text that writes its result itself. Nothing of the current tree is importable in the
subprocess: it sees only the old commit.

A checkout without the commit (a tarball, a shallow clone) raises :class:`HistoryUnavailable` with
the commit and the reason; the benchmarks report that instead of a baseline.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# issue 8 was filed on this commit: "today's circuit kernel" and "today's Python loop" of its goals
FILED = "d4925db"
# the last commit with the layer-synchronous circuit kernel (removed after it)
LAST_CIRCUIT_KERNEL = "2301175"


class HistoryUnavailable(RuntimeError):
    """The commit cannot be read from this checkout's git history."""


def _git(*args: str) -> str:
    try:
        r = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise HistoryUnavailable(f"git is not available ({exc})") from None
    if r.returncode != 0:
        raise HistoryUnavailable(f"git {' '.join(args)}: {r.stderr.strip() or 'failed'}")
    return r.stdout.strip()


def resolve(commit: str) -> str:
    """The full sha of ``commit`` in this repository's history."""
    try:
        return _git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    except HistoryUnavailable as exc:
        raise HistoryUnavailable(f"commit {commit} is not in the history of {ROOT} ({exc})") from None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hwlearn" / "history"


def checkout(commit: str) -> Path:
    """The tracked files of ``commit`` in the cache (extracted on first use; a half-extracted tree is
    never left: extraction goes to a temporary directory renamed into place)."""
    sha = resolve(commit)
    dest = cache_dir() / sha
    if (dest / ".complete").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=dest.parent))
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", sha], capture_output=True,
                                 check=False)
        if archive.returncode != 0:
            raise HistoryUnavailable(f"git archive {sha[:12]}: {archive.stderr.decode(errors='replace').strip()}")
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
        (tmp / ".complete").write_text(sha + "\n")
        try:
            os.replace(tmp, dest)
        except OSError:                     # another process extracted it first
            if not (dest / ".complete").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _env(tree: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWLEARN_")}
    env["PYTHONPATH"] = str(tree)
    env.pop("NUMBA_CACHE_DIR", None)      # the old tree's kernels cache next to their own sources
    return env


def run_source(commit: str, source: str, *args: str, timeout: float = 3600.0) -> Path:
    """Run ``source`` (Python text) in a fresh interpreter with the tree of ``commit`` as the working
    directory and the only importable project, as ``python -c source OUT *args``: the source writes
    its outputs into ``OUT`` (``sys.argv[1]``, a fresh directory, returned; the caller deletes it)."""
    return run_source_in(checkout(commit), source, *args, timeout=timeout, what=f"the baseline at {commit}")


def run_source_in(tree: Path, source: str, *args: str, timeout: float = 3600.0, what: str = "") -> Path:
    """:func:`run_source` in the source tree ``tree`` (``ROOT``: the current one, for a measurement
    that must run in a fresh interpreter as its baseline does, e.g. ``bench_learning.simulator_stdp``)."""
    out = Path(tempfile.mkdtemp(prefix="hwlearn-history-"))
    env = _env(tree)
    if Path(tree).resolve() == ROOT.resolve() and "NUMBA_CACHE_DIR" in os.environ:
        env["NUMBA_CACHE_DIR"] = os.environ["NUMBA_CACHE_DIR"]     # the current tree keeps its cache
    r = subprocess.run([sys.executable, "-c", source, str(out), *args], cwd=tree, env=env,
                       capture_output=True, text=True, timeout=timeout, check=False)
    if r.returncode != 0:
        shutil.rmtree(out, ignore_errors=True)
        tail = "\n".join(r.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{what or tree} failed (exit {r.returncode}):\n{tail}")
    return out


_CALL = """
import importlib, json, sys
mod, fn, kw = sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
res = getattr(importlib.import_module(mod), fn)(**kw)
with open(sys.argv[1] + "/result.json", "w") as f:
    json.dump(res, f)
"""


def call(commit: str, module: str, function: str, timeout: float = 3600.0, **kwargs) -> dict:
    """``module.function(**kwargs)`` of ``commit``'s tree in a subprocess: its JSON-serialisable result,
    with ``"commit"`` (the full sha) added."""
    out = run_source(commit, _CALL, module, function, json.dumps(kwargs), timeout=timeout)
    try:
        res = json.loads((out / "result.json").read_text())
    finally:
        shutil.rmtree(out, ignore_errors=True)
    res["commit"] = resolve(commit)
    return res
