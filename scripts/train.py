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
import math
import sys

from scripts.options import (MAX_BATCH, MAX_EPOCHS, MAX_LAYER, MAX_T, UsageError, check_data_dir, check_memory,
                             check_output, device_type, float_type, hidden_type, int_type, seed_type, write_json)

RULE_HELP = ("bptt: full backprop through time (STBP); ottt-a: OTTT, one update per batch; "
             "ottt-o: OTTT, one update per time step; ttl: temporally-truncated local BPTT; "
             "rate-m / rate-s: rate-based backprop, multi-step / single-step")


def _positive_int(name, hi=MAX_EPOCHS):
    """argparse type: an integer in [1, hi] (kept for the sub-commands that import it)."""
    return int_type(name, 1, hi)


_hidden = hidden_type("--hidden")


def _bits(name, lo, hi):
    return int_type(name, lo, hi)


# Options that only one backend (or rule, or optimizer) uses: given elsewhere they are refused, never
# ignored. Their parser default is None; the documented defaults are filled in by _resolve().
CHIP_ONLY = ("weight_bits", "trace_bits", "accumulator_bits", "tag_bits", "in_bits", "weight_range", "timing")
FLOAT_ONLY = ("batch_size", "optimizer", "momentum", "weight_decay", "truncation", "block_size", "mse_weight",
              "loss", "device", "schedule_epochs")
FLOAT_DEFAULTS = dict(batch_size=32, optimizer="adam", momentum=0.9, weight_decay=0.0, block_size=1,
                      mse_weight=0.05, loss="ce", device="auto")
RULE_ONLY = {"truncation": ("ttl",), "block_size": ("ttl",), "mse_weight": ("ottt-a", "ottt-o"),
             "loss": ("bptt", "ttl")}
EXIT_DIVERGED = 4


