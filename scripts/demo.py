"""``hwlearn demo`` (what ``make demo`` runs): train the default spiking MLP (64 -> 256 -> 256 ->
readout, T=8, direct encoding, discrete LIF lambda=0.5) with OTTT_A on the bundled digits data and
print a result table. Takes well under two minutes on two CPU cores.
"""
from __future__ import annotations

import argparse


def format_table(rows: list[dict]) -> str:
    cols = [("rule", "{}"), ("T", "{}"), ("epochs", "{}"), ("train_acc", "{:.2%}"), ("test_acc", "{:.2%}"),
            ("saved_bytes/step", "{:,}"), ("seconds", "{:.1f}")]
    cells = [[c for c, _ in cols]] + [[fmt.format(r[c]) for c, fmt in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args) -> int:
    import torch

    from rules.train import TrainConfig, train

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig(rule=args.rule, T=args.T, epochs=args.epochs, seed=args.seed)
    res = train(cfg, progress=not args.no_progress)
    print(format_table([{"rule": cfg.rule, "T": cfg.T, "epochs": res.epochs, "train_acc": res.train_accuracy,
                         "test_acc": res.test_accuracy, "saved_bytes/step": res.saved_bytes_per_step,
                         "seconds": res.seconds}]))
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rules.train import RULES

    p.add_argument("--rule", default="ottt-a", choices=RULES, help="learning rule (default: ottt-a)")
    p.add_argument("--T", type=int, default=8, help="time steps (default: 8)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the rule's)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help="train the default MLP with OTTT_A on digits and print a table",
                              description=__doc__)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="hwlearn-demo", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
