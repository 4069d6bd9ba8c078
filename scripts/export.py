"""``hwlearn export``: export a chip network file to Lava (and verify it) or rewrite it as HDF5.

Examples::

    hwlearn export --to lava --verify net.h5 --steps 200 --rate 0.1 --seed 0
    hwlearn export --to lava --verify net.h5 --inputs inputs.npz --json runs/verify.json
    hwlearn export --to hdf5 net.h5 --output copy.h5

Exit status: 0 success (with --verify: hwsim and Lava identical), 1 mismatch, 2 bad input file
or arguments, 3 the network cannot be exported (or Lava is not installed).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from hwsim.simulator import MAX_STEPS
from scripts.options import UsageError, check_memory, check_output, float_type, int_type, seed_type, write_json

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_FILE, EXIT_UNEXPORTABLE = 0, 1, 2, 3

_EPILOG = """\
inputs:
  --inputs FILE.npz     one array per network input, named like the input, shape (T, *shape):
                        binary inputs hold 0/1, graded inputs signed payloads; T is the first axis
  --steps/--rate/--seed otherwise every input gets seeded Bernoulli spikes: binary inputs 0/1 with
                        probability RATE per step and channel; graded inputs a payload uniform in
                        [-128, 127] with 0 replaced by 1 (so 1 is twice as likely),
                        sent with probability RATE

exit status:
  0  success; with --verify, every step of spikes (and u, v) identical in hwsim and Lava
  1  --verify found a mismatch (the first one is printed), or hwsim stopped on an overflow
     (--overflow raise)
  2  bad network or inputs file (not HDF5, corrupt, damaged: hash mismatch, foreign, newer format,
     out-of-range values), bad arguments, or an output that cannot be written (no space left,
     read-only, a folder)
  3  the network cannot be exported to Lava bit-exactly or does not fit the chip spec (the reason
     is printed), or Lava is missing
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``export`` on the ``hwlearn`` sub-command parser."""
    p = subparsers.add_parser(
        "export", help="export a chip network to Lava (optionally verify bit-exactness) or HDF5",
        description="Load a chip network (HDF5, hwsim.io format) and export it. --to lava builds the "
                    "Lava 0.10.0 processes (LIF/Dense/Sparse/Conv/...); with --verify it runs the "
                    "network in hwsim and in Lava fixed_pt on the same input and compares every step. "
                    "--to hdf5 rewrites the network file.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("network", metavar="NETWORK.h5", help="network file written by hwsim.io.save_network "
                   "(a run record with an embedded network works too)")
    p.add_argument("--to", choices=("lava", "hdf5"), default="lava",
                   help="target: 'lava' (Lava processes) or 'hdf5' (rewrite the network file); default lava")
    p.add_argument("--verify", action="store_true",
                   help="with --to lava: run hwsim and Lava on the same input, compare every step, exit 1 "
                        "on any difference")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--inputs", metavar="FILE.npz", help="input spike arrays, one per network input (see below)")
    src.add_argument("--steps", type=int_type("--steps", 1, MAX_STEPS), metavar="T",
                     help="steps of seeded Bernoulli input (default 100)")
    p.add_argument("--rate", type=float_type("--rate", 0.0, 1.0), default=0.1, metavar="R",
                   help="Bernoulli spike probability per step and channel, in [0, 1] (default 0.1)")
    p.add_argument("--seed", type=seed_type(), default=0, metavar="S",
                   help="seed of the Bernoulli input, 0..2**32-1 (default 0)")
    p.add_argument("--variables", default="s,u,v", metavar="LIST",
                   help="comma-separated variables compared by --verify: s (spikes), u, v (default s,u,v)")
    p.add_argument("--overflow", choices=("wrap", "saturate", "raise"), default="wrap",
                   help="hwsim overflow policy for --verify; only 'wrap' is Lava's behaviour (default wrap)")
    p.add_argument("--reader", choices=("fast", "lava"), default="fast",
                   help="how Lava results are read: 'fast' memmap recorders or Lava's own sink/Monitor "
                        "(slow: ~16 us per value) (default fast)")
    p.add_argument("--output", "-o", metavar="PATH",
                   help="with --to hdf5: where to write (default: rewrite NETWORK.h5 in place)")
    p.add_argument("--json", metavar="PATH", help="also write the result as JSON to PATH")
    p.add_argument("--no-verify-hash", action="store_true",
                   help="read NETWORK.h5 even if its content no longer matches its integrity hash (recovery of a "
                        "damaged or hand-edited file; every value is still validated)")
    p.set_defaults(func=run)
    return p


def _error(msg: str, code: int) -> int:
    print(f"hwlearn export: error: {msg}", file=sys.stderr)
    return code


def bernoulli_inputs(net, steps: int, rate: float, seed: int) -> dict:
    """Seeded Bernoulli input for every network input (see ``--help``)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, node in net.inputs.items():
        spk = rng.random((steps,) + node.shape) < rate
        if node.graded:
            lo, hi = net.spec.message_range
            pay = rng.integers(max(lo, -128), min(hi, 127) + 1, size=spk.shape)
            pay[pay == 0] = 1
            out[name] = np.where(spk, pay, 0).astype(np.int32)
        else:
            out[name] = spk.astype(np.int8)
    return out


