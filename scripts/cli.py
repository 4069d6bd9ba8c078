"""The ``hwlearn`` command line: one sub-command per job, each defined in its own module.

Each sub-command module exposes ``add_parser(subparsers)`` (which sets ``func``) so this file
only dispatches. Errors are one line on stderr, never a traceback: argument errors and refused
inputs exit 2 (``scripts.options``), a file that cannot be written exits 2, an unexpected
exception (a bug) exits 1 with its type and message (``HWLEARN_DEBUG=1`` shows the traceback),
Ctrl-C exits 130. docs/errors.md lists every exit status of every command.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from scripts.options import EXIT_INTERNAL, EXIT_USAGE, UsageError, one_line


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``hwlearn train: error: argument --T: ... (see --help)``."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")

# sub-command name -> module under scripts/ that defines add_parser(subparsers)
SUBCOMMANDS = {
    "train": "scripts.train",
    "demo": "scripts.demo",
    "export": "scripts.export",
    "import": "scripts.import_",
    "crosscheck": "scripts.crosscheck",
    "quantize": "scripts.quantize",
    "run": "scripts.run",
    "info": "scripts.info",
    "reproduce": "scripts.reproduce",
    "sweep": "scripts.sweep",
}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="hwlearn",
        description="Neuromorphic-hardware learning-rule simulator: train SNNs with BPTT, OTTT, "
                    "TTL-BPTT and rate-based backprop, simulate a fixed-point Loihi-style chip, "
                    "export to Lava, lava-dl netx and NIR, import from NIR.")
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
    prog = f"hwlearn {args.command}"
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:                  # hwsim.io.WriteError and friends: a file we cannot write or read
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("HWLEARN_DEBUG") == "1":
            raise
        print(f"{prog}: internal error (a bug; HWLEARN_DEBUG=1 shows the traceback): {type(exc).__name__}: "
              f"{one_line(exc)}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
