"""Comparisons of scenario arms from saved results only (never from live models).

The headline design is paired: for each replication, the baseline arm and the treatment
arm share one history up to the policy change (same root seed, same replication) and
differ only by the policy afterwards. The effect of a KPI is the mean paired difference
``treatment - baseline`` with its t interval and the paired t-test (one test for both:
the interval excludes 0 exactly when the test's p-value is below 1 - level). Arms run on
independent seeds are compared with Welch's interval and test. Every statistic comes from
:mod:`clustersim.stats`.

Testing many KPIs at once, some will look different by chance: the p-values of the KPIs
that have a direction (a family per comparison) are adjusted by Holm's method (or
Benjamini-Hochberg, or none), and the verdict reads the adjusted p-value and the KPI's
direction: "better" or "worse" when the adjusted p-value is below 1 - level, "possibly
better" or "possibly worse" when only the unadjusted one is (the interval excludes 0, but
not once the family is accounted for), otherwise "no clear difference". An indicator whose
values equal an earlier one's in every run (e.g. two ERDF indicators that count the same
firms in this model) is marked ``duplicate_of`` that one and counted once in the family.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from clustersim import stats
from clustersim.kpis import INFO, KPI_BY_NAME, MAXIMIZE, MINIMIZE

BETTER, WORSE, UNCLEAR, NEUTRAL = "better", "worse", "no clear difference", "n/a"
POSSIBLY_BETTER, POSSIBLY_WORSE = "possibly better", "possibly worse"
VERDICTS = (BETTER, POSSIBLY_BETTER, UNCLEAR, POSSIBLY_WORSE, WORSE, NEUTRAL)

EFFECT_COLUMNS = (
    "kpi",
    "unit",
    "direction",
    "n_pairs",
    "baseline_mean",
    "treatment_mean",
    "difference",
    "ci_low",
    "ci_high",
    "relative",
    "test",
    "p_value",
    "correction",
    "p_adjusted",
    "duplicate_of",
    "verdict",
)


def wide_summary(summary: pd.DataFrame, id_cols: Sequence[str]) -> pd.DataFrame:
    """Whole-region KPIs of many runs, one row per run, one column per KPI."""
    rows = summary[summary["cluster"] == "all"]
    return rows.pivot_table(index=list(id_cols), columns="kpi", values="value", aggfunc="first").reset_index()


def verdict(direction: str, difference: float, p_value: float, p_adjusted: float, alpha: float = 0.05) -> str:
    """The treatment's verdict on one KPI, from its direction and its (adjusted) p-value.

    Args:
        direction: ``max`` (more is better), ``min`` (less is better) or ``info`` (neither).
        difference: treatment minus baseline.
        p_value: the unadjusted p-value of the test.
        p_adjusted: the p-value adjusted for the family of KPIs tested together.
        alpha: the significance level (1 - the interval's confidence level).

    Returns:
        One of :data:`VERDICTS`.
    """
    if direction not in (MAXIMIZE, MINIMIZE) or not (math.isfinite(difference) and math.isfinite(p_value)):
        return NEUTRAL
    if difference == 0 or p_value >= alpha:
        return UNCLEAR
    good = (difference > 0) == (direction == MAXIMIZE)
    if math.isfinite(p_adjusted) and p_adjusted < alpha:
        return BETTER if good else WORSE
    return POSSIBLY_BETTER if good else POSSIBLY_WORSE


def _meta(k: str) -> tuple[str, str]:
    kpi = KPI_BY_NAME.get(k)
    return (kpi.unit, kpi.direction) if kpi else ("", INFO)


def _duplicates(names: list[str], columns: dict[str, np.ndarray]) -> dict[str, str]:
    """KPI -> the earlier KPI whose values (every run of every arm) it repeats exactly."""
    out: dict[str, str] = {}
    seen: list[str] = []
    for k in names:
        v = columns[k]
        for j in seen:
            if _meta(j)[0] == _meta(k)[0] and np.array_equal(columns[j], v, equal_nan=True):
                out[k] = j
                break
        else:
            seen.append(k)
    return out


def _finish(rows: list[dict], duplicates: dict[str, str], correction: str, alpha: float) -> pd.DataFrame:
    """Adjust the p-values over the family (KPIs with a direction, each indicator once), add verdicts."""
    df = pd.DataFrame(rows, columns=[c for c in EFFECT_COLUMNS if c not in ("p_adjusted", "duplicate_of", "verdict")])
    df["correction"] = correction
    df["duplicate_of"] = [duplicates.get(k, "") for k in df["kpi"]]
    family = df["direction"].isin([MAXIMIZE, MINIMIZE]) & (df["duplicate_of"] == "")
    adjusted = np.full(len(df), np.nan)
    if family.any():
        adjusted[family.to_numpy()] = stats.adjust_pvalues(df.loc[family, "p_value"].to_numpy(), correction)
    df["p_adjusted"] = adjusted
    rep = dict(zip(df["kpi"], df["p_adjusted"], strict=True))
    df.loc[df["duplicate_of"] != "", "p_adjusted"] = [rep[j] for j in df.loc[df["duplicate_of"] != "", "duplicate_of"]]
    df["verdict"] = [
        verdict(r.direction, r.difference, r.p_value, r.p_adjusted, alpha) for r in df.itertuples(index=False)
    ]
    return df[list(EFFECT_COLUMNS)]


def paired_effects(
    wide: pd.DataFrame,
    arm_col: str,
    baseline: str,
    treatment: str,
    pair_on: Sequence[str],
    kpis: Sequence[str] | None = None,
    level: float = 0.95,
    correction: str = "holm",
) -> pd.DataFrame:
    """Per KPI: both arms' means, the mean paired difference, its interval, p-values and verdict.

    Args:
        wide: one row per run (see :func:`wide_summary`).
        arm_col: the column naming the arm (e.g. ``clusters``).
        baseline: the arm differences are taken from.
        treatment: the other arm.
        pair_on: columns that identify a pair (e.g. ``seed``, ``replication``).
        kpis: KPIs to compare (default: every KPI column known to the model).
        level: confidence level of the intervals (the verdicts use 1 - level).
        correction: multiple-comparison correction over the KPIs with a direction
            (a key of :data:`clustersim.stats.CORRECTIONS`).

    Returns:
        One row per KPI with the columns of :data:`EFFECT_COLUMNS`.

    Raises:
        ValueError: if a pair is not unique in an arm (``pair_on`` misses a swept column).
    """
    a = wide[wide[arm_col] == baseline].set_index(list(pair_on))
    b = wide[wide[arm_col] == treatment].set_index(list(pair_on))
    for name, arm in ((baseline, a), (treatment, b)):
        if not arm.index.is_unique:
            raise ValueError(f"arm {name!r}: several runs share one pair ({', '.join(pair_on)}); pair on more columns")
    common = a.index.intersection(b.index)
    a, b = a.loc[common], b.loc[common]
    names = [k for k in (kpis or list(KPI_BY_NAME)) if k in a.columns and k in b.columns]
    columns = {k: np.concatenate([a[k].to_numpy(dtype=float), b[k].to_numpy(dtype=float)]) for k in names}
    rows = []
    for k in names:
        xa = a[k].to_numpy(dtype=float)
        xb = b[k].to_numpy(dtype=float)
        ok = np.isfinite(xa) & np.isfinite(xb)
        rows.append(_effect_row(k, stats.paired_t(xb, xa, level), xa[ok], xb[ok]))
    return _finish(rows, _duplicates(names, columns), correction, 1.0 - level)


def _effect_row(kpi: str, res: stats.TestResult, baseline: np.ndarray, treatment: np.ndarray) -> dict:
    """One row of an effects table: the arms' means (of the values the test used) and the test."""
    unit, direction = _meta(kpi)
    base = float(np.mean(baseline)) if baseline.size else math.nan
    return {
        "kpi": kpi,
        "unit": unit,
        "direction": direction,
        "n_pairs": res.n,
        "baseline_mean": base,
        "treatment_mean": float(np.mean(treatment)) if treatment.size else math.nan,
        "difference": res.estimate,
        "ci_low": res.low,
        "ci_high": res.high,
        "relative": res.estimate / abs(base) if math.isfinite(base) and base != 0 else math.nan,
        "test": res.test,
        "p_value": res.p_value,
    }


def independent_effects(
    wide: pd.DataFrame,
    arm_col: str,
    baseline: str,
    treatment: str,
    kpis: Sequence[str] | None = None,
    level: float = 0.95,
    correction: str = "holm",
) -> pd.DataFrame:
    """Like :func:`paired_effects` for arms on independent seeds (Welch's interval and test)."""
    a = wide[wide[arm_col] == baseline]
    b = wide[wide[arm_col] == treatment]
    names = [k for k in (kpis or list(KPI_BY_NAME)) if k in a.columns and k in b.columns]
    columns = {k: np.concatenate([a[k].to_numpy(dtype=float), b[k].to_numpy(dtype=float)]) for k in names}
    rows = []
    for k in names:
        xa = a[k].to_numpy(dtype=float)
        xb = b[k].to_numpy(dtype=float)
        rows.append(_effect_row(k, stats.welch_t(xb, xa, level), xa[np.isfinite(xa)], xb[np.isfinite(xb)]))
    return _finish(rows, _duplicates(names, columns), correction, 1.0 - level)


def distribution(wide: pd.DataFrame, kpis: Sequence[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """One arm's KPIs over its replications: mean with its t interval, and the replications' range.

    Returns:
        One row per KPI: ``kpi, unit, direction, n_runs, mean, ci_low, ci_high, range_low,
        range_high`` (the range holds the central ``level`` share of the replications) and
        ``duplicate_of`` (as in :func:`paired_effects`).
    """
    names = [k for k in (kpis or list(KPI_BY_NAME)) if k in wide.columns]
    columns = {k: wide[k].to_numpy(dtype=float) for k in names}
    duplicates = _duplicates(names, columns)
    rows = []
    for k in names:
        x = columns[k]
        iv = stats.mean_interval(x, level)
        lo, hi = stats.replication_range(x, level)
        unit, direction = _meta(k)
        rows.append(
            {
                "kpi": k,
                "unit": unit,
                "direction": direction,
                "n_runs": iv.n,
                "mean": iv.estimate,
                "ci_low": iv.low,
                "ci_high": iv.high,
                "range_low": lo,
                "range_high": hi,
                "duplicate_of": duplicates.get(k, ""),
            }
        )
    return pd.DataFrame(rows)
