"""The policy report of a sweep, built from its merged dataset only.

For each comparison: a terminal table (KPI, both arms, difference with its 95% CI,
p-value, verdict), the same table in Markdown and in a self-contained HTML page (figures
embedded), KPI time series per arm with 95% bands, a forest plot of relative effects, the
ERDF common indicators of each arm, and, when the sweep varies budget and staffing, a
heatmap of the headline effects over them. PNG figures are written beside the report.
"""

from __future__ import annotations

import base64
import html
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clustersim import atomic
from clustersim.analysis import independent_effects, paired_effects, t_interval, wide_summary
from clustersim.kpis import undefined_note
from clustersim.metrics import KPI_BY_NAME
from clustersim.store import experiment_spec, failed_runs, merge_sweep, read_sweep

logger = logging.getLogger(__name__)

HEADLINE = (
    "members",
    "ties_firm_firm",
    "cross_domain_share",
    "cross_cluster_share",
    "research_collaborations",
    "international_collaborations",
    "projects_funded",
    "training_agreements",
    "innovations",
    "turnover_growth_gap_pp",
    "cmo_staff_utilisation",
    "cost_per_collaboration_eur",
)
ERDF = ("CO01", "CO02", "CO04", "CO26", "CO27_eur", "CO28", "CO29")
SERIES = ("members", "ties_brokered", "projects_funded", "cmo_hours_service")
ORDER = {
    "funding": ["poles_2007_2013", "erdf_half", "erdf_5m", "erdf_double"],
    "staffing": ["lean", "setup6_run21", "expanded"],
}
HEADLINE_CELL = {"funding": "erdf_5m", "staffing": "setup6_run21"}
ARM_TITLES = {"twelve": "12 clusters", "seven": "7 clusters", "reform": "12 -> 7 (2016 reform)"}


def fmt(value: float, unit: str = "") -> str:
    """A number for tables: shares as percentages, money and counts with separators."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if unit == "share":
        return f"{100 * value:.1f}%"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.3g}"


def fmt_diff(row: pd.Series) -> str:
    """Difference with its CI, in the KPI's unit (percentage points for shares)."""
    unit = row["unit"]
    scale, suffix = (100.0, " pp") if unit == "share" else (1.0, "")

    def f(x: float) -> str:
        return (
            "n/a" if not math.isfinite(x) else f"{scale * x:+,.3g}" if abs(scale * x) < 1000 else f"{scale * x:+,.0f}"
        )

    return f"{f(row['difference'])}{suffix} [{f(row['ci_low'])}, {f(row['ci_high'])}]"


