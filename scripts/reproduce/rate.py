"""Claim 3, rate-based backpropagation (Yu et al., NeurIPS 2024): rate_M and rate_S reach accuracy
comparable to BPTT while reducing training memory and time, across time steps.

Experiments (``hwlearn reproduce rate``): rate_M, rate_S and BPTT for T = 2, 4, 8, 16 on digits
(MLP 64-256-256, direct encoding, leak 0.2 as the rate-BP code for all three, Adam lr 2e-3, cosine
schedule, batch 32), seeds 0, 1, 2: test and train accuracy per epoch, wall and CPU time per epoch
(training only, evaluation excluded), saved-for-backward bytes per training step.
"""
from __future__ import annotations

import pandas as pd

from .common import Report, cell, mean_std, pyplot, save_figure

RULES = ("bptt", "rate-m", "rate-s")
SEEDS = {"test": [0], "quick": [0], "full": [0, 1, 2]}
SIZES = {
    "test": dict(epochs=1, widths=[32, 32], T=[2, 4], digits_limit=96),
    "quick": dict(epochs=4, widths=[256, 256], T=[2, 4, 8, 16], digits_limit=400),
    "full": dict(epochs=20, widths=[256, 256], T=[2, 4, 8, 16], digits_limit=None),
}
LEAK = 0.2
LR = 2e-3


def cells(mode: str, seeds) -> list:
    size = SIZES[mode]
    data = {"name": "digits", **({"limit": size["digits_limit"]} if size["digits_limit"] else {})}
    return [cell(kind="train", arch="mlp", widths=size["widths"], rule=rule, T=T, leak=LEAK, lr=LR,
                 epochs=size["epochs"], seed=seed, data=data)
            for T in size["T"] for rule in RULES for seed in seeds]


def report(tables: dict, out_dir) -> Report:
    res = tables["results"].copy()
    res["gap"] = res["final_train_acc"] - res["final_test_acc"]
    acc = mean_std(res, ["data", "T", "rule"], ["final_test_acc", "final_train_acc", "gap", "epoch_seconds",
                                                "epoch_cpu_seconds", "saved_bytes_per_step"])
    notes = []
    for T, g in acc.groupby("T"):
        g = g.set_index("rule")
        if "bptt" not in g.index:
            continue
        b = g.loc["bptt"]
        for rule in ("rate-m", "rate-s"):
            if rule in g.index:
                r = g.loc[rule]
                diff = 100 * (r["final_test_acc"] - b["final_test_acc"])
                notes.append(f"T={int(T)} {rule} vs BPTT: test {100 * r['final_test_acc']:.2f} vs "
                             f"{100 * b['final_test_acc']:.2f} % ({diff:+.2f} points), CPU s/epoch "
                             f"{r['epoch_cpu_seconds']:.3f} vs {b['epoch_cpu_seconds']:.3f} "
                             f"(x{r['epoch_cpu_seconds'] / b['epoch_cpu_seconds']:.2f}), saved bytes/step "
                             f"{int(r['saved_bytes_per_step']):,} vs {int(b['saved_bytes_per_step']):,} "
                             f"(x{r['saved_bytes_per_step'] / b['saved_bytes_per_step']:.3f})")
    return Report({"by_T": acc}, notes, [_plot(acc, out_dir)])


def _plot(acc: pd.DataFrame, out_dir):
    plt = pyplot()
    from matplotlib.ticker import NullLocator

    panels = [("final_test_acc", "test accuracy (%)", 100), ("epoch_cpu_seconds", "CPU s per epoch", 1),
              ("saved_bytes_per_step", "saved KiB per training step", 1 / 1024)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), layout="constrained")
    for ax, (col, label, scale) in zip(axes, panels):
        for rule, g in acc.groupby("rule"):
            g = g.sort_values("T")
            err = g.get(col + "_std")
            ax.errorbar(g["T"], g[col] * scale, yerr=None if err is None else err * scale, marker="o",
                        capsize=3, label=rule)
        ax.set(xlabel="T (time steps)", ylabel=label, xscale="log", title=label)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(sorted(acc["T"].unique()), [str(t) for t in sorted(acc["T"].unique())])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, out_dir / "rate_vs_T.png")
