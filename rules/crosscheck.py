"""Chip vs float cross-check of on-chip OTTT (``hwlearn crosscheck``).

After ``warmup_epochs`` of chip training (so that every layer fires; the default initial weights
leave the second hidden layer silent for the first few hundred samples), from identical weights
(the chip's integers times their scales) and identical quantized inputs, the chip
(:class:`hwsim.circuits.ottt.OTTTNetwork` on the Simulator) and its float twin on the chip's timing
(:class:`rules.onchip_twin.PipelinedTwin`, through :class:`rules.onchip.OnChipOTTT`) learn from the same
samples in the same order.

* ``mode='lockstep'`` (default): before every sample the twin takes the chip's current weights, so
  each sample's update is compared from the same starting point; the accumulated updates are the
  sums of these per-sample updates. This measures the arithmetic of the rule, not the chaos of two
  spiking networks drifting apart.
* ``mode='free'``: each side runs on its own weights throughout (divergence accumulates: a single
  spike flipped by rounding changes every later update).

Reported per hidden layer: spike agreement, the membrane error in
voltage LSBs (the chip's membrane after the reset, which is what the Simulator's probes read, against
``S * u_float``), the first step (sample * steps + t, ``steps`` the chip's steps per sample) where the
spikes differ; per learning projection (hidden layers and heads): the cosine similarity
and the relative error of the accumulated weight updates (chip in float units); and the test
accuracy of both afterwards.
"""
from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from .onchip import ChipTrainConfig, build, epoch_orders


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a.ravel(), b.ravel()) / (na * nb))


MODES = ("lockstep", "free")


