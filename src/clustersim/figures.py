"""Publication figures of saved results: 300 dpi PNG and SVG, human labels, intervals.

Every figure here is built on a :class:`matplotlib.figure.Figure` (no pyplot state), takes
its labels from :mod:`clustersim.labels` and the region's notes, draws uncertainty (95%
intervals of means and differences, the range of the replications), and uses colours
that colour-blind readers can tell apart (Okabe and Ito's palette for categories, the
ColorBrewer ``PuOr`` diverging map for signed effects). :func:`save` writes each figure
as a 300 dpi PNG and an SVG beside it.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from clustersim import stats
from clustersim.analysis import BETTER, NEUTRAL, POSSIBLY_BETTER, POSSIBLY_WORSE, UNCLEAR, WORSE
from clustersim.labels import SERIES_LABELS, Notes, effect_phrase, fmt_effect, fmt_number, kpi_label
from clustersim.saver import DPI, save, short_eur  # noqa: F401  (save and DPI: clustersim.figures.save)

#: Okabe and Ito (2008): distinguishable with every common colour-vision deficiency.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
#: Colour and marker fill of each verdict.
VERDICT_STYLE: dict[str, tuple[str, bool]] = {
    BETTER: ("#009E73", True),
    POSSIBLY_BETTER: ("#009E73", False),
    UNCLEAR: ("#777777", True),
    POSSIBLY_WORSE: ("#D55E00", False),
    WORSE: ("#D55E00", True),
    NEUTRAL: ("#56B4E9", True),
}
VERDICT_LEGEND = {
    BETTER: "better (clear after correction)",
    POSSIBLY_BETTER: "possibly better (not clear after correction)",
    UNCLEAR: "no clear difference",
    POSSIBLY_WORSE: "possibly worse (not clear after correction)",
    WORSE: "worse (clear after correction)",
    NEUTRAL: "no better direction (information)",
}
DIVERGING = "PuOr"


@dataclass(frozen=True)
class Span:
    """A shaded period of a time-series figure, with its label (e.g. a reform's set-up)."""

    start: str
    end: str
    label: str


def _unit(lab) -> str:
    """The unit a KPI's effect is drawn in ('' for counts, whose title names what is counted)."""
    return {"share": "points", "eur": "EUR", "points": "points", "count": ""}.get(lab.kind, lab.axis)


def arm_colours(arms: Sequence[str]) -> dict[str, str]:
    """A colour per arm, in order, from the Okabe-Ito palette."""
    return {a: OKABE_ITO[i % len(OKABE_ITO)] for i, a in enumerate(arms)}


def _finish_axes(ax) -> None:
    ax.grid(alpha=0.3, lw=0.5)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)


# ------------------------------------------------------------------------------ series
def _span_style(i: int) -> dict:
    """Shaded periods: the first hatched, the others plain light grey (they may overlap)."""
    if i == 0:
        return {"facecolor": "none", "edgecolor": "#888888", "hatch": "////", "lw": 0}
    return {"facecolor": "#bbbbbb", "alpha": 0.3, "lw": 0}


BAND_COLUMNS = ["date", "mean", "ci_low", "ci_high", "range_low", "range_high", "n"]


def series_bands(monthly: pd.DataFrame, kpi: str, arm_col: str, arm: str, level: float = 0.95) -> pd.DataFrame:
    """Per month: the mean over replications, its t interval, and the replications' range.

    Months are taken in date order and each month's values in the table's order (by
    month), as :func:`clustersim.stats.mean_interval` and
    :func:`~clustersim.stats.replication_range` would take them one month at a time; when
    every month has the same number of replications, all finite (the usual case), all months
    are computed at once, with the same arithmetic row by row.
    """
    how = SERIES_LABELS.get(kpi, (kpi, "", "level"))[2]
    t = monthly[(monthly["kpi"] == kpi) & (monthly[arm_col] == arm)].sort_values("month")
    if how == "cumulative":
        t = t.assign(value=t.groupby("run")["value"].cumsum())
    if t.empty:
        return pd.DataFrame([], columns=BAND_COLUMNS)
    dates, codes = np.unique(t["date"].to_numpy().astype(str), return_inverse=True)
    values = t["value"].to_numpy(dtype=float)
    counts = np.bincount(codes, minlength=len(dates))
    n = int(counts[0])
    if n < 2 or (counts != n).any() or not np.isfinite(values).all():
        return _series_bands_by_month(t, level)
    rows = values[np.argsort(codes, kind="stable")].reshape(len(dates), n)  # one row per month, in date order
    mean = rows.mean(axis=1)
    half = stats.t_quantile(n - 1, level) * rows.std(axis=1, ddof=1) / math.sqrt(n)
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(rows, [tail, 100.0 - tail], axis=1)
    return pd.DataFrame(
        {
            "date": dates.astype(object),
            "mean": mean,
            "ci_low": mean - half,
            "ci_high": mean + half,
            "range_low": low,
            "range_high": high,
            "n": np.full(len(dates), n, dtype=np.int64),
        }
    )


