"""``hwlearn reproduce {ottt,ttl,rate,chenli,all}``: the four papers' claims at small scale.

Examples::

    hwlearn reproduce ottt --quick                 # minutes; runs/reproduce/ottt/
    hwlearn reproduce all --out runs/repro --workers 2
    hwlearn reproduce rate --seeds 0 1             # other seeds than the default

Each claim writes ``OUT/<claim>/results.csv`` (one row per cell), ``epochs.csv`` (per epoch),
``health.csv`` (per layer), ``summary_<name>.csv`` (+ ``.parquet`` of each), PNG plots and
``run.json``, and prints its summary. Cells are stored in ``OUT/<claim>/cells/<key>.h5`` as they
finish; a rerun skips them. The scripts: ``scripts/reproduce/{ottt,ttl,rate,chenli}.py``; docs/reproductions.md.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

CLAIMS = ("ottt", "ttl", "rate", "chenli")


def _workers(text):
    try:
        val = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers must be an integer, got {text!r}") from None
    if not 1 <= val <= 256:
        raise argparse.ArgumentTypeError(f"--workers={val} is outside the allowed range [1, 256]")
    return val


def _seed(text):
    try:
        val = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds must be integers, got {text!r}") from None
    if not 0 <= val < 2 ** 31:
        raise argparse.ArgumentTypeError(f"--seeds value {val} is outside the allowed range [0, 2**31)")
    return val


def add_parser(sub) -> None:
    from rules.cells import default_workers

    p = sub.add_parser("reproduce", help="reproduce the four papers' claims at small scale (tables, plots)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("claim", choices=CLAIMS + ("all",),
                   help="ottt: OTTT_A/O vs BPTT; ttl: TTL-BPTT K x B grid; rate: rate_M/S vs BPTT over T; "
                        "chenli: depth sweep, init and loss; all: the four in turn")
    p.add_argument("--quick", action="store_true", help="the minutes-long version (fewer cells, epochs, samples)")
    p.add_argument("--out", default="runs/reproduce", metavar="DIR",
                   help="output folder; each claim writes DIR/<claim>/ (default: runs/reproduce)")
    p.add_argument("--seeds", type=_seed, nargs="+", default=None, metavar="SEED",
                   help="training seeds (default: the claim's, e.g. 0 1 2 for ottt)")
    p.add_argument("--workers", type=_workers, default=default_workers(),
                   help=f"cells run in parallel in this many processes (default: the cores, {default_workers()})")
    p.add_argument("--size-test", action="store_true", help=argparse.SUPPRESS)  # the test suite's tiny size
    p.set_defaults(func=main)


def _check_out(out: Path) -> str | None:
    if out.exists() and not out.is_dir():
        return f"--out {out} exists and is not a directory"
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"--out {out}: {probe} is not writable"
    return None


def main(args) -> int:
    from .common import format_output, run_claim

    out = Path(args.out)
    err = _check_out(out)
    if err:
        print(f"hwlearn reproduce: error: {err}", file=sys.stderr)
        return 2
    mode = "test" if args.size_test else ("quick" if args.quick else "full")
    claims = CLAIMS if args.claim == "all" else (args.claim,)
    for claim in claims:
        try:
            res = run_claim(claim, mode, out, seeds=args.seeds, workers=args.workers,
                            echo=lambda s: print(s, file=sys.stderr, flush=True))
        except (ValueError, FileNotFoundError) as exc:
            print(f"hwlearn reproduce: error: {exc}", file=sys.stderr)
            return 2
        print(format_output(res), flush=True)
    return 0
