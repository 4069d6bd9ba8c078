"""The ``hwlearn`` command line: one sub-command per job, each defined in its own module.

Each sub-command module exposes ``add_parser(subparsers)`` (which sets ``func``) so this file
only dispatches.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# sub-command name -> module under scripts/ that defines add_parser(subparsers)
SUBCOMMANDS = {
    "train": "scripts.train",
    "demo": "scripts.demo",
    "export": "scripts.export",
    "crosscheck": "scripts.crosscheck",
    "reproduce": "scripts.reproduce",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hwlearn",
        description="Neuromorphic-hardware learning-rule simulator: train SNNs with BPTT, OTTT, "
                    "TTL-BPTT and rate-based backprop, simulate a fixed-point Loihi-style chip, "
                    "export to Lava.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in SUBCOMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:      # sub-command not built yet
                continue
            raise
        mod.add_parser(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