def _series_bands_by_month(t: pd.DataFrame, level: float) -> pd.DataFrame:
    """:func:`series_bands` one month at a time (months with missing or non-finite values)."""
    rows = []
    for date, g in t.groupby("date", sort=True):
        iv = stats.mean_interval(g["value"].to_numpy(), level)
        lo, hi = stats.replication_range(g["value"].to_numpy(), level)
        rows.append((date, iv.estimate, iv.low, iv.high, lo, hi, iv.n))
    return pd.DataFrame(rows, columns=BAND_COLUMNS)


def series_figure(
    monthly: pd.DataFrame,
    arm_col: str,
    arms: Sequence[str],
    notes: Notes,
    kpis: Sequence[str],
    spans: Sequence[Span] = (),
    level: float = 0.95,
) -> Figure:
    """Monthly paths of each arm: mean, its 95% interval (dark band) and the replications' range (light band).

    ``spans`` shade periods such as a reform's set-up, labelled in the first panel, so that
    a dip there is read as what it is.
    """
    present = set(monthly["kpi"].unique()) if not monthly.empty else set()
    kpis = [k for k in kpis if k in present]
    fig = Figure(figsize=(7.2, 1.9 * max(len(kpis), 1) + 0.9), layout="constrained")
    axes = fig.subplots(max(len(kpis), 1), 1, sharex=True, squeeze=False)[:, 0]
    colours = arm_colours(arms)
    n_runs = 0
    for ax, kpi in zip(axes, kpis, strict=False):
        title, axis, _how = SERIES_LABELS.get(kpi, (kpi.replace("_", " "), "", "level"))
        for a in arms:
            b = series_bands(monthly, kpi, arm_col, a, level)
            if b.empty:
                continue
            n_runs = max(n_runs, int(b["n"].max()))
            x = pd.to_datetime(b["date"])
            c = colours[a]
            ax.fill_between(x, b["range_low"], b["range_high"], color=c, alpha=0.12, lw=0)
            ax.fill_between(x, b["ci_low"], b["ci_high"], color=c, alpha=0.4, lw=0)
            ax.plot(x, b["mean"], color=c, lw=1.3, label=notes.option(arm_col, a))
        for i, span in enumerate(spans):
            ax.axvspan(pd.Timestamp(span.start), pd.Timestamp(span.end), zorder=0, **_span_style(i))
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel(axis, fontsize=8)
        _finish_axes(ax)
    axes[-1].set_xlabel("month", fontsize=8)
    handles = [Line2D([], [], color=colours[a], lw=1.5, label=notes.option(arm_col, a)) for a in arms]
    handles += [
        Patch(color="#555555", alpha=0.5, label=f"{level:.0%} interval of the mean ({n_runs} replications)"),
        Patch(color="#555555", alpha=0.15, label=f"{level:.0%} of replications"),
    ]
    handles += [Patch(label=s.label, **_span_style(i)) for i, s in enumerate(spans)]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=7, frameon=False)
    return fig


