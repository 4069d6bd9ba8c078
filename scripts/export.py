"""``hwlearn export``: export a chip network file to Lava, lava-dl netx or NIR (and verify it), or
rewrite it as HDF5.

Examples::

    hwlearn export --to lava --verify net.h5 --steps 200 --rate 0.1 --seed 0
    hwlearn export --to lava --verify net.h5 --inputs inputs.npz --json runs/verify.json
    hwlearn export net.h5 --to netx -o net.net --verify      # lava-dl's reader, Lava fixed_pt, every step
    hwlearn export net.h5 --to nir -o net.nir --verify       # read back: the identical chip network
    hwlearn export --to hdf5 net.h5 --output copy.h5

Exit status: 0 success (with --verify: hwsim and Lava identical), 1 mismatch, 2 bad input file
or arguments, 3 the network cannot be exported (or Lava is not installed).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from hwsim.simulator import MAX_STEPS
from scripts.options import UsageError, check_memory, check_output, float_type, int_type, seed_type, write_json

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_FILE, EXIT_UNEXPORTABLE = 0, 1, 2, 3
TARGETS = ("lava", "netx", "nir", "hdf5")
_SUFFIX = {"netx": ".net", "nir": ".nir"}
NETX_TARGET = "lava-dl netx -> Lava fixed_pt"

_EPILOG = """\
inputs:
  --inputs FILE.npz     one array per network input, named like the input, shape (T, *shape):
                        binary inputs hold 0/1, graded inputs signed payloads; T is the first axis
  --steps/--rate/--seed otherwise every input gets seeded Bernoulli spikes: binary inputs 0/1 with
                        probability RATE per step and channel; graded inputs a payload uniform in
                        [-128, 127] with 0 replaced by 1 (so 1 is twice as likely),
                        sent with probability RATE

targets:
  lava   Lava 0.10.0 processes, built in memory (--verify runs them)
  netx   lava-dl's netx HDF5 file (-o, default NETWORK.net); --verify loads it with lava-dl's own
         lava.lib.dl.netx.hdf5.Network, runs it in Lava fixed_pt and compares with hwsim
  nir    a NIR graph (-o, default NETWORK.nir): float nodes for other SNN libraries plus our exact
         integers as metadata; --verify reads it back and checks the identical chip network
  hdf5   rewrite the network file (-o, default in place)

