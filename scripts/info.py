"""``hwlearn info FILE.h5``: what one of our HDF5 files holds.

Examples::

    hwlearn info m.h5        # a checkpoint: rule, epochs, metrics, network, versions
    hwlearn info n.h5        # a chip network: spec, populations, projections, scales, float origin
    hwlearn info r.h5        # a run record: its entries, the embedded network

Prints the format and version, the integrity status (the SHA-256 in the file's hwlearn header
against its content; a file that fails is read in a child process first, as every loader does)
and a readable summary. A file that is not ours, truncated or damaged is an error (exit 2).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

FORMATS = ("hwlearn-network", "hwlearn-run", "hwlearn-checkpoint")


def _integrity(path) -> str:
    from hwsim.io import _read_header

    header, problem = _read_header(path)
    if header is None:
        return "no hwlearn header (written by another program or an old hwlearn); read with --no-verify-hash"
    if problem is None:
        return f"ok (SHA-256 {header['sha256'][:16]}... of {header['size']} bytes matches the header)"
    return f"{problem}: the content does NOT match the header (edited or damaged)"


def _network_lines(net) -> list:
    from hwsim.spec import LOIHI

    changed = {f.name: getattr(net.spec, f.name) for f in dataclasses.fields(net.spec)
               if getattr(net.spec, f.name) != getattr(LOIHI, f.name)}
    lines = [f"network {net.name!r}: spec {'Loihi' if not changed else 'Loihi + ' + str(changed)}"]
    for i in net.inputs.values():
        lines.append(f"  input {i.name}: shape {tuple(i.shape)}, {'graded' if i.graded else 'binary'}")
    for p in net.populations.values():
        lines.append(f"  population {p.name}: shape {tuple(p.shape)}, {p.kind}, vth={p.vth} (threshold "
                     f"{p.vth << 6}), du={p.du}, dv={p.dv}, bias nonzero {int((p.bias_mant != 0).sum())}")
    for j in net.projections.values():
        w = j.weights
        lines.append(f"  projection {j.name}: {type(j).__name__.replace('Projection', '').lower()} {j.src} -> "
                     f"{j.dst}, weights {tuple(w.shape)} {w.dtype} in [{int(w.min())}, {int(w.max())}], "
                     f"weight_exp={j.weight_exp}, num_weight_bits={j.num_weight_bits}, {j.sign_mode}"
                     + (", learning" if getattr(j, "learning", None) is not None else ""))
    if net.probes:
        lines.append(f"  probes: {[(p.target, p.var) for p in net.probes]}")
    return lines


def _describe(value, depth=0, name="", limit=40) -> list:
    import numpy as np

    pad = "  " * depth
    if isinstance(value, np.ndarray):
        return [f"{pad}{name}: array {value.shape} {value.dtype}"]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [f"{pad}{name}: {type(value).__name__}"]
    if isinstance(value, dict):
        out = [f"{pad}{name}: dict of {len(value)}"] if name else []
        for i, (k, v) in enumerate(value.items()):
            if i >= limit:
                out.append(f"{pad}  ... {len(value) - limit} more")
                break
            out += _describe(v, depth + (1 if name else 0), str(k), limit)
        return out
    if isinstance(value, (list, tuple)):
        return [f"{pad}{name}: {type(value).__name__} of {len(value)}"]
    return [f"{pad}{name}: {value!r}"[:160]]


def run(args) -> int:
    from hwsim.io import FormatError, _open_checked, _read_network

    path = args.file
    try:
        f, fmt = _open_checked(path, FORMATS)
        try:
            version = int(f.attrs["format_version"])
            minor = int(f.attrs.get("format_minor", 0))
            written_by = f.attrs.get("hwlearn_version", "?")
            has_chipmodel = "chipmodel" in f
            has_net = fmt == "hwlearn-network" or "network" in f
            net = None
            if fmt == "hwlearn-network":
                net = _read_network(f, "")
            elif fmt == "hwlearn-run" and "network" in f:
                net = _read_network(f["network"], "/network")
        finally:
            f.close()
        lines = [f"{path}: {fmt} format {version}.{minor}, written by hwlearn {written_by}",
                 f"integrity: {_integrity(path)}"]
        if fmt == "hwlearn-checkpoint":
            from rules import checkpoint as ck
            lines.append("float training checkpoint (hwlearn train --save):")
            lines += ["  " + s for s in ck.summary(ck.load(path))]
        elif fmt == "hwlearn-network" and has_chipmodel:
            from models.quantize_io import load_chip_model
            cm, meta = load_chip_model(path)
            lines += _network_lines(cm.network)
            lines.append(f"quantized float network (hwlearn quantize): scale policy {cm.report.scale_policy}, "
                         f"input {'graded x' + str(cm.input_scale) if cm.input_graded else 'binary spikes'}, "
                         f"host readout {cm.readout_weight.shape[1]} -> {cm.readout_weight.shape[0]}")
            for r in cm.report.layers:
                lines.append(f"  {r.population}: scale {r.scale:.1f}, weight step {r.weight_step:.3g}, clipped "
                             f"{100 * r.clipped_share:.2f}%, zeroed {100 * r.zeroed_share:.2f}%, overflow risk "
                             f"{'yes' if r.overflow_risk else 'no'}")
            lines.append("  from: " + ", ".join(f"{k}={v}" for k, v in meta.items()))
        elif net is not None and fmt == "hwlearn-network":
            lines += _network_lines(net)
        if fmt == "hwlearn-run":
            from hwsim.io import load_run
            rec = load_run(path, rebuild=False)
            lines.append("run record:")
            lines += _describe(rec if isinstance(rec, dict) else vars(rec), 1)
            if net is not None:
                lines.append("embedded network:")
                lines += ["  " + s for s in _network_lines(net)]
            elif not has_net:
                lines.append("no embedded network")
    except (FormatError, ValueError, FileNotFoundError) as exc:
        print(f"hwlearn info: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("info", help="show what an hwlearn HDF5 file holds", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE.h5", help="a network, run record or checkpoint")
    p.set_defaults(func=run)
    return p