# ------------------------------------------------------------------------------ forest
def forest_figure(effects: pd.DataFrame, title: str) -> Figure:
    """Effects of one contrast in each KPI's own unit: one small panel per KPI, 0 marked.

    Each row has its own horizontal scale (firms, collaborations, points, euros), so no
    KPI's scale dominates; the marker's colour and fill give the verdict (legend below),
    the bar the 95% interval, and the text on the right the effect and its interval.
    """
    e = effects.reset_index(drop=True)
    n = max(len(e), 1)
    row_h, top, bottom = 0.42, 0.6, 1.0
    width, height = 8.4, row_h * n + top + bottom
    fig = Figure(figsize=(width, height))
    left, plot_w = 3.5, 2.3
    if e.empty:
        fig.text(0.5, 0.5, "no effect to draw", ha="center")
        return fig
    for k, row in enumerate(e.itertuples(index=False)):
        y = height - top - (k + 1) * row_h
        ax = fig.add_axes((left / width, (y + 0.12) / height, plot_w / width, (row_h - 0.2) / height))
        lab = kpi_label(row.kpi)
        scale = 100.0 if lab.kind == "share" else 1.0
        mid, lo, hi = (float(v) * scale for v in (row.difference, row.ci_low, row.ci_high))
        colour, filled = VERDICT_STYLE.get(row.verdict, VERDICT_STYLE[NEUTRAL])
        reach = max((abs(v) for v in (lo, hi, mid) if math.isfinite(v)), default=1.0) * 1.15 or 1.0
        if math.isfinite(lo) and math.isfinite(hi):
            ax.plot([lo, hi], [0, 0], color=colour, lw=2.2, solid_capstyle="butt")
        ax.plot([mid], [0], "o", ms=6, color=colour, mfc=colour if filled else "white", mew=1.5, zorder=3)
        ax.set_xlim(-reach, reach)
        ax.set_ylim(-1, 1)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks([])
        ax.spines[["top", "right", "left"]].set_visible(False)
        ax.tick_params(axis="x", labelsize=6, length=2, pad=1)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        if lab.kind == "eur":
            ax.xaxis.set_major_formatter(FuncFormatter(short_eur))
        unit = _unit(lab)
        title_ = getattr(row, "title", None) or lab.title
        name = f"{title_} ({unit})" if unit else title_
        ax.text(-0.03, 0.5, name, transform=ax.transAxes, ha="right", va="center", fontsize=7.5)
        words = fmt_effect(row.difference, row.ci_low, row.ci_high, lab.kind)
        ax.text(1.03, 0.5, words, transform=ax.transAxes, ha="left", va="center", fontsize=7)
    fig.text(0.5, 1 - 0.3 / height, "\n".join(textwrap.wrap(title, 95)), ha="center", va="center", fontsize=9)
    styles = [v for v in (BETTER, POSSIBLY_BETTER, UNCLEAR, POSSIBLY_WORSE, WORSE, NEUTRAL) if v in set(e["verdict"])]
    handles = [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            color=VERDICT_STYLE[v][0],
            mfc=VERDICT_STYLE[v][0] if VERDICT_STYLE[v][1] else "white",
            label=VERDICT_LEGEND[v],
        )
        for v in styles
    ]
    handles.append(Line2D([], [], color="black", lw=2, label="95% interval of the difference"))
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=7, frameon=False, bbox_to_anchor=(0.5, 0.0))
    return fig


