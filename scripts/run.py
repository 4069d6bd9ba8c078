"""``hwlearn run``: evaluate a quantized network on the simulated chip (batch mode).

Examples::

    hwlearn run n.h5 --dataset digits
    hwlearn run n.h5 --dataset digits --limit 100 --record runs/n_run.h5 --plots runs/plots --json runs/n.json

Runs the test set through the chip simulator (``hwsim.simulator.Simulator`` with a batch axis, T
steps per sample plus one per layer of pipeline delay) and reports the chip's accuracy next to the
float network's on the same inputs (the checkpoint named in NET.h5 by ``hwlearn quantize``, or
``--float RUN.h5``) and next to the float mirror of the chip (the chip's exact weights in float,
the chip's reset); per layer the spikes per sample, firing rate (chip and float), spike agreement
with the float network and the mirror, synaptic ops, energy (``hwsim.counters`` with Loihi's
per-op figures); time (busiest core of the layer, no barrier); per sample the energy and time estimate; the mapping onto cores and overflow
counts. ``--record`` writes a run record (``hwsim.io``: predictions, spike counts, counters,
summary, the network); ``--plots`` writes PNGs: a spike raster of sample 0, the firing rate per
layer, and the per-layer float-vs-chip spike agreement.
"""
from __future__ import annotations

import argparse
import os
import sys

from scripts.options import UsageError, check_data_dir, int_type, seed_type, write_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rules.train import DATASETS

    p.add_argument("network", metavar="NET.h5", help="chip network from `hwlearn quantize`")
    p.add_argument("--dataset", default="digits", choices=DATASETS, help="test set (default: digits)")
    p.add_argument("--data-dir", default=None, help="folder with the dataset files (mnist)")
    p.add_argument("--limit", type=int_type("--limit", 1, 10 ** 9), default=None, help="first N test samples only")
    p.add_argument("--float", dest="float_ckpt", default=None, metavar="RUN.h5",
                   help="float checkpoint to compare with (default: the one recorded in NET.h5)")
    p.add_argument("--batch", type=int_type("--batch", 1, 1 << 20), default=128, help="samples per simulator batch (default: 128)")
    p.add_argument("--overflow", default="wrap", choices=("wrap", "saturate", "raise"),
                   help="chip state overflow policy (default: wrap, Lava's)")
    p.add_argument("--seed", type=seed_type(), default=None,
                   help="seed of the rate / latency encoders, 0..2**32-1; refused for a direct-encoded network, "
                        "which draws nothing (default: 0)")
    p.add_argument("--record", default=None, metavar="RUN.h5", help="write a run record (HDF5) to RUN.h5")
    p.add_argument("--plots", default=None, metavar="DIR", help="write PNG plots to DIR")
    p.add_argument("--json", default=None, metavar="PATH", help="write the summary as JSON to PATH")
    p.add_argument("--save-inputs", default=None, metavar="FILE.npz",
                   help="write the chip input payloads of the first 10 samples (one after the other, each "
                        "with its pipeline padding) for `hwlearn export NET.h5 --verify --inputs FILE.npz`")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _float_net(args, meta):
    """(net or None, path, note) for the float comparison."""
    from rules import checkpoint as ck

    path = args.float_ckpt or meta.get("float_checkpoint")
    if not path:
        return None, None, "no float checkpoint recorded (pass --float RUN.h5)"
    if not args.float_ckpt and not os.path.exists(path):
        return None, path, f"float checkpoint {path} not found (pass --float RUN.h5)"
    c = ck.load(path)                       # FormatError / FileNotFoundError for an explicit bad --float
    note = ""
    if meta.get("float_sha256") and ck.file_sha256(path) != meta["float_sha256"]:
        if not args.float_ckpt:
            return None, path, (f"float checkpoint {path} changed since quantization (SHA-256 differs); "
                                "pass --float RUN.h5 to compare anyway")
        note = "differs from the checkpoint recorded at quantization"
    return ck.net_from_checkpoint(c), path, note


