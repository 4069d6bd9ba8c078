"""The summary and plots of a sweep's table (``hwlearn sweep report RESULTS``).

* :func:`summarize`: per point (every axis value), mean and standard deviation over seeds (sample
  std, ``ddof=1``; 0 with one seed) of the chip and float accuracies, the gap (points), the update
  cosine and the energy, and the number of seeds that finished;
* :func:`within_float`: the points whose mean chip accuracy is within ``tol`` points (default 1) of
  their mean float accuracy, and among them the *smallest widths*: the points no other such point with
  the same non-width axis values (rule, rounding, ...) undercuts on every width axis (the
  Pareto-minimal set), fewest total bits first;
* :func:`plots`: matplotlib PNGs: accuracy against each axis with error bars (one line per value
  of the second axis, float dashed), a heat map over the first two axes, the update cosine against
  each width axis, and energy against accuracy with the Pareto front (highest accuracy for the
  energy) marked.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .cells import atomic_output
from .study import SPEC_WIDTHS

SUMMARY_METRICS = ("chip_accuracy", "float_accuracy", "gap_points", "update_cosine_min", "energy_J")


def _axes(meta: dict) -> list:
    return list(meta["study"]["axes"])


def summarize(df, axes: list):
    """Mean / std over seeds per point (finished rows only); columns ``<metric>_mean``, ``<metric>_std``, ``n``."""
    import pandas as pd

    ok = df[df.status == "ok"]
    if ok.empty:
        return pd.DataFrame(columns=axes + ["n"])
    g = ok.groupby(axes, sort=False, dropna=False)
    out = g.size().rename("n").to_frame()
    for m in SUMMARY_METRICS:
        col = pd.to_numeric(ok[m], errors="coerce")
        out[f"{m}_mean"] = col.groupby([ok[a] for a in axes], sort=False, dropna=False).mean()
        out[f"{m}_std"] = col.groupby([ok[a] for a in axes], sort=False, dropna=False).std(ddof=1).fillna(0.0)
    return out.reset_index()


def within_float(summary, axes: list, tol_points: float = 1.0):
    """(points within ``tol_points`` of float, the smallest-width ones among them)."""
    s = summary.dropna(subset=["chip_accuracy_mean", "float_accuracy_mean"])
    within = s[100.0 * (s.float_accuracy_mean - s.chip_accuracy_mean) <= tol_points + 1e-9]
    widths = [a for a in axes if a in SPEC_WIDTHS or a == "in_bits"]
    widths = [a for a in widths if np.issubdtype(within[a].dtype, np.number)] if len(within) else widths
    if not widths or within.empty:
        return within, within
    others = [a for a in axes if a not in widths]
    keys = [tuple(r) for r in within[others].astype(str).to_numpy()] if others else [()] * len(within)
    vals = within[widths].to_numpy(dtype=float)
    keep = []
    for i, v in enumerate(vals):         # Pareto-minimal among the points with the same other axes
        dominated = any(keys[j] == keys[i] and np.all(w <= v) and np.any(w < v)
                        for j, w in enumerate(vals) if j != i)
        if not dominated:
            keep.append(i)
    smallest = within.iloc[keep].copy()
    smallest["total_bits"] = smallest[widths].sum(axis=1)
    return within, smallest.sort_values("total_bits", kind="stable")


def _fmtv(v) -> str:
    """An axis value as text (integral floats, which pandas makes of int columns, as ints)."""
    if isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _pm(m, s, scale=100.0, fmt="{:.2f}"):
    if m is None or (isinstance(m, float) and np.isnan(m)):
        return "-"
    return f"{fmt.format(scale * m)} ± {fmt.format(scale * s)}"


def format_summary(df, meta: dict, tol_points: float = 1.0) -> str:
    """The text the report prints."""
    axes = _axes(meta)
    s = summarize(df, axes)
    lines = [f"study {meta.get('name') or ''} ({meta['hash']}): base {meta['study']['base']}, {len(df)} rows, "
             f"{int((df.status == 'ok').sum())} finished, {int((df.status != 'ok').sum())} failed; "
             f"seeds {meta['study']['seeds']}"]
    head = axes + ["n", "chip % (mean ± std)", "float %", "gap (points)", "update cos min", "energy (mJ)"]
    rows = []
    for _, r in s.iterrows():
        rows.append([_fmtv(r[a]) for a in axes] + [str(int(r["n"])),
                    _pm(r.chip_accuracy_mean, r.chip_accuracy_std), _pm(r.float_accuracy_mean, r.float_accuracy_std),
                    _pm(r.gap_points_mean, r.gap_points_std, 1.0),
                    _pm(r.update_cosine_min_mean, r.update_cosine_min_std, 1.0, "{:.3f}"),
                    _pm(r.energy_J_mean, r.energy_J_std, 1e3, "{:.3f}")])
    w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines.append("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
    lines += ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)) for r in rows]
    within, smallest = within_float(s, axes, tol_points)
    if s.empty or s.float_accuracy_mean.isna().all():
        lines.append("no float accuracy in this study (float = 'none'): nothing to compare with")
    elif within.empty:
        lines.append(f"no point is within {tol_points:g} point(s) of float")
    else:
        lines.append(f"{len(within)} point(s) within {tol_points:g} point(s) of float; smallest widths:")
        for _, r in smallest.iterrows():
            desc = ", ".join(f"{a}={_fmtv(r[a])}" for a in axes)
            lines.append(f"  {desc}: chip {100 * r.chip_accuracy_mean:.2f} %, float {100 * r.float_accuracy_mean:.2f} %")
    bad = df[df.status != "ok"]
    for _, r in bad.head(10).iterrows():
        lines.append(f"failed: {', '.join(f'{a}={_fmtv(r[a])}' for a in axes)} seed {r.seed}: {r.error}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ plots

def _save(fig, path: Path) -> Path:
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path


def _positions(values):
    """x positions and tick labels of an axis' values (numbers as themselves, else categories)."""
    vals = list(dict.fromkeys(values))
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in vals):
        vals = sorted(vals)
        return {v: float(v) for v in vals}, vals, True
    return {v: float(i) for i, v in enumerate(vals)}, vals, False