exit status:
  0  success; with --verify, every step of spikes (and u, v) identical in hwsim and Lava
     (nir: the file reads back as the identical network)
  1  --verify found a mismatch (the first one is printed), or hwsim stopped on an overflow
     (--overflow raise)
  2  bad network or inputs file (not HDF5, corrupt, damaged: hash mismatch, foreign, newer format,
     out-of-range values), bad arguments, including options the target does not use (input
     options when nothing runs, --variables / --overflow without --verify, --reader except with
     --to lava), or an output that cannot be written (no space left, read-only, a folder)
  3  the network cannot be exported to the target exactly or does not fit the chip spec (the
     reason is printed; no output file is written), or Lava / lava-dl / nir is missing
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``export`` on the ``hwlearn`` sub-command parser."""
    p = subparsers.add_parser(
        "export", help="export a chip network to Lava, lava-dl netx or NIR (optionally verify), or HDF5",
        description="Load a chip network (HDF5, hwsim.io format) and export it. --to lava builds the "
                    "Lava 0.10.0 processes (LIF/Dense/Sparse/Conv/...); with --verify it runs the "
                    "network in hwsim and in Lava fixed_pt on the same input and compares every step. "
                    "--to netx writes lava-dl's netx HDF5 file (--verify: through lava-dl's reader). "
                    "--to nir writes a NIR graph. --to hdf5 rewrites the network file.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("network", metavar="NETWORK.h5", help="network file written by hwsim.io.save_network "
                   "(a run record with an embedded network works too)")
    p.add_argument("--to", choices=TARGETS, default="lava",
                   help="target: 'lava' (Lava processes), 'netx' (lava-dl netx file), 'nir' (NIR graph) or "
                        "'hdf5' (rewrite the network file); default lava")
    p.add_argument("--verify", action="store_true",
                   help="with --to lava / netx: run hwsim and Lava (netx: the written file, through lava-dl's "
                        "reader) on the same input, compare every step, exit 1 on any difference; with --to "
                        "nir: read the file back and exit 1 unless it is the identical network")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--inputs", metavar="FILE.npz", help="input spike arrays, one per network input (see below)")
    src.add_argument("--steps", type=int_type("--steps", 1, MAX_STEPS), metavar="T",
                     help="steps of seeded Bernoulli input (default 100)")
    p.add_argument("--rate", type=float_type("--rate", 0.0, 1.0), default=None, metavar="R",
                   help="Bernoulli spike probability per step and channel, in [0, 1] (default 0.1)")
    p.add_argument("--seed", type=seed_type(), default=None, metavar="S",
                   help="seed of the Bernoulli input, 0..2**32-1 (default 0)")
    p.add_argument("--variables", default=None, metavar="LIST",
                   help="comma-separated variables compared by --verify: s (spikes), u, v, y (graded output of "
                        "error / learning populations) (default s,u,v, plus y when the network has error or "
                        "learning populations)")
    p.add_argument("--overflow", choices=("wrap", "saturate", "raise"), default=None,
                   help="hwsim overflow policy for --verify; only 'wrap' is Lava's behaviour (default wrap)")
    p.add_argument("--reader", choices=("fast", "lava"), default=None,
                   help="how Lava results are read: 'fast' memmap recorders or Lava's own sink/Monitor "
                        "(slow: ~16 us per value) (default fast)")
    p.add_argument("--output", "-o", metavar="PATH",
                   help="with --to netx / nir / hdf5: where to write (default NETWORK.net, NETWORK.nir; "
                        "hdf5 rewrites NETWORK.h5 in place)")
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
    unknown = sorted(set(data) - set(net.inputs))
    if unknown:
        raise ValueError(f"{path}: array(s) {unknown} name no network input; inputs are {sorted(net.inputs)}")
    if not data:
        raise ValueError(f"{path}: holds no arrays")
    scalars = sorted(k for k, v in data.items() if v.ndim == 0)
    if scalars:
        raise ValueError(f"{path}: array(s) {scalars} are 0-d; each input needs shape (T, *shape) or (T, B, *shape)")
    lengths = {k: v.shape[0] if v.ndim else 0 for k, v in data.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{path}: arrays have different lengths (first axis = T): {lengths}")
    return data


def _command(args) -> str:
    """The options as parsed, as a command line (for the JSON record)."""
    parts = ["hwlearn", "export", "--to", args.to] + (["--verify"] if args.verify else [])
    if _runs(args) and args.inputs:
        parts += ["--inputs", args.inputs]
    elif _runs(args):
        parts += ["--steps", str(100 if args.steps is None else args.steps), "--rate", str(args.rate),
                  "--seed", str(args.seed)]
    if args.verify:
        parts += ["--variables", args.variables, "--overflow", args.overflow]
    if args.to == "lava":
        parts += ["--reader", args.reader]
    if args.no_verify_hash:
        parts += ["--no-verify-hash"]
    if args.output:
        parts += ["--output", args.output]
    if args.json:
        parts += ["--json", args.json]
    return " ".join(parts + [args.network])


_write_json = write_json


def _check_size(net, steps: int, option: str) -> None:
    """The run's memory before drawing: inputs drawn as float64 and stored, hwsim's records (spikes,
    probes, per-core counters) and Lava's recorded s, u, v (int64)."""
    n_in = sum(node.size for node in net.inputs.values())
    n_comp = sum(p.size for p in net.populations.values())
    n_cores = sum(-(-p.size // net.spec.compartments_per_core) for p in net.populations.values())
    need = steps * (9 * n_in + 33 * n_comp + 96 * max(n_cores, 1) + 32)
    check_memory(f"{steps} steps of this network (inputs, hwsim and Lava records)", need, option)


_DEFAULTS = {"rate": 0.1, "seed": 0, "variables": "s,u,v", "overflow": "wrap", "reader": "fast"}


def _runs(args) -> bool:
    """Whether the target runs the network (and so takes inputs)."""
    return args.to == "lava" or (args.to == "netx" and args.verify)


def _unused_options(args) -> str:
    """A message naming the given options that the chosen target and mode do not use ('' if none)."""
    compares = args.verify and args.to in ("lava", "netx")
    drawn = _runs(args) and not args.inputs          # --rate / --seed shape the Bernoulli input only
    applies = {"--inputs": _runs(args), "--steps": _runs(args), "--rate": drawn, "--seed": drawn,
               "--variables": compares, "--overflow": compares, "--reader": args.to == "lava"}
    given = {"--inputs": args.inputs, "--steps": args.steps, "--rate": args.rate, "--seed": args.seed,
             "--variables": args.variables, "--overflow": args.overflow, "--reader": args.reader}
    unused = [flag for flag, value in given.items() if value is not None and not applies[flag]]
    if not unused:
        return ""
    mode = f"--to {args.to}" + (" --verify" if args.verify else "")
    return (f"{', '.join(unused)} do(es) not apply to {mode}{' --inputs' if args.inputs else ''} (inputs: --to "
            "lava, and --to netx --verify; --rate, --seed: the Bernoulli input, not --inputs; --variables, "
            "--overflow: --verify with lava or netx; --reader: --to lava)")


def run(args) -> int:
    """Entry point of ``hwlearn export`` (returns the exit status)."""
    from hwsim.io import FormatError, load_network, save_network
    from hwsim.spec import SpecError

    from hwsim.export.lava import UnexportableError

    bad = _unused_options(args)
    if bad:
        return _error(bad, EXIT_BAD_FILE)
    given_variables = args.variables
    for key, default in _DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, default)
    command = _command(args)
    variables = tuple(v.strip() for v in args.variables.split(",") if v.strip())
    if not variables or any(v not in ("s", "u", "v", "y") for v in variables):
        raise UsageError(f"--variables {args.variables!r}: use a comma-separated subset of s,u,v,y")
    if args.to == "hdf5" and args.verify:
        raise UsageError("--verify needs --to lava, netx or nir")
    if args.to in ("netx", "nir", "hdf5"):
        check_output(args.output or (args.network if args.to == "hdf5" else
                                     str(Path(args.network).with_suffix(_SUFFIX[args.to]))), "--output")
    elif args.output:
        raise UsageError("--output applies to --to netx, nir and hdf5 (--to lava builds processes in memory)")
    check_output(args.json, "--json")
    try:
        net = load_network(args.network, verify=not args.no_verify_hash)
    except (FormatError, FileNotFoundError, SpecError) as exc:
        return _error(str(exc), EXIT_BAD_FILE)
    if given_variables is None and any(p.kind in ("error", "learning") for p in net.populations.values()):
        variables, args.variables = variables + ("y",), args.variables + ",y"     # their output is y
        command = _command(args)

    uses_inputs = _runs(args)
    inputs, steps, source = {}, 0, ""
    try:
        if uses_inputs and args.inputs:
            inputs = _load_inputs(args.inputs, net)
            steps = int(next(iter(inputs.values())).shape[0])
            if steps < 1:
                return _error(f"{args.inputs}: the arrays have T=0 steps (the first axis is T)", EXIT_BAD_FILE)
            _check_size(net, steps, "--inputs")
            source = f"inputs from {args.inputs}"
        elif uses_inputs:
            steps = 100 if args.steps is None else args.steps
            _check_size(net, steps, "--steps")
            inputs = bernoulli_inputs(net, steps, args.rate, args.seed)
            source = f"Bernoulli inputs, rate {args.rate}, seed {args.seed}"
    except (ValueError, FileNotFoundError) as exc:
        return _error(str(exc), EXIT_BAD_FILE)

    if args.to == "nir":
        return _export_nir(net, args, command)
    if args.to == "netx":
        out = Path(args.output) if args.output else Path(args.network).with_suffix(_SUFFIX["netx"])
        try:
            from hwsim.export.netx import to_netx
            plan = to_netx(net, out)
        except UnexportableError as exc:
            return _error(f"cannot export to netx: {exc}", EXIT_UNEXPORTABLE)
        layers = ", ".join(f"{x.kind}->{x.population}" for x in plan.layers)
        print(f"wrote netx file {out} ({len(plan.layers)} layers: {layers})")
        print(f"  load with lava.lib.dl.netx.hdf5.Network({str(out)!r}"
              + "".join(f", {k}={v!r}" for k, v in plan.loader_kwargs().items()) + ")")
        if not args.verify:
            _write_json(args.json, {"command": command, "to": "netx", "output": str(out),
                                    "loader_kwargs": plan.loader_kwargs(), "status": EXIT_OK})
            return EXIT_OK
    if args.to == "hdf5":
        out = args.output or args.network
        save_network(net, out)
        print(f"wrote network {net.name!r} to {out}")
        _write_json(args.json, {"command": command, "to": "hdf5", "output": str(out), "status": EXIT_OK})
        return EXIT_OK

    from hwsim.export.lava import to_lava
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
        if args.to == "netx":
            from hwsim.export.netx import runner_for
            report = verify_against_lava(net, inputs, steps, variables, overflow=args.overflow,
                                         runner=runner_for(out), target=NETX_TARGET)
        else:
            report = verify_against_lava(net, inputs, steps, variables, overflow=args.overflow, reader=args.reader)
    except UnexportableError as exc:
        return _error(f"cannot export to {'netx' if args.to == 'netx' else 'Lava'}: {exc}", EXIT_UNEXPORTABLE)
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
    _write_json(args.json, {"command": command, "to": args.to, "verify": True, "source": source,
                            "status": status, "report": report.to_dict(),
                            **({"output": str(out)} if args.to == "netx" else {})})
    return status


def _export_nir(net, args, command) -> int:
    """``--to nir``: write the graph; with --verify read it back and compare every field."""
    from hwsim.export.lava import UnexportableError

    out = Path(args.output) if args.output else Path(args.network).with_suffix(_SUFFIX["nir"])
    try:
        from hwsim.export.nir import read_nir, write_nir
        summary = write_nir(net, out)
    except UnexportableError as exc:
        return _error(f"cannot export to NIR: {exc}", EXIT_UNEXPORTABLE)
    except ImportError as exc:
        return _error(str(exc), EXIT_UNEXPORTABLE)
    print(f"wrote NIR graph {out} ({summary})")
    status, diffs = EXIT_OK, []
    if args.verify:
        from hwsim.io import diff_networks
        diffs = diff_networks(net, read_nir(out))
        status = EXIT_MISMATCH if diffs else EXIT_OK
        print("read back: IDENTICAL chip network (every integer)" if not diffs else
              "read back: DIFFERENT network:\n  " + "\n  ".join(diffs))
    _write_json(args.json, {"command": command, "to": "nir", "output": str(out), "verify": bool(args.verify),
                            "differences": diffs, "status": status})
    return status


def main(argv=None) -> int:
    """Run ``export`` alone (same options, errors and exit statuses as ``hwlearn export``)."""
    from scripts.cli import main as cli_main

    return cli_main(["export"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