def format_summary(s: dict, float_path, note) -> str:
    pct = lambda v: "   n/a" if v is None else f"{100 * v:6.2f}%"
    lines = [f"samples {s['samples']}, T={s['T']} (+ pipeline), encoder {s['encoder']}",
             f"accuracy: chip {pct(s['chip_accuracy'])} | float {pct(s['float_accuracy'])}"
             f" ({float_path or 'none'}{'; ' + note if note else ''}) | float mirror of the chip "
             f"{pct(s['mirror_accuracy'])}",
             f"prediction agreement chip vs float {pct(s['prediction_agreement_float'])}, vs mirror "
             f"{pct(s['prediction_agreement_mirror'])}",
             f"{'layer':<8} {'size':>6} {'spikes/sample':>13} {'rate chip':>9} {'rate float':>10} "
             f"{'agree float':>11} {'agree mirror':>12} {'synops/sample':>13} {'energy/sample':>13} {'time/sample':>11} "
             f"{'overflow':>8}"
             f" cores"]
    for lay in s["layers"]:
        fr = "n/a" if lay["float_rate"] is None else f"{lay['float_rate']:.4f}"
        af = "n/a" if lay["spike_agreement_float"] is None else f"{100 * lay['spike_agreement_float']:.2f}%"
        lines.append(f"{lay['population']:<8} {lay['size']:>6} {lay['spikes_per_sample']:>13.1f} {lay['rate']:>9.4f} "
                     f"{fr:>10} {af:>11} {100 * lay['spike_agreement_mirror']:>11.2f}% "
                     f"{lay['synaptic_ops_per_sample']:>13.0f} {lay['energy_J_per_sample'] * 1e9:>10.1f} nJ "
                     f"{lay['time_s_per_sample'] * 1e6:>8.2f} us "
                     f"{lay['overflow']:>8} {lay['cores']}")
    ps = s["per_sample"]
    lines.append(f"per sample: {ps['synaptic_ops']:.0f} synaptic ops, {ps['spikes']:.1f} spikes, energy "
                 f"{ps['energy_J'] * 1e9:.1f} nJ, time {ps['time_s'] * 1e6:.2f} us ({ps['steps']} steps; Loihi "
                 f"per-op figures, hwsim.counters.EnergyModel)")
    m = s["mapping"]
    util = ", ".join(f"{k} {100 * v:.1f}%" for k, v in m["max_utilization"].items())
    lines.append(f"mapping: {m['cores']} cores, fits={m['fits']}; busiest core: {util}")
    lines.append(f"overflow events: {sum(s['overflow'].values())} ({s['overflow']})")
    return "\n".join(lines)