def fmt_p(p: float) -> str:
    """A p-value: three decimals, or '<0.001'."""
    if not math.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_kpi(value: float, unit: str, kpi: str) -> str:
    """Like :func:`fmt`, but a missing value says why: 'not defined: no proposals'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return undefined_note(kpi)
    return fmt(value, unit)


def comparison_table(effects: pd.DataFrame, baseline: str, treatment: str) -> pd.DataFrame:
    """The effects as a readable table (strings)."""
    out = pd.DataFrame(
        {
            "KPI": effects["kpi"],
            ARM_TITLES.get(baseline, baseline): [
                fmt_kpi(v, u, k) for v, u, k in zip(effects[baseline], effects["unit"], effects["kpi"], strict=True)
            ],
            ARM_TITLES.get(treatment, treatment): [
                fmt_kpi(v, u, k) for v, u, k in zip(effects[treatment], effects["unit"], effects["kpi"], strict=True)
            ],
            "difference [95% CI]": [
                fmt_diff(r) if math.isfinite(r["difference"]) else "not defined" for _, r in effects.iterrows()
            ],
            "p": [fmt_p(p) for p in effects["p_value"]],
            "verdict": effects["verdict"],
        }
    )
    return out


def text_table(df: pd.DataFrame) -> str:
    """Aligned plain-text table."""
    cols = list(df.columns)
    widths = [max(len(str(c)), *(len(str(v)) for v in df[c])) for c in cols]
    line = "  ".join(str(c).ljust(w) for c, w in zip(cols, widths, strict=True))
    rows = [line, "-" * len(line)]
    for _, r in df.iterrows():
        rows.append("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths, strict=True)))
    return "\n".join(rows)


def markdown_table(df: pd.DataFrame) -> str:
    """GitHub-flavoured Markdown table."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(r[c]).replace("|", "/") for c in cols) + " |")
    return "\n".join(lines)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_series(monthly: pd.DataFrame, arm: str, arms: list[str], path: Path) -> None:
    """KPI time series per arm: mean over replications with a 95% band."""
    plt = _plt()
    present = set(monthly["kpi"].unique())  # once: the table has one row per run, month and KPI
    kpis = [k for k in SERIES if k in present]
    fig, axes = plt.subplots(len(kpis), 1, figsize=(8, 2.3 * len(kpis)), sharex=True, squeeze=False)
    for ax, kpi in zip(axes[:, 0], kpis, strict=True):
        for a in arms:
            t = monthly[(monthly["kpi"] == kpi) & (monthly[arm] == a)]
            g = t.groupby("date")["value"]
            mean, sd, n = g.mean(), g.std(ddof=1).fillna(0.0), g.count()
            half = 1.96 * sd / np.sqrt(np.maximum(n, 1))
            x = pd.to_datetime(mean.index)
            ax.plot(x, mean.to_numpy(), label=ARM_TITLES.get(a, a), lw=1.4)
            ax.fill_between(x, (mean - half).to_numpy(), (mean + half).to_numpy(), alpha=0.25)
        ax.set_ylabel(kpi.replace("_", " "), fontsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="upper left")
    axes[0, 0].set_title("Monthly KPIs per arm (mean and 95% band over replications)", fontsize=10)
    fig.tight_layout()
    atomic.save_figure(fig, path, dpi=110)
    plt.close(fig)


def plot_forest(effects: pd.DataFrame, baseline: str, path: Path) -> None:
    """Relative effects (difference / baseline mean) with their 95% CI."""
    plt = _plt()
    e = effects[np.isfinite(effects["relative"])].iloc[::-1]
    base = effects.set_index("kpi")[baseline].abs()
    lo = (e["ci_low"] / e["kpi"].map(base)).to_numpy() * 100
    hi = (e["ci_high"] / e["kpi"].map(base)).to_numpy() * 100
    mid = e["relative"].to_numpy() * 100
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(e) + 1.2))
    colours = {"better": "tab:green", "worse": "tab:red"}
    y = np.arange(len(e))
    for i, (m, a, b, v) in enumerate(zip(mid, lo, hi, e["verdict"], strict=True)):
        ax.plot([a, b], [i, i], color=colours.get(v, "grey"), lw=2)
        ax.plot(m, i, "o", color=colours.get(v, "grey"))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, e["kpi"].str.replace("_", " "), fontsize=8)
    ax.set_xlabel(f"effect relative to {ARM_TITLES.get(baseline, baseline)} (%), 95% CI")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    atomic.save_figure(fig, path, dpi=110)
    plt.close(fig)


