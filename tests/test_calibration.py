"""Calibration by the simulated method of moments (clustersim.calibration)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from clustersim import calibration as cal
from clustersim.calibration import (
    CalibrationSpec,
    Method,
    Parameter,
    Scenario,
    Target,
    calibrate,
    latin_hypercube,
    load_spec,
    objective,
    simulated_moments,
    spec_from_dict,
    write_results,
)
from clustersim.config import config_dir, register_configs, to_config
from clustersim.errors import SpecError

# ------------------------------------------------------------------ a synthetic model
# Three parameters (one on a log scale) and three moments, a known invertible function of
# them; the targets are the moments at TRUE, so the objective's minimum (0) is at TRUE.
TRUE = {"a": 4.0, "b": 0.2, "c": 0.5}
PARAMS = (Parameter("a", [0.0, 10.0]), Parameter("b", [0.01, 1.0], "log"), Parameter("c", [-2.0, 2.0]))


def synthetic_moments(params, spec, replication, root_seed):
    a, b, c = params["a"], params["b"], params["c"]
    # a common-random-numbers "noise": it depends on the replication only, never on params
    noise = np.random.default_rng([root_seed, replication]).normal(0.0, 0.5)
    return {"m1": 100 + 20 * a + noise, "m2": 200 * b + a, "m3": 30 + 10 * c + b - noise}


def synthetic_targets() -> dict[str, Target]:
    m = {"m1": 100 + 20 * TRUE["a"], "m2": 200 * TRUE["b"] + TRUE["a"], "m3": 30 + 10 * TRUE["c"] + TRUE["b"]}
    return {k: Target(k, "synthetic", k, v, weight=1.0, tolerance=0.1) for k, v in m.items()}


def synthetic_spec(**method) -> CalibrationSpec:
    return CalibrationSpec(
        name="synthetic",
        targets=synthetic_targets(),
        parameters={p.key: p for p in PARAMS},
        scenarios={"synthetic": Scenario()},
        method=Method(**{"seed": 7, "n_lhs": 16, "replications": 2, "n_local": 150, "final_replications": 5, **method}),
        reduced=Method(seed=7, n_lhs=4, replications=1, n_local=10, final_replications=2),
    )


# ------------------------------------------------------------------------ objective
def test_objective_is_zero_at_the_targets_and_grows_with_the_error():
    spec = load_spec()
    targets = spec.targets
    at_targets = {k: t.value for k, t in targets.items()}
    assert objective(at_targets, targets) == 0.0
    previous = 0.0
    for rel in (0.01, 0.05, 0.1, 0.3, 1.0):
        for sign in (1, -1):
            moments = {k: t.value * (1 + sign * rel) for k, t in targets.items()}
            value = objective(moments, targets)
            # every objective term is weight * (rel / tolerance)^2
            expected = sum(t.weight * (rel / t.tolerance) ** 2 for t in spec.objective_targets().values())
            assert value == pytest.approx(expected)
        assert value > previous
        previous = value
    # one target off by its own tolerance costs exactly its weight
    name, t = "members_2013_06", targets["members_2013_06"]
    moments = dict(at_targets, **{name: t.value * (1 + t.tolerance)})
    assert objective(moments, targets) == pytest.approx(t.weight)


def test_checks_do_not_enter_the_objective_and_missing_moments_are_infinite():
    targets = load_spec().targets
    at_targets = {k: t.value for k, t in targets.items()}
    assert targets["cluster_meetings"].role == "check" and targets["plenary_meetings"].role == "check"
    assert objective(dict(at_targets, cluster_meetings=12.0, plenary_meetings=0.0), targets) == 0.0
    assert math.isinf(objective(dict(at_targets, training_agreements=float("nan")), targets))
    assert math.isinf(objective({k: v for k, v in at_targets.items() if k != "members_2009_12"}, targets))


# ---------------------------------------------------------------- known optimum found
def test_calibrate_recovers_a_known_optimum():
    spec = synthetic_spec()
    calls = []

    def counted(params, spec_, replication, root_seed):
        calls.append(replication)
        return synthetic_moments(params, spec_, replication, root_seed)

    result = calibrate(spec, progress=False, moments_fn=counted)
    # the noise is common to all parameter vectors and has mean ~0 over 2 replications:
    # the optimum moves by at most a small fraction of each range
    for p in PARAMS:
        assert abs(p.to_unit(result.params[p.key]) - p.to_unit(TRUE[p.key])) < 0.03, (p.key, result.params)
    assert result.objective < 0.01
    # the hard budget: at most n_lhs + n_local evaluations, each of `replications` runs
    m = spec.method
    assert result.n_evaluations <= m.n_lhs + m.n_local == m.budget
    assert len(result.history) == result.n_evaluations
    assert len(calls) == result.n_evaluations * m.replications + m.final_replications
    assert set(result.history["phase"]) == {"lhs", "local"}
    assert (result.history["phase"].iloc[: m.n_lhs] == "lhs").all()
    assert result.history["objective"].min() == pytest.approx(result.objective)
    # the table: every target, the mean of the final replications with a CI around it
    assert list(result.table["target"]) == ["m1", "m2", "m3"]
    assert (result.table["ci95_low"] <= result.table["simulated_mean"]).all()
    assert (result.table["simulated_mean"] <= result.table["ci95_high"]).all()
    assert (result.table["relative_error"].abs() < 0.01).all()


def test_the_budget_is_hard_and_common_random_numbers_hold():
    spec = synthetic_spec(n_lhs=5, n_local=7, replications=3)
    result = calibrate(spec, progress=False, moments_fn=synthetic_moments)
    assert result.n_evaluations == 12  # Nelder-Mead would go on; the budget stops it
    # CRN: the same draws for every parameter vector, so a parameter change is all that moves the moments
    base = simulated_moments(TRUE, spec, 3, 0, moments_fn=synthetic_moments)
    moved = simulated_moments(dict(TRUE, a=5.0), spec, 3, 0, moments_fn=synthetic_moments)
    assert moved["m1"] - base["m1"] == pytest.approx(20.0)
    assert moved["m3"] == pytest.approx(base["m3"])


def test_reduced_method_is_used_when_asked():
    result = calibrate(synthetic_spec(), reduced=True, progress=False, moments_fn=synthetic_moments)
    assert result.reduced and result.spec.method == synthetic_spec().reduced
    assert result.n_evaluations <= 4 + 10
    assert (result.table["replications"] == 2).all()


# ------------------------------------------------------------------------------ LHS
def test_lhs_points_lie_within_the_ranges_and_are_reproducible():
    spec = load_spec()
    unit, points = latin_hypercube(spec, 24, seed=11)
    assert unit.shape == (24, len(spec.parameters))
    assert ((unit >= 0) & (unit <= 1)).all()
    for point in points:
        for p in spec.free:
            assert p.low <= point[p.key] <= p.high
    # a Latin hypercube: one point in each of the 24 strata of every dimension
    for j in range(unit.shape[1]):
        assert sorted(np.floor(unit[:, j] * 24).astype(int)) == list(range(24))
    unit2, points2 = latin_hypercube(spec, 24, seed=11)
    np.testing.assert_array_equal(unit, unit2)
    assert points == points2
    unit3, _ = latin_hypercube(spec, 24, seed=12)
    assert not np.array_equal(unit, unit3)


def test_unit_cube_mapping_round_trips_and_clips():
    for p in (*PARAMS, Parameter("x", [0.001, 0.02], "log")):
        for u in (0.0, 0.25, 0.5, 1.0):
            assert p.to_unit(p.from_unit(u)) == pytest.approx(u)
        assert p.from_unit(-0.5) == pytest.approx(p.low) and p.from_unit(1.5) == pytest.approx(p.high)
    log = Parameter("x", [0.01, 1.0], "log")
    assert log.from_unit(0.5) == pytest.approx(0.1)


# ------------------------------------------------------------------- the Piedmont spec
def test_piedmont_spec_is_complete_and_its_defaults_lie_in_the_ranges():
    spec = load_spec()
    assert set(spec.targets) == {
        "members_2009_12",
        "members_2010_12",
        "members_2012_06",
        "members_2013_06",
        "training_agreements",
        "research_collaborations",
        "international_collaborations",
        "large_share_2009",
        "funded_poles_2010",
        "admitted_poles_2010",
        "proposals_line_a",
        "firms_line_a",
        "joiner_turnover_gap",
        "cluster_meetings",
        "plenary_meetings",
    }
    assert all(t.source for t in spec.targets.values())
    assert {t.value for t in spec.targets.values() if t.date and t.kpi == "members"} == {650, 870, 1400, 1500}
    assert spec.targets["training_agreements"].value == 45 and spec.targets["training_agreements"].note
    assert spec.targets["international_collaborations"].value == 220
    assert 10 <= len(spec.parameters) <= 14
    assert spec.reduced.n_lhs + spec.reduced.n_local < spec.method.n_lhs + spec.method.n_local
    # every key exists in the composed configuration, and its default lies in its range
    for name in spec.scenarios:
        cfg = cal.scenario_config(spec, name, {}, replication=0, root_seed=0)
        for p in spec.free:
            node = cfg
            for part in p.key.split("."):
                node = getattr(node, part)
            assert p.low <= node <= p.high, (p.key, node)


def test_runs_share_seeds_across_parameter_vectors():
    spec = load_spec()
    before = cal.scenario_config(spec, "history", {}, 0, 0).behaviour.membership.beta0
    _, (x, y) = latin_hypercube(spec, 2, seed=1)
    for name in spec.scenarios:
        a = cal.scenario_config(spec, name, x, replication=2, root_seed=5)
        b = cal.scenario_config(spec, name, y, replication=2, root_seed=5)
        assert (a.seed, a.replication) == (b.seed, b.replication) == (5, 2)
        assert a.behaviour.membership.beta0 == pytest.approx(x["behaviour.membership.beta0"])
        assert a.population.initial_awareness_share == pytest.approx(x["population.initial_awareness_share"])
    # the cached base configuration is never modified
    assert cal.scenario_config(spec, "history", {}, 0, 0).behaviour.membership.beta0 == before


def test_bad_specs_are_refused_naming_the_entry():
    data = yaml.safe_load((Path(config_dir()) / cal.DEFAULT_SPEC).read_text())
    bad_role = yaml.safe_load(yaml.safe_dump(data))
    bad_role["targets"]["members_2009_12"]["role"] = "maybe"
    with pytest.raises(ValueError, match=r"targets\.members_2009_12\.role"):
        spec_from_dict(bad_role)
    bad_range = yaml.safe_load(yaml.safe_dump(data))
    bad_range["parameters"]["behaviour.membership.beta0"]["range"] = [0.0, -4.0]
    with pytest.raises(ValueError, match=r"behaviour\.membership\.beta0\.range"):
        spec_from_dict(bad_range)
    bad_scenario = yaml.safe_load(yaml.safe_dump(data))
    bad_scenario["targets"]["training_agreements"]["scenario"] = "nowhere"
    with pytest.raises(ValueError, match="scenario"):
        spec_from_dict(bad_scenario)
    bad_method = yaml.safe_load(yaml.safe_dump(data))
    bad_method["reduced"]["n_lhs"] = 0
    with pytest.raises(ValueError, match=r"reduced\.n_lhs"):
        spec_from_dict(bad_method)
    bad_type = yaml.safe_load(yaml.safe_dump(data))
    bad_type["targets"]["members_2010_12"]["weight"] = "heavy"
    with pytest.raises(SpecError, match=r"^invalid specification: targets\.members_2010_12\.weight: "):
        spec_from_dict(bad_type)
    unknown = yaml.safe_load(yaml.safe_dump(data))
    unknown["method"]["n_lsh"] = 3
    with pytest.raises(SpecError, match=r"^invalid specification: method\.n_lsh: no such key"):
        spec_from_dict(unknown)
    # the packaged file read through the same schema: every source text kept
    spec = spec_from_dict(data)
    assert all(spec.targets[k].source == " ".join(v["source"].split()) for k, v in data["targets"].items())


# ------------------------------------------------------- the real model, end to end
@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory):
    """The reduced calibration once, as ``clustersim experiment=calibrate`` runs it: status, output, folder.

    Hydra composes the task, then ``clustersim-calibrate``'s own code runs (``calibration.main``).
    """
    import subprocess
    import sys

    tmp = tmp_path_factory.mktemp("calibration")
    out = tmp / "results" / "calibration"
    exe = Path(sys.executable).with_name("clustersim")
    r = subprocess.run(
        [
            str(exe),
            "experiment=calibrate",
            "calibrate.reduced=true",
            f"calibrate.out={out}",
            "calibrate.progress=false",
        ],
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return r.returncode, r.stdout, out


@pytest.mark.xdist_group("calibration")  # one worker makes reduced_run once
def test_reduced_real_calibration_runs_end_to_end(reduced_run):
    status, printed, out = reduced_run
    spec = load_spec()
    assert status == 0 and f"results: {out}" in printed
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert math.isfinite(best["objective"]) and math.isfinite(best["final_objective"]) and best["reduced"] is True
    assert best["n_evaluations"] <= spec.reduced.n_lhs + spec.reduced.n_local
    table = pd.read_csv(out / "table.csv")
    assert set(table["target"]) == set(spec.targets)
    assert table["simulated_mean"].notna().all()
    assert (table["replications"] == spec.reduced.final_replications).all()
    # the design facts are reproduced by construction
    checks = table.set_index("target")
    assert checks.loc["cluster_meetings", "simulated_mean"] == 7
    assert checks.loc["plenary_meetings", "simulated_mean"] == 1
    # membership grows over 2009-2013 and is of the right order
    members = [checks.loc[k, "simulated_mean"] for k in ("members_2009_12", "members_2013_06")]
    assert 100 < members[0] < members[1] < 10_000
    for p in spec.free:
        assert p.low <= best["params"][p.key] <= p.high
    md = (out / "table.md").read_text()
    assert md in printed
    assert all(name in md for name in spec.targets) and all(p.key in md for p in spec.free)
    history = pd.read_parquet(out / "history.parquet")
    assert len(history) == best["n_evaluations"] and "objective" in history
    assert history["objective"].min() == pytest.approx(best["objective"])
    assert {p.name for p in out.iterdir()} == {
        "history.parquet",
        "table.csv",
        "table.md",
        "best.yaml",
        "calibrated.yaml",
    }
    assert [p.name for p in out.parent.iterdir()] == ["calibration"]  # no temporary folder left behind


@pytest.mark.xdist_group("calibration")
def test_calibrated_config_is_a_behaviour_option_hydra_composes(reduced_run, tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    _, _, out = reduced_run
    best = yaml.safe_load((out / "best.yaml").read_text())
    params = best["params"]
    conf = tmp_path / "conf"
    shutil.copytree(config_dir(), conf)
    shutil.copy(out / "calibrated.yaml", conf / "behaviour" / "calibrated.yaml")
    population = {k: v for k, v in params.items() if k.startswith("population.")}
    assert "population.initial_awareness_share" in population
    header = (out / "calibrated.yaml").read_text().split("defaults:")[0]
    assert all(f"#   {k}={v!r}" in header for k, v in population.items())  # named for the population group
    register_configs()
    GlobalHydra.instance().clear()
    overrides = ["behaviour=calibrated", *(f"{k}={v!r}" for k, v in population.items())]
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = to_config(compose(config_name="config", overrides=overrides))
    GlobalHydra.instance().clear()
    for key, value in params.items():
        node = cfg
        for part in key.split("."):
            node = getattr(node, part)
        assert node == pytest.approx(value), key
    # every behaviour key not calibrated keeps its default
    assert cfg.behaviour.membership.review_rate == 0.08 and cfg.behaviour.calls.innovation_boost == 3.0
    assert cfg.behaviour.name == "calibrated"


def test_results_are_written_atomically_and_replace_the_folder_whole(tmp_path):
    result = calibrate(synthetic_spec(), reduced=True, progress=False, moments_fn=synthetic_moments)
    out = tmp_path / "results" / "calibration"
    write_results(result, out)
    files = {"history.parquet", "table.csv", "table.md", "best.yaml", "calibrated.yaml"}
    assert {p.name for p in out.iterdir()} == files
    (out / "stale.txt").write_text("old")
    write_results(result, out)
    assert {p.name for p in out.iterdir()} == files
    assert [p.name for p in out.parent.iterdir()] == ["calibration"]
    assert yaml.safe_load((out / "best.yaml").read_text())["params"] == pytest.approx(result.params)


@pytest.mark.parametrize(
    ("text", "argv", "names"),
    [
        ("name: x\nscenarios: {}\ntargets: {}\nparameters: {}\n", [], "needs scenarios"),
        ("name: x\nmethod: {n_lhs: many}\n", [], "method.n_lhs"),
        ("name: [x\n", [], "not a YAML file"),
        (None, ["--n-lhs", "0"], "method.n_lhs: got 0"),
        (None, ["--jobs", "two"], "--jobs"),
    ],
)
def test_main_refuses_bad_input_with_one_line_and_status_2(tmp_path, capsys, text, argv, names):
    spec = []
    if text is not None:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        spec = ["--spec", str(bad)]
    assert cal.main([*spec, *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("clustersim-calibrate: error:") and names in err[0], err
    assert not (tmp_path / "out").exists()


def test_clustersim_experiment_calibrate_refuses_a_bad_spec_name(tmp_path):
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("clustersim")
    # a bad spec name: one line naming the key, exit 2, nothing written
    bad = subprocess.run(
        [str(exe), "experiment=calibrate", "calibrate.spec=lombardy", f"calibrate.out={tmp_path / 'bad'}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "calibrate.spec: got 'lombardy'" in bad.stderr
    assert not (tmp_path / "bad").exists()