def crosscheck(cfg: ChipTrainConfig, samples: int = 256, split=None, evaluate: bool = True,
               mode: str = "lockstep", warmup_epochs: int = 1) -> dict:
    """Train the chip alone for ``warmup_epochs`` (so every layer is active), give the twin the
    chip's weights, then run the cross-check on the first ``samples`` of the next epoch's order; a
    JSON-ready dict
    with ``layers`` (per projection), ``min_update_cosine``, ``min_spike_agreement`` and the
    accuracies (when ``evaluate``)."""
    if int(samples) != samples or samples < 1:
        raise ValueError(f"samples={samples!r} must be an integer >= 1")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of {MODES}")
    if int(warmup_epochs) != warmup_epochs or warmup_epochs < 0:
        raise ValueError(f"warmup_epochs={warmup_epochs!r} must be an integer >= 0")
    t0 = time.perf_counter()
    model, (ptr, ytr), (pte, yte) = build(cfg, split)
    orders = epoch_orders(len(ptr), warmup_epochs + 1, cfg.seed)
    for order in orders[:warmup_epochs]:
        model.chip.train(ptr, ytr, order)
    model.set_twin_weights(model.chip_weights_float())
    order = orders[-1][:samples]
    S = len(order)
    T = model.chip.steps                              # steps per sample
    w0_chip = model.chip_weights_float()
    w0_float = model.twin_weights()
    start_gap = max(float(np.abs(a - b).max()) for a, b in zip(w0_chip, w0_float))
    x = model.twin_input(ptr)
    L = len(cfg.hidden)
    P = len(w0_chip)
    f_spk = [np.zeros((S, T, n)) for n in cfg.hidden]
    f_mem = [np.zeros((S, T, n)) for n in cfg.hidden]
    c_spk = [np.zeros((S, T, n), np.int64) for n in cfg.hidden]
    c_mem = [np.zeros((S, T, n), np.int64) for n in cfg.hidden]
    d_chip = [np.zeros_like(w) for w in w0_chip]
    d_float = [np.zeros_like(w) for w in w0_float]
    for k, n in enumerate(order):
        if mode == "lockstep":
            model.set_twin_weights(model.chip_weights_float())
        before_c, before_f = model.chip_weights_float(), model.twin_weights()
        rec = model.chip.record(ptr, ytr, order[k:k + 1], learn=True)
        _, rs, ru = model.twin_sample(x[n:n + 1], int(ytr[n]), learn=True, record=True)
        after_c, after_f = model.chip_weights_float(), model.twin_weights()
        for p in range(P):
            d_chip[p] += after_c[p] - before_c[p]
            d_float[p] += after_f[p] - before_f[p]
        for l in range(L):
            c_spk[l][k] = rec.spikes[l][0]
            c_mem[l][k] = rec.v[l][0]
            for t in range(T):
                f_spk[l][k, t] = rs[t][l]
                f_mem[l][k, t] = ru[t][l]
    layers = {}
    names = model.projection_names()
    Svolt = model.scales.S
    for p, name in enumerate(names):
        dc, df = d_chip[p], d_float[p]
        nf = float(np.linalg.norm(df))
        entry = {"update_cosine": _cosine(dc, df),
                 "update_rel_error": float(np.linalg.norm(dc - df) / nf) if nf > 0 else None,
                 "update_norm_chip": float(np.linalg.norm(dc)), "update_norm_float": nf}
        if p < L:
            cs, fs = c_spk[p], f_spk[p]
            diff = np.any(cs != fs, axis=2).reshape(-1)
            first = int(np.argmax(diff)) if diff.any() else None
            err = np.abs(c_mem[p] - f_mem[p] * Svolt)
            entry.update({"spike_agreement": float(np.mean(cs == fs)),
                          "spike_rate_chip": float(cs.mean()), "spike_rate_float": float(fs.mean()),
                          "membrane_error_lsb_mean": float(err.mean()),
                          "membrane_error_lsb_median": float(np.median(err)),
                          "membrane_error_rel": float(err.mean() / Svolt),
                          "first_divergence_step": first})
        layers[name] = entry
    out = {"config": {**asdict(cfg), "hidden": list(cfg.hidden)}, "spec": asdict(model.spec),
           "mode": mode, "warmup_epochs": warmup_epochs, "samples": S, "steps": S * T, "initial_weight_gap": start_gap, "layers": layers,
           "min_update_cosine": min(v["update_cosine"] for v in layers.values()),
           "max_update_rel_error": max((v["update_rel_error"] or 0.0) for v in layers.values()),
           "min_spike_agreement": min(v["spike_agreement"] for v in layers.values() if "spike_agreement" in v),
           "scales": model.scales.as_dict(), "rule_strings": list(model.circuit.rule_strings())}
    if evaluate:
        out["chip_test_accuracy"] = float(np.mean(model.chip.predict(pte) == yte))
        out["float_test_accuracy"] = float(np.mean(np.argmax(model.twin_readout(pte), 1) == yte))
    out["seconds"] = time.perf_counter() - t0
    return out


def summary_table(report: dict) -> str:
    """A plain-text table of a cross-check report."""
    rows = [f"{'projection':<10} {'update cos':>10} {'rel err':>8} {'spike agr':>9} {'mem err LSB':>11} {'first div':>9}"]
    for name, v in report["layers"].items():
        rel = "-" if v["update_rel_error"] is None else f"{v['update_rel_error']:.3f}"
        sa = f"{v['spike_agreement']:.4f}" if "spike_agreement" in v else "-"
        me = f"{v['membrane_error_lsb_mean']:.1f}" if "membrane_error_lsb_mean" in v else "-"
        fd = v.get("first_divergence_step", "-")
        rows.append(f"{name:<10} {v['update_cosine']:>10.4f} {rel:>8} {sa:>9} {me:>11} {str(fd):>9}")
    rows.append(f"min update cosine {report['min_update_cosine']:.4f}, min spike agreement "
                f"{report['min_spike_agreement']:.4f} over {report['samples']} samples ({report['steps']} steps)")
    if "chip_test_accuracy" in report:
        rows.append(f"test accuracy: chip {100 * report['chip_test_accuracy']:.2f} %, "
                    f"float {100 * report['float_test_accuracy']:.2f} %")
    return "\n".join(rows)