def plot_heatmap(grid: pd.DataFrame, kpi: str, path: Path) -> None:
    """Headline effect of one KPI over funding (columns) x staffing (rows)."""
    plt = _plt()
    t = grid[grid["kpi"] == kpi].pivot_table(index="staffing", columns="funding", values="difference")

    def ordered(values: pd.Index, key: str) -> list[str]:
        known = [v for v in ORDER[key] if v in values]
        return known + sorted(v for v in values if v not in known)

    t = t.reindex(index=ordered(t.index, "staffing"), columns=ordered(t.columns, "funding"))
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    im = ax.imshow(t.to_numpy(), cmap="RdBu", aspect="auto")
    lim = np.nanmax(np.abs(t.to_numpy())) if t.size else 1.0
    im.set_clim(-lim, lim)
    ax.set_xticks(range(t.shape[1]), t.columns, rotation=20, fontsize=8)
    ax.set_yticks(range(t.shape[0]), t.index, fontsize=8)
    for i in range(t.shape[0]):
        for j in range(t.shape[1]):
            ax.text(j, i, fmt(float(t.iat[i, j])), ha="center", va="center", fontsize=8)
    ax.set_title(f"{kpi.replace('_', ' ')}: treatment minus baseline (mean of pairs)", fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    atomic.save_figure(fig, path, dpi=110)
    plt.close(fig)


def build_report(sweep_dir: Path | str, merge: bool = False) -> dict[str, Any]:
    """Write report.md, report.html, effects.csv and figures/ for a sweep; return them."""
    sweep_dir = Path(sweep_dir)
    data = merge_sweep(sweep_dir) if merge or not (sweep_dir / "summary.parquet").is_file() else read_sweep(sweep_dir)
    spec = experiment_spec(sweep_dir)
    arm = spec.get("arm", "clusters")
    baseline = spec.get("baseline", "twelve")
    treatment = spec.get("treatment", "reform")
    pairing = spec.get("pairing", "common")
    by = list(spec.get("by", []))
    runs = data["runs"]
    failed = failed_runs(runs)
    summary = data["summary"]
    figures = sweep_dir / "figures"
    figures.mkdir(exist_ok=True)
    out: dict[str, Any] = {"failed": failed}
    if summary.empty:
        raise ValueError(f"no complete run in {sweep_dir}")
    id_cols = [c for c in summary.columns if c not in ("kpi", "cluster", "value", "unit", "direction", "note")]
    wide = wide_summary(summary, id_cols)
    pair_on = [c for c in ("seed", "replication", *by) if c in wide.columns]
    pair_on += [c for c in wide.columns if c.startswith("param.") and c not in pair_on]
    groups = [((), wide)] if not by else list(wide.groupby(by))
    all_effects = []
    for key, sub in groups:
        if pairing == "independent":
            eff = independent_effects(sub, arm, baseline, treatment)
        else:
            eff = paired_effects(sub, arm, baseline, treatment, pair_on)
        for i, (col, val) in enumerate(zip(by, key if isinstance(key, tuple) else (key,), strict=False)):
            eff.insert(i, col, val)
        all_effects.append(eff)
    effects = pd.concat(all_effects, ignore_index=True)
    atomic.write_csv(effects, sweep_dir / "effects.csv")
    out["effects"] = effects

    # the headline table: the practice's cell (EUR 5M, 6/21 staff) if swept, else the first
    head_index = 0
    for i, (key, _) in enumerate(groups):
        cell = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=False))
        if by and all(cell.get(k, v) == v for k, v in HEADLINE_CELL.items()):
            head_index = i
    head = all_effects[head_index]
    table = comparison_table(head[head["kpi"].isin(HEADLINE)], baseline, treatment)
    erdf = comparison_table(head[head["kpi"].isin(ERDF)], baseline, treatment)
    out["table"] = table
    monthly = data["monthly"]
    if not monthly.empty:
        head_key = groups[head_index][0]
        for col, val in zip(by, head_key if isinstance(head_key, tuple) else (head_key,), strict=False):
            monthly = monthly[monthly[col] == val]
        plot_series(monthly, arm, [baseline, treatment], figures / "series.png")
    plot_forest(head[head["kpi"].isin(HEADLINE + ERDF)], baseline, figures / "forest.png")
    heatmaps = []
    if {"funding", "staffing"} <= set(by):
        for kpi in ("ties_firm_firm", "members", "research_collaborations", "international_collaborations"):
            p = figures / f"heatmap_{kpi}.png"
            plot_heatmap(effects, kpi, p)
            heatmaps.append(p)
    n_pairs = int(head["n_pairs"].max()) if len(head) else 0
    title = spec.get("title", f"{ARM_TITLES.get(treatment, treatment)} vs {ARM_TITLES.get(baseline, baseline)}")
    head_key = groups[head_index][0] if by else ()
    head_key = head_key if isinstance(head_key, tuple) else (head_key,)
    scope = " / ".join(f"{c}={v}" for c, v in zip(by, head_key, strict=False))
    paired = pairing != "independent"
    design = "common random numbers: one history to the reform, then both arms" if paired else "independent seeds"
    test = "Wilcoxon signed-rank" if paired else "Mann-Whitney"
    intro = (
        f"{n_pairs} {'pairs' if paired else 'runs per arm'} ({design}). Differences are treatment minus"
        f" baseline with a 95% t interval and a {test} p-value; the verdict reads the KPI's direction"
        " and says 'no clear difference' when the interval contains 0."
    )
    md = [f"# {title}", "", intro, ""]
    if scope:
        md += [f"Headline table for {scope}; effects for every cell are in effects.csv.", ""]
    md += ["## Headline KPIs (report window)", "", markdown_table(table), "", "## ERDF common indicators", ""]
    md += [markdown_table(erdf), "", "![series](figures/series.png)", "", "![forest](figures/forest.png)", ""]
    for p in heatmaps:
        md += [f"![{p.stem}](figures/{p.name})", ""]
    if len(failed):
        md += ["## Failed runs", "", markdown_table(failed[["run", "error"]].astype(str)), ""]
    md += ["## What the KPIs measure", ""]
    md += [f"- **{k}**: {KPI_BY_NAME[k].definition} ({KPI_BY_NAME[k].unit})" for k in HEADLINE + ERDF]
    md += ["", "Full definitions: docs/ODD.md, section 7.3."]
    _write_text(sweep_dir / "report.md", "\n".join(md) + "\n")
    _write_text(sweep_dir / "report.html", _html(title, intro, table, erdf, figures, heatmaps, failed))
    out["text"] = f"{title}\n{intro}\n\n" + text_table(table)
    if len(failed):
        out["text"] += f"\n\n{len(failed)} run(s) failed: " + ", ".join(map(str, failed["run"]))
    return out


