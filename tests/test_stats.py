"""The statistics module (clustersim.stats) and the effects built on it (clustersim.analysis)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from clustersim import stats
from clustersim.analysis import distribution, independent_effects, paired_effects, verdict


# ----------------------------------------------------------------------------- intervals
def test_paired_t_is_scipys_one_sample_t_on_the_differences() -> None:
    rng = np.random.default_rng(1)
    b = rng.normal(10, 2, 12)
    t = b + rng.normal(0.8, 1, 12)
    res = stats.paired_t(t, b)
    ref = sps.ttest_rel(t, b)
    ci = ref.confidence_interval(0.95)
    assert res.estimate == pytest.approx(float(np.mean(t - b)))
    assert (res.low, res.high) == pytest.approx((ci.low, ci.high))
    assert res.p_value == pytest.approx(ref.pvalue) and res.n == 12 and res.test == "paired t"


def test_welch_is_scipys_unequal_variance_t() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 9), rng.normal(1, 3, 14)
    res = stats.welch_t(b, a)
    ref = sps.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert (res.estimate, res.low, res.high, res.p_value) == pytest.approx(
        (b.mean() - a.mean(), ci.low, ci.high, ref.pvalue)
    )


def test_degenerate_samples_give_explicit_answers() -> None:
    same = stats.paired_t([3.0, 4.0, 5.0], [2.0, 3.0, 4.0])  # every difference is exactly 1
    assert (same.estimate, same.low, same.high, same.p_value) == (1.0, 1.0, 1.0, 0.0)
    none = stats.paired_t([1.0, 2.0], [1.0, 2.0])
    assert (none.estimate, none.p_value) == (0.0, 1.0)
    one = stats.paired_t([1.0], [0.0])
    assert one.estimate == 1.0 and math.isnan(one.low) and math.isnan(one.p_value)
    assert stats.paired_t([math.nan, 1.0, 2.0], [0.0, 0.5, 0.5]).n == 2  # a pair with a NaN is dropped
    empty = stats.mean_interval([])
    assert math.isnan(empty.estimate) and empty.n == 0


def test_half_width_curve_matches_the_t_interval():
    v = np.array([10.0, 12.0, 11.0, 13.0, 9.0])
    c = stats.half_width_curve(v)
    assert list(c["n"]) == [2, 3, 4, 5]
    half3 = sps.t.ppf(0.975, 2) * np.std(v[:3], ddof=1) / math.sqrt(3)
    assert c.loc[c["n"] == 3, "half_width"].item() == pytest.approx(half3)
    assert c.loc[c["n"] == 3, "relative_half_width"].item() == pytest.approx(half3 / 11.0)


def test_replications_needed_is_the_smallest_n_meeting_the_target():
    rng = np.random.default_rng(3)
    v = rng.normal(100.0, 20.0, size=40)
    ratio = v.std(ddof=1) / v.mean()
    for target in (0.05, 0.02):
        n = int(stats.replications_needed(v, target)["projected"])
        assert sps.t.ppf(0.975, n - 1) * ratio / math.sqrt(n) <= target
        assert sps.t.ppf(0.975, n - 2) * ratio / math.sqrt(n - 1) > target
    # about 0.2 sd/mean: 5% needs about (1.96 * 0.2 / 0.05)^2 = 61 replications, more than the 40 run
    assert math.isnan(stats.replications_needed(v, 0.05)["observed"])
    assert stats.replications_needed(np.full(5, 3.0), 0.01) == {"observed": 2.0, "projected": 2.0}
    assert math.isnan(stats.replications_needed(np.array([-1.0, 1.0]), 0.05)["projected"])  # mean 0


def test_mean_interval_ignores_non_finite_values_and_needs_two() -> None:
    iv = stats.mean_interval([1.0, np.nan, 3.0])
    half = sps.t.ppf(0.975, 1) * np.std([1.0, 3.0], ddof=1) / math.sqrt(2)
    assert (iv.estimate, iv.n) == (2.0, 2) and (iv.low, iv.high) == pytest.approx((2.0 - half, 2.0 + half))
    one = stats.mean_interval([4.0, np.inf])
    assert one.estimate == 4.0 and math.isnan(one.low) and one.n == 1


def test_mean_interval_covers_the_true_mean_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(2000):
        iv = stats.mean_interval(rng.normal(5.0, 2.0, 8))
        hits += iv.low <= 5.0 <= iv.high
    assert 0.935 <= hits / 2000 <= 0.965


def test_replication_range_is_the_central_share() -> None:
    lo, hi = stats.replication_range(np.arange(1001.0))
    assert (lo, hi) == pytest.approx((25.0, 975.0))


# ------------------------------------------------------------------- multiple comparisons
def test_holm_on_a_textbook_family() -> None:
    # p = 0.01, 0.04, 0.03, 0.005 (m = 4): sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_benjamini_hochberg_on_a_textbook_family() -> None:
    adjusted = stats.benjamini_hochberg([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_nan_p_values_stay_out_of_the_family() -> None:
    adjusted = stats.adjust_pvalues([0.02, math.nan, 0.04], "holm")
    assert math.isnan(adjusted[1]) and adjusted[[0, 2]] == pytest.approx([0.04, 0.04])
    with pytest.raises(ValueError, match="allowed: holm, bh, none"):
        stats.adjust_pvalues([0.1], "bonferroni")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=25))
def test_adjusted_p_values_are_never_below_the_raw_ones(p: list[float]) -> None:
    for method in ("holm", "bh"):
        adj = stats.adjust_pvalues(p, method)
        assert np.all(adj >= np.asarray(p) - 1e-12) and np.all(adj <= 1.0)


# ---------------------------------------------------------------------------- effects
def _wide(values: dict[str, tuple[list[float], list[float]]]) -> pd.DataFrame:
    n = len(next(iter(values.values()))[0])
    data = {"clusters": ["twelve"] * n + ["reform"] * n, "replication": list(range(n)) * 2}
    for k, (a, b) in values.items():
        data[k] = [*a, *b]
    return pd.DataFrame(data)


def test_verdict_reads_direction_and_the_corrected_p() -> None:
    assert verdict("max", 1.0, 0.001, 0.01) == "better"
    assert verdict("max", -1.0, 0.001, 0.01) == "worse"
    assert verdict("min", -1.0, 0.001, 0.01) == "better"
    assert verdict("max", 1.0, 0.03, 0.20) == "possibly better"  # clear alone, not in the family
    assert verdict("min", 1.0, 0.03, 0.20) == "possibly worse"
    assert verdict("max", 1.0, 0.30, 0.90) == "no clear difference"
    assert verdict("info", 1.0, 0.001, math.nan) == "n/a"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=3, max_size=12), st.floats(-2, 2))
def test_the_interval_excludes_zero_exactly_when_the_test_rejects(noise: list[float], shift: float) -> None:
    """One test for interval, p-value and verdict: they can never disagree."""
    b = np.arange(len(noise), dtype=float)
    t = b + shift + np.asarray(noise)
    e = paired_effects(_wide({"members": (list(b), list(t))}), "clusters", "twelve", "reform", ["replication"])
    row = e.iloc[0]
    if math.isfinite(row["p_value"]) and row["ci_low"] != row["ci_high"]:
        excludes = row["ci_low"] > 0 or row["ci_high"] < 0
        assert excludes == (row["p_value"] < 0.05) or abs(row["p_value"] - 0.05) < 1e-9
        assert (row["verdict"] != "no clear difference") == excludes or abs(row["p_value"] - 0.05) < 1e-9


def test_paired_effects_on_known_numbers() -> None:
    wide = _wide({"members": ([10.0, 12.0, 14.0, 16.0], [11.0, 13.0, 15.0, 17.0])})
    e = paired_effects(wide, "clusters", "twelve", "reform", ["replication"], kpis=["members"]).iloc[0]
    assert e["difference"] == pytest.approx(1.0)
    assert e["ci_low"] == pytest.approx(1.0) and e["ci_high"] == pytest.approx(1.0)  # no spread in differences
    assert e["verdict"] == "better" and e["n_pairs"] == 4 and e["test"] == "paired t"
    assert (e["baseline_mean"], e["treatment_mean"]) == (13.0, 14.0)


def test_the_family_is_corrected_and_duplicates_count_once() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(100, 5, 10)
    zigzag = np.array([1.0, -1.0] * 5)
    marginal = base + 1.0 + 1.07 * zigzag  # t = 2.8 on 9 df: p about 0.02 on its own
    values = {"CO02": (list(base), list(marginal)), "CO26": (list(base), list(marginal))}
    for k in ("members", "ties_firm_firm", "innovations", "training_agreements", "projects_funded"):
        b = rng.normal(50, 5, 10)
        values[k] = (list(b), list(b + 0.5 * zigzag))  # nothing happens: mean difference 0
    e = paired_effects(_wide(values), "clusters", "twelve", "reform", ["replication"]).set_index("kpi")
    assert e.loc["CO26", "duplicate_of"] == "CO02" and e.loc["CO02", "duplicate_of"] == ""
    assert e.loc["CO02", "p_value"] < 0.05 < e.loc["CO02", "p_adjusted"]
    assert e.loc["CO02", "verdict"] == "possibly better" == e.loc["CO26", "verdict"]
    family = e[(e["duplicate_of"] == "") & e["direction"].isin(["max", "min"])]
    assert e.loc["CO02", "p_adjusted"] == pytest.approx(
        stats.holm(family["p_value"].to_numpy())[list(family.index).index("CO02")]
    )
    assert len(family) == 6  # seven KPIs, CO26 counted once with CO02
    bh = paired_effects(_wide(values), "clusters", "twelve", "reform", ["replication"], correction="bh")
    assert set(bh["correction"]) == {"bh"}


def test_a_pair_named_twice_is_refused() -> None:
    wide = pd.concat([_wide({"members": ([1.0, 2.0], [2.0, 3.0])})] * 2)
    with pytest.raises(ValueError, match="several runs share one pair"):
        paired_effects(wide, "clusters", "twelve", "reform", ["replication"])


def test_independent_effects_use_welch() -> None:
    wide = _wide({"members": ([10.0, 12.0, 14.0, 16.0], [20.0, 21.0, 25.0, 22.0])})
    e = independent_effects(wide, "clusters", "twelve", "reform", kpis=["members"]).iloc[0]
    ref = stats.welch_t([20.0, 21.0, 25.0, 22.0], [10.0, 12.0, 14.0, 16.0])
    assert (e["difference"], e["ci_low"], e["p_value"]) == pytest.approx((ref.estimate, ref.low, ref.p_value))
    assert e["test"] == "Welch t" and e["verdict"] == "better"


def test_distribution_of_one_arm() -> None:
    wide = pd.DataFrame({"clusters": ["twelve"] * 5, "members": [10.0, 11.0, 12.0, 13.0, 14.0]})
    d = distribution(wide, ["members"]).iloc[0]
    iv = stats.mean_interval([10.0, 11.0, 12.0, 13.0, 14.0])
    assert (d["mean"], d["ci_low"], d["ci_high"]) == pytest.approx((iv.estimate, iv.low, iv.high))
    assert d["range_low"] == pytest.approx(10.1) and d["range_high"] == pytest.approx(13.9) and d["n_runs"] == 5
