"""The result notebooks execute on small sweeps, and the headline reference table is reproduced."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pandas as pd
import pytest

from clustersim.notebooks import NOTEBOOKS, execute, project_root

# the tests share the module's small sweeps: one worker makes them once (conftest.py)
pytestmark = pytest.mark.xdist_group("notebooks")

ROOT = project_root()
REFERENCE = ROOT / "results" / "reference" / "twelve_vs_seven_small" / "effects.csv"


def sweep(tmp: Path, name: str, *overrides: str) -> Path:
    out = tmp / name
    exe = Path(sys.executable).with_name("clustersim")
    r = subprocess.run(
        [str(exe), "-m", f"experiment={name}", *overrides, f"hydra.sweep.dir={out}"],
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def small_sweeps(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("sweeps")
    return {
        "headline": sweep(tmp, "twelve_vs_seven_small"),
        "budget_staffing": sweep(
            tmp,
            "budget_staffing_grid",
            "population=small",
            "funding=erdf_half,erdf_5m",
            "staffing=lean,setup6_run21",
            "replication=0,1",
        ),
        "reform_timeline": sweep(tmp, "reform_timeline", "population=small", "replication=range(0,3)"),
    }


@pytest.mark.slow
def test_the_headline_reference_table_is_reproduced(small_sweeps):
    """The committed table of the headline's small variant, regenerated from its pinned config and seeds.

    If this fails after a change to the model, the results moved: run `make reference` and
    commit the new results/reference/ with the change (and say why in the commit message).
    """
    fresh = pd.read_csv(small_sweeps["headline"] / "effects.csv")
    committed = pd.read_csv(REFERENCE)
    assert len(committed) > 40 and committed["n_pairs"].eq(6).all()
    assert_reproduced(fresh, committed)


# What is the same on every machine (README, "Reproducibility"): the KPIs, their units and
# directions, the numbers of pairs and the verdicts; the arm means and differences of the
# KPIs counted in whole units, bit for bit. Everything else (shares, euros, intervals,
# p-values) to a relative tolerance: floating point may differ in its last digits between
# machines (another CPU, other SIMD paths in numpy and scipy).
FLOAT_RTOL = 1e-6


def assert_reproduced(fresh: pd.DataFrame, committed: pd.DataFrame) -> None:
    from clustersim.kpis import COUNT_UNITS

    assert list(fresh.columns) == list(committed.columns)
    text = [c for c in committed.columns if committed[c].dtype == object or str(committed[c].dtype) == "str"]
    exact = [*dict.fromkeys([*text, "kpi", "unit", "direction", "n_pairs", "verdict"])]
    pd.testing.assert_frame_equal(fresh[exact], committed[exact])
    counts = committed["unit"].isin(COUNT_UNITS)
    arms = [c for c in committed.columns if c.endswith("_mean")]
    for col in [*arms, "difference"]:
        a, b = fresh.loc[counts, col].to_numpy(), committed.loc[counts, col].to_numpy()
        assert ((a == b) | (pd.isna(a) & pd.isna(b))).all(), f"{col}: a count KPI differs (must be bit-identical)"
    numeric = [c for c in committed.columns if c not in exact]
    pd.testing.assert_frame_equal(fresh[numeric], committed[numeric], check_exact=False, rtol=FLOAT_RTOL, atol=1e-12)


def test_the_reference_comparison_is_exact_for_counts_and_tolerant_for_floats():
    committed = pd.read_csv(REFERENCE)
    share = committed.index[committed["unit"] == "share"][0]
    count = committed.index[committed["unit"] == "firms"][0]
    nudged = committed.copy()
    nudged.loc[share, ["baseline_mean", "difference"]] *= 1 + 1e-9  # another machine's last digits: accepted
    assert_reproduced(nudged, committed)
    moved = committed.copy()
    moved.loc[count, "baseline_mean"] += 1e-9  # a count mean is bit-identical or the results moved
    with pytest.raises(AssertionError, match="count KPI differs"):
        assert_reproduced(moved, committed)
    far = committed.copy()
    far.loc[share, "baseline_mean"] *= 1 + 1e-4
    with pytest.raises(AssertionError):
        assert_reproduced(far, committed)


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_every_notebook_is_jupytext_percent_with_a_parameters_cell(name):
    nb = jupytext.read(ROOT / NOTEBOOKS[name].file)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert set(NOTEBOOKS[name].parameters) <= {line.split("=")[0].strip() for line in tagged[0].source.splitlines()}
    assert nb.cells[0].cell_type == "markdown" and "**Question.**" in nb.cells[0].source


EXPECTED = {
    "headline": ["headline_table.csv", "headline_table.md", "effects.csv", "forest.png", "series.svg", "summary.md"],
    "budget_staffing": ["effect_members.csv", "verdicts.md", "heatmap_members.png", "heatmap_members.svg"],
    "reform_timeline": ["members_path.csv", "members_path.png", "observed_vs_simulated.md"],
    "calibration": ["fit_table.csv", "objective_trace.png", "observed_vs_simulated.png", "estimates.md"],
    "sensitivity": ["morris_top3.md", "sobol_total_order.csv", "discovery.md", "share_7_better_by_overhead.csv"],
}
#: What each rendered notebook must say in words (generated from the results) under its figures.
INTERPRETATION = {
    "headline": ["Clear differences:", "Member firms in", "During the shaded period"],
    "budget_staffing": ["cells show a clear difference", "Largest with"],
    "reform_timeline": ["off by", "observed dates"],
    "calibration": ["fitted targets are within their tolerance", "The best objective was found at evaluation"],
    "sensitivity": ["resolved (ST sum to", "unresolved (indices sum to", "First-ranked parameter by effect"],
}


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_every_notebook_executes_in_small_mode(name, small_sweeps, tmp_path):
    params = {"out_dir": str(tmp_path / "out")}
    if name in small_sweeps:
        params["sweep_dir"] = str(small_sweeps[name])
    # the calibration and sensitivity notebooks read the committed full-size results
    html = execute(name, params, html_dir=tmp_path)
    page = html.read_text()
    assert "Traceback" not in page
    for f in EXPECTED[name]:
        assert (tmp_path / "out" / f).stat().st_size > 0, f
    # a reader's page: figures inline, tables rendered, no code, no template bulk
    figures = len(list((tmp_path / "out").glob("*.svg")))
    assert figures >= 1 and len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', page)) == figures
    assert "<table" in page and "| ---" not in page and "|---|" not in page
    assert "from clustersim" not in page and "import " not in page  # the code is hidden
    assert "--jp-" not in page and page.count("<style") == 1  # one small stylesheet, not JupyterLab's
    for words in INTERPRETATION[name]:
        assert words in page, words
    for png in (tmp_path / "out").glob("*.png"):
        from PIL import Image

        with Image.open(png) as img:
            assert round(img.info["dpi"][0]) == 300, png.name
    if name == "headline":
        table = pd.read_csv(tmp_path / "out" / "headline_table.csv")
        assert len(table) >= 10 and "Member firms" in set(table["Indicator"])
        summary = (tmp_path / "out" / "summary.md").read_text()
        assert "about" in summary and "e+" not in summary and "instead of" in summary


def test_the_rendered_page_shows_relative_paths(small_sweeps, tmp_path, monkeypatch):
    """The parameters a page records are the ones given (relative), never the author's folders."""
    import shutil

    rel = Path("results") / "sweeps" / f"test-{tmp_path.name}"
    target = ROOT / rel
    shutil.copytree(small_sweeps["reform_timeline"], target)
    try:
        out_rel = rel / "out"
        html = execute("reform_timeline", {"sweep_dir": str(rel), "out_dir": str(out_rel)}, html_dir=tmp_path)
        page = html.read_text()
        assert f"read from <code>{rel}</code>" in page
        assert str(ROOT) not in page and str(tmp_path) not in page
        assert (target / "out" / "members_path.svg").is_file()
    finally:
        shutil.rmtree(target, ignore_errors=True)


def test_a_notebook_that_fails_raises_and_writes_no_html(tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError):
        execute("headline", {"sweep_dir": str(tmp_path / "nowhere"), "out_dir": str(tmp_path / "out")}, tmp_path)
    assert not list(tmp_path.glob("*.html"))


def test_the_cli_refuses_a_malformed_parameter(capsys):
    from clustersim.notebooks import main

    assert main(["--only", "headline", "-p", "sweep_dir"]) == 2
    assert "--param 'sweep_dir': allowed: KEY=VALUE" in capsys.readouterr().err
