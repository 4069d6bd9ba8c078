"""Validated command-line values, output paths and JSON records shared by every sub-command.

Every numeric option is parsed by one of the types below, so a bad value is refused while the
arguments are parsed (exit 2, one line naming the option, the value and the allowed range), before
any data is loaded or any work starts. Limits that depend on several options (truncation <= T,
block size <= layers, the memory a network needs) are checked by :func:`check_memory` and the
sub-commands' own pre-flight checks, still before any work.

Exit statuses shared by all sub-commands (docs/errors.md lists every command's):
``EXIT_OK`` 0, ``EXIT_USAGE`` 2 (bad arguments, bad or unreadable input, output that cannot be
written), ``EXIT_INTERNAL`` 1 (a bug: an unexpected exception, reported in one line).
"""
from __future__ import annotations

import argparse
import json
import math
from typing import Optional

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2

MAX_T = 10_000               # time steps per sample (training); longer runs are not training runs
MAX_LAYER = 1_000_000        # neurons per hidden layer (the memory check below is the real limit)
MAX_EPOCHS = 100_000
MAX_BATCH = 1_000_000
MAX_SEED = 2 ** 32 - 1       # numpy and torch seeds


class UsageError(ValueError):
    """A value or a combination of options that the command refuses (exit 2); the message names
    the option."""


def _number(name: str, text: str, kind):
    try:
        val = kind(text)
    except (TypeError, ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"{name} must be {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    return val


def int_type(name: str, lo: int, hi: int):
    """argparse type: an integer in ``[lo, hi]``."""
    def parse(text):
        val = _number(name, text, int)
        if not lo <= val <= hi:
            raise argparse.ArgumentTypeError(f"{name}={val} is outside the allowed range [{lo}, {hi}]")
        return val
    parse.__name__ = name
    return parse


def pow2_type(name: str, lo: int, hi: int):
    """argparse type: a power of two in ``[lo, hi]``."""
    def parse(text):
        val = _number(name, text, int)
        if not lo <= val <= hi or val & (val - 1):
            raise argparse.ArgumentTypeError(f"{name}={val} must be a power of two in the allowed range [{lo}, {hi}]")
        return val
    parse.__name__ = name
    return parse


def float_type(name: str, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False):
    """argparse type: a finite float in the interval ``lo..hi`` (open at an end when asked)."""
    interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open or math.isinf(hi) else ']'}"

    def parse(text):
        val = _number(name, text, float)
        ok = math.isfinite(val) and (lo < val if lo_open else lo <= val) and (val < hi if hi_open else val <= hi)
        if not ok:
            raise argparse.ArgumentTypeError(f"{name}={val!r} is outside the allowed range {interval}")
        return val
    parse.__name__ = name
    return parse


def hidden_type(name: str = "--hidden"):
    """argparse type: comma-separated positive layer sizes, each at most ``MAX_LAYER``."""
    def parse(text):
        parts = [p.strip() for p in str(text).split(",") if p.strip()]
        try:
            sizes = tuple(int(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be comma-separated integers, got {text!r}") from None
        if not sizes or min(sizes) < 1 or max(sizes) > MAX_LAYER:
            raise argparse.ArgumentTypeError(f"{name}={text!r}: layer sizes must be in [1, {MAX_LAYER}]")
        return sizes
    parse.__name__ = name
    return parse


def device_type(text: str) -> str:
    """argparse type for ``--device``: auto, cpu, cuda, cuda:N (and anything else torch knows)."""
    if text == "auto":
        return text
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"--device={text!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"--device={text!r}: CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"--device={text!r}: there are {torch.cuda.device_count()} CUDA devices")
    elif dev.type != "cpu":
        raise argparse.ArgumentTypeError(f"--device={text!r}: only auto, cpu, cuda and cuda:N are supported")
    return text


def seed_type(name: str = "--seed"):
    return int_type(name, 0, MAX_SEED)


def check_output(path: Optional[str], option: str) -> None:
    """Before any work: ``path`` (an output option) can be written; :class:`UsageError` otherwise."""
    if path is None:
        return
    from hwsim.io import WriteError, check_writable

    try:
        check_writable(path, option)
    except WriteError as exc:
        raise UsageError(str(exc)) from None


def check_data_dir(dataset: str, data_dir: Optional[str]) -> None:
    """``--data-dir`` is for the datasets read from files (mnist); the bundled digits take none."""
    if data_dir is not None and dataset == "digits":
        raise UsageError(f"--data-dir {data_dir!r} applies to --dataset mnist (IDX files); the digits are bundled "
                         "with scikit-learn and read no folder")


def check_memory(what: str, need: int, option: str) -> None:
    """Refuse a job whose estimated memory exceeds the limit (half the machine,
    ``HWLEARN_MAX_RUN_BYTES``; the same limit as :meth:`hwsim.simulator.Simulator.run`)."""
    from hwsim.simulator import max_run_bytes

    limit = max_run_bytes()
    if need > limit:
        raise UsageError(f"{option}: {what} needs about {need:,} bytes of memory, more than the limit of {limit:,} "
                         "bytes (half the machine's memory; HWLEARN_MAX_RUN_BYTES changes it)")


def finite_json(obj):
    """``obj`` with every non-finite float replaced by None (JSON has no NaN or Infinity)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def write_json(path: Optional[str], payload) -> None:
    """Write ``payload`` as strict JSON (non-finite numbers become null) atomically to ``path``."""
    if not path:
        return
    from hwsim.io import atomic_write_bytes

    text = json.dumps(finite_json(payload), indent=2, default=str, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def one_line(exc: BaseException) -> str:
    """An exception as one line (its message's lines joined)."""
    msg = " ".join(str(exc).split("\n")).strip()
    return msg or type(exc).__name__
