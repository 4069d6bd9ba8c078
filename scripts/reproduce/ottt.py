"""Claim 1, OTTT (Xiao et al., NeurIPS 2022): OTTT_A and OTTT_O reach BPTT's accuracy with training
memory constant in T, while BPTT's grows linearly.

Experiments (``hwlearn reproduce ottt``):

* accuracy: BPTT, OTTT_A, OTTT_O on digits (MLP 64-256-256, direct encoding, T = 6 as the paper's
  CIFAR runs) and on the DVS-like events (8 classes, 16x16, T = 10 as the paper's CIFAR10-DVS),
  seeds 0, 1, 2; train and test accuracy every epoch. Adam lr 2e-3 (OTTT_O: 2e-3 / T, since it
  steps T times per batch), cosine schedule, batch 32, leak 0.5.
* memory against T = 2, 4, ..., 64: saved-for-backward bytes of one training step (``rules.memory``)
  for the three rules, one batch from initialisation, both datasets.

Verdict inputs: the accuracy gap to BPTT (mean over seeds); the spread of OTTT's bytes over T
((max - min) / min, flat if <= 10 %); a least-squares line for BPTT's bytes against T (linear if
R^2 >= 0.99).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .common import Report, cell, mean_std, pyplot, save_figure

RULES = ("bptt", "ottt-a", "ottt-o")
SEEDS = {"test": [0], "quick": [0], "full": [0, 1, 2]}
EVENTS = {"name": "events", "n_classes": 8, "size": [16, 16], "noise_rate": 0.1, "emit_prob": 0.5,
          "time_jitter": 1.0}
SIZES = {
    "test": dict(epochs=1, widths=[32, 32], digits_limit=128, n_train=64, n_test=32, mem_T=[2, 4, 8]),
    "quick": dict(epochs=4, widths=[256, 256], digits_limit=400, n_train=300, n_test=200,
                  mem_T=[2, 4, 8, 16, 32, 64]),
    "full": dict(epochs=30, widths=[256, 256], digits_limit=None, n_train=600, n_test=400,
                 mem_T=[2, 4, 8, 16, 32, 64]),
}
T_DATA = {"digits": 6, "events": 10}
LR = 2e-3


def _data(name, size):
    if name == "digits":
        return {"name": "digits", **({"limit": size["digits_limit"]} if size["digits_limit"] else {})}
    return {**EVENTS, "n_train": size["n_train"], "n_test": size["n_test"]}


def _lr(rule, T):
    return LR / T if rule == "ottt-o" else LR


def cells(mode: str, seeds) -> list:
    size = SIZES[mode]
    out = []
    for name, T in T_DATA.items():
        for rule in RULES:
            for seed in seeds:
                out.append(cell(kind="train", arch="mlp", widths=size["widths"], rule=rule, T=T,
                                lr=_lr(rule, T), epochs=size["epochs"], seed=seed, data=_data(name, size)))
            for Tm in size["mem_T"]:
                out.append(cell(kind="probe", arch="mlp", widths=size["widths"], rule=rule, T=Tm,
                                lr=_lr(rule, Tm), seed=seeds[0], data=_data(name, size)))
    return out


def memory_verdict(mem: pd.DataFrame) -> pd.DataFrame:
    """Per data and rule: bytes at the smallest / largest T, spread, and a linear fit's slope and R^2."""
    rows = []
    for (data, rule), g in mem.groupby(["data", "rule"]):
        g = g.sort_values("T")
        T, b = g["T"].to_numpy(float), g["saved_bytes_per_step"].to_numpy(float)
        slope, icpt = np.polyfit(T, b, 1) if len(T) > 1 else (0.0, b[0])
        pred = slope * T + icpt
        ss = float(((b - b.mean()) ** 2).sum())
        r2 = 1.0 - float(((b - pred) ** 2).sum()) / ss if ss > 0 else 1.0
        rows.append({"data": data, "rule": rule, "T_min": int(T[0]), "T_max": int(T[-1]),
                     "bytes_T_min": int(b[0]), "bytes_T_max": int(b[-1]),
                     "spread": float((b.max() - b.min()) / b.min()), "ratio_max_min": float(b[-1] / b[0]),
                     "slope_bytes_per_T": float(slope), "r2_linear": r2})
    return pd.DataFrame(rows)