def _opt(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_timing_option(args) -> None:
    """``--timing``: 'chip' only; 'layer-sync' (the removed layer-synchronous kernel) is refused with the
    reason and the float reference (UsageError, exit 2), before any work."""
    timing = getattr(args, "timing", None)
    if timing in (None, "chip"):
        return
    from rules.onchip import check_timing

    try:
        check_timing(timing, "--timing")
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def add_chip_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the on-chip OTTT circuit (``train --backend chip`` and ``crosscheck``)."""
    p.add_argument("--local-blocks", action="store_true",
                   help="one readout head and error path per hidden layer (local learning, no backward "
                        "pass through the layers)")
    p.add_argument("--feedback", default="mirror", choices=("mirror", "random"),
                   help="error feedback weights: mirror (copy of the readout, updated with it) or random "
                        "(fixed) (default: mirror)")
    p.add_argument("--weight-bits", type=_bits("--weight-bits", 2, 16), default=None,
                   help="chip weight magnitude bits, 2..16 (default: Loihi's 8)")
    p.add_argument("--trace-bits", type=_bits("--trace-bits", 3, 16), default=None,
                   help="chip trace / third-factor bits, 3..16 (default: Loihi's 7)")
    p.add_argument("--in-bits", type=_bits("--in-bits", 1, 16), default=None,
                   help="input payload bits, 1..trace bits (default: 7, or the trace bits when fewer)")
    p.add_argument("--accumulator-bits", type=_bits("--accumulator-bits", 4, 31), default=None,
                   help="learning accumulator magnitude bits, 4..31 and more than the weight bits (default: 15, "
                        "or weight bits + 7)")
    p.add_argument("--tag-bits", type=_bits("--tag-bits", 1, 16), default=None,
                   help="tag bits, 1..16 (OTTT_A accumulates there; default: 8, or the weight bits)")
    p.add_argument("--timing", default=None, metavar="chip",
                   help="chip, the only value: the OTTT network on the one Simulator, Lava's timing (one step "
                        "per projection); layer-sync was removed (one chip): its layer-synchronous reference "
                        "is the float OTTT, --backend float --rule ottt-a (default: chip)")
    p.add_argument("--weight-range", type=float_type("--weight-range", 1.0, 2.0 ** 20), default=None,
                   help="chip weight range as a multiple of the largest initial weight, rounded up to a "
                        "power of two, in [1, 2**20] (default: 8)")


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
    p.add_argument("--T", type=int_type("--T", 1, MAX_T), default=8,
                   help=f"time steps per sample, 1..{MAX_T} (default: 8)")
    p.add_argument("--encoder", default="direct", choices=ENCODERS,
                   help="input encoding: direct (analog value every step), rate (Bernoulli), latency "
                        "(default: direct)")
    p.add_argument("--hidden", type=_hidden, default=(256, 256),
                   help=f"hidden layer sizes, comma-separated, each 1..{MAX_LAYER} (default: 256,256)")
    p.add_argument("--epochs", type=int_type("--epochs", 1, MAX_EPOCHS), default=None,
                   help="training epochs (default: the rule's, see docs/training.md; chip: 10)")
    p.add_argument("--batch-size", type=int_type("--batch-size", 1, MAX_BATCH), default=None,
                   help="float backend: batch size (default: 32)")
    p.add_argument("--lr", type=float_type("--lr", 0.0, math.inf, lo_open=True), default=None,
                   help="learning rate, > 0 (default: the rule's; chip: 0.01 per sample, loss 0.5*squared error)")
    p.add_argument("--optimizer", default=None, choices=OPTIMIZERS,
                   help="float backend: optimizer; cosine-annealed over the epochs (default: adam)")
    p.add_argument("--momentum", type=float_type("--momentum", 0.0, 1.0, hi_open=True), default=None,
                   help="--optimizer sgd: momentum in [0, 1) (default: 0.9)")
    p.add_argument("--weight-decay", type=float_type("--weight-decay", 0.0, math.inf), default=None,
                   help="float backend: weight decay, >= 0 (default: 0)")
    p.add_argument("--leak", type=float_type("--leak", 0.0, 1.0), default=None,
                   help="LIF leak lambda in [0, 1]; chip: (0, 1) (default: 0.5 for bptt/ottt/ttl, 0.2 for rate-*)")
    p.add_argument("--alpha", type=float_type("--alpha", 0.0, 1e6, lo_open=True), default=4.0,
                   help="sigmoid surrogate sharpness alpha, > 0 (default: 4)")
    p.add_argument("--truncation", "-K", type=int_type("--truncation", 1, MAX_T), default=None,
                   help="ttl: truncation window K in [1, T] (default: 2)")
    p.add_argument("--block-size", "-B", type=int_type("--block-size", 1, 1000), default=None,
                   help="ttl: spiking layers per local block (default: 1)")
    p.add_argument("--mse-weight", type=float_type("--mse-weight", 0.0, 1.0), default=None,
                   help="ottt: MSE share lambda_L of the instantaneous loss, in [0, 1] (default: 0.05)")
    p.add_argument("--loss", default=None, choices=LOSSES,
                   help="bptt/ttl loss on the time-averaged readout: ce, or chenli-standin (a documented "
                        "stand-in for Chen & Li's modified loss: MSE to one-hot; see docs/training.md) (default: ce)")
    p.add_argument("--init", default="default", choices=("default", "chen-li"),
                   help="weight initialization: default (PyTorch's) or chen-li (Chen & Li style: every layer "
                        "calibrated to fire, see docs/models.md) (default: default)")
    p.add_argument("--seed", type=seed_type(), default=0,
                   help="seed for init, batch order and encoders, 0..2**32-1 (default: 0)")
    p.add_argument("--limit", type=int_type("--limit", 1, 10 ** 9), default=None,
                   help="train on the first N samples only (smoke tests)")
    p.add_argument("--device", type=device_type, default=None,
                   help="float backend: auto (CUDA when present), cpu, cuda, cuda:1, ... (default: auto)")
    p.add_argument("--threads", type=int_type("--threads", 1, 4096), default=None,
                   help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bar")
    p.add_argument("--json", default=None, metavar="PATH", help="write the result as JSON to PATH")
    p.add_argument("--save", default=None, metavar="RUN.h5",
                   help="write a checkpoint to RUN.h5 after training (float: config, weights, optimizer, "
                        "random-number state, metrics; chip: config, history and the chip's learning state); "
                        "`hwlearn info RUN.h5` shows it")
    p.add_argument("--resume", default=None, metavar="RUN.h5",
                   help="continue the run saved in RUN.h5 for --epochs more epochs (its config is used; "
                        "options that differ from it are refused; with --backend chip: bit-identical to an "
                        "uninterrupted run)")
    p.add_argument("--schedule-epochs", type=_positive_int("--schedule-epochs"), default=None,
                   help="horizon of the cosine learning-rate schedule in epochs (default: --epochs); a run "
                        "saved after E epochs of a horizon H and resumed for H - E more equals H straight epochs")


def _resolve(args) -> None:
    """Refuse options the chosen backend, rule or optimizer does not use; fill in the defaults.

    Raises UsageError naming the option. Runs before any data is loaded.
    """
    chip = args.backend == "chip"
    check_timing_option(args)
    if not getattr(args, "resume", None):          # a resumed run's dataset is the checkpoint's (_resume)
        check_data_dir(args.dataset, args.data_dir)
    if chip:
        given = [n for n in FLOAT_ONLY if getattr(args, n, None) is not None]
        if given:
            raise UsageError(f"{', '.join(map(_opt, given))}: float-backend option(s), not used by --backend chip "
                             "(it trains one sample at a time with its own rate and loss, without a schedule)")
        if args.encoder != "direct":
            raise UsageError("--backend chip takes graded (direct) input only; --encoder="
                             f"{args.encoder!r} is not supported there")
        if args.leak is not None and not 0.0 < args.leak < 1.0:
            raise UsageError(f"--leak={args.leak!r} is outside the allowed range (0, 1) for --backend chip")
        return
    given = [n for n in CHIP_ONLY if getattr(args, n, None) is not None]
    if args.float_twin:
        given.append("float_twin")
    if given:
        raise UsageError(f"{', '.join(map(_opt, given))}: chip option(s), used only with --backend chip")
    for name, rules in RULE_ONLY.items():
        if getattr(args, name) is not None and args.rule not in rules:
            raise UsageError(f"{_opt(name)} applies to --rule {' / '.join(rules)}, not {args.rule}")
    if args.momentum is not None and args.optimizer != "sgd":
        raise UsageError("--momentum applies to --optimizer sgd only")
    if args.truncation is not None and args.truncation > args.T:
        raise UsageError(f"--truncation={args.truncation} is outside the allowed range [1, --T={args.T}]")
    for name, value in FLOAT_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def _float_bytes(args, n_in: int = 784, n_classes: int = 10) -> int:
    """Rough memory of a float training run: weights with gradients and optimizer state (4 copies of
    float32), heads, and the activations a batch keeps over T steps (BPTT's worst case)."""
    sizes = (n_in,) + tuple(args.hidden) + (n_classes,)
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) + n_classes * sum(args.hidden)
    batch = getattr(args, "batch_size", None) or 32
    return 16 * weights + 4 * 8 * batch * args.T * sum(args.hidden)


def _preflight_outputs(args) -> None:
    check_output(args.json, "--json")


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

    check_timing_option(args)
    tb = args.trace_bits or 7
    kw = dict(rule=args.rule, local_blocks=args.local_blocks, feedback=args.feedback, T=args.T,
              hidden=args.hidden, weight_bits=args.weight_bits, trace_bits=args.trace_bits,
              accumulator_bits=args.accumulator_bits, tag_bits=args.tag_bits,
              weight_range=8.0 if args.weight_range is None else args.weight_range,
              in_bits=min(7, tb) if getattr(args, "in_bits", None) is None else args.in_bits,
              init=getattr(args, "init", "default"),
              seed=args.seed, dataset=args.dataset, data_dir=args.data_dir, limit=args.limit,
              timing=getattr(args, "timing", None) or "chip")
    for name in ("epochs", "lr", "leak", "alpha"):
        if getattr(args, name, None) is not None:
            kw[name] = getattr(args, name)
    kw.update(extra)
    try:
        return ChipTrainConfig(**kw)
    except ValueError as exc:       # SpecError included
        raise UsageError(str(exc)) from None


def check_chip_size(cfg, option: str = "--hidden") -> None:
    """Before building anything: the hidden layers fit the chip's compartments, and the float
    network the circuit is calibrated on fits in memory."""
    spec = cfg.spec()
    if sum(cfg.hidden) > spec.total_compartments:
        raise UsageError(f"{option}={','.join(map(str, cfg.hidden))}: {sum(cfg.hidden)} hidden compartments, more "
                         f"than the chip's {spec.total_compartments} (compartments_per_core "
                         f"{spec.compartments_per_core} x cores_per_chip {spec.cores_per_chip})")
    sizes = (784,) + tuple(cfg.hidden) + (10,)
    check_memory("the on-chip network and its float twin", 40 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])),
                 option)


