"""``hwlearn sweep``: quantization studies (docs/studies.md).

Examples::

    hwlearn sweep study.toml --out runs/sweep/mine              # a study file
    hwlearn sweep --preset learning-precision --dataset digits  # a preset (learning-precision, ptq, rounding)
    hwlearn sweep --base onchip --axis weight_bits=4,8 --axis trace_bits=5,7 --set hidden=[64] \\
                  --set in_bits=auto --seeds 0 1 --epochs 2 --limit 200 --out runs/sweep/small
    hwlearn sweep study.toml --engine ray --ray-address auto    # the same cells on a Ray cluster
    hwlearn sweep study.toml --check                            # validate and count the cells, run nothing
    hwlearn sweep report runs/sweep/mine                        # summary + PNG plots

A study is validated before any cell runs (exit 2, one line naming the key, the value and what is
allowed). Cells are stored in OUT/cells/ as they finish: an interrupted sweep resumes where it
stopped; a failing cell records its error and the sweep goes on (exit 3 at the end if any failed).
The table goes to OUT/results.parquet and OUT/results.csv.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scripts.options import UsageError, int_type

EXIT_CELLS_FAILED = 3


def _value(text: str, many: bool):
    """A TOML value (``4``, ``0.01``, ``[64, 32]``, ``"x"``), or bare words; ``many``: a comma list."""
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    if many and text.strip() == "[]":
        return []
    try:
        return tomllib.loads(f"v = [{text}]" if many else f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        parts = [p.strip() for p in text.split(",")] if many else [text.strip()]
        vals = []
        for p in parts:
            try:
                vals.append(tomllib.loads(f"v = {p}")["v"])
            except tomllib.TOMLDecodeError:
                vals.append(p)
        return vals if many else vals[0]


def _assignment(option: str, many: bool):
    def parse(text):
        name, sep, val = text.partition("=")
        if not sep or not name.strip() or not val.strip():
            raise argparse.ArgumentTypeError(f"{option} takes NAME=VALUE{'S' if many else ''}, got {text!r}")
        return name.strip(), _value(val, many)
    parse.__name__ = option
    return parse


def add_parser(sub) -> None:
    from rules.cells import ENGINES, default_workers
    from rules.study import BASES, DATASETS, FLOAT_MODES, PRESETS

    p = sub.add_parser("sweep", help="quantization studies: a grid of chip widths / rounding / T / ... over seeds, "
                                     "tables and plots (also: hwlearn sweep report RESULTS)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", nargs="*", metavar="STUDY.toml | report RESULTS",
                   help="a study file (TOML), or 'report' and a results folder")
    p.add_argument("--preset", choices=PRESETS, help="a predefined study (docs/studies.md)")
    p.add_argument("--base", choices=BASES, help="base run: onchip (OTTT on chip + float twin) or ptq (float rule, "
                                                 "post-training quantization)")
    p.add_argument("--axis", type=_assignment("--axis", True), action="append", default=[], metavar="NAME=V1,V2",
                   help="an axis and its values (repeat for a grid); replaces the study's axes")
    p.add_argument("--set", type=_assignment("--set", False), action="append", default=[], metavar="NAME=VALUE",
                   help="a setting held for every cell (e.g. hidden=[64], T=4, rule=ottt-o)")
    p.add_argument("--seeds", type=int_type("--seeds", 0, 2 ** 31 - 1), nargs="+", metavar="SEED")
    p.add_argument("--dataset", choices=DATASETS)
    p.add_argument("--data-dir", metavar="DIR", help="folder of the MNIST IDX files")
    p.add_argument("--epochs", type=int_type("--epochs", 1, 100_000))
    p.add_argument("--limit", type=int_type("--limit", 1, 10 ** 9), help="first N training samples")
    p.add_argument("--float", choices=FLOAT_MODES, dest="float_mode",
                   help="onchip: float twin per cell (twin), one per seed at the reference point (reference), none")
    p.add_argument("--crosscheck-samples", type=int_type("--crosscheck-samples", 0, 100_000),
                   help="onchip: update cosines against the float twin over N samples (0: off)")
    p.add_argument("--out", metavar="RESULTS", help="results folder (default: runs/sweep/<study name or hash>)")
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: a process pool on this machine (default); ray: Ray tasks")
    p.add_argument("--ray-address", metavar="ADDR", help="Ray cluster address for --engine ray (default: a local Ray)")
    p.add_argument("--workers", type=int_type("--workers", 1, 4096), default=None,
                   help=f"cells in parallel (default: the cores, {default_workers()})")
    p.add_argument("--retry-failed", action="store_true", help="run the cells that failed before again")
    p.add_argument("--check", action="store_true", help="validate the study and print its cells; run nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--tol", type=float, default=1.0, help="report: 'within TOL points of float' (default 1)")
    p.add_argument("--no-plots", action="store_true", help="report: print the summary only")
    p.set_defaults(func=main)


RUN_ONLY = ("preset", "base", "seeds", "dataset", "data_dir", "epochs", "limit", "float_mode", "crosscheck_samples",
            "out", "ray_address", "workers")


def study_table(args) -> dict:
    """The study's table from a file and/or a preset, with the flags applied."""
    from rules.study import load_study_file, preset

    if args.target and args.preset:
        raise UsageError("give a study file or --preset, not both")
    if len(args.target) > 1:
        raise UsageError(f"one study file at most, got {args.target}")
    if args.target:
        data = load_study_file(args.target[0])
    elif args.preset:
        data = preset(args.preset)
    else:
        data = {}
    if args.base:
        if data.get("base") not in (None, args.base):
            raise UsageError(f"--base {args.base} contradicts the study's base {data['base']!r}")
        data["base"] = args.base
    if not data:
        raise UsageError("no study: give a study file, --preset or --base with --axis")
    over = {"seeds": args.seeds, "dataset": args.dataset, "data_dir": args.data_dir, "epochs": args.epochs,
            "limit": args.limit, "float": args.float_mode, "crosscheck_samples": args.crosscheck_samples}
    for k, v in over.items():
        if v is not None:
            data[k] = v
    if args.axis:
        names = [n for n, _ in args.axis]
        if len(set(names)) != len(names):
            raise UsageError(f"--axis names an axis twice: {names}")
        data.pop("points", None)
        data["axes"] = dict(args.axis)
    if args.set:
        fixed = dict(data.get("fixed", {}))
        for n, v in args.set:
            fixed[n] = v
            if n in data.get("axes", {}) and not args.axis:
                data["axes"] = {a: vs for a, vs in data["axes"].items() if a != n}
        data["fixed"] = fixed
    return data


