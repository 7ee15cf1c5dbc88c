"""Statistics of replicated simulation results, in one place, on :mod:`scipy.stats`.

Every interval, test and multiple-comparison correction that the reports use lives here,
so that a verdict and its p-value always come from the same test:

* :func:`mean_interval`: mean of replications with its t interval (one arm).
* :func:`replication_range`: where one simulated history falls (percentiles).
* :func:`half_width_curve` and :func:`replications_needed`: how the t interval narrows
  with replications, and how many give a wanted relative half-width.
* :func:`paired_t`: the mean paired difference with its t interval and the paired t-test
  (arms on common random numbers).
* :func:`welch_t`: the difference of means with Welch's interval and test (independent
  arms).
* :func:`adjust_pvalues`: Holm (family-wise error) or Benjamini-Hochberg (false discovery
  rate) adjusted p-values for a family of tests.

Degenerate samples are handled explicitly rather than with scipy's warnings: fewer than
two values give NaN intervals and p-values; a sample with no spread gives a zero-width
interval and a p-value of 1 (difference 0) or 0 (any other difference), which is what a
deterministic difference is.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ArrayLike = Sequence[float] | np.ndarray

#: Multiple-comparison corrections, by the name the reports print.
CORRECTIONS: dict[str, str] = {
    "holm": "Holm",
    "bh": "Benjamini-Hochberg",
    "none": "no correction",
}


@dataclass(frozen=True)
class Interval:
    """A mean (or a difference of means) with its confidence interval.

    Attributes:
        estimate: the mean, or the mean difference.
        low: lower bound of the interval (NaN when it cannot be formed).
        high: upper bound.
        n: number of finite values (pairs, or the smaller arm for Welch).
    """

    estimate: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class TestResult(Interval):
    """An interval and the two-sided test of "no difference" that agrees with it.

    The interval excludes 0 exactly when ``p_value < 1 - level``: both come from the same
    t statistic and degrees of freedom.

    Attributes:
        p_value: two-sided p-value of the test (NaN when it cannot be formed).
        test: the test's name as the reports print it (``paired t``, ``Welch t``).
        df: degrees of freedom of the t distribution.
    """

    p_value: float = math.nan
    test: str = ""
    df: float = math.nan


def _finite(x: ArrayLike) -> np.ndarray:
    v = np.asarray(x, dtype=float)
    return v[np.isfinite(v)]


def mean_interval(values: ArrayLike, level: float = 0.95) -> Interval:
    """Mean of the values and the two-sided t interval of the mean.

    Args:
        values: one value per replication (non-finite values are ignored).
        level: confidence level of the interval.

    Returns:
        The mean and its interval; NaN bounds with fewer than two values, NaN mean with none.
    """
    v = _finite(values)
    if v.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if v.size < 2:
        return Interval(mean, math.nan, math.nan, 1)
    half = t_half_width(float(v.std(ddof=1)), int(v.size), level)
    return Interval(mean, mean - half, mean + half, int(v.size))


def t_half_width(sd: float, n: int, level: float = 0.95) -> float:
    """Half-width of the two-sided t interval of a mean of ``n`` values with standard deviation ``sd``."""
    return float(t_quantile(n - 1, level) * sd / math.sqrt(n))


@functools.lru_cache(maxsize=4096)
def t_quantile(dof: int, level: float = 0.95) -> float:
    """The two-sided ``level`` quantile of Student's t with ``dof`` degrees of freedom.

    Cached: a report asks for the same few quantiles thousands of times.
    """
    return float(stats.t.ppf(0.5 + level / 2, dof))


def half_width_curve(values: ArrayLike, level: float = 0.95) -> pd.DataFrame:
    """Half-width of the t interval of the mean with the first n replications, n = 2..N.

    Args:
        values: one value per replication, in replication order (non-finite values among
            the first n are ignored for that n).
        level: confidence level of the interval.

    Returns:
        Columns ``n``, ``mean``, ``half_width``, ``relative_half_width`` (half-width over
        the absolute mean; NaN when the mean is 0 or fewer than two values are finite).
    """
    v = np.asarray(values, dtype=float)
    rows = []
    for n in range(2, v.size + 1):
        ci = mean_interval(v[:n], level)
        half = ci.high - ci.estimate
        rel = half / abs(ci.estimate) if ci.estimate != 0 else math.nan
        rows.append((n, ci.estimate if ci.n >= 2 else math.nan, half, rel))
    return pd.DataFrame(rows, columns=["n", "mean", "half_width", "relative_half_width"])


def replications_needed(
    values: ArrayLike, target: float, level: float = 0.95, n_max: int = 100_000
) -> dict[str, float]:
    """Replications for a t interval whose half-width is at most ``target`` times the mean.

    Args:
        values: one value per replication, in replication order.
        target: the relative half-width wanted (e.g. 0.05).
        level: confidence level of the interval.
        n_max: give up (return inf) beyond this many replications.

    Returns:
        ``observed``: the first n from which the running relative half-width
        (:func:`half_width_curve`) stays at or below ``target`` up to the N replications run
        (NaN if it is not reached); ``projected``: the smallest n with
        ``t(n-1) * s / (sqrt(n) |mean|) <= target`` using the standard deviation and mean
        of all N replications (inf beyond ``n_max``; 2 when the values do not vary; NaN
        when the mean is 0 or unknown).
    """
    curve = half_width_curve(values, level)
    rel = curve["relative_half_width"].to_numpy()
    ok = np.isfinite(rel) & (rel <= target)
    observed = math.nan
    if ok.size and ok[-1]:
        bad = np.flatnonzero(~ok)
        first = 0 if bad.size == 0 else int(bad[-1]) + 1
        observed = float(curve["n"].iloc[first])
    v = _finite(values)
    projected = math.nan
    if v.size >= 2 and v.mean() != 0:
        ratio = float(v.std(ddof=1) / abs(v.mean()))
        if ratio == 0:
            projected = 2.0
        else:
            z = float(stats.norm.ppf(0.5 + level / 2))
            n = max(2, math.ceil((z * ratio / target) ** 2))  # the normal approximation, then up to t's answer
            while n <= n_max and t_half_width(ratio, n, level) > target:
                n += 1
            projected = float(n) if n <= n_max else math.inf
    return {"observed": observed, "projected": projected}


def replication_range(values: ArrayLike, coverage: float = 0.95) -> tuple[float, float]:
    """The central ``coverage`` range of the replications (e.g. their 2.5 and 97.5 percentiles).

    This is where one simulated history falls, not how well the mean is known.
    """
    v = _finite(values)
    if v.size == 0:
        return math.nan, math.nan
    tail = 50.0 * (1.0 - coverage)
    lo, hi = np.percentile(v, [tail, 100.0 - tail])
    return float(lo), float(hi)


def paired_t(treatment: ArrayLike, baseline: ArrayLike, level: float = 0.95) -> TestResult:
    """Mean paired difference ``treatment - baseline``, its t interval and the paired t-test.

    Pairs where either value is not finite are dropped.

    Args:
        treatment: one value per pair.
        baseline: the other arm's value of the same pair, in the same order.
        level: confidence level of the interval.
    """
    t = np.asarray(treatment, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if t.shape != b.shape:
        raise ValueError(f"paired samples of different sizes: {t.size} and {b.size}")
    ok = np.isfinite(t) & np.isfinite(b)
    d = t[ok] - b[ok]
    n = int(d.size)
    if n == 0:
        return TestResult(math.nan, math.nan, math.nan, 0, math.nan, "paired t", math.nan)
    mean = float(d.mean())
    if n < 2:
        return TestResult(mean, math.nan, math.nan, n, math.nan, "paired t", math.nan)
    if np.all(d == d[0]):
        return TestResult(mean, mean, mean, n, 1.0 if mean == 0 else 0.0, "paired t", float(n - 1))
    res = stats.ttest_1samp(d, 0.0)
    ci = res.confidence_interval(confidence_level=level)
    return TestResult(mean, float(ci.low), float(ci.high), n, float(res.pvalue), "paired t", float(n - 1))


def welch_t(treatment: ArrayLike, baseline: ArrayLike, level: float = 0.95) -> TestResult:
    """Difference of means ``treatment - baseline`` of independent samples, Welch's interval and test.

    Args:
        treatment: the treatment arm's values (non-finite values are ignored).
        baseline: the baseline arm's values.
        level: confidence level of the interval.
    """
    t, b = _finite(treatment), _finite(baseline)
    n = int(min(t.size, b.size))
    if t.size == 0 or b.size == 0:
        return TestResult(math.nan, math.nan, math.nan, n, math.nan, "Welch t", math.nan)
    diff = float(t.mean() - b.mean())
    if t.size < 2 or b.size < 2:
        return TestResult(diff, math.nan, math.nan, n, math.nan, "Welch t", math.nan)
    if t.var(ddof=1) == 0 and b.var(ddof=1) == 0:
        return TestResult(diff, diff, diff, n, 1.0 if diff == 0 else 0.0, "Welch t", math.nan)
    res = stats.ttest_ind(t, b, equal_var=False)
    ci = res.confidence_interval(confidence_level=level)
    return TestResult(diff, float(ci.low), float(ci.high), n, float(res.pvalue), "Welch t", float(res.df))


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values (controls the family-wise error rate).

    NaN p-values are left out of the family and stay NaN.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def benjamini_hochberg(p_values: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (controls the false discovery rate); NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def adjust_pvalues(p_values: ArrayLike, method: str = "holm") -> np.ndarray:
    """Adjusted p-values of a family of tests by ``method`` (a key of :data:`CORRECTIONS`)."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        return np.asarray(p_values, dtype=float).copy()
    raise ValueError(f"correction {method!r}: allowed: {', '.join(CORRECTIONS)}")