def run_chip(args) -> int:
    from hwsim.spec import MappingError, SpecError
    from rules.onchip import train_chip

    from hwsim.io import FormatError
    from rules.onchip import load_chip_run, save_chip_run

    start = None
    if args.resume:
        if args.epochs is None:
            raise UsageError("--resume needs --epochs N (the number of epochs to add)")
        try:
            start = load_chip_run(args.resume)
        except (FormatError, FileNotFoundError, ValueError) as exc:
            raise UsageError(f"--resume {args.resume}: {exc}") from None
        saved = start["config"]
        given = chip_config_from_args(args, epochs=saved.epochs) if args.rule is not None else saved
        if args.rule is not None and given != saved:
            diff = [f"{k}={getattr(given, k)!r} (saved {getattr(saved, k)!r})" for k in saved.__dataclass_fields__
                    if getattr(given, k) != getattr(saved, k)]
            raise UsageError(f"--resume {args.resume}: options differ from the saved run: {', '.join(diff)}")
        import dataclasses
        cfg = dataclasses.replace(saved, epochs=start["epochs_done"] + args.epochs)
        print(f"resuming {args.resume}: chip {cfg.rule}, {start['epochs_done']} epochs done, training epochs "
              f"{start['epochs_done'] + 1}..{cfg.epochs}")
    else:
        cfg = chip_config_from_args(args)
    check_chip_size(cfg)
    _preflight_outputs(args)
    check_output(args.save, "--save")
    try:
        res = train_chip(cfg, twin=args.float_twin, progress=not args.no_progress, start=start)
    except MappingError as exc:
        print(f"hwlearn train: error: the network does not fit the chip (nothing was trained): {exc}",
              file=sys.stderr)
        return 3
    except (ValueError, SpecError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    if args.save:
        save_chip_run(args.save, res)
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
    if args.save:
        print(f"saved chip run {args.save}: {cfg.rule}, {len(c['history'])} epochs, learning state included")
    write_json(args.json, res)
    return 0


class Diverged(ArithmeticError):
    """Training produced a non-finite loss or non-finite weights."""


def _stop_on_divergence(rec: dict) -> None:
    loss = rec.get("loss")
    if loss is None or not math.isfinite(loss):
        raise Diverged(f"training diverged: the loss of epoch {rec.get('epoch')} is {loss} (try a smaller --lr)")


def _non_finite_weights(net) -> list:
    import torch

    return [name for name, p in net.named_parameters() if not bool(torch.isfinite(p).all())]


# TrainConfig fields that --resume may not change (epochs means "more epochs"; device, data_dir
# and limit-free bookkeeping may differ between machines)
_RESUME_FREE = {"epochs", "device", "data_dir"}


def _given_config_fields(args) -> dict:
    """TrainConfig fields whose command-line value differs from the parser default (given by the user)."""
    from dataclasses import asdict

    p = argparse.ArgumentParser()
    add_arguments(p)
    defaults = p.parse_args([])
    _resolve(defaults)
    default = asdict(config_from_args(defaults))
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
        check_data_dir(cfg.dataset, args.data_dir)
        cfg = replace(cfg, data_dir=args.data_dir)
    return cfg, ck.resume_fn(ckpt), ckpt


def run(args) -> int:
    import torch

    from rules.train import train

    _resolve(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.rule is None and args.resume is None:
        print("hwlearn train: error: the following arguments are required: --rule (or --resume RUN.h5)",
              file=sys.stderr)
        return 2
    if args.backend == "chip":
        return run_chip(args)
    from hwsim.io import FormatError

    hook = ckpt = None
    try:
        if args.resume:
            cfg, hook, ckpt = _resume(args)
            print(f"resuming {args.resume}: {cfg.rule}, {ckpt['epochs_done']} epochs done, "
                  f"training epochs {ckpt['epochs_done'] + 1}..{cfg.epochs}")
        else:
            cfg = config_from_args(args)
    except (ValueError, FileNotFoundError, FormatError) as exc:
        raise UsageError(str(exc)) from None
    check_memory("training this network", _float_bytes(cfg), "--hidden / --batch-size / --T")
    _preflight_outputs(args)
    check_output(args.save, "--save")
    history = []

    def on_epoch(rec):
        history.append(dict(rec))
        _stop_on_divergence(rec)

    try:
        result = train(cfg, progress=not args.no_progress, on_epoch=on_epoch, resume=hook)
        bad = _non_finite_weights(result.net)
        if bad:
            raise Diverged(f"training diverged: non-finite weights in {', '.join(bad[:3])}"
                           f"{' ...' if len(bad) > 3 else ''} (try a smaller --lr)")
    except Diverged as exc:
        print(f"hwlearn train: error: {exc}", file=sys.stderr)
        write_json(args.json, {"rule": cfg.rule, "seed": cfg.seed, "status": EXIT_DIVERGED, "error": str(exc),
                               "history": history})
        return EXIT_DIVERGED
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    cfg = result.state.config
    out = result.to_json()
    print(f"{out['rule']}: T={cfg.T} epochs={result.epochs} seed={cfg.seed} "
          f"train_acc={result.train_accuracy:.4f} test_acc={result.test_accuracy:.4f} "
          f"saved_bytes/step={result.saved_bytes_per_step} seconds={result.seconds:.1f}")
    write_json(args.json, out)
    if args.save:
        from rules import checkpoint as ck
        ck.save(args.save, result)
        print(f"saved checkpoint {args.save}: {cfg.rule}, {result.state.epochs_done} epochs "
              f"(schedule over {cfg.schedule_epochs}), sha256 {ck.file_sha256(args.save)[:16]}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train a spiking network with one learning rule",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def main(argv=None) -> int:
    """``python -m scripts.train ...`` = ``hwlearn train ...`` (same errors and exit statuses)."""
    from scripts.cli import main as cli_main

    return cli_main(["train"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