def _write_text(path: Path, text: str) -> None:
    atomic.write_text(path, text)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _html(title, intro, table, erdf, figures, heatmaps, failed) -> str:
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px}"
        "td:nth-child(n+2){text-align:right}img{max-width:100%}"
        ".better{color:#16700d;font-weight:600}.worse{color:#b00020;font-weight:600}"
    )

    def tbl(df: pd.DataFrame) -> str:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
        body = []
        for _, r in df.iterrows():
            cells = []
            for c in df.columns:
                v = str(r[c])
                cls = f' class="{v}"' if c == "verdict" and v in ("better", "worse") else ""
                cells.append(f"<td{cls}>{html.escape(v)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return f"<table><tr>{head}</tr>{''.join(body)}</table>"

    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>",
        "<h2>Headline KPIs (report window)</h2>",
        tbl(table),
        "<h2>ERDF common indicators</h2>",
        tbl(erdf),
    ]
    for name in ("series.png", "forest.png"):
        if (figures / name).is_file():
            parts.append(_img(figures / name))
    parts += [_img(p) for p in heatmaps]
    if len(failed):
        parts += ["<h2>Failed runs</h2>", tbl(failed[["run", "error"]].astype(str))]
    parts.append("<h2>What the KPIs measure</h2><ul>")
    parts += [
        f"<li><b>{html.escape(k)}</b>: {html.escape(kpi.definition)} ({html.escape(kpi.unit)})</li>"
        for k, kpi in ((k, KPI_BY_NAME[k]) for k in HEADLINE + ERDF)
    ]
    parts.append("</ul><p>Full definitions: docs/ODD.md, section 7.3.</p></body></html>")
    return "\n".join(parts)


