"""Claim 2, TTL-BPTT (Guo et al., Front. Neurosci. 2023): over truncation length K x local block size B,
truncation hurts frame-based data and helps event data; local training loses information but
reduces overfitting; on a deep net (AlexNet, CIFAR10-DVS) vs end-to-end BPTT: +7.26 % accuracy,
-89.94 % GPU memory, -10.79 % memory access, -99.64 % MACs.

Experiments (``hwlearn reproduce ttl``):

* grid: K in {1, 2, 4, T} x B in {1, 2, all} spiking layers, T = 8, MLP with 4 hidden layers of 128
  (so B = 1, 2, all give 4, 2, 1 blocks), on digits (frame-based: the static image at every step)
  and on the DVS-like events (8 classes, 16x16); K = T, B = all is end-to-end BPTT. Train and test
  accuracy every epoch (gap = overfitting), saved-for-backward bytes per training step (measured),
  MACs and memory accesses per batch (counted, ``rules.costs``).
* deep net: the AlexNet-shaped ConvNet (``models.zoo``, 7 spiking layers) on the DVS-like events
  (T = 10), end-to-end BPTT vs TTL with (K, B) in {(1, 1), (2, 1), (10, 1), (2, all)}. The
  percentage changes against BPTT are computed the paper's way: relative change of the TTL value
  against the BPTT value, ``100 * (ttl - bptt) / bptt`` (memory: peak saved bytes of one training
  step; memory access and MACs: one batch), accuracy as the difference in points.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .common import Report, cell, mean_std, pyplot, save_figure
from .ottt import EVENTS

SEEDS = {"test": [0], "quick": [0], "full": [0, 1]}
SIZES = {
    "test": dict(epochs=1, widths=[16, 16, 16, 16], T=4, K=[1, 2, 4], B=[1, 2, None], digits_limit=96,
                 n_train=64, n_test=32, deep=[(1, 1), (4, None)], deep_T=4, deep_epochs=1),
    "quick": dict(epochs=3, widths=[128] * 4, T=8, K=[1, 2, 8], B=[1, None], digits_limit=400,
                  n_train=300, n_test=200, deep=[(1, 1), (2, 1), (10, None)], deep_T=10, deep_epochs=2),
    "full": dict(epochs=15, widths=[128] * 4, T=8, K=[1, 2, 4, 8], B=[1, 2, None], digits_limit=None,
                 n_train=600, n_test=400, deep=[(1, 1), (2, 1), (10, 1), (2, None), (10, None)], deep_T=10,
                 deep_epochs=15),
}
LR = 2e-3


def _data(name, size):
    if name == "digits":
        return {"name": "digits", **({"limit": size["digits_limit"]} if size["digits_limit"] else {})}
    return {**EVENTS, "n_train": size["n_train"], "n_test": size["n_test"]}


def cells(mode: str, seeds) -> list:
    size = SIZES[mode]
    out = []
    for name in ("digits", "events"):
        for K in size["K"]:
            for B in size["B"]:
                for seed in seeds:
                    out.append(cell(kind="train", arch="mlp", widths=size["widths"], rule="ttl", T=size["T"],
                                    truncation=K, block_size=B, lr=LR, epochs=size["epochs"], seed=seed,
                                    data=_data(name, size)))
    for K, B in size["deep"]:
        for seed in seeds:
            out.append(cell(kind="train", arch="alexnet", rule="ttl", T=size["deep_T"], truncation=K,
                            block_size=B, lr=LR, epochs=size["deep_epochs"], seed=seed, data=_data("events", size)))
    return out


def _label(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    n_layers = df["n_layers"]
    df["B"] = [("all" if (b != b or b is None or b >= n) else str(int(b))) for b, n in zip(df["block_size"], n_layers)]
    df["K"] = df["truncation"].astype(int)
    df["gap"] = df["final_train_acc"] - df["final_test_acc"]
    return df


MEASURES = ["final_test_acc", "final_train_acc", "gap", "best_test_acc", "saved_bytes_per_step", "saved_bytes_peak",
            "cost_macs", "cost_memory_access", "epoch_seconds"]


def report(tables: dict, out_dir) -> Report:
    res = _label(tables["results"])
    grid = mean_std(res[res["arch"] == "mlp"], ["data", "T", "K", "B"], MEASURES)
    deep = mean_std(res[res["arch"] == "alexnet"], ["data", "T", "K", "B"], MEASURES)
    notes = []
    for data, g in grid.groupby("data"):
        T = int(g["T"].iloc[0])
        e2e = g[(g["K"] == T) & (g["B"] == "all")]
        if len(e2e):
            ref = e2e.iloc[0]
            for B, gb in g.groupby("B"):
                row = gb.sort_values("K")
                accs = ", ".join(f"K={int(k)}: {100 * a:.1f}" for k, a in zip(row["K"], row["final_test_acc"]))
                notes.append(f"{data} B={B}: test accuracy (%) {accs}")
            for K, gk in g.groupby("K"):
                row = gk.set_index("B")
                gaps = ", ".join(f"B={b}: {100 * row.loc[b, 'gap']:.1f}" for b in row.index)
                notes.append(f"{data} K={int(K)}: train-test gap (points) {gaps}")
            notes.append(f"{data}: end-to-end BPTT (K=T={T}, B=all) test {100 * ref['final_test_acc']:.2f} %, "
                         f"gap {100 * ref['gap']:.1f} points")
    changes = pd.DataFrame()
    if len(deep):
        T = int(deep["T"].iloc[0])
        e2e = deep[(deep["K"] == T) & (deep["B"] == "all")]
        if len(e2e):
            ref = e2e.iloc[0]
            rows = []
            for _, r in deep.iterrows():
                if r["K"] == T and r["B"] == "all":
                    continue
                rows.append({"data": r["data"], "K": int(r["K"]), "B": r["B"], "n_seeds": int(r["n_seeds"]),
                             "test_acc": r["final_test_acc"], "bptt_test_acc": ref["final_test_acc"],
                             "accuracy_change_points": 100 * (r["final_test_acc"] - ref["final_test_acc"]),
                             "memory_change_pct": 100 * (r["saved_bytes_peak"] - ref["saved_bytes_peak"])
                             / ref["saved_bytes_peak"],
                             "memory_access_change_pct": 100 * (r["cost_memory_access"] - ref["cost_memory_access"])
                             / ref["cost_memory_access"],
                             "macs_change_pct": 100 * (r["cost_macs"] - ref["cost_macs"]) / ref["cost_macs"]})
            changes = pd.DataFrame(rows)
            for _, r in changes.iterrows():
                notes.append(f"alexnet events K={r['K']} B={r['B']} vs BPTT: accuracy "
                             f"{r['accuracy_change_points']:+.2f} points, memory {r['memory_change_pct']:+.2f} %, memory access "
                             f"{r['memory_access_change_pct']:+.2f} %, MACs {r['macs_change_pct']:+.2f} % "
                             f"(paper: +7.26 %, -89.94 %, -10.79 %, -99.64 %)")
    plots = [_plot_grid(grid, out_dir)]
    return Report({"grid": grid, "deep": deep, "deep_vs_bptt": changes}, notes, plots)


def _plot_grid(grid: pd.DataFrame, out_dir):
    plt = pyplot()
    datas = sorted(grid["data"].unique())
    panels = [("final_test_acc", "test accuracy (%)", 100), ("gap", "train - test (points)", 100),
              ("saved_bytes_per_step", "saved KiB / training step", 1 / 1024), ("cost_macs", "GMAC / batch", 1e-9)]
    fig, axes = plt.subplots(len(datas), len(panels), figsize=(4.4 * len(panels), 3.8 * len(datas)),
                             squeeze=False, layout="constrained")
    for i, data in enumerate(datas):
        g = grid[grid["data"] == data]
        Ks = sorted(g["K"].unique())
        Bs = sorted(g["B"].unique(), key=lambda b: (b == "all", b))
        for j, (col, label, scale) in enumerate(panels):
            ax = axes[i][j]
            mat = np.full((len(Bs), len(Ks)), np.nan)
            for _, r in g.iterrows():
                mat[Bs.index(r["B"]), Ks.index(r["K"])] = r[col] * scale
            im = ax.imshow(mat, cmap="viridis", aspect="auto")
            for a in range(len(Bs)):
                for b in range(len(Ks)):
                    if np.isfinite(mat[a, b]):
                        ax.text(b, a, f"{mat[a, b]:.3g}", ha="center", va="center", color="w", fontsize=8)
            ax.set_xticks(range(len(Ks)), [str(k) for k in Ks])
            ax.set_yticks(range(len(Bs)), Bs)
            ax.set(xlabel="truncation K", ylabel="block size B", title=f"{data}: {label}")
            fig.colorbar(im, ax=ax, fraction=0.046)
    return save_figure(fig, out_dir / "grid.png")
