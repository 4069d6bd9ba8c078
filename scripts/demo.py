"""``hwlearn demo`` (what ``make demo`` runs) on the bundled digits data:

1. on-chip OTTT_A with local blocks (64 -> 256 -> 256, one readout and error path per layer, T=8)
   trained in integers at Loihi's widths on the simulated chip, one sample at a time: the OTTT
   network (hwsim.circuits.ottt) run by the one Simulator on Lava's timing;
2. its cross-check against the float form of the same rule (identical weights and inputs), per
   layer, at Loihi's widths and at 16-bit weights and traces;
3. the export of the trained learning network to Lava (``runs/demo/demo_<rule>.h5`` with its host
   protocol) and ``hwlearn export --to lava --verify`` on 3 training samples: every step identical;
4. a summary table (accuracy, chip energy and work, agreement with float, the verification).

``--float-twin`` also trains the float form of the same rule on the same samples (about 2 more
minutes) and reports the gap. A few minutes on two CPU cores (most of it compiling kernels once).
"""
from __future__ import annotations

import argparse
import os
import sys

from scripts.options import int_type, seed_type


def format_table(rows: list[dict], cols: list[tuple]) -> str:
    cells = [[c for c, _ in cols]] + [[fmt.format(r[c]) if r.get(c) is not None else "-" for c, fmt in cols]
                                      for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args) -> int:
    import torch

    from rules.crosscheck import crosscheck, summary_table
    from rules.onchip import ChipTrainConfig, train_chip

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = ChipTrainConfig(rule=args.rule, local_blocks=True, epochs=args.epochs, seed=args.seed)
    print(f"[1/4] on-chip {cfg.rule} training, local blocks, Loihi widths (8-bit weights, 7-bit traces), "
          f"{cfg.epochs} epochs ...", flush=True)
    res = train_chip(cfg, twin=args.float_twin, progress=not args.no_progress)
    c = res["chip"]
    print("[2/4] cross-check against float at Loihi's widths ...", flush=True)
    cc8 = crosscheck(cfg, samples=args.samples, evaluate=False)
    print(summary_table(cc8))
    print("[3/4] cross-check at 16-bit weights and traces (12-bit input) ...", flush=True)
    cfg16 = ChipTrainConfig(rule=args.rule, local_blocks=True, epochs=args.epochs, seed=args.seed,
                            weight_bits=16, trace_bits=16, in_bits=12)
    cc16 = crosscheck(cfg16, samples=args.samples, evaluate=False)
    print(summary_table(cc16))
    print("[4/4] export the trained learning network to Lava and verify 3 samples with the host protocol ...",
          flush=True)
    from hwsim.io import save_network
    from scripts.cli import main as cli

    model = res["_model"]
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"demo_{cfg.rule}.h5")
    save_network(model.chip.current_network(), path, protocol=model.chip.protocol())
    verified = cli(["export", "--to", "lava", "--verify", path, "--samples", "3"]) == 0
    tot = c["counters"]
    row = {"backend": "chip (integer)", "rule": cfg.rule + " local", "test_acc": c["test_accuracy"],
           "train_acc": c["train_accuracy"], "seconds": c["seconds"],
           "energy_mJ": 1e3 * c["energy_J"], "syn_updates_per_sample": tot["synapse_updates"] / (cfg.epochs * 1437)}
    rows = [row]
    if "float" in res:
        f = res["float"]
        rows.append({"backend": "float twin", "rule": cfg.rule + " local", "test_acc": f["test_accuracy"],
                     "train_acc": f["train_accuracy"], "seconds": f["seconds"]})
    print()
    print("Summary (digits, 1437 train / 360 test, T=8):")
    print(format_table(rows, [("backend", "{}"), ("rule", "{}"), ("train_acc", "{:.2%}"), ("test_acc", "{:.2%}"),
                              ("seconds", "{:.1f}"), ("energy_mJ", "{:.2f}"), ("syn_updates_per_sample", "{:,.0f}")]))
    print(format_table(
        [{"widths": "Loihi (w8, t7)", "min_cos": cc8["min_update_cosine"], "max_rel": cc8["max_update_rel_error"],
          "spikes": cc8["min_spike_agreement"]},
         {"widths": "w16, t16", "min_cos": cc16["min_update_cosine"], "max_rel": cc16["max_update_rel_error"],
          "spikes": cc16["min_spike_agreement"]}],
        [("widths", "{}"), ("min_cos", "{:.4f}"), ("max_rel", "{:.3f}"), ("spikes", "{:.4f}")]))
    print("min_cos: smallest update cosine chip vs float over the learning projections; max_rel: largest "
          "relative update error; spikes: smallest per-layer spike agreement (docs/onchip.md).")
    print(f"Lava export of the trained network ({path}), 3 samples with the host protocol: "
          f"{'IDENTICAL' if verified else 'MISMATCH'}")
    return 0 if verified else 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rule", default="ottt-a", choices=("ottt-a", "ottt-o"), help="OTTT variant (default: ottt-a)")
    p.add_argument("--epochs", type=int_type("--epochs", 1, 1000), default=10,
                   help="on-chip training epochs, 1..1000 (default: 10)")
    p.add_argument("--samples", type=int_type("--samples", 1, 1437), default=256,
                   help="cross-check samples, 1..1437 (the digits training set) (default: 256)")
    p.add_argument("--seed", type=seed_type(), default=0, help="seed, 0..2**32-1 (default: 0)")
    p.add_argument("--float-twin", action="store_true", help="also train the float form of the same rule")
    p.add_argument("--threads", type=int_type("--threads", 1, 4096), default=None,
                   help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("--out", default=os.path.join("runs", "demo"), metavar="DIR",
                   help="where the trained network file is written (default: runs/demo)")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help="train on chip with OTTT_A (local blocks) on digits, cross-check "
                                           "against float, print a summary", description=__doc__)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def main(argv=None) -> int:
    """``python -m scripts.demo ...`` = ``hwlearn demo ...``."""
    from scripts.cli import main as cli_main

    return cli_main(["demo"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