def pareto_front(energy: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both (lower energy, higher accuracy), by energy."""
    idx = []
    for i in range(len(energy)):
        if not any((energy[j] <= energy[i] and acc[j] >= acc[i]) and (energy[j] < energy[i] or acc[j] > acc[i])
                   for j in range(len(energy))):
            idx.append(i)
    return np.array(sorted(idx, key=lambda i: energy[i]), dtype=int)


def plots(df, meta: dict, folder) -> list:
    """Write the PNGs into ``folder``; returns their paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    axes = _axes(meta)
    s = summarize(df, axes)
    out = []
    if s.empty:
        return out
    for a in axes:
        others = [b for b in axes if b != a]
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        pos, vals, numeric = _positions(s[a].tolist())
        groups = [(None, s)] if not others else list(s.groupby(others[0], sort=True))
        for gval, sub in groups:
            sub = sub.groupby(a, sort=False).mean(numeric_only=True).reset_index() if len(others) > 1 else sub
            xs = np.array([pos[v] for v in sub[a]])
            order = np.argsort(xs)
            label = f"chip, {others[0]}={gval}" if others else "chip"
            ax.errorbar(xs[order], 100 * sub.chip_accuracy_mean.to_numpy()[order],
                        yerr=100 * sub.chip_accuracy_std.to_numpy()[order], marker="o", capsize=3, label=label)
        fl = s.float_accuracy_mean.dropna()
        if len(fl):
            ax.axhline(100 * fl.mean(), ls="--", color="k", lw=1, label="float (mean)")
        ax.set_xlabel(a)
        ax.set_ylabel("test accuracy (%)")
        ax.set_xticks([pos[v] for v in vals], [_fmtv(v) for v in vals])
        ax.set_title(f"accuracy vs {a}" + (f" (mean over {', '.join(others[1:])})" if len(others) > 1 else ""))
        ax.legend(fontsize=7)
        out.append(_save(fig, folder / f"accuracy_vs_{a}.png"))
    if len(axes) >= 2:
        a, b = axes[0], axes[1]
        piv = s.pivot_table(index=b, columns=a, values="chip_accuracy_mean", aggfunc="mean")
        fig, ax = plt.subplots(figsize=(5.5, 4.2))
        im = ax.imshow(100 * piv.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(piv.columns)), [str(c) for c in piv.columns])
        ax.set_yticks(range(len(piv.index)), [str(i) for i in piv.index])
        for i in range(piv.shape[0]):
            for j in range(piv.shape[1]):
                v = piv.to_numpy(dtype=float)[i, j]
                if np.isfinite(v):
                    ax.text(j, i, f"{100 * v:.1f}", ha="center", va="center", fontsize=7, color="w")
        ax.set_xlabel(a)
        ax.set_ylabel(b)
        fig.colorbar(im, ax=ax, label="chip test accuracy (%)")
        ax.set_title(f"chip accuracy over {a} x {b} (mean over seeds)")
        out.append(_save(fig, folder / f"heatmap_{a}_{b}.png"))
    if s.update_cosine_min_mean.notna().any():
        widths = [a for a in axes if (a in SPEC_WIDTHS or a == "in_bits") and _positions(s[a].tolist())[2]] or axes[:1]
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for a in widths:
            sub = s.groupby(a, sort=True).mean(numeric_only=True).reset_index()
            pos, vals, numeric = _positions(sub[a].tolist())
            xs = [pos[v] for v in sub[a]]
            ax.errorbar(xs, sub.update_cosine_min_mean, yerr=sub.update_cosine_min_std, marker="o", capsize=3,
                        label=f"vs {a}")
            if not numeric:
                ax.set_xticks([pos[v] for v in vals], [_fmtv(v) for v in vals])
        ax.set_xlabel("bits" if all(_positions(s[a].tolist())[2] for a in widths) else ", ".join(widths))
        ax.set_ylabel("update cosine vs float twin (min over projections)")
        ax.set_title("update cosine vs bits (mean over the other axes)")
        ax.legend(fontsize=7)
        out.append(_save(fig, folder / "update_cosine_vs_bits.png"))
    e = s.dropna(subset=["energy_J_mean", "chip_accuracy_mean"])
    if len(e):
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        en, acc = e.energy_J_mean.to_numpy(float), e.chip_accuracy_mean.to_numpy(float)
        ax.scatter(1e3 * en, 100 * acc, s=18, color="tab:blue", label="points")
        front = pareto_front(en, acc)
        ax.plot(1e3 * en[front], 100 * acc[front], "-o", color="tab:red", ms=5, label="Pareto front")
        for i in front:
            ax.annotate(", ".join(_fmtv(e.iloc[i][a]) for a in axes), (1e3 * en[i], 100 * acc[i]), fontsize=6,
                        xytext=(3, -8), textcoords="offset points")
        ax.set_xlabel("energy (mJ, estimate)")
        ax.set_ylabel("chip test accuracy (%)")
        ax.set_title("energy vs accuracy (labels: " + ", ".join(axes) + ")")
        ax.legend(fontsize=7)
        out.append(_save(fig, folder / "energy_vs_accuracy.png"))
    return out
