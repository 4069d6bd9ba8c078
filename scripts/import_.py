"""``hwlearn import``: a NIR graph onto the chip.

Examples::

    hwlearn import net.nir -o net.h5                  # our own export: the identical chip network
    hwlearn import snntorch_mlp.nir -o chip.h5        # a peer's float graph: float reference -> quantize
    hwlearn import norse.nir -o chip.h5 --dt 1e-3     # time constants written for another step

A graph written by ``hwlearn export --to nir`` carries our integers as metadata and comes back
exactly. A float graph from another library (snnTorch, Norse, ...) is read as a chain of
Linear / Affine / Conv2d -> LIF / CubaLIF layers, built as our float reference
(``models.nir_import``) and quantized to the chip with ``models.quantize`` (Loihi widths).

Exit status: 0 written; 2 bad arguments, unreadable file, unsupported node (named, with its type)
or a float graph that does not quantize; no output file is written on error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_BAD_INPUT, EXIT_MISSING = 0, 2, 3


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``import`` on the ``hwlearn`` sub-command parser."""
    p = subparsers.add_parser(
        "import", help="import a NIR graph (ours exactly, a peer's float graph quantized) as a chip network",
        description="Read a NIR file and write a chip network (hwsim.io HDF5). Graphs exported by hwlearn come "
                    "back exactly (every integer); float graphs from other libraries are built as the float "
                    "reference and quantized to the chip at Loihi's widths.",
        epilog="exit status: 0 written; 2 bad arguments, unreadable file, unsupported NIR node (named) or a graph "
               "that does not quantize (no output file is written); 3 the nir package is missing",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("nir_file", metavar="FILE.nir", help="NIR graph (nir.write / hwlearn export --to nir)")
    p.add_argument("--output", "-o", metavar="NET.h5", required=True, help="chip network file to write")
    p.add_argument("--dt", type=float, default=None, metavar="S",
                   help="float graphs only: seconds per step used to discretise the time constants "
                        "(default 1e-4, snnTorch's NIR convention)")
    p.add_argument("--weight-bits", type=int, default=None, metavar="B",
                   help="float graphs only: num_weight_bits of every projection (1..8, default 8)")
    p.add_argument("--name", default=None, help="float graphs only: name of the chip network (default: file stem)")
    p.set_defaults(func=run)
    return p


def _error(msg: str, code: int) -> int:
    print(f"hwlearn import: error: {msg}", file=sys.stderr)
    return code


def run(args) -> int:
    """Entry point of ``hwlearn import`` (returns the exit status)."""
    from hwsim.export.nir import DT, NirError, is_hwlearn_graph, network_from_graph, read_float_graph, require_nir
    from hwsim.io import save_network
    from hwsim.spec import SpecError

    if args.dt is not None and not (args.dt > 0 and args.dt < float("inf")):
        return _error(f"--dt {args.dt} must be a positive number of seconds", EXIT_BAD_INPUT)
    if args.weight_bits is not None and not 1 <= args.weight_bits <= 8:
        return _error(f"--weight-bits {args.weight_bits} is outside the allowed range [1, 8]", EXIT_BAD_INPUT)
    try:
        nir = require_nir("hwlearn import")
    except ImportError as exc:
        return _error(str(exc), EXIT_MISSING)
    path = Path(args.nir_file)
    if not path.is_file():
        return _error(f"{path}: no such file", EXIT_BAD_INPUT)
    try:
        from hwsim.io import read_format
        fmt, _ = read_format(path)
    except Exception:
        fmt = None
    if fmt is not None:
        return _error(f"{path}: is a {fmt} file, not a NIR graph (hwlearn export NET.h5 --to nir writes "
                      "one)", EXIT_BAD_INPUT)
    try:
        graph = nir.read(str(path), type_check=False)
    except Exception as exc:
        return _error(f"{path}: not a readable NIR file ({type(exc).__name__}: {exc})", EXIT_BAD_INPUT)
    try:
        if is_hwlearn_graph(graph):
            for flag, value in (("--dt", args.dt), ("--weight-bits", args.weight_bits), ("--name", args.name)):
                if value is not None:
                    return _error(f"{flag} applies to float graphs; {path} carries hwlearn's integers and is "
                                  "imported exactly", EXIT_BAD_INPUT)
            net = network_from_graph(graph, str(path))
            save_network(net, args.output)
            print(f"{path}: hwlearn NIR graph -> chip network {net.name!r} (exact: {len(net.populations)} "
                  f"populations, {len(net.projections)} projections)")
            print(f"wrote {args.output}")
            return EXIT_OK
        from models.nir_import import spiking_net_from_nir
        from models.quantize import quantize

        fg = read_float_graph(graph, DT if args.dt is None else args.dt)
        fnet = spiking_net_from_nir(fg)
        kw = {} if args.weight_bits is None else {"weight_bits": args.weight_bits}
        chip = quantize(fnet, input_name=fg.input, name=args.name or path.stem, **kw)
    except (NirError, SpecError, ValueError, NotImplementedError) as exc:
        return _error(str(exc), EXIT_BAD_INPUT)
    save_network(chip.network, args.output)
    layers = " -> ".join([f"{fg.input}{list(fg.input_shape)}"] + [f"{l.kind}:{l.synapse}/{l.neuron}{list(l.shape)}"
                                                                  for l in fg.layers])
    print(f"{path}: float NIR graph (dt={fg.dt:g} s): {layers}")
    print(f"float reference: cuba LIF, du={fnet.config.neuron.du:.6g}, dv={fnet.config.neuron.dv:.6g}, v_th=1")
    print("quantized to the chip (Loihi widths):")
    print(chip.report)
    print(f"wrote {args.output}")
    return EXIT_OK


def main(argv=None) -> int:
    """``python -m scripts.import_ ...`` = ``hwlearn import ...`` (same errors and exit statuses)."""
    from scripts.cli import main as cli_main

    return cli_main(["import"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
