"""``hwlearn quantize``: post-training quantization of a trained float network into the chip IR.

Examples::

    hwlearn quantize m.h5 -o n.h5                              # Loihi's widths, exact scales, netx-exportable
    hwlearn quantize m.h5 -o c.h5 --target chip                # every weight exponent (hwsim and Lava only)
    hwlearn quantize m.h5 -o n4.h5 --num-weight-bits 4         # 4-bit weights in Loihi's 8-bit field
    hwlearn quantize m.h5 -o p.h5 --scale pow2 --uv-bits 20 --target chip   # power-of-two scales, a narrower
                                                                            # state (netx needs Loihi's 24 bits)

Reads a checkpoint written by ``hwlearn train --save`` (MLP or ConvNet; average pooling folded into
the next projection), maps every spiking layer to one chip population and projection under a
ChipSpec (every width and limit is a flag, Loihi's by default) and writes an ``hwlearn-network``
file that also records the host readout, the layer scales and the float checkpoint it came from
(path and SHA-256), for ``hwlearn run`` and ``hwlearn export``. Prints per layer the weight range
mapped, the scale and weight grid, the share of weights clipped or zeroed, and the overflow risk
(worst-case membrane against the chip's state range). A layer whose weights all quantize to zero
is an error. The default target, netx, keeps the network expressible in lava-dl's netx files (so
``hwlearn export NET.h5 --to netx`` takes it) and refuses one it cannot be, naming the layer, the
value and the limit; ``--target chip`` uses every weight exponent of the chip. The float networks
``hwlearn train`` builds reset softly (v -= v_th); the chip resets to zero, so ``--soft-reset hard`` (the default) maps one to the other (``hwlearn run`` reports the
accuracy of both) and ``--soft-reset error`` refuses such networks.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys

from scripts.options import float_type, int_type, pow2_type


def _spec_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_spec_arguments(p: argparse.ArgumentParser) -> None:
    """One flag per ChipSpec field (default: Loihi's value), range-checked on parsing."""
    from hwsim.spec import _FIELD_BOUNDS, LOIHI, ChipSpec

    g = p.add_argument_group("chip widths and limits (hwsim.spec.ChipSpec; default: Loihi's)")
    for f in dataclasses.fields(ChipSpec):
        lo, hi = _FIELD_BOUNDS[f.name]
        flag = _spec_flag(f.name)
        g.add_argument(flag, dest=f"spec_{f.name}", type=int_type(flag, lo, hi), default=None, metavar="N",
                       help=f"{f.name} in [{lo}, {hi}] (default: {getattr(LOIHI, f.name)})")


def spec_from_args(args):
    from hwsim.spec import LOIHI, ChipSpec

    changes = {f.name: getattr(args, f"spec_{f.name}") for f in dataclasses.fields(ChipSpec)
               if getattr(args, f"spec_{f.name}", None) is not None}
    return LOIHI.replace(**changes) if changes else LOIHI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", metavar="RUN.h5", help="float checkpoint from `hwlearn train --save`")
    p.add_argument("-o", "--output", required=True, metavar="NET.h5", help="chip network file to write")
    p.add_argument("--scale", default="exact", choices=("exact", "pow2"),
                   help="scale policy (models.scales): exact (full mantissa range, threshold exact) or pow2 "
                        "(power-of-two scales, every conversion a shift) (default: exact)")
    p.add_argument("--target", default="netx", choices=("chip", "netx"),
                   help="what must run the network (models.scales): netx (hwsim, Lava and lava-dl's netx files: "
                        "weight exponent 0, biases in multiples of 64, graded input x16, state headroom down to "
                        "each layer's worst case; refused here, naming the layer, if netx cannot express it) or "
                        "chip (hwsim and Lava only: every weight exponent, graded input x256) (default: netx; "
                        "both give the same accuracy on digits, docs/pipeline.md)")
    p.add_argument("--input-scale", type=pow2_type("--input-scale", 1, 1 << 16), default=None, metavar="Q",
                   help="graded (direct-encoded) input: payload round(x * Q), a power of two in [1, 65536]; a "
                        "smaller Q leaves room for finer first-layer weights, which the netx target needs "
                        "(default: 16 for netx, exact for the digits' pixel / 16; 256 for chip)")
    p.add_argument("--num-weight-bits", type=int_type("--num-weight-bits", 1, 16), default=None, metavar="B",
                   help="weight precision of every projection within the spec's weight field (default: "
                        "--weight-bits); lower values keep the file exportable to Lava at Loihi's widths")
    p.add_argument("--headroom", type=float_type("--headroom", 1.0, math.inf), default=64.0,
                   help="|u|, |v| up to this many thresholds must fit the chip state (default: 64)")
    p.add_argument("--soft-reset", default="hard", choices=("hard", "error"),
                   help="a soft-reset float net: map to the chip's reset to zero (hard) or refuse (error) "
                        "(default: hard)")
    add_spec_arguments(p)


def format_report(cm) -> str:
    rows = [f"{'layer':<7} {'kind':<5} {'size':>6} {'weight range':>19} {'scale':>10} {'step':>9} {'wexp':>4} "
            f"{'nwb':>3} {'clipped':>8} {'zeroed':>8}  overflow risk"]
    for r in cm.report.layers:
        size = int(cm.network.populations[r.population].size)
        lo, hi = r.weight_range
        risk = (f"YES: worst |v| {max(r.u_bound, r.v_bound):.3g} > {r.state_range:.3g} thresholds"
                if r.overflow_risk else f"no (worst |v| {max(r.u_bound, r.v_bound):.3g} of {r.state_range:.3g})")
        rows.append(f"{r.population:<7} {r.kind:<5} {size:>6} {f'[{lo:+.3f}, {hi:+.3f}]':>19} {r.scale:>10.1f} "
                    f"{r.weight_step:>9.2e} {r.weight_exp:>4} {r.num_weight_bits:>3} "
                    f"{100 * r.clipped_share:>7.2f}% {100 * r.zeroed_share:>7.2f}%  {risk}")
        for n in r.notes:
            rows.append(f"        note: {n}")
    return "\n".join(rows)


def run(args) -> int:
    from hwsim.io import FormatError
    from hwsim.spec import SpecError
    from models.quantize import QuantizationError, quantize
    from models.quantize_io import save_chip_model
    from rules import checkpoint as ck

    def fail(msg) -> int:
        print(f"hwlearn quantize: error: {msg}", file=sys.stderr)
        return 2

    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        return fail(f"-o {args.output!r}: folder {out_dir!r} does not exist")
    if os.path.abspath(args.output) == os.path.abspath(args.checkpoint):
        return fail(f"-o {args.output!r} would overwrite the checkpoint it reads")
    try:
        spec = spec_from_args(args)
        if args.num_weight_bits is not None and args.num_weight_bits > spec.weight_bits:
            return fail(f"--num-weight-bits={args.num_weight_bits} is outside the allowed range "
                        f"[1, {spec.weight_bits}] (the spec's --weight-bits)")
        c = ck.load(args.checkpoint)
        net = ck.net_from_checkpoint(c)
        cfg = c["config"]
        graded = cfg["encoder"] == "direct"
        if args.input_scale is not None and not graded:
            return fail(f"--input-scale applies to a graded (direct-encoded) input; {args.checkpoint} was trained "
                        f"with --encoder {cfg['encoder']} (binary spikes in)")
        cm = quantize(net, spec, input_graded=graded, weight_bits=args.num_weight_bits, input_scale=args.input_scale,
                      headroom=args.headroom, scale_policy=args.scale, soft_reset=args.soft_reset,
                      name=f"{cfg['rule']}-quantized", target=args.target)
    except (FormatError, SpecError, QuantizationError, ck.CheckpointError, FileNotFoundError) as exc:
        return fail(exc)
    except NotImplementedError as exc:
        return fail(f"{args.checkpoint}: {exc}")
    meta = {"float_checkpoint": os.path.abspath(args.checkpoint), "float_sha256": ck.file_sha256(args.checkpoint),
            "rule": cfg["rule"], "dataset": cfg["dataset"], "T": int(cfg["T"]), "encoder": cfg["encoder"],
            "seed": int(cfg["seed"]), "scale_policy": args.scale, "target": args.target,
            "input_scale": int(cm.input_scale), "soft_reset": args.soft_reset,
            "num_weight_bits": int(cm.report.layers[0].num_weight_bits), "headroom": float(args.headroom),
            "float_test_accuracy": float(c["metrics"]["test_accuracy"])}
    save_chip_model(args.output, cm, meta)
    n = cm.network
    changed = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)
               if getattr(spec, f.name) != getattr(type(spec)(), f.name)}
    print(f"quantized {args.checkpoint} ({cfg['rule']}, {c['epochs_done']} epochs, float test_acc="
          f"{c['metrics']['test_accuracy']:.4f}) with scale policy {args.scale}, target {args.target}, spec "
          f"{'Loihi' if not changed else 'Loihi + ' + str(changed)}, input "
          f"{'graded x' + str(cm.input_scale) if cm.input_graded else 'binary spikes'}")
    print(format_report(cm))
    print(f"readout (host, float): {cm.readout_weight.shape[1]} -> {cm.readout_weight.shape[0]}")
    print(f"wrote {args.output}: {len(n.populations)} populations, {len(n.projections)} projections, "
          f"{sum(int(p.size) for p in n.populations.values())} compartments, "
          f"{sum(int(p.weights.size) for p in n.projections.values())} weights")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("quantize", help="post-training quantization of a float checkpoint into a chip network",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def main(argv=None) -> int:
    """``python -m scripts.quantize ...`` = ``hwlearn quantize ...`` (same errors and exit statuses)."""
    from scripts.cli import main as cli_main

    return cli_main(["quantize"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
