"""Validation against public figures (clustersim.validation)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clustersim import validation as val
from clustersim.calibration import load_spec as load_calibration_spec
from clustersim.validation import (
    Public,
    SpecError,
    ci95,
    half_width_curve,
    load_spec,
    matched_comparison,
    measure,
    network_facts,
    power_law_alpha,
    replications_needed,
    run_record,
    spec_from_dict,
    verdict,
)
from conftest import small_config


# ------------------------------------------------------------------------- statistics
def test_ci95_has_nominal_coverage_on_normal_data():
    rng = np.random.default_rng(12345)
    mu, n, trials = 10.0, 5, 4000
    hits = 0
    for _ in range(trials):
        mean, lo, hi = ci95(rng.normal(mu, 3.0, size=n))
        assert lo < mean < hi
        hits += lo <= mu <= hi
    # binomial sd of the coverage at 0.95 with 4000 trials is about 0.0034
    assert 0.935 <= hits / trials <= 0.965


def test_ci95_ignores_non_finite_and_needs_two_values():
    mean, lo, hi = ci95([1.0, np.nan, 3.0])
    half = stats.t.ppf(0.975, 1) * np.std([1.0, 3.0], ddof=1) / math.sqrt(2)
    assert mean == 2.0 and lo == pytest.approx(2.0 - half) and hi == pytest.approx(2.0 + half)
    assert math.isnan(ci95([4.0])[1]) and ci95([4.0])[0] == 4.0
    assert all(math.isnan(x) for x in ci95([]))


@pytest.mark.parametrize(
    ("mean", "rng", "public", "tol", "word"),
    [
        (105.0, (90.0, 99.0), Public("point", 100.0), 0.1, "within"),  # gap 5% <= 10%
        (130.0, (95.0, 160.0), Public("point", 100.0), 0.1, "within"),  # figure inside the replications
        (130.0, (120.0, 140.0), Public("point", 100.0), 0.1, "model high"),
        (70.0, (60.0, 80.0), Public("point", 100.0), 0.1, "model low"),
        (190.0, (150.0, 230.0), Public("lower_bound", 200.0), 0.1, "within"),
        (170.0, (150.0, 230.0), Public("lower_bound", 200.0), 0.1, "model low"),
        (210.0, (150.0, 230.0), Public("upper_bound", 200.0), 0.0, "model high"),
        (2.8, (2.0, 4.0), Public("range", low=2.0, high=3.5), 0.0, "within"),
        (3.9, (3.8, 4.0), Public("range", low=2.0, high=3.5), 0.0, "model high"),
        (1.0, (0.5, 1.5), None, 0.2, "no public figure"),
        (float("nan"), (np.nan, np.nan), Public("point", 1.0), 0.2, "no model value"),
    ],
)
def test_verdicts(mean, rng, public, tol, word):
    gap, rel, got = verdict(mean, rng[0], rng[1], public, tol)
    assert got == word
    if public is not None and math.isfinite(mean):
        assert gap == pytest.approx(mean - public.reference)
        assert rel == pytest.approx((mean - public.reference) / abs(public.reference))


def test_half_width_curve_matches_the_t_interval():
    v = np.array([10.0, 12.0, 11.0, 13.0, 9.0])
    c = half_width_curve(v)
    assert list(c["n"]) == [2, 3, 4, 5]
    half3 = stats.t.ppf(0.975, 2) * np.std(v[:3], ddof=1) / math.sqrt(3)
    assert c.loc[c["n"] == 3, "half_width"].item() == pytest.approx(half3)
    assert c.loc[c["n"] == 3, "relative_half_width"].item() == pytest.approx(half3 / 11.0)


def test_replications_needed_is_the_smallest_n_meeting_the_target():
    rng = np.random.default_rng(3)
    v = rng.normal(100.0, 20.0, size=40)
    ratio = v.std(ddof=1) / v.mean()
    for target in (0.05, 0.02):
        n = int(replications_needed(v, target)["projected"])
        assert stats.t.ppf(0.975, n - 1) * ratio / math.sqrt(n) <= target
        assert stats.t.ppf(0.975, n - 2) * ratio / math.sqrt(n - 1) > target
    # about 0.2 sd/mean: 5% needs about (1.96 * 0.2 / 0.05)^2 = 61 replications, more than the 40 run
    assert math.isnan(replications_needed(v, 0.05)["observed"])
    assert replications_needed(np.full(5, 3.0), 0.01) == {"observed": 2.0, "projected": 2.0}
    assert math.isnan(replications_needed(np.array([-1.0, 1.0]), 0.05)["projected"])  # mean 0


# ---------------------------------------------------------------------- network facts
def test_network_facts_on_a_known_graph():
    g = nx.Graph([(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (6, 7)])  # two triangles and an edge
    f = network_facts(g)
    assert f["nodes"] == 8 and f["edges"] == 7
    assert f["clustering"] == pytest.approx(0.75)  # six nodes with clustering 1, two with 0
    assert f["clustering_random"] == pytest.approx(7 / 28)
    assert f["giant_share"] == pytest.approx(3 / 8)
    assert f["mean_degree"] == pytest.approx(14 / 8)
    g.add_nodes_from([100, 101])  # isolated nodes are not part of the network read
    assert network_facts(g)["nodes"] == 8
    star = network_facts(nx.star_graph(20))
    assert star["assortativity"] == pytest.approx(-1.0)
    assert star["clustering"] == 0.0 and star["giant_share"] == 1.0


def test_network_facts_separate_a_random_graph_from_a_heavy_tailed_one():
    er = network_facts(nx.gnm_random_graph(3000, 4500, seed=1))
    assert 0.9 < er["degree_cv_ratio"] < 1.1
    assert 0.3 < er["clustering_ratio"] < 2.0
    assert er["giant_share"] == pytest.approx(er["giant_share_random"], abs=0.03)
    assert abs(er["assortativity"]) < 0.05
    ba = network_facts(nx.barabasi_albert_graph(3000, 2, seed=1))
    assert ba["degree_cv_ratio"] > 1.5
    assert 2.3 < ba["power_law_alpha"] < 3.5  # BA's exponent is 3
    assert ba["max_degree"] > 5 * er["max_degree"] / 2


def test_truncated_poisson_reference():
    lam = val.truncated_poisson_lambda(1.7)
    assert lam / (1.0 - math.exp(-lam)) == pytest.approx(1.7)
    assert val.truncated_poisson_lambda(1.0) == 0.0
    # on Poisson degrees the tail estimate converges to the reference value
    rng = np.random.default_rng(5)
    k = rng.poisson(2.0, size=200000)
    assert power_law_alpha(k, 3) == pytest.approx(val._poisson_tail_alpha(2.0, 3), abs=0.05)


def test_power_law_alpha_recovers_a_known_exponent():
    rng = np.random.default_rng(7)
    # continuous Pareto with exponent 2.5 above 9.5, rounded to integers >= 10: the
    # distribution the discrete approximation of Clauset et al. assumes
    x = np.floor(9.5 * (1.0 - rng.random(20000)) ** (-1.0 / 1.5) + 0.5)
    assert x.min() >= 10
    assert power_law_alpha(x, 10) == pytest.approx(2.5, abs=0.1)
    assert math.isnan(power_law_alpha(np.array([3, 4, 5]), 3))


# ----------------------------------------------------------------- matched comparison
def test_matched_comparison_reweights_controls_to_the_treated_cells():
    # cell 0: treated grow 0.2 (x3), controls 0.0 and 0.1; cell 1: treated 0.3 (x1), controls 0.4 (x4);
    # cell 2: one treated, no control (left out); controls in cell 3 only (ignored)
    outcome = np.array([0.2, 0.2, 0.2, 0.0, 0.1, 0.3, 0.4, 0.4, 0.4, 0.4, 0.9, 0.5])
    cells = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 3])
    treated = np.array([1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0], dtype=bool)
    control = ~treated
    r = matched_comparison(outcome, treated, control, cells, threshold=0.15)
    assert r["n_treated"] == 5 and r["n_treated_matched"] == 4 and r["n_control"] == 7
    assert r["mean_treated"] == pytest.approx((3 * 0.2 + 0.3) / 4)
    assert r["mean_control"] == pytest.approx((3 * 0.05 + 1 * 0.4) / 4)  # weights 3 and 1, not 2 and 4
    assert r["share_treated"] == pytest.approx(1.0)
    assert r["share_control"] == pytest.approx((3 * 0.0 + 1 * 1.0) / 4)
    none = matched_comparison(outcome, cells == 2, cells == 3, cells, 0.1)
    assert math.isnan(none["mean_treated"])


# --------------------------------------------------------------------------- the spec
def test_the_packaged_spec_is_complete_and_uses_no_calibration_target():
    spec = load_spec()
    assert spec.primary_scenario in spec.scenarios
    for item in spec.items.values():
        if item.public is not None:
            assert item.mark in ("C", "I") and item.source, item.name
    cal = load_calibration_spec()
    summary_targets = {t.kpi for t in cal.targets.values() if t.date is None}
    monthly_targets = {(t.kpi, t.cluster) for t in cal.targets.values() if t.date is not None}
    for item in spec.items.values():
        m = item.measure
        if m["type"] == "summary":
            assert m["kpi"] not in summary_targets, item.name
        if m["type"] == "cluster_members":
            assert ("members", m["cluster"]) not in monthly_targets, item.name


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"measure": {"type": "nonsense"}}, "items.x.measure.type"),
        ({"measure": {"type": "call_line", "line": "members", "stat": "wrong"}}, "items.x.measure.stat"),
        ({"public": {"kind": "point", "value": 3}}, "items.x.mark"),
        ({"measure": {"type": "member_share", "date": "2009-12", "sizes": ["huge"]}}, "items.x.measure.sizes"),
        ({"measure": {"type": "cluster_members", "date": "2009-13", "cluster": "a"}}, "items.x.measure.date"),
    ],
)
def test_spec_errors_name_the_key(patch, key):
    item = {"measure": {"type": "summary", "kpi": "members"}, "public": None, **patch}
    data = {"scenarios": {"s": {"overrides": []}}, "primary_scenario": "s", "items": {"x": item}}
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        spec_from_dict(data)
    with pytest.raises(SpecError, match="primary_scenario"):
        spec_from_dict({**data, "primary_scenario": "other"})


# ------------------------------------------------------------------------ a real run
def test_run_record_is_the_plain_run_and_measures_add_up():
    from clustersim.runner import simulate

    cfg = small_config("clusters=reform")
    rec = run_record(cfg, ["2009-12", "2018-12"])
    plain = simulate(cfg)
    pd.testing.assert_frame_equal(rec.summary, plain["summary"])  # snapshots do not touch the stream
    kpi = rec.summary[rec.summary["cluster"] == "all"].set_index("kpi")["value"]
    lines = ("members", "never_members")
    submitted = sum(measure(rec, {"type": "call_line", "line": ln, "stat": "proposals"}) for ln in lines)
    funded = sum(measure(rec, {"type": "call_line", "line": ln, "stat": "funded"}) for ln in lines)
    assert submitted == kpi["proposals_submitted"] and funded == kpi["projects_funded"]
    window = rec.projects[rec.projects["in_report_window"]]
    grants = sum(measure(rec, {"type": "call_line", "line": ln, "stat": "grants_eur_m"}) for ln in lines)
    assert grants == pytest.approx(window["grant_cents"].sum() / 1e8)
    members_2009 = rec.monthly.query("kpi == 'members' and cluster == 'all' and date == '2009-12'")["value"].item()
    share_large = measure(rec, {"type": "member_share", "date": "2009-12", "sizes": ["large"]})
    share_sme = measure(rec, {"type": "member_share", "date": "2009-12", "sizes": ["micro", "small", "medium"]})
    assert share_large + share_sme == pytest.approx(1.0) and members_2009 > 0
    rank = {"type": "cluster_rank", "date": "2009-12"}
    ranks = [measure(rec, {**rank, "cluster": f"twelve/{d}"}) for d in ("ict", "textile")]
    assert all(1 <= r <= 12 for r in ranks)
    largest = measure(rec, {**rank, "cluster": "twelve/ict", "equals": 1})
    assert largest == float(ranks[0] == 1)
    per_cluster = measure(rec, {"type": "sme_members_per_cluster", "date": "2018-12"})
    snap = rec.snapshots["2018-12"]
    assert per_cluster * len(snap["keys"]) == ((snap["member_of"] >= 0) & (rec.size_class < 3)).sum()


# ------------------------------------------------------------------------------ the CLI
def test_cli_reduced_end_to_end(tmp_path):
    out = tmp_path / "v"
    assert val.main(["--reduced", "--replications", "2", "--out", str(out), "--quiet"]) == 0
    for name in (
        "comparison.csv",
        "comparison.md",
        "validation.md",
        "network.csv",
        "turnover.csv",
        "robustness.csv",
        "replications_needed.csv",
        "comparison.png",
        "degree_ccdf.png",
        "replications.png",
        "cluster_sizes.png",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    table = pd.read_csv(out / "comparison.csv")
    assert set(table["item"]) == set(load_spec().items)
    assert set(table["verdict"]) <= set(val.VERDICTS)
    assert (table.loc[table["public"].isna(), "verdict"] == "no public figure").all()
    assert table["replications"].max() == 2
    assert "REDUCED" in (out / "validation.md").read_text()
    assert not list(tmp_path.glob(".v.*"))  # no temporary folder left behind


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--replications", "1"], "--replications"),
        (["--replications", "many"], "--replications"),
        (["--bogus"], "--bogus"),
        (["--spec", "/nonexistent/spec.yaml"], "--spec"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, argv, names):
    out = tmp_path / "never"
    assert val.main([*argv, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and names in err[0] and err[0].startswith("clustersim-validate: error:")
    assert not out.exists()


def test_cli_refuses_an_out_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert val.main(["--out", str(f), "--quiet"]) == 2
    assert "--out" in capsys.readouterr().err
    assert f.read_text() == "x"