def main(args) -> int:
    from rules.study import StudyError, parse_study

    try:
        if args.target[:1] == ["report"]:
            return report(args)
        if args.engine != "ray" and args.ray_address:
            raise UsageError("--ray-address needs --engine ray")
        if args.engine == "ray":
            try:
                import ray  # noqa: F401
            except ImportError as exc:
                raise UsageError(f"--engine ray needs the ray package (pip install 'hwlearn[ray]'): {exc}") from None
        study = parse_study(study_table(args))
    except StudyError as exc:
        raise UsageError(str(exc)) from None
    entries = study.cells()
    n_ref = len({e[3].key for e in entries if e[3] is not None and e[3].key not in {x[2].key for x in entries}})
    out = Path(args.out) if args.out else Path("runs/sweep") / (study.name or f"study-{study.hash}")
    print(f"study {study.name or ''} ({study.hash}): base {study.base}, {len(study.points)} point(s) x "
          f"{len(study.seeds)} seed(s) = {len(entries)} cell(s)" + (f" + {n_ref} float/training cell(s)" if n_ref else "")
          + f"; results in {out}", file=sys.stderr, flush=True)
    if args.check:
        from rules.sweep import preflight
        try:
            n = preflight(study, entries)
        except StudyError as exc:
            raise UsageError(str(exc)) from None
        if n:
            print(f"built {n} distinct on-chip network(s): scales, rates and mappings are valid", file=sys.stderr)
        for point, seed, cell, _ in entries:
            print(f"{cell.key}  seed {seed}  " + ", ".join(f"{k}={v}" for k, v in point.items()))
        return 0
    from rules.sweep import run_study
    from rules.sweep_report import format_summary

    try:
        df = run_study(study, out, engine=args.engine, workers=args.workers, ray_address=args.ray_address,
                       progress=not args.no_progress, retry_failed=args.retry_failed)
    except StudyError as exc:
        raise UsageError(str(exc)) from None
    import json
    meta = json.loads((out / "study.json").read_text())
    print(format_summary(df, meta, args.tol))
    print(f"table: {out / 'results.parquet'}, {out / 'results.csv'}; plots: hwlearn sweep report {out}")
    return EXIT_CELLS_FAILED if (df.status != "ok").any() else 0


def report(args) -> int:
    from rules.sweep import load_table
    from rules.sweep_report import format_summary, plots

    given = [o for o in RUN_ONLY if getattr(args, o, None) is not None] + \
            [o for o in ("axis", "set") if getattr(args, o)] + [o for o in ("check", "retry_failed") if getattr(args, o)]
    if given:
        raise UsageError(f"sweep report takes RESULTS, --tol and --no-plots only; not {['--' + g.replace('_', '-') for g in given]}")
    if len(args.target) != 2:
        raise UsageError("usage: hwlearn sweep report RESULTS")
    if not (args.tol >= 0):
        raise UsageError(f"--tol={args.tol} must be >= 0 (points)")
    df, meta = load_table(args.target[1])
    print(format_summary(df, meta, args.tol))
    if not args.no_plots:
        paths = plots(df, meta, Path(args.target[1]) / "plots")
        for p in paths:
            print(f"wrote {p}")
    return 0