def build_arm_report(sweep_dir: Path | str, merge: bool = False) -> dict[str, Any]:
    """The report of a sweep of one arm (no comparison): each KPI's mean with its 95% CI over the runs.

    Writes report.md, report.html, kpis.csv and figures/series.png; returns
    ``{"text", "table", "kpis", "failed"}``. A KPI with no value in some runs (a 0/0 ratio)
    is averaged over the runs where it is defined, and says in how many it was.
    """
    sweep_dir = Path(sweep_dir)
    data = merge_sweep(sweep_dir) if merge or not (sweep_dir / "summary.parquet").is_file() else read_sweep(sweep_dir)
    spec = experiment_spec(sweep_dir)
    arm = spec.get("arm", "clusters")
    failed = failed_runs(data["runs"])
    summary = data["summary"]
    if summary.empty:
        raise ValueError(f"no complete run in {sweep_dir}")
    rows = summary[summary["cluster"] == "all"]
    n_runs = int(rows["run"].nunique())
    value = str(rows[arm].iloc[0]) if arm in rows.columns and rows[arm].nunique() == 1 else "several"
    records = []
    for kpi, k in KPI_BY_NAME.items():
        x = rows.loc[rows["kpi"] == kpi, "value"].to_numpy(dtype=float)
        if x.size == 0:
            continue
        mean, low, high = t_interval(x)
        n = int(np.isfinite(x).sum())
        records.append({"kpi": kpi, "unit": k.unit, "mean": mean, "ci_low": low, "ci_high": high, "n_defined": n})
    kpis = pd.DataFrame(records)
    kpis["n_runs"] = n_runs
    atomic.write_csv(kpis, sweep_dir / "kpis.csv")

    def cell(r: pd.Series) -> str:
        if r["n_defined"] == 0:
            return undefined_note(r["kpi"])
        ci = f" [{fmt(r['ci_low'], r['unit'])}, {fmt(r['ci_high'], r['unit'])}]" if r["n_defined"] > 1 else ""
        part = f" (defined in {r['n_defined']} of {n_runs} runs)" if r["n_defined"] < n_runs else ""
        return f"{fmt(r['mean'], r['unit'])}{ci}{part}"

    def table_of(names: tuple[str, ...]) -> pd.DataFrame:
        sub = kpis[kpis["kpi"].isin(names)]
        return pd.DataFrame({"KPI": sub["kpi"], "mean [95% CI]": [cell(r) for _, r in sub.iterrows()]})

    table, erdf = table_of(HEADLINE), table_of(ERDF)
    figures = sweep_dir / "figures"
    figures.mkdir(exist_ok=True)
    for stale in ("forest.png",):  # a comparison's figure from an earlier report of this folder
        (figures / stale).unlink(missing_ok=True)
    monthly = data["monthly"]
    if not monthly.empty and arm in monthly.columns:
        plot_series(monthly, arm, sorted(monthly[arm].astype(str).unique()), figures / "series.png")
    title = spec.get("title") or f"{ARM_TITLES.get(value, value)}: {n_runs} runs"
    intro = (
        f"One arm ({arm} = {value}), {n_runs} runs: each KPI's mean over the runs with a 95% t interval."
        " No comparison: the sweep ran a single arm."
    )
    md = [f"# {title}", "", intro, "", "## KPIs (report window)", "", markdown_table(table), ""]
    md += ["## ERDF common indicators", "", markdown_table(erdf), "", "![series](figures/series.png)", ""]
    if len(failed):
        md += ["## Failed runs", "", markdown_table(failed[["run", "error"]].astype(str)), ""]
    md += ["Full definitions: docs/ODD.md, section 7.3."]
    _write_text(sweep_dir / "report.md", "\n".join(md) + "\n")
    _write_text(sweep_dir / "report.html", _html(title, intro, table, erdf, figures, [], failed))
    text = f"{title}\n{intro}\n\n" + text_table(table)
    if len(failed):
        text += f"\n\n{len(failed)} run(s) failed: " + ", ".join(map(str, failed["run"]))
    return {"text": text, "table": table, "kpis": kpis, "failed": failed}


def main(argv: list[str] | None = None) -> int:
    """``clustersim-report <sweep folder>``: merge the saved runs and rebuild the report."""
    from clustersim.finish import report_main

    return report_main(argv)