def write_plots(ev, cm, folder: str) -> list:
    """Spike raster of sample 0, firing rate per layer, per-layer spike agreement; returns the paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    os.makedirs(folder, exist_ok=True)
    s = ev.summary
    pops = [lay["population"] for lay in s["layers"]]
    paths = []
    L = len(pops)
    fig, axes = plt.subplots(L, 1, figsize=(8, 2.2 * L + 0.6), squeeze=False, sharex=True)
    for n, ax in enumerate(axes[:, 0]):
        sp = ev.sample_spikes[n]
        t, i = np.nonzero(sp)
        ax.scatter(t, i, s=6, marker="|", color="tab:blue", label="chip")
        if ev.float_sample_spikes is not None:
            tf, jf = np.nonzero(ev.float_sample_spikes[n])
            ax.scatter(tf + 0.25, jf, s=6, marker="|", color="tab:orange", label="float")
        ax.set_ylabel(f"{pops[n]}\nneuron")
        ax.set_ylim(-1, sp.shape[1])
    axes[0, 0].set_title(f"spike raster, test sample 0 (label {int(ev.labels[0])}, chip predicts "
                         f"{int(ev.predictions[0])})")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time step (aligned to the float network)")
    fig.tight_layout()
    paths.append(os.path.join(folder, "raster.png"))
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    x = np.arange(L)
    fig, ax = plt.subplots(figsize=(1.6 * L + 3, 3.2))
    ax.bar(x - 0.2, [lay["rate"] for lay in s["layers"]], 0.4, label="chip")
    if s["layers"][0]["float_rate"] is not None:
        ax.bar(x + 0.2, [lay["float_rate"] for lay in s["layers"]], 0.4, label="float")
    ax.set_xticks(x, pops)
    ax.set_ylabel("spikes per neuron per step")
    ax.set_title(f"firing rate per layer ({s['samples']} test samples)")
    ax.legend()
    fig.tight_layout()
    paths.append(os.path.join(folder, "rates.png"))
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(1.6 * L + 3, 3.2))
    if s["layers"][0]["spike_agreement_float"] is not None:
        ax.bar(x - 0.2, [100 * lay["spike_agreement_float"] for lay in s["layers"]], 0.4, label="chip vs float")
    ax.bar(x + 0.2, [100 * lay["spike_agreement_mirror"] for lay in s["layers"]], 0.4,
           label="chip vs float mirror of the chip")
    ax.set_xticks(x, pops)
    ax.set_ylim(min(90.0, min(100 * (lay["spike_agreement_float"] or 1.0) for lay in s["layers"]) - 2), 100.5)
    ax.set_ylabel("equal spikes (% of neuron-steps)")
    ax.set_title("float vs chip spike agreement per layer")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    paths.append(os.path.join(folder, "agreement.png"))
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def run(args) -> int:
    import numpy as np

    from hwsim.io import FormatError, save_run
    from hwsim.spec import SpecError
    from models.quantize_io import load_chip_model
    from rules.chiprun import evaluate
    from rules.train import TrainConfig, load_data

    def fail(msg) -> int:
        print(f"hwlearn run: error: {msg}", file=sys.stderr)
        return 2

    try:
        check_data_dir(args.dataset, args.data_dir)
    except UsageError as exc:
        return fail(exc)
    for flag, path in (("--record", args.record), ("--json", args.json), ("--save-inputs", args.save_inputs)):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            return fail(f"{flag} {path!r}: folder {os.path.dirname(os.path.abspath(path))!r} does not exist")
    try:
        cm, meta = load_chip_model(args.network)
        net, fpath, note = _float_net(args, meta)
        split = load_data(TrainConfig(dataset=args.dataset, data_dir=args.data_dir))
    except (FormatError, SpecError, ValueError, FileNotFoundError) as exc:
        return fail(exc)
    x = np.asarray(split.x_test)
    x = x.reshape((len(x),) + tuple(cm.config.input_shape)) if x[0].size == int(np.prod(cm.config.input_shape)) else x
    if tuple(x.shape[1:]) != tuple(cm.config.input_shape):
        return fail(f"--dataset {args.dataset}: samples of shape {tuple(x.shape[1:])}, the network takes "
                    f"{tuple(cm.config.input_shape)}")
    y = np.asarray(split.y_test)
    if args.limit:
        x, y = x[:args.limit], y[:args.limit]
    T, encoder = int(meta.get("T", 8)), meta.get("encoder", "direct")
    if args.seed is not None and encoder == "direct":
        return fail(f"--seed {args.seed} applies to the rate / latency encoders; {args.network} takes direct "
                    "(graded) input, which draws no random numbers")
    if args.seed is None:
        args.seed = 0
    try:
        ev = evaluate(cm, x, y, T, float_net=net, encoder=encoder, batch=args.batch, seed=args.seed,
                      overflow=args.overflow, progress=not args.no_progress)
    except (ValueError, OverflowError, RuntimeError) as exc:
        return fail(exc)
    print(f"ran {args.network} ({meta.get('rule', '?')}, scale policy {meta.get('scale_policy', '?')}, target "
          f"{meta.get('target', 'chip')}) on the chip simulator: {args.dataset} test set")
    print(format_summary(ev.summary, fpath, note))
    if args.record:
        rec = {"summary": ev.summary, "predictions": ev.predictions, "labels": ev.labels,
               "float_predictions": ev.float_predictions,
               "spike_counts": {p: c for p, c in zip(cm.populations, ev.spike_counts)},
               "sample_spikes": {p: c for p, c in zip(cm.populations, ev.sample_spikes)},
               "counters": ev.counters, "network_file": os.path.abspath(args.network)}
        save_run(rec, args.record, network=cm.network)
        print(f"wrote run record {args.record}")
    if args.plots:
        for p in write_plots(ev, cm, args.plots):
            print(f"wrote {p}")
    write_json(args.json, ev.summary)
    if args.save_inputs:
        save_inputs(args.save_inputs, cm, x[:10], T, encoder, args.seed)
        print(f"wrote {args.save_inputs}: chip inputs of {min(10, len(x))} samples "
              f"({min(10, len(x)) * (T + cm.n_layers)} steps)")
    return 0


def save_inputs(path: str, cm, x, T: int, encoder: str, seed: int) -> None:
    """The chip payloads of ``x`` (each sample: T steps + n_layers silent ones), as ``{input: (steps, n)}``."""
    import numpy as np
    import torch

    from models.encoders import encode

    seq = encode(torch.as_tensor(np.asarray(x), dtype=torch.float32), T, encoder,
                 generator=torch.Generator().manual_seed(seed))
    rows = [cm.chip_input(seq[:, i])[cm.input_name] for i in range(seq.shape[1])]
    tmp = f"{path}.tmp{os.getpid()}.npz"
    try:
        np.savez(tmp, **{cm.input_name: np.concatenate(rows, axis=0)})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("run", help="evaluate a quantized network on the simulated chip",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def main(argv=None) -> int:
    """``python -m scripts.run ...`` = ``hwlearn run ...`` (same errors and exit statuses)."""
    from scripts.cli import main as cli_main

    return cli_main(["run"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
