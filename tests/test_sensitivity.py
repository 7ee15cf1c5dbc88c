"""Global sensitivity analysis: SALib and PRIM checked on known answers, then the model.

SALib on functions with known indices, PRIM on a known box, the design's determinism,
validation of bad designs, and the reduced experiments end to end.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clustersim.config import ConfigError, SensitivityConfig, SensitivityParameter, design_size, load_config
from clustersim.runner import prepare
from clustersim.sensitivity import (
    check_sweep_samples,
    discovery,
    morris_indices,
    prim_box,
    sobol_indices,
    to_values,
    unit_design,
)

SMALL = ["population=small", "progress=false"]


# the design keys an ordinary run carries (conf/sensitivity/none.yaml); the schema has no defaults
DESIGN = {"sample": 0, "seed": 0, "trajectories": 10, "levels": 4, "base_samples": 32}


def spec(method: str, params: list[tuple[str, float, float, str]], **kw) -> SensitivityConfig:
    return SensitivityConfig(
        method=method,
        parameters=[SensitivityParameter(k, lo, hi, sc) for k, lo, hi, sc in params],
        outputs=["members"],
        **{**DESIGN, **kw},
    )


ISHIGAMI = [(f"x{i}", -math.pi, math.pi, "linear") for i in (1, 2, 3)]


def ishigami(values: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    x1, x2, x3 = values.T
    return np.sin(x1) + a * np.sin(x2) ** 2 + b * x3**4 * np.sin(x1)


def values_of(s: SensitivityConfig, x: np.ndarray) -> np.ndarray:
    return np.array([list(to_values(s, row).values()) for row in x])


# --------------------------------------------------------------- SALib on known functions
def test_sobol_indices_of_the_ishigami_function_match_the_analytic_values():
    # Ishigami (a=7, b=0.1): S1 = 0.314, 0.442, 0; ST = 0.558, 0.442, 0.244 (Saltelli et al. 2008)
    s = spec("sobol", ISHIGAMI, base_samples=2048, seed=3)
    x = unit_design(s)
    assert x.shape == (design_size(s), 3) == (2048 * 5, 3)
    idx = sobol_indices(s, ishigami(values_of(s, x))).set_index("parameter")
    np.testing.assert_allclose(idx["S1"], [0.314, 0.442, 0.0], atol=0.04)
    np.testing.assert_allclose(idx["ST"], [0.558, 0.442, 0.244], atol=0.04)
    assert (idx["ST_conf"] > 0).all() and (idx["ST_conf"] < 0.1).all()


def test_morris_recovers_the_effects_of_a_linear_function_including_a_dummy_and_a_log_scale():
    params = [
        ("a", 0.0, 2.0, "linear"),
        ("b", -1.0, 1.0, "linear"),
        ("dummy", 5.0, 6.0, "linear"),
        ("c", 1.0, 100.0, "log"),
    ]
    s = spec("morris", params, trajectories=20, levels=4, seed=5)
    x = unit_design(s)
    assert x.shape == (design_size(s), 4) == (20 * 5, 4)
    v = values_of(s, x)
    # y = 3a - 2b + 0 dummy + log10(c): an elementary effect on the unit interval is coefficient x range
    y = 3 * v[:, 0] - 2 * v[:, 1] + np.log10(v[:, 3])
    idx = morris_indices(s, x, y).set_index("parameter")
    np.testing.assert_allclose(idx["mu_star"], [6.0, 4.0, 0.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(idx["mu"], [6.0, -4.0, 0.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(idx["sigma"], 0.0, atol=1e-9)


def test_morris_sigma_flags_an_interaction():
    s = spec("morris", [("a", 0.0, 1.0, "linear"), ("b", 0.0, 1.0, "linear"), ("c", 0.0, 1.0, "linear")], seed=1)
    x = unit_design(s)
    y = x[:, 0] * x[:, 1] + 0.5 * x[:, 2]
    idx = morris_indices(s, x, y).set_index("parameter")
    assert idx.loc["a", "sigma"] > 0.1 and idx.loc["b", "sigma"] > 0.1
    assert idx.loc["c", "sigma"] < 1e-9 and idx.loc["c", "mu_star"] == pytest.approx(0.5)


# ---------------------------------------------------------------------------- PRIM
def test_prim_finds_a_known_box():
    rng = np.random.default_rng(11)
    x = rng.random((3000, 4))
    y = (x[:, 0] > 0.7) & (x[:, 2] < 0.4)  # 12% of the space
    box = prim_box(x, y, min_coverage=0.8, alpha=0.05)
    assert box.density > 0.9 and box.coverage >= 0.8
    assert box.n == int(np.all((x >= box.limits[:, 0]) & (x <= box.limits[:, 1]), axis=1).sum())
    lo, hi = box.limits[:, 0], box.limits[:, 1]
    assert 0.6 < lo[0] < 0.75 and 0.35 < hi[2] < 0.45
    # the irrelevant dimensions are left (almost) whole
    assert lo[1] < 0.15 and hi[1] > 0.85 and lo[3] < 0.15 and hi[3] > 0.85
    # asking for more coverage gives a larger, less dense box
    wide = prim_box(x, y, min_coverage=1.0)
    assert wide.coverage == 1.0 and wide.mass >= box.mass and wide.density <= box.density


def test_prim_without_cases_of_interest_returns_the_whole_space():
    x = np.random.default_rng(2).random((200, 3))
    box = prim_box(x, np.zeros(200, dtype=bool))
    assert box.mass == 1.0 and box.density == 0.0
    np.testing.assert_array_equal(box.limits, np.column_stack([x.min(axis=0), x.max(axis=0)]))


def test_simplifying_a_box_drops_the_restrictions_that_do_not_matter():
    from clustersim.sensitivity import Box, simplify_box

    rng = np.random.default_rng(5)
    x = rng.random((4000, 3))
    y = x[:, 0] > 0.8
    # a peeled box that also shaved slices off the two irrelevant dimensions
    limits = np.array([[0.8, 1.0], [0.05, 0.95], [0.0, 0.9]])
    inside = np.all((x >= limits[:, 0]) & (x <= limits[:, 1]), axis=1)
    peeled = Box(limits, y[inside].sum() / y.sum(), y[inside].mean(), inside.mean(), int(inside.sum()))
    simple = simplify_box(x, y, peeled)
    np.testing.assert_allclose(simple.limits[0], [0.8, 1.0])
    np.testing.assert_allclose(simple.limits[1:], [[x[:, 1].min(), x[:, 1].max()], [x[:, 2].min(), x[:, 2].max()]])
    assert simple.density >= peeled.density * 0.95 and simple.coverage > peeled.coverage
    # a restriction that matters is kept
    y2 = (x[:, 0] > 0.8) & (x[:, 1] < 0.5)
    limits2 = np.array([[0.8, 1.0], [0.0, 0.5], [0.02, 1.0]])
    inside2 = np.all((x >= limits2[:, 0]) & (x <= limits2[:, 1]), axis=1)
    box2 = Box(limits2, y2[inside2].sum() / y2.sum(), y2[inside2].mean(), inside2.mean(), int(inside2.sum()))
    simple2 = simplify_box(x, y2, box2)
    assert simple2.limits[1, 1] == pytest.approx(0.5) and simple2.limits[0, 0] == pytest.approx(0.8)
    assert simple2.limits[2, 0] == pytest.approx(x[:, 2].min())


def test_a_simplified_box_keeps_at_most_three_restrictions():
    from clustersim.sensitivity import Box, simplify_box

    rng = np.random.default_rng(9)
    x = rng.random((3000, 5))
    y = (x > 0.2).all(axis=1)  # every dimension matters a little
    limits = np.column_stack([np.full(5, 0.2), np.ones(5)])
    inside = np.all((x >= limits[:, 0]) & (x <= limits[:, 1]), axis=1)
    box = Box(limits, 1.0, 1.0, inside.mean(), int(inside.sum()))
    simple = simplify_box(x, y, box, max_restrictions=3)
    restricted = [j for j in range(5) if simple.limits[j, 0] > x[:, j].min()]
    assert len(restricted) == 3 and 0 < simple.density < 1.0


def test_discovery_reads_the_rarer_outcome_and_names_the_condition():
    s = spec("sobol", [("behaviour.x", 0.0, 10.0, "linear"), ("behaviour.y", 0.0, 1.0, "linear")], base_samples=256)
    s.outputs = ["members", "research_collaborations"]
    x = unit_design(s)
    effects = pd.DataFrame(
        {
            "members": np.where(x[:, 0] > 0.8, -5.0, 5.0),  # 7 loses members only when x > 8
            "research_collaborations": np.full(len(x), 3.0),  # 7 always wins
        }
    )
    table = discovery(s, x, effects).set_index("output")
    assert table.loc["members", "share_7_better"] == pytest.approx(float((x[:, 0] <= 0.8).mean()))
    assert table.loc["members", "cases"].startswith("7 not better than 12")
    assert "behaviour.x >= 8" in table.loc["members", "conditions"]
    assert "behaviour.y" not in table.loc["members", "conditions"]
    assert table.loc["members", "density"] == pytest.approx(1.0)
    assert table.loc["research_collaborations", "cases"].startswith("none")


# -------------------------------------------------------------------------- designs
def test_the_design_is_the_same_in_another_process():
    code = (
        "import hashlib;from clustersim.config import load_config;from clustersim.sensitivity import unit_design;"
        "c=load_config(['sensitivity=morris']);print(hashlib.sha256(unit_design(c.sensitivity).tobytes()).hexdigest())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    here = hashlib.sha256(unit_design(load_config(["sensitivity=morris"]).sensitivity).tobytes()).hexdigest()
    assert other == here


@pytest.mark.parametrize("method", ["morris", "sobol"])
def test_each_run_gets_its_rows_values_within_the_ranges(method):
    base = load_config([*SMALL, f"sensitivity={method}"])
    s = base.sensitivity
    x = unit_design(s)
    assert x.shape == (design_size(s), len(s.parameters))
    for row in (0, 7, design_size(s) - 1):
        # loading checks the design; the job applies its row (runner.prepare)
        cfg = prepare(load_config([*SMALL, f"sensitivity={method}", f"sensitivity.sample={row}"]))
        for p, (key, value) in zip(s.parameters, to_values(s, x[row]).items(), strict=True):
            *path, last = key.split(".")
            node = cfg
            for part in path:
                node = getattr(node, part)
            applied = getattr(node, last)
            if isinstance(applied, int) and not isinstance(applied, bool):  # an integer key (set-up months)
                assert applied == round(value)  # config.set_key keeps integer keys integers
            else:
                assert applied == pytest.approx(value)
            assert p.low - 1e-12 <= value <= p.high + 1e-12
    # an ordinary run is untouched by the design: it has the calibrated value of the YAML
    import yaml

    from clustersim.config import config_dir

    calibrated = yaml.safe_load((Path(config_dir()) / "behaviour" / "calibrated.yaml").read_text())
    assert load_config(SMALL).behaviour.membership.beta0 == calibrated["membership"]["beta0"]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("sensitivity.sample=200", "sensitivity.sample"),
        ("sensitivity.method=sobel", "sensitivity.method"),
        ("sensitivity.parameters.0.key=behaviour.membership.nope", "sensitivity.parameters[0].key"),
        ("sensitivity.parameters.0.high=0.01", "sensitivity.parameters[0].high"),
        ("sensitivity.parameters.5.low=0", "sensitivity.parameters[5].low"),
        ("sensitivity.outputs.0=happiness", "sensitivity.outputs[0]"),
        ("sensitivity.levels=3", "sensitivity.levels"),
    ],
)
def test_bad_designs_are_refused_naming_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(["sensitivity=morris", override])
    assert f"{key}:" in str(err.value) and "allowed" in str(err.value)


def test_sobol_base_samples_must_be_a_power_of_two():
    with pytest.raises(ConfigError, match=r"sensitivity.base_samples: got 12; allowed: a power of 2"):
        load_config(["sensitivity=sobol", "sensitivity.base_samples=12"])


def test_sweep_coverage_is_checked():
    s = load_config(["sensitivity=morris"]).sensitivity
    n = design_size(s)
    assert check_sweep_samples(s, range(n)) is None
    assert "exactly range(0,200)" in check_sweep_samples(s, range(n - 1))
    assert check_sweep_samples(s, [*range(n), 0]) is not None


# ------------------------------------------------------------- reduced experiments end to end
def clustersim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("clustersim")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def test_a_sweep_that_misses_design_rows_is_refused_before_any_run(tmp_path):
    out = tmp_path / "sweep"
    r = clustersim(
        "-m",
        "experiment=sensitivity_morris_reduced",
        "sensitivity.sample=range(0,10)",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert r.returncode == 2
    assert "sensitivity.sample: the sweep covers 10 values" in r.stderr and "range(0,40)" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (out / "runs").exists() and not (out / "jobs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["sensitivity_morris_reduced", "sensitivity_sobol_reduced"])
def test_reduced_sensitivity_experiments_run_end_to_end(experiment, tmp_path):
    out = tmp_path / "sweep"
    # a short window that holds the reform (2016-09): the whole path at a third of the months
    window = ["start=2015-06", "report_start=2016-09", "end=2017-12"]
    r = clustersim("-m", f"experiment={experiment}", *window, f"hydra.sweep.dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    folder = out / "sensitivity"
    indices = pd.read_csv(folder / "indices.csv")
    disc = pd.read_csv(folder / "discovery.csv")
    effects = pd.read_parquet(folder / "effects.parquet")
    cfg = load_config([f"experiment={experiment}"])
    s = cfg.sensitivity
    assert len(effects) == design_size(s)
    assert set(indices["output"]) == set(s.outputs) == set(disc["output"])
    assert set(indices["parameter"]) == {p.key for p in s.parameters}
    value_col = "mu_star" if s.method == "morris" else "ST"
    assert indices[value_col].notna().all() and np.isfinite(indices[value_col]).all()
    assert (folder / "indices.png").stat().st_size > 10_000
    assert "Which parameters matter most" in (folder / "report.md").read_text()
    # every run folder records the values its row applied
    runs = pd.read_parquet(out / "runs.parquet")
    assert (runs["status"] == "complete").all() and len(runs) == 2 * design_size(s)
    # a design's analysis reads the runs' summaries only: no firm microdata written (microdata: false)
    assert not cfg.microdata and not list(out.glob("runs/*/firms.parquet")) and not (out / "dataset" / "firms").exists()
    assert len(list(out.glob("runs/*/summary.parquet"))) == len(runs)
    # the report is rebuilt from the saved runs alone, to the same indices
    exe = Path(sys.executable).with_name("clustersim-report")
    again = subprocess.run([str(exe), str(out)], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    pd.testing.assert_frame_equal(pd.read_csv(folder / "indices.csv"), indices)


def test_screening_ranks_parameters_by_their_mean_relative_mu_star():
    from clustersim.sensitivity import screen

    indices = pd.DataFrame(
        {
            "output": ["a", "a", "a", "b", "b", "b"],
            "parameter": ["x", "y", "z", "x", "y", "z"],
            "mu_star": [10.0, 5.0, 1.0, 0.1, 0.4, 0.2],  # x dominates a, y dominates b
        }
    )
    top = screen(indices, n=2)
    # x: (1 + 0.25) / 2 = 0.625; y: (0.5 + 1) / 2 = 0.75; z: (0.1 + 0.5) / 2 = 0.3
    assert list(top["parameter"]) == ["y", "x"]
    assert top["mean_relative_mu_star"].tolist() == pytest.approx([0.75, 0.625])


def test_share_better_by_bins_of_a_parameter():
    from clustersim.sensitivity import share_better_by

    effects = pd.DataFrame(
        {
            "k": [0.1, 0.2, 0.6, 0.7, 1.0],
            "members": [-1.0, 2.0, 3.0, 4.0, -5.0],
            "firms_in_no_cluster": [1.0, 1.0, -1.0, -1.0, -1.0],  # lower is better
        }
    )
    t = share_better_by(effects, ["members", "firms_in_no_cluster"], "k", [0.0, 0.5, 1.0])
    assert t["rows"].tolist() == [2, 3]  # the last bin is closed: 1.0 counts
    assert t["members"].tolist() == pytest.approx([0.5, 2 / 3])
    assert t["firms_in_no_cluster"].tolist() == pytest.approx([0.0, 1.0])
