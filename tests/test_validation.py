"""Validation against public figures (clustersim.validation)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from clustersim import validation as val
from clustersim.calibration import load_spec as load_calibration_spec
from clustersim.errors import SpecError
from clustersim.matched import matched_comparison
from clustersim.study import run_record
from clustersim.validation import load_spec, spec_from_dict, validate_model, verdict
from clustersim.validation.measures import measure
from clustersim.validation.network import (
    network_facts,
    poisson_tail_alpha,
    power_law_alpha,
    truncated_poisson_lambda,
)
from clustersim.validation.spec import Public
from conftest import small_config


# ---------------------------------------------------------------------------- verdicts
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
    lam = truncated_poisson_lambda(1.7)
    assert lam / (1.0 - math.exp(-lam)) == pytest.approx(1.7)
    assert truncated_poisson_lambda(1.0) == 0.0
    # on Poisson degrees the tail estimate converges to the reference value
    rng = np.random.default_rng(5)
    k = rng.poisson(2.0, size=200000)
    assert power_law_alpha(k, 3) == pytest.approx(poisson_tail_alpha(2.0, 3), abs=0.05)


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
        if m.type == "summary":
            assert m.kpi not in summary_targets, item.name
        if m.type == "cluster_members":
            assert ("members", m.cluster) not in monthly_targets, item.name


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"measure": {"type": "nonsense"}}, "items.x.measure.type"),
        ({"measure": {"type": "call_line", "line": "members", "stat": "wrong"}}, "items.x.measure.stat"),
        ({"public": {"kind": "point", "value": 3}}, "items.x.mark"),
        ({"measure": {"type": "member_share", "date": "2009-12", "sizes": ["huge"]}}, "items.x.measure.sizes"),
        ({"measure": {"type": "cluster_members", "date": "2009-13", "cluster": "a"}}, "items.x.measure.date"),
        ({"measure": {"type": "cluster_members", "date": "2009-12"}}, "items.x.measure.cluster"),
        ({"measure": {"type": "summary", "kpi": "members", "sizes": "large"}}, "items.x.measure.sizes"),
        ({"tolerance": "wide"}, "items.x.tolerance"),
        ({"bogus": 1}, "items.x.bogus"),
    ],
)
def test_spec_errors_name_the_key(patch, key):
    item = {"measure": {"type": "summary", "kpi": "members"}, "public": None, **patch}
    data = {"scenarios": {"s": {"overrides": []}}, "primary_scenario": "s", "items": {"x": item}}
    with pytest.raises(SpecError, match=r"^invalid specification: " + key.replace(".", r"\.") + ": "):
        spec_from_dict(data)


def test_a_primary_scenario_that_is_not_a_scenario_is_refused():
    item = {"measure": {"type": "summary", "kpi": "members"}, "public": None}
    data = {"scenarios": {"s": {"overrides": []}}, "primary_scenario": "other", "items": {"x": item}}
    with pytest.raises(SpecError, match=r"primary_scenario: got 'other'; allowed: one of \['s'\]"):
        spec_from_dict(data)
    assert spec_from_dict({**data, "primary_scenario": "s"}).items["x"].label == "x"


# ------------------------------------------------------------------------ a real run
def test_run_record_is_the_plain_run_and_measures_add_up():
    from clustersim.runner import simulate

    cfg = small_config("clusters=reform")
    rec = run_record(cfg, ["2009-12", "2018-12"])
    plain = simulate(cfg)
    for name, table in rec.tables.items():  # the snapshots do not touch the random streams
        pd.testing.assert_frame_equal(table, plain[name], check_dtype=len(table) > 0, obj=name)
    kpi = rec.tables["summary"].query("cluster == 'all'").set_index("kpi")["value"]
    lines = ("members", "never_members")
    submitted = sum(measure(rec, {"type": "call_line", "line": ln, "stat": "proposals"}) for ln in lines)
    funded = sum(measure(rec, {"type": "call_line", "line": ln, "stat": "funded"}) for ln in lines)
    assert submitted == kpi["proposals_submitted"] and funded == kpi["projects_funded"]
    projects = rec.tables["projects"]
    window = projects[projects["in_report_window"]]
    grants = sum(measure(rec, {"type": "call_line", "line": ln, "stat": "grants_eur_m"}) for ln in lines)
    assert grants == pytest.approx(window["grant_cents"].sum() / 1e8)
    cross = sum(
        measure(rec, {"type": "call_line", "line": ln, "stat": "cross_cluster_share"}) * n
        for ln, n in zip(
            lines, (measure(rec, {"type": "call_line", "line": ln, "stat": "proposals"}) for ln in lines), strict=True
        )
    )
    props = rec.tables["proposals"]
    closing = set(rec.tables["calls"].loc[rec.tables["calls"]["closes"] >= "2016-01", "call"])
    in_window = props[props["call"].isin(closing) & ~props["withdrawn"]]
    assert cross == pytest.approx(float((in_window["n_clusters"] >= 2).sum()))
    members_2009 = rec.tables["monthly"].query("kpi == 'members' and cluster == 'all' and date == '2009-12'")
    share_large = measure(rec, {"type": "member_share", "date": "2009-12", "sizes": ["large"]})
    share_sme = measure(rec, {"type": "member_share", "date": "2009-12", "sizes": ["micro", "small", "medium"]})
    assert share_large + share_sme == pytest.approx(1.0) and members_2009["value"].item() > 0
    rank = {"type": "cluster_rank", "date": "2009-12"}
    ranks = [measure(rec, {**rank, "cluster": f"twelve/{d}"}) for d in ("ict", "textile")]
    assert all(1 <= r <= 12 for r in ranks)
    largest = measure(rec, {**rank, "cluster": "twelve/ict", "equals": 1})
    assert largest == float(ranks[0] == 1)
    per_cluster = measure(rec, {"type": "sme_members_per_cluster", "date": "2018-12"})
    snap = rec.snapshots["2018-12"]
    assert per_cluster * len(snap.keys) == ((snap.member_of >= 0) & (rec.size_class < 3)).sum()


# ------------------------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def reduced_in_process():
    """The reduced validation with 2 replications, every run in this process."""
    return validate_model(load_spec(), reduced=True, replications=2, progress=False)


def test_cli_reduced_end_to_end_on_two_processes(tmp_path, reduced_in_process):
    out = tmp_path / "v"
    assert val.main(["--reduced", "--replications", "2", "--jobs", "2", "--out", str(out), "--quiet"]) == 0
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
    # two worker processes give the tables of one process
    here = tmp_path / "here.csv"
    reduced_in_process.table.to_csv(here, index=False)
    pd.testing.assert_frame_equal(table, pd.read_csv(here))
    per_rep = pd.read_csv(out / "per_replication.csv")
    assert list(per_rep["scenario"].unique()) == ["history", "seven_from_2009", "twelve_kept"]


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--replications", "1"], "--replications"),
        (["--replications", "many"], "--replications"),
        (["--bogus"], "--bogus"),
        (["--spec", "/nonexistent/spec.yaml"], "--spec"),
        (["--jobs", "0"], "--jobs"),
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
