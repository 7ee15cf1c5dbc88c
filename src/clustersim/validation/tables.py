"""The validation's tables: the side-by-side comparison with verdicts, network, turnover, replications.

Every interval is :func:`clustersim.stats.mean_interval` (the 95% t interval of the mean over
replications, through :func:`clustersim.study.interval`); the range of the replications is
:func:`clustersim.stats.replication_range`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from clustersim import stats
from clustersim.study import interval
from clustersim.validation.spec import TURNOVER_STATS, Public, ValidationSpec

VERDICTS = ("within", "model high", "model low", "no public figure", "no model value")


def verdict(
    mean: float, range_low: float, range_high: float, public: Public | None, tolerance: float
) -> tuple[float, float, str]:
    """Gap of the model mean to a public figure and the verdict in plain words.

    Point figure: "within" when the figure lies in ``[range_low, range_high]`` (the
    model's replication range) or ``|mean - figure| <= tolerance * |figure|``; else "model
    high" or "model low". Lower (upper) bound: "within" when the mean is at least (at
    most) ``bound * (1 -+ tolerance)``. Range: "within" when the mean lies in it.

    Args:
        mean: the model's mean over replications.
        range_low: 2.5 percentile of the replications.
        range_high: 97.5 percentile of the replications.
        public: the public figure, or None.
        tolerance: the relative gap still read as "within".

    Returns:
        ``(absolute gap, relative gap, verdict)``; the gaps are measured from the figure
        (the midpoint of a range) and are NaN without a figure.
    """
    if public is None:
        return float("nan"), float("nan"), "no public figure"
    if not math.isfinite(mean):
        return float("nan"), float("nan"), "no model value"
    ref = public.reference
    gap = mean - ref
    rel = gap / abs(ref) if ref != 0 else float("nan")
    if public.kind == "point":
        inside = math.isfinite(range_low) and range_low <= ref <= range_high
        close = abs(gap) <= tolerance * abs(ref) + 1e-12
        word = "within" if inside or close else ("model high" if gap > 0 else "model low")
    elif public.kind == "lower_bound":
        word = "within" if mean >= ref - tolerance * abs(ref) else "model low"
    elif public.kind == "upper_bound":
        word = "within" if mean <= ref + tolerance * abs(ref) else "model high"
    else:
        word = "within" if public.low <= mean <= public.high else ("model high" if mean > public.high else "model low")
    return float(gap), float(rel), word


def comparison_table(spec: ValidationSpec, values: pd.DataFrame) -> pd.DataFrame:
    """The side-by-side table: public figure, model mean with its CI and range, gap and verdict.

    Args:
        spec: the specification (items in order).
        values: one row per replication, one column per item.

    Returns:
        One row per item of ``values``.
    """
    rows = []
    for name, item in spec.items.items():
        if name not in values:
            continue
        col = values[name].to_numpy(dtype=float)
        mean, lo, hi = interval(col)
        rlo, rhi = stats.replication_range(col)
        gap, rel, word = verdict(mean, rlo, rhi, item.public, float(item.tolerance))
        rows.append(
            {
                "item": name,
                "group": item.group,
                "label": item.label,
                "public": item.public.text() if item.public else "",
                "public_value": item.public.reference if item.public else float("nan"),
                "mark": item.mark,
                "model_mean": mean,
                "ci95_low": lo,
                "ci95_high": hi,
                "range95_low": rlo,
                "range95_high": rhi,
                "gap": gap,
                "relative_gap": rel,
                "tolerance": item.tolerance if item.public else float("nan"),
                "verdict": word,
                "replications": int(np.isfinite(col).sum()),
                "source": item.source,
                "note": item.note,
            }
        )
    return pd.DataFrame(rows)


def network_table(per_rep: list[dict[str, float]]) -> pd.DataFrame:
    """The network statistics over replications (mean and 95% CI) beside the random graph's."""
    frame = pd.DataFrame(per_rep)
    pairs = (
        ("nodes", None, "firms with at least one tie"),
        ("edges", None, "distinct partner pairs"),
        ("mean_degree", None, "partners per connected firm"),
        ("max_degree", None, "most partners of one firm"),
        ("degree_cv", "degree_cv_random", "coefficient of variation of degree"),
        ("power_law_alpha", "power_law_alpha_random", "tail exponent estimate (degree >= xmin)"),
        ("clustering", "clustering_random", "average clustering coefficient"),
        ("giant_share", "giant_share_random", "share of connected firms in the giant component"),
        ("assortativity", None, "degree assortativity (random graph: 0)"),
    )
    rows = []
    for stat, ref, what in pairs:
        if stat not in frame:
            continue
        mean, lo, hi = interval(frame[stat])
        rmean = interval(frame[ref])[0] if ref and ref in frame else (0.0 if stat == "assortativity" else float("nan"))
        rows.append(
            {"statistic": stat, "meaning": what, "model_mean": mean, "ci95_low": lo, "ci95_high": hi, "random": rmean}
        )
    return pd.DataFrame(rows)


def turnover_table(per_rep: list[dict[str, float]], spec: ValidationSpec) -> pd.DataFrame:
    """The turnover statistics over replications (mean and 95% CI) beside their public figures."""
    frame = pd.DataFrame(per_rep)
    public = {
        i.measure.stat: i.public.reference
        for i in spec.items.values()
        if i.measure.type == "turnover" and i.public is not None
    }
    rows = []
    for stat in TURNOVER_STATS:
        if stat not in frame:
            continue
        mean, lo, hi = interval(frame[stat])
        pub = public.get(stat)
        rows.append({"statistic": stat, "model_mean": mean, "ci95_low": lo, "ci95_high": hi, "public": pub})
    return pd.DataFrame(rows)


def replications_study(spec: ValidationSpec, kpi_values: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The CI half-width against replications, and the replications needed, per KPI (one column each)."""
    curves, needed = [], []
    for kpi in kpi_values.columns:
        v = kpi_values[kpi].to_numpy(dtype=float)
        c = stats.half_width_curve(v)
        c.insert(0, "kpi", kpi)
        curves.append(c)
        mean, _, _ = interval(v)
        row: dict[str, Any] = {"kpi": kpi, "mean": mean, "sd": float(np.nanstd(v, ddof=1)) if v.size > 1 else np.nan}
        row["relative_half_width_at_N"] = float(c["relative_half_width"].iloc[-1]) if len(c) else float("nan")
        for h in spec.replications_study.half_widths:
            r = stats.replications_needed(v, h)
            row[f"observed_n_{h:g}"] = r["observed"]
            row[f"projected_n_{h:g}"] = r["projected"]
        needed.append(row)
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    return curve, pd.DataFrame(needed)


def robustness_table(spec: ValidationSpec, wide: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """The robust items' mean and 95% CI under every scenario (``wide``: scenario x replication rows)."""
    rows = []
    for name, item in spec.items.items():
        if not item.robust:
            continue
        row: dict[str, Any] = {"item": name, "label": item.label}
        for sc in scenarios:
            mean, lo, hi = interval(wide.loc[sc][name]) if name in wide.columns else (np.nan, np.nan, np.nan)
            row[f"{sc}_mean"], row[f"{sc}_ci95_low"], row[f"{sc}_ci95_high"] = mean, lo, hi
        rows.append(row)
    return pd.DataFrame(rows)