# ----------------------------------------------------------------------------- heatmap
def heatmap_figure(
    effects: pd.DataFrame,
    kpi: str,
    rows: str,
    cols: str,
    notes: Notes,
    title: str,
) -> Figure:
    """One KPI's effect over a two-way grid (e.g. staffing x funding), with intervals.

    Each cell shows the mean difference and its 95% interval; cells whose verdict is not
    clear are hatched and lighter. The colour scale is symmetric around 0 (``PuOr``).
    """
    t = effects[effects["kpi"] == kpi]
    lab = kpi_label(kpi)
    scale = 100.0 if lab.kind == "share" else 1.0
    row_keys = notes.order(rows, [str(v) for v in t[rows].unique()])
    col_keys = notes.order(cols, [str(v) for v in t[cols].unique()])
    grid = np.full((len(row_keys), len(col_keys)), np.nan)
    fig = Figure(figsize=(1.9 * len(col_keys) + 2.6, 0.95 * len(row_keys) + 1.9), layout="constrained")
    ax = fig.add_subplot()
    cells = {}
    for r in t.itertuples(index=False):
        i, j = row_keys.index(str(getattr(r, rows))), col_keys.index(str(getattr(r, cols)))
        grid[i, j] = float(r.difference) * scale
        cells[(i, j)] = r
    lim = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
    im = ax.imshow(grid, cmap=DIVERGING, vmin=-(lim or 1.0), vmax=lim or 1.0, aspect="auto")
    for (i, j), r in cells.items():
        clear = r.verdict in (BETTER, WORSE) or (r.verdict == NEUTRAL and not (r.ci_low <= 0 <= r.ci_high))
        if not clear:
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="#bbbbbb", lw=0))
        effect, _, interval = fmt_effect(r.difference, r.ci_low, r.ci_high, lab.kind).partition(" [")
        text = f"{effect}\n[{interval}"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color="black")
    ax.set_xticks(range(len(col_keys)), [notes.option(cols, k, short=True) for k in col_keys], fontsize=8)
    ax.set_yticks(range(len(row_keys)), [notes.option(rows, k, short=True) for k in row_keys], fontsize=8)
    ax.set_xlabel(_group_title(cols), fontsize=9)
    ax.set_ylabel(_group_title(rows), fontsize=9)
    unit = _unit(lab) or lab.axis
    better = {"max": "more is better", "min": "less is better"}.get(str(t["direction"].iloc[0]) if len(t) else "", "")
    head = f"{lab.title}: {title}" + (f" ({better})" if better else "")
    note = "hatched: no clear difference after the Holm correction"
    ax.set_title("\n".join([*textwrap.wrap(head, 90), note]), fontsize=9)
    bar = fig.colorbar(im, ax=ax, shrink=0.85)
    bar.set_label(f"difference ({unit})", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return fig


def _group_title(group: str) -> str:
    titles = {
        "funding": "Budget for the cluster organisations",
        "staffing": "Staff of the scheme",
        "population": "Firm population",
        "behaviour": "Behavioural parameters",
        "clusters": "Cluster configuration",
    }
    return titles.get(group, group.removeprefix("param.").replace("_", " "))


def effect_caption(effects: pd.DataFrame, top: int = 3) -> str:
    """A sentence on the largest clear effects of a forest plot (generated, not hand-written)."""
    clear = effects[effects["verdict"].isin([BETTER, WORSE])]
    if clear.empty:
        return "No indicator differs clearly between the arms once the number of indicators tested is accounted for."
    parts = [effect_phrase(r.kpi, r.difference, r.ci_low, r.ci_high) for r in clear.head(top).itertuples()]
    return "Clear differences: " + "; ".join(parts) + "."


def grid_caption(effects: pd.DataFrame, kpi: str, rows: str, cols: str, notes: Notes) -> str:
    """What a heatmap shows, in words: how many cells are clear, and where the effect is largest and smallest."""
    t = effects[effects["kpi"] == kpi]
    if t.empty:
        return f"{kpi_label(kpi).title}: no cell to compare."
    lab = kpi_label(kpi)
    n = int(t["n_pairs"].min())
    clear = t[t["verdict"].isin([BETTER, WORSE])]
    hi, lo = t.loc[t["difference"].idxmax()], t.loc[t["difference"].idxmin()]

    def where(r: pd.Series) -> str:
        return f"{notes.option(rows, str(r[rows]), short=True)} and {notes.option(cols, str(r[cols]), short=True)}"

    text = (
        f"{lab.title}: the effect with its 95% interval in each of {len(t)} cells ({n} or more pairs a cell);"
        f" {len(clear)} of {len(t)} cells show a clear difference (hatched: not clear). Largest with {where(hi)}"
        f" ({fmt_effect(hi['difference'], hi['ci_low'], hi['ci_high'], lab.kind)}),"
        f" smallest with {where(lo)} ({fmt_effect(lo['difference'], lo['ci_low'], lo['ci_high'], lab.kind)})."
    )
    signs = {BETTER: "better", WORSE: "worse"}
    if len(clear) and clear["verdict"].nunique() == 1:
        text += f" Where it is clear, the change is {signs[clear['verdict'].iloc[0]]} in every cell."
    elif len(clear):
        text += " The sign of the clear effects depends on the cell."
    return text


def series_caption(
    monthly: pd.DataFrame, arm_col: str, arms: Sequence[str], notes: Notes, spans: Sequence[Span], kpis: Sequence[str]
) -> str:
    """What the monthly paths show, in words, computed from them: the last month, and each shaded period."""
    present = [k for k in kpis if k in set(monthly["kpi"])]
    if monthly.empty or not present:
        return "No monthly path to describe."
    parts = []
    first = present[0]
    title = SERIES_LABELS.get(first, (first, "", "level"))[0]
    ends = []
    for a in arms:
        b = series_bands(monthly, first, arm_col, a)
        if len(b):
            ends.append(f"{fmt_number(b['mean'].iloc[-1], 'count')} with {notes.option(arm_col, a)}")
    last = str(monthly["date"].max())
    parts.append(f"{title} in {last}: {', '.join(ends)}.")
    for span in spans:
        dips = []
        for k in present:
            if SERIES_LABELS.get(k, ("", "", "level"))[2] != "level":
                continue
            means = {}
            for a in arms:
                t = monthly[(monthly["kpi"] == k) & (monthly[arm_col] == a)]
                inside = t[(t["date"] >= span.start) & (t["date"] < span.end)]
                if len(inside):
                    means[a] = float(inside["value"].mean())
            if len(means) < 2:
                continue
            low, high = min(means, key=means.get), max(means, key=means.get)
            if means[high] > 0 and means[low] < 0.25 * means[high]:
                name, unit = SERIES_LABELS.get(k, (k, "", "level"))[:2]
                dips.append(
                    f"{name.lower()} average {fmt_number(means[low], 'count')} {unit} with"
                    f" {notes.option(arm_col, low)} against {fmt_number(means[high], 'count')}"
                    f" with {notes.option(arm_col, high)}"
                )
        if dips:
            parts.append(
                f"During the shaded period ({span.label}, from {span.start}), {'; '.join(dips)}: new cluster"
                " organisations run on set-up staff, most of whose time goes to running each organisation, so"
                " little is left for services until the running staff arrive."
            )
    return " ".join(parts)