def _load_inputs(path: str, net) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: np.asarray(z[k]) for k in z.files}
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    scalars = sorted(k for k, v in data.items() if v.ndim == 0)
    if scalars:
        raise ValueError(f"{path}: array(s) {scalars} are 0-d; each input needs shape (T, *shape) or (T, B, *shape)")
    unknown = sorted(set(data) - set(net.inputs))
    if unknown:
        raise ValueError(f"{path}: array(s) {unknown} name no network input; inputs are {sorted(net.inputs)}")
    if not data:
        raise ValueError(f"{path}: holds no arrays")
    lengths = {k: v.shape[0] if v.ndim else 0 for k, v in data.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{path}: arrays have different lengths (first axis = T): {lengths}")
    return data


def _command(args) -> str:
    """The options as parsed, as a command line (for the JSON record)."""
    parts = ["hwlearn", "export", "--to", args.to] + (["--verify"] if args.verify else [])
    if args.inputs:
        parts += ["--inputs", args.inputs]
    else:
        parts += ["--steps", str(100 if args.steps is None else args.steps), "--rate", str(args.rate),
                  "--seed", str(args.seed)]
    parts += ["--variables", args.variables, "--overflow", args.overflow, "--reader", args.reader]
    if args.no_verify_hash:
        parts += ["--no-verify-hash"]
    if args.output:
        parts += ["--output", args.output]
    if args.json:
        parts += ["--json", args.json]
    return " ".join(parts + [args.network])


_write_json = write_json


def _check_arguments(args) -> tuple:
    """Everything that can be checked before the network is loaded; returns the variables."""
    if args.to == "hdf5":
        for flag, given in (("--verify", args.verify), ("--inputs", args.inputs), ("--steps", args.steps is not None)):
            if given:
                raise UsageError(f"{flag} applies to --to lava only")
        check_output(args.output or args.network, "--output")
    elif args.output:
        raise UsageError("--output applies to --to hdf5 only (--to lava builds processes in memory)")
    check_output(args.json, "--json")
    variables = tuple(v.strip() for v in args.variables.split(",") if v.strip())
    if not variables or any(v not in ("s", "u", "v") for v in variables):
        raise UsageError(f"--variables {args.variables!r}: use a comma-separated subset of s,u,v")
    return variables


def _check_size(net, steps: int, option: str) -> None:
    """The run's memory before drawing: inputs drawn as float64 and stored, hwsim's records (spikes,
    probes, per-core counters) and Lava's recorded s, u, v (int64)."""
    n_in = sum(node.size for node in net.inputs.values())
    n_comp = sum(p.size for p in net.populations.values())
    n_cores = sum(-(-p.size // net.spec.compartments_per_core) for p in net.populations.values())
    need = steps * (9 * n_in + 33 * n_comp + 96 * max(n_cores, 1) + 32)
    check_memory(f"{steps} steps of this network (inputs, hwsim and Lava records)", need, option)


def run(args) -> int:
    """Entry point of ``hwlearn export`` (returns the exit status)."""
    from hwsim.io import FormatError, load_network, save_network
    from hwsim.spec import SpecError

    command = _command(args)
    variables = _check_arguments(args)
    try:
        net = load_network(args.network, verify=not args.no_verify_hash)
    except (FormatError, FileNotFoundError, SpecError) as exc:
        return _error(str(exc), EXIT_BAD_FILE)

    if args.to == "hdf5":
        out = args.output or args.network
        save_network(net, out)
        print(f"wrote network {net.name!r} to {out}")
        _write_json(args.json, {"command": command, "to": "hdf5", "output": str(out), "status": EXIT_OK})
        return EXIT_OK

    try:
        if args.inputs:
            inputs = _load_inputs(args.inputs, net)
            steps = int(next(iter(inputs.values())).shape[0])
            if steps < 1:
                return _error(f"{args.inputs}: the arrays have T=0 steps (the first axis is T)", EXIT_BAD_FILE)
            _check_size(net, steps, "--inputs")
            source = f"inputs from {args.inputs}"
        else:
            steps = 100 if args.steps is None else args.steps
            _check_size(net, steps, "--steps")
            inputs = bernoulli_inputs(net, steps, args.rate, args.seed)
            source = f"Bernoulli inputs, rate {args.rate}, seed {args.seed}"
    except (ValueError, FileNotFoundError) as exc:
        return _error(str(exc), EXIT_BAD_FILE)

    from hwsim.export.lava import UnexportableError, to_lava
    from hwsim.overflow import StateOverflowError
    from hwsim.spec import MappingError

    try:
        if not args.verify:
            graph = to_lava(net, inputs, T=steps, reader=args.reader)
            graph.close()
            print(graph.summary())
            _write_json(args.json, {"command": command, "to": "lava", "network": net.name, "steps": steps,
                                    "exported_as": graph.exported_as, "n_processes": graph.n_processes,
                                    "status": EXIT_OK})
            return EXIT_OK
        from hwsim.export.verify import verify_against_lava
        report = verify_against_lava(net, inputs, steps, variables, overflow=args.overflow, reader=args.reader)
    except UnexportableError as exc:
        return _error(f"cannot export to Lava: {exc}", EXIT_UNEXPORTABLE)
    except ImportError as exc:
        return _error(str(exc), EXIT_UNEXPORTABLE)
    except StateOverflowError as exc:
        return _error(f"hwsim stopped on overflow (--overflow raise): {exc}", EXIT_MISMATCH)
    except MappingError as exc:
        return _error(f"the network does not fit the chip spec: {exc}", EXIT_UNEXPORTABLE)
    except ValueError as exc:        # inputs that do not fit the network
        return _error(str(exc), EXIT_BAD_FILE)
    print(f"{source}")
    print(report.summary())
    status = EXIT_OK if report.identical else EXIT_MISMATCH
    _write_json(args.json, {"command": command, "to": "lava", "verify": True, "source": source,
                            "status": status, "report": report.to_dict()})
    return status


def main(argv=None) -> int:
    """Run ``export`` alone (same options, errors and exit statuses as ``hwlearn export``)."""
    from scripts.cli import main as cli_main

    return cli_main(["export"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
