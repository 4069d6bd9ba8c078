"""``hwlearn train``: train a spiking MLP on digits (or MNIST IDX files) with one of the rules.

Examples::

    hwlearn train --rule ottt-a --dataset digits --T 8 --seed 0 --json runs/ottt-a_0.json
    hwlearn train --backend chip --rule ottt-a --local-blocks --dataset digits --json runs/chip.json

``--save RUN.h5`` writes a checkpoint of the float run (config, weights, optimizer, scheduler and
random-number state, per-epoch metrics, versions; ``rules.checkpoint``); ``--resume RUN.h5
--epochs N`` continues it for N more epochs, bit-identically to an uninterrupted run over the same
schedule (``--schedule-epochs``: the cosine horizon, default ``--epochs``)::

    hwlearn train --rule bptt --epochs 2 --schedule-epochs 4 --save m.h5
    hwlearn train --resume m.h5 --epochs 2 --save m.h5      # == hwlearn train --rule bptt --epochs 4

``--backend chip`` trains on the simulated chip (integer OTTT circuit, ``rules.onchip``): one
sample at a time, at Loihi's widths unless ``--weight-bits`` etc. say otherwise; ``--float-twin``
also trains the float form of the same rule on the same samples and reports both.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

RULE_HELP = ("bptt: full backprop through time (STBP); ottt-a: OTTT, one update per batch; "
             "ottt-o: OTTT, one update per time step; ttl: temporally-truncated local BPTT; "
             "rate-m / rate-s: rate-based backprop, multi-step / single-step")


def _positive_int(name):
    def parse(text):
        try:
            val = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if val < 1:
            raise argparse.ArgumentTypeError(f"{name} must be >= 1, got {val}")
        return val
    return parse


def _hidden(text):
    try:
        sizes = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--hidden must list positive layer sizes, got {text!r}")
    return sizes


def _bits(name, lo, hi):
    def parse(text):
        try:
            val = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if not lo <= val <= hi:
            raise argparse.ArgumentTypeError(f"{name}={val} is outside the allowed range [{lo}, {hi}]")
        return val
    return parse


def add_chip_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the on-chip OTTT circuit (``train --backend chip`` and ``crosscheck``)."""
    p.add_argument("--local-blocks", action="store_true",
                   help="one readout head and error path per hidden layer (local learning, no backward "
                        "pass through the layers)")
    p.add_argument("--feedback", default="mirror", choices=("mirror", "random"),
                   help="error feedback weights: mirror (copy of the readout, updated with it) or random "
                        "(fixed) (default: mirror)")
    p.add_argument("--weight-bits", type=_bits("--weight-bits", 2, 16), default=None,
                   help="chip weight magnitude bits (default: Loihi's 8)")
    p.add_argument("--trace-bits", type=_bits("--trace-bits", 3, 16), default=None,
                   help="chip trace / third-factor bits (default: Loihi's 7)")
    p.add_argument("--accumulator-bits", type=_bits("--accumulator-bits", 4, 31), default=None,
                   help="learning accumulator magnitude bits (default: 15, or weight bits + 7)")
    p.add_argument("--tag-bits", type=_bits("--tag-bits", 1, 16), default=None,
                   help="tag bits (OTTT_A accumulates there; default: 8, or the weight bits)")
    p.add_argument("--weight-range", type=float, default=8.0,
                   help="chip weight range as a multiple of the largest initial weight, rounded up to a "
                        "power of two (default: 8)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rules.train import DATASETS, OPTIMIZERS, RULES
    from models.encoders import ENCODERS
    from rules.base import LOSSES

    p.add_argument("--rule", default=None, choices=RULES, help=RULE_HELP + " (required unless --resume)")
    p.add_argument("--backend", default="float", choices=("float", "chip"),
                   help="float: PyTorch; chip: the simulated chip's integer OTTT circuit (ottt-a, ottt-o) "
                        "(default: float)")
    add_chip_arguments(p)
    p.add_argument("--float-twin", action="store_true",
                   help="chip backend: also train the float form of the same rule (same samples, order and "
                        "initial weights) and report the gap")
    p.add_argument("--dataset", default="digits", choices=DATASETS,
                   help="digits: bundled scikit-learn 8x8 digits (1437 train / 360 test); "
                        "mnist: IDX files in --data-dir (default: digits)")
    p.add_argument("--data-dir", default=None, help="folder with the dataset files (needed for mnist)")
    p.add_argument("--T", type=_positive_int("--T"), default=8, help="time steps per sample (default: 8)")
    p.add_argument("--encoder", default="direct", choices=ENCODERS,
                   help="input encoding: direct (analog value every step), rate (Bernoulli), latency "
                        "(default: direct)")
    p.add_argument("--hidden", type=_hidden, default=(256, 256),
                   help="hidden layer sizes, comma-separated (default: 256,256)")
    p.add_argument("--epochs", type=_positive_int("--epochs"), default=None,
                   help="training epochs (default: the rule's, see docs/training.md; chip: 10)")
    p.add_argument("--batch-size", type=_positive_int("--batch-size"), default=32, help="batch size (default: 32)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: the rule's; chip: 0.01 per sample, loss 0.5*squared error)")
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS,
                   help="optimizer; cosine-annealed over the epochs (default: adam)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: 0.9)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="weight decay (default: 0)")
    p.add_argument("--leak", type=float, default=None,
                   help="LIF leak lambda in [0, 1] (default: 0.5 for bptt/ottt/ttl, 0.2 for rate-*)")
    p.add_argument("--alpha", type=float, default=4.0, help="sigmoid surrogate sharpness alpha (default: 4)")
    p.add_argument("--truncation", "-K", type=_positive_int("--truncation"), default=None,
                   help="ttl: truncation window K in [1, T] (default: 2)")
    p.add_argument("--block-size", "-B", type=_positive_int("--block-size"), default=1,
                   help="ttl: spiking layers per local block (default: 1)")
    p.add_argument("--mse-weight", type=float, default=0.05,
                   help="ottt: MSE share lambda_L of the instantaneous loss (default: 0.05)")
    p.add_argument("--loss", default="ce", choices=LOSSES,
                   help="bptt/ttl loss on the time-averaged readout: ce, or chenli-standin (a documented "
                        "stand-in for Chen & Li's modified loss: MSE to one-hot; see docs/training.md)")
    p.add_argument("--init", default="default", choices=("default", "chen-li"),
                   help="weight initialization: default (PyTorch's) or chen-li (Chen & Li style: every layer "
                        "calibrated to fire, see docs/models.md) (default: default)")
    p.add_argument("--seed", type=int, default=0, help="seed for init, batch order and encoders (default: 0)")
    p.add_argument("--limit", type=_positive_int("--limit"), default=None,
                   help="train on the first N samples only (smoke tests)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=_positive_int("--threads"), default=None,
                   help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bar")
    p.add_argument("--json", default=None, metavar="PATH", help="write the result as JSON to PATH")
    p.add_argument("--save", default=None, metavar="RUN.h5",
                   help="float backend: write a checkpoint (HDF5: config, weights, optimizer, random-number "
                        "state, metrics) to RUN.h5 after training; `hwlearn info RUN.h5` shows it")
    p.add_argument("--resume", default=None, metavar="RUN.h5",
                   help="float backend: continue the run saved in RUN.h5 for --epochs more epochs (its config "
                        "is used; options that differ from it are refused)")
    p.add_argument("--schedule-epochs", type=_positive_int("--schedule-epochs"), default=None,
                   help="horizon of the cosine learning-rate schedule in epochs (default: --epochs); a run "
                        "saved after E epochs of a horizon H and resumed for H - E more equals H straight epochs")


def config_from_args(args):
    from rules.train import TrainConfig

    return TrainConfig(rule=args.rule or "ottt-a", dataset=args.dataset, data_dir=args.data_dir, T=args.T,
                       encoder=args.encoder, hidden=args.hidden, epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                       momentum=args.momentum, weight_decay=args.weight_decay, leak=args.leak,
                       alpha=args.alpha, truncation=args.truncation, block_size=args.block_size,
                       mse_weight=args.mse_weight, loss=args.loss, init=args.init, seed=args.seed, limit=args.limit,
                       device=args.device, local_blocks=args.local_blocks, feedback=args.feedback,
                       schedule_epochs=args.schedule_epochs)


def chip_config_from_args(args, **extra):
    from rules.onchip import ChipTrainConfig

    kw = dict(rule=args.rule, local_blocks=args.local_blocks, feedback=args.feedback, T=args.T,
              hidden=args.hidden, weight_bits=args.weight_bits, trace_bits=args.trace_bits,
              accumulator_bits=args.accumulator_bits, tag_bits=args.tag_bits, weight_range=args.weight_range,
              seed=args.seed, dataset=args.dataset, data_dir=args.data_dir, limit=args.limit)
    for name in ("epochs", "lr", "leak", "alpha"):
        if getattr(args, name, None) is not None:
            kw[name] = getattr(args, name)
    kw.update(extra)
    return ChipTrainConfig(**kw)


def run_chip(args) -> int:
    from hwsim.spec import SpecError
    from rules.onchip import train_chip

    if args.encoder != "direct":
        print("hwlearn train: error: --backend chip takes graded (direct) input only; --encoder="
              f"{args.encoder!r} is not supported there", file=sys.stderr)
        return 2
    try:
        cfg = chip_config_from_args(args)
        res = train_chip(cfg, twin=args.float_twin, progress=not args.no_progress)
    except (ValueError, SpecError, FileNotFoundError) as exc:
        print(f"hwlearn train: error: {exc}", file=sys.stderr)
        return 2
    res.pop("_model")
    c = res["chip"]
    line = (f"chip {cfg.rule}{' local-blocks' if cfg.local_blocks else ''}: T={cfg.T} epochs={cfg.epochs} "
            f"seed={cfg.seed} train_acc={c['train_accuracy']:.4f} test_acc={c['test_accuracy']:.4f} "
            f"steps/s={c['steps_per_s']:.0f} energy={c['energy_J'] * 1e3:.3f} mJ")
    if "float" in res:
        f = res["float"]
        res["gap_points"] = 100.0 * (f["test_accuracy"] - c["test_accuracy"])
        line += f" | float twin test_acc={f['test_accuracy']:.4f} gap={res['gap_points']:+.2f} points"
    res["rule"], res["seed"], res["backend"] = cfg.rule, cfg.seed, "chip"
    res["test_accuracy"] = c["test_accuracy"]
    print(line)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


# TrainConfig fields that --resume may not change (epochs means "more epochs"; device, data_dir
# and limit-free bookkeeping may differ between machines)
_RESUME_FREE = {"epochs", "device", "data_dir"}


def _given_config_fields(args) -> dict:
    """TrainConfig fields whose command-line value differs from the parser default (given by the user)."""
    from dataclasses import asdict

    p = argparse.ArgumentParser()
    add_arguments(p)
    default = asdict(config_from_args(p.parse_args([])))
    mine = asdict(config_from_args(args))
    given = {k: v for k, v in mine.items() if v != default[k] and k not in _RESUME_FREE}
    if args.rule is not None:
        given["rule"] = args.rule
    return given


def _resume(args):
    """(config, resume hook, checkpoint) for --resume; CheckpointError / FormatError on mismatch."""
    from rules import checkpoint as ck

    if args.epochs is None:
        raise ValueError("--resume needs --epochs N (the number of epochs to add)")
    ckpt = ck.load(args.resume)
    ck.check_compatible(ckpt, **_given_config_fields(args))
    cfg = ck.resume_config(ckpt, args.epochs)
    if args.device != "auto":
        from dataclasses import replace
        cfg = replace(cfg, device=args.device)
    if args.data_dir:
        from dataclasses import replace
        cfg = replace(cfg, data_dir=args.data_dir)
    return cfg, ck.resume_fn(ckpt), ckpt


def run(args) -> int:
    import torch

    from rules.train import train

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.rule is None and args.resume is None:
        print("hwlearn train: error: the following arguments are required: --rule (or --resume RUN.h5)",
              file=sys.stderr)
        return 2
    if args.backend == "chip":
        if args.save or args.resume:
            print("hwlearn train: error: --save/--resume are for --backend float; the chip's learning-state "
                  "checkpoint comes with the on-chip learning engine (issue 8)", file=sys.stderr)
            return 2
        return run_chip(args)
    if args.float_twin:
        print("hwlearn train: error: --float-twin needs --backend chip", file=sys.stderr)
        return 2
    from hwsim.io import FormatError

    try:
        hook = ckpt = None
        if args.resume:
            cfg, hook, ckpt = _resume(args)
            print(f"resuming {args.resume}: {cfg.rule}, {ckpt['epochs_done']} epochs done, "
                  f"training epochs {ckpt['epochs_done'] + 1}..{cfg.epochs}")
        else:
            cfg = config_from_args(args)
        if args.save:
            _check_writable(args.save)
        result = train(cfg, progress=not args.no_progress, resume=hook)
    except (ValueError, FileNotFoundError, FormatError) as exc:
        print(f"hwlearn train: error: {exc}", file=sys.stderr)
        return 2
    cfg = result.state.config
    out = result.to_json()
    print(f"{out['rule']}: T={cfg.T} epochs={result.epochs} seed={cfg.seed} "
          f"train_acc={result.train_accuracy:.4f} test_acc={result.test_accuracy:.4f} "
          f"saved_bytes/step={result.saved_bytes_per_step} seconds={result.seconds:.1f}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    if args.save:
        from rules import checkpoint as ck
        ck.save(args.save, result)
        print(f"saved checkpoint {args.save}: {cfg.rule}, {result.state.epochs_done} epochs "
              f"(schedule over {cfg.schedule_epochs}), sha256 {ck.file_sha256(args.save)[:16]}")
    return 0


def _check_writable(path: str) -> None:
    """Refuse, before training, an output path whose folder does not exist or is not writable."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"--save={path!r}: folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"--save={path!r}: folder {folder!r} is not writable")
    if os.path.isdir(path):
        raise ValueError(f"--save={path!r} is a directory")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train a spiking network with one learning rule",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="hwlearn-train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
