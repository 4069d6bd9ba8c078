"""``hwlearn crosscheck``: run on-chip OTTT and its float form from identical weights and inputs and
report how far the chip is from float, per layer (``rules.crosscheck``).

Examples::

    hwlearn crosscheck --rule ottt-a --local-blocks
    hwlearn crosscheck --rule ottt-o --weight-bits 16 --trace-bits 16 --json runs/cc16.json

Exit status: 0 done, 2 bad arguments or an output that cannot be written, 3 the network does not fit
the chip (docs/errors.md).
"""
from __future__ import annotations

import argparse
import math
import sys

from scripts.options import MAX_T, UsageError, check_output, float_type, int_type, seed_type, write_json
from scripts.train import _hidden, add_chip_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rule", default="ottt-a", choices=("ottt-a", "ottt-o"), help="OTTT variant (default: ottt-a)")
    add_chip_arguments(p)
    p.add_argument("--samples", type=int_type("--samples", 1, 10 ** 6), default=256,
                   help="training samples both sides learn from (default: 256)")
    p.add_argument("--mode", default="lockstep", choices=("lockstep", "free"),
                   help="lockstep: the float side restarts from the chip's weights at every sample (compares "
                        "the rule's arithmetic); free: both run on their own weights (default: lockstep)")
    p.add_argument("--warmup-epochs", type=int_type("--warmup-epochs", 0, 1000), default=1,
                   help="epochs of chip-only training before the comparison, so every layer fires (default: 1)")
    p.add_argument("--T", type=int_type("--T", 1, MAX_T), default=8, help=f"time steps per sample, 1..{MAX_T} (default: 8)")
    p.add_argument("--hidden", type=_hidden, default=(256, 256), help="hidden sizes (default: 256,256)")
    p.add_argument("--lr", type=float_type("--lr", 0.0, math.inf, lo_open=True), default=None,
                   help="learning rate, > 0 (default: 0.01)")
    p.add_argument("--dataset", default="digits", choices=("digits", "mnist"), help="dataset (default: digits)")
    p.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files")
    p.add_argument("--seed", type=seed_type(), default=0, help="seed, 0..2**32-1 (default: 0)")
    p.add_argument("--no-eval", action="store_true", help="skip the test-set accuracies")
    p.add_argument("--json", default=None, metavar="PATH", help="write the report as JSON to PATH")


def run(args) -> int:
    from hwsim.spec import MappingError, SpecError
    from rules.crosscheck import crosscheck, summary_table
    from scripts.train import check_chip_size, chip_config_from_args

    args.limit, args.epochs, args.leak, args.alpha = None, None, None, None
    cfg = chip_config_from_args(args)
    check_chip_size(cfg)
    check_output(args.json, "--json")
    try:
        rep = crosscheck(cfg, samples=args.samples, evaluate=not args.no_eval, mode=args.mode,
                         warmup_epochs=args.warmup_epochs)
    except MappingError as exc:
        print(f"hwlearn crosscheck: error: the network does not fit the chip: {exc}", file=sys.stderr)
        return 3
    except (ValueError, SpecError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    sp = rep["spec"]
    print(f"crosscheck {cfg.rule}{' local-blocks' if cfg.local_blocks else ''} feedback={cfg.feedback} "
          f"mode={rep['mode']}: weight_bits={sp['weight_bits']} trace_bits={sp['trace_bits']} "
          f"accumulator_bits={sp['accumulator_bits']}")
    print(summary_table(rep))
    write_json(args.json, rep)
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("crosscheck", help="compare on-chip OTTT with its float form, per layer",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def main(argv=None) -> int:
    """``python -m scripts.crosscheck ...`` = ``hwlearn crosscheck ...``."""
    from scripts.cli import main as cli_main

    return cli_main(["crosscheck"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
