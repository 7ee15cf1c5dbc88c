"""The validation's figures (PNG): gaps to the public figures, degree distribution, turnover, replications, sizes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from clustersim.validation.run import ValidationResult


def write_figures(result: ValidationResult, folder: str | Path) -> list[Path]:
    """The validation's PNG figures: gaps, degree distribution, turnover, replications, sizes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        written.append(folder / name)

    t = result.table[result.table["public"] != ""].reset_index(drop=True)
    t = t[np.isfinite(t["relative_gap"])]
    if not t.empty:
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(t) + 1.2))
        y = np.arange(len(t))[::-1]
        ref = t["public_value"].abs().to_numpy()
        lo = (t["range95_low"] - t["public_value"]).to_numpy() / ref
        hi = (t["range95_high"] - t["public_value"]).to_numpy() / ref
        colours = ["tab:green" if v == "within" else "tab:red" for v in t["verdict"]]
        ax.hlines(y, lo, hi, color="0.6", lw=3, label="95% of replications")
        ax.scatter(t["relative_gap"], y, c=colours, zorder=3, label="model mean (green: within)")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(y, [f"{lbl} ({m})" for lbl, m in zip(t["label"], t["mark"], strict=True)], fontsize=7)
        ax.set_xlabel("model relative to the public figure (0 = equal; -1 = zero)")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title("Model against public figures")
        save(fig, "comparison.png")
    if result.degree_counts.sum() > 0:
        fig, ax = plt.subplots(figsize=(5.5, 4))
        k = np.arange(result.degree_counts.size)
        for counts, label, style in (
            (result.degree_counts, "model (all replications)", "o-"),
            (result.random_degree_counts, "random graph, same mean degree", "--"),
        ):
            ccdf = counts[::-1].cumsum()[::-1] / max(counts.sum(), 1e-12)
            keep = (k >= 1) & (ccdf > 1e-6)
            ax.loglog(k[keep], ccdf[keep], style, ms=3, label=label)
        ax.set_xlabel("degree k (distinct partners)")
        ax.set_ylabel("share of connected firms with degree >= k")
        ax.legend()
        ax.set_title("Degree distribution of the firm network")
        save(fig, "degree_ccdf.png")
    if not result.study_curve.empty:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for kpi, part in result.study_curve.groupby("kpi", sort=False):
            ax.plot(part["n"], part["relative_half_width"], label=kpi, lw=1)
        for h in result.spec.replications_study.half_widths:
            ax.axhline(h, color="k", ls=":", lw=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("replications n")
        ax.set_ylabel("95% CI half-width / |mean|")
        ax.legend(fontsize=6, ncol=2)
        ax.set_title("Width of the confidence interval against replications")
        save(fig, "replications.png")
    tt = result.turnover.set_index("statistic") if not result.turnover.empty else None
    if tt is not None and {"share_above_members", "share_above_matched"} <= set(tt.index):
        fig, ax = plt.subplots(figsize=(6, 4))
        groups = ["members", "matched never-members", "joiners", "never-members matched to joiners"]
        keys = ["share_above_members", "share_above_matched", "share_above_joiners", "share_above_joiners_matched"]
        vals = [tt.loc[k, "model_mean"] if k in tt.index else np.nan for k in keys]
        errs = [(tt.loc[k, "ci95_high"] - tt.loc[k, "model_mean"]) if k in tt.index else np.nan for k in keys]
        ax.bar(np.arange(4), vals, yerr=errs, color=["tab:blue", "tab:gray", "tab:cyan", "tab:gray"], label="model")
        pub = [tt.loc[k, "public"] if k in tt.index else None for k in keys[:2]]
        for i, p in enumerate(pub):
            if p is not None and math.isfinite(float(p)):
                ax.scatter([i], [p], color="tab:red", marker="D", zorder=3, label="public figure" if i == 0 else None)
        ax.set_xticks(np.arange(4), groups, fontsize=7, rotation=15)
        ax.set_ylabel("share growing by more than the threshold")
        ax.legend(fontsize=7)
        ax.set_title("Growth of cluster firms vs comparable non-members")
        save(fig, "turnover.png")
    if not result.cluster_sizes.empty:
        dates = list(dict.fromkeys(result.cluster_sizes["date"]))
        fig, axes = plt.subplots(1, len(dates), figsize=(4.2 * len(dates), 4), squeeze=False)
        publics = {
            str(i.measure.cluster): i.public
            for i in result.spec.items.values()
            if i.measure.type == "cluster_members" and i.public is not None
        }
        for ax, d in zip(axes[0], dates, strict=True):
            part = result.cluster_sizes[result.cluster_sizes["date"] == d]
            stats_ = part.groupby("cluster", sort=False)["members"].agg(["mean", "min", "max"])
            x = np.arange(len(stats_))
            ax.bar(x, stats_["mean"], color="tab:blue")
            ax.errorbar(
                x,
                stats_["mean"],
                yerr=[stats_["mean"] - stats_["min"], stats_["max"] - stats_["mean"]],
                fmt="none",
                color="k",
                lw=0.8,
            )
            for i, cl in enumerate(stats_.index):
                p = publics.get(cl)
                if p is not None and publics[cl].kind in ("point", "lower_bound"):
                    ax.scatter([i], [p.value], color="tab:red", marker="D" if p.kind == "point" else "^", zorder=3)
            ax.set_xticks(x, [c.split("/")[-1] for c in stats_.index], rotation=70, fontsize=7)
            ax.set_title(f"members per cluster, end of {d}", fontsize=9)
        axes[0][0].set_ylabel("member firms")
        fig.suptitle("bars: mean over replications; lines: min-max; red: public (triangle: lower bound)", fontsize=8)
        save(fig, "cluster_sizes.png")
    return written
