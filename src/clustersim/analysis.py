"""Comparisons of scenario arms from saved results only (never from live models).

The headline design is paired: for each replication, the 12-cluster arm and the reform
arm share one history up to the reform (same root seed, same replication) and differ only
by the policy afterwards. The effect of a KPI is the mean paired difference
``treatment - baseline`` with a t confidence interval, a Wilcoxon signed-rank p-value, and
a verdict that reads the KPI's direction (more is better, less is better, or neither).
Arms run on independent seeds are compared with Welch's interval and a Mann-Whitney test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from clustersim.metrics import INFO, KPI_BY_NAME, MAXIMIZE, MINIMIZE

BETTER, WORSE, UNCLEAR, NEUTRAL = "better", "worse", "no clear difference", "n/a"


def wide_summary(summary: pd.DataFrame, id_cols: Sequence[str]) -> pd.DataFrame:
    """Whole-region KPIs of many runs, one row per run, one column per KPI."""
    rows = summary[summary["cluster"] == "all"]
    return rows.pivot_table(index=list(id_cols), columns="kpi", values="value", aggfunc="first").reset_index()


def verdict(direction: str, low: float, high: float) -> str:
    """Better or worse for the treatment when the interval excludes 0; else unclear."""
    if direction == INFO or not (math.isfinite(low) and math.isfinite(high)):
        return NEUTRAL
    if low <= 0.0 <= high:
        return UNCLEAR
    up = low > 0.0
    if direction == MAXIMIZE:
        return BETTER if up else WORSE
    if direction == MINIMIZE:
        return WORSE if up else BETTER
    return NEUTRAL


def t_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t confidence interval of a sample (NaN bounds below two values)."""
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half


def wilcoxon_p(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; 1.0 when every difference is zero."""
    d = diff[np.isfinite(diff)]
    if d.size == 0:
        return math.nan
    if np.all(d == 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_effects(
    wide: pd.DataFrame,
    arm_col: str,
    baseline: str,
    treatment: str,
    pair_on: Sequence[str],
    kpis: Sequence[str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Per KPI: both arms' means, the mean paired difference, its CI, p-value and verdict.

    Args:
        wide: one row per run (see :func:`wide_summary`).
        arm_col: the column naming the arm (e.g. ``clusters``).
        baseline: the arm differences are taken from (e.g. ``twelve``).
        treatment: the other arm (e.g. ``reform``).
        pair_on: columns that identify a pair (e.g. ``seed``, ``replication``).
        kpis: KPIs to compare (default: every KPI column known to the model).
        level: confidence level of the interval.
    """
    a = wide[wide[arm_col] == baseline].set_index(list(pair_on))
    b = wide[wide[arm_col] == treatment].set_index(list(pair_on))
    common = a.index.intersection(b.index)
    a, b = a.loc[common], b.loc[common]
    names = [k for k in (kpis or list(KPI_BY_NAME)) if k in a.columns]
    rows = []
    for k in names:
        xa = a[k].to_numpy(dtype=float)
        xb = b[k].to_numpy(dtype=float)
        ok = np.isfinite(xa) & np.isfinite(xb)
        diff = xb[ok] - xa[ok]
        mean, low, high = t_interval(diff, level)
        direction = KPI_BY_NAME[k].direction if k in KPI_BY_NAME else INFO
        rows.append(
            {
                "kpi": k,
                "unit": KPI_BY_NAME[k].unit if k in KPI_BY_NAME else "",
                "direction": direction,
                "n_pairs": int(ok.sum()),
                baseline: float(np.mean(xa[ok])) if ok.any() else math.nan,
                treatment: float(np.mean(xb[ok])) if ok.any() else math.nan,
                "difference": mean,
                "ci_low": low,
                "ci_high": high,
                "relative": mean / abs(np.mean(xa[ok])) if ok.any() and np.mean(xa[ok]) != 0 else math.nan,
                "p_value": wilcoxon_p(diff),
                "verdict": verdict(direction, low, high),
            }
        )
    return pd.DataFrame(rows)


def independent_effects(
    wide: pd.DataFrame,
    arm_col: str,
    baseline: str,
    treatment: str,
    kpis: Sequence[str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Like :func:`paired_effects` for arms on independent seeds (Welch, Mann-Whitney)."""
    a = wide[wide[arm_col] == baseline]
    b = wide[wide[arm_col] == treatment]
    names = [k for k in (kpis or list(KPI_BY_NAME)) if k in a.columns]
    rows = []
    for k in names:
        xa = a[k].to_numpy(dtype=float)
        xb = b[k].to_numpy(dtype=float)
        xa, xb = xa[np.isfinite(xa)], xb[np.isfinite(xb)]
        mean = float(xb.mean() - xa.mean()) if xa.size and xb.size else math.nan
        if xa.size > 1 and xb.size > 1:
            va, vb = xa.var(ddof=1) / xa.size, xb.var(ddof=1) / xb.size
            se = math.sqrt(va + vb)
            dof = (va + vb) ** 2 / ((va**2) / (xa.size - 1) + (vb**2) / (xb.size - 1)) if se > 0 else 1.0
            half = float(stats.t.ppf(0.5 + level / 2, dof) * se)
            p = float(stats.mannwhitneyu(xb, xa, alternative="two-sided").pvalue) if se > 0 else 1.0
        else:
            half, p = math.nan, math.nan
        direction = KPI_BY_NAME[k].direction if k in KPI_BY_NAME else INFO
        rows.append(
            {
                "kpi": k,
                "unit": KPI_BY_NAME[k].unit if k in KPI_BY_NAME else "",
                "direction": direction,
                "n_pairs": min(xa.size, xb.size),
                baseline: float(xa.mean()) if xa.size else math.nan,
                treatment: float(xb.mean()) if xb.size else math.nan,
                "difference": mean,
                "ci_low": mean - half,
                "ci_high": mean + half,
                "relative": mean / abs(xa.mean()) if xa.size and xa.mean() != 0 else math.nan,
                "p_value": p,
                "verdict": verdict(direction, mean - half, mean + half),
            }
        )
    return pd.DataFrame(rows)