def report(tables: dict, out_dir) -> Report:
    res, ep = tables["results"], tables["epochs"]
    train = res[res["kind"] == "train"].copy()
    train["gap"] = train["final_train_acc"] - train["final_test_acc"]
    acc = mean_std(train, ["data", "rule", "T"], ["final_test_acc", "final_train_acc", "gap", "saved_bytes_per_step",
                                                  "epoch_seconds"])
    mem = res[res["kind"] == "probe"][["data", "rule", "T", "saved_bytes_per_step", "saved_bytes_peak",
                                        "batch_seconds"]].sort_values(["data", "rule", "T"])
    mv = memory_verdict(mem)
    notes = []
    for data, g in acc.groupby("data"):
        ref = float(g.loc[g["rule"] == "bptt", "final_test_acc"].iloc[0])
        for _, r in g.iterrows():
            if r["rule"] != "bptt":
                notes.append(f"{data}: {r['rule']} test accuracy {100 * r['final_test_acc']:.2f} % vs BPTT "
                             f"{100 * ref:.2f} % ({100 * (r['final_test_acc'] - ref):+.2f} points, "
                             f"{int(r['n_seeds'])} seed(s))")
    for _, r in mv.iterrows():
        shape = ("flat (spread <= 10 %)" if r["spread"] <= 0.10 else
                 "linear (R^2 >= 0.99)" if r["r2_linear"] >= 0.99 else "neither flat nor linear")
        notes.append(f"{r['data']}: {r['rule']} saved bytes/step T={r['T_min']}..{r['T_max']}: "
                     f"{r['bytes_T_min']:,} -> {r['bytes_T_max']:,} (x{r['ratio_max_min']:.2f}, spread "
                     f"{100 * r['spread']:.1f} %, R^2 {r['r2_linear']:.4f}): {shape}")
    plots = [_plot_curves(ep, out_dir), _plot_memory(mem, out_dir)]
    return Report({"accuracy": acc, "memory": mem, "memory_fit": mv}, notes, plots)


def _plot_curves(ep: pd.DataFrame, out_dir):
    plt = pyplot()
    datas = sorted(ep["data"].unique())
    fig, axes = plt.subplots(1, len(datas), figsize=(5.5 * len(datas), 3.8), squeeze=False, layout="constrained")
    for ax, data in zip(axes[0], datas):
        g = ep[ep["data"] == data]
        for rule, gr in g.groupby("rule"):
            m = gr.groupby("epoch")[["test_acc", "train_acc"]].mean()
            line, = ax.plot(m.index, 100 * m["test_acc"], label=f"{rule} test")
            ax.plot(m.index, 100 * m["train_acc"], ls="--", color=line.get_color(), label=f"{rule} train")
        ax.set(title=f"{data}: accuracy per epoch (mean over seeds)", xlabel="epoch", ylabel="accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, out_dir / "accuracy.png")


def _plot_memory(mem: pd.DataFrame, out_dir):
    plt = pyplot()
    from matplotlib.ticker import NullLocator

    datas = sorted(mem["data"].unique())
    fig, axes = plt.subplots(1, len(datas), figsize=(5.5 * len(datas), 3.8), squeeze=False, layout="constrained")
    for ax, data in zip(axes[0], datas):
        for rule, g in mem[mem["data"] == data].groupby("rule"):
            ax.plot(g["T"], g["saved_bytes_per_step"] / 2 ** 20, marker="o", label=rule)
        ax.set(title=f"{data}: saved-for-backward memory per training step", xlabel="T (time steps)",
               ylabel="MiB", xscale="log", yscale="log")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(sorted(mem["T"].unique()), [str(t) for t in sorted(mem["T"].unique())])
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    return save_figure(fig, out_dir / "memory_vs_T.png")
