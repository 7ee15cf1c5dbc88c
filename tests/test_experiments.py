"""Experiments: Hydra sweeps end to end, merge, report, resume after a kill, failed runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from clustersim.analysis import independent_effects, paired_effects, wide_summary
from clustersim.config import load_config
from clustersim.runner import simulate
from conftest import small_config

# a short window that still contains the reform (2016-09) and the 2017-2018 calls
FAST = ["population=small", "start=2015-06", "end=2018-06", "report_start=2016-09"]
CLUSTERSIM = str(Path(sys.executable).parent / "clustersim")


def sweep(
    tmp_path: Path, *args: str, wait: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    cmd = [CLUSTERSIM, "-m", *args, *FAST, f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    if not wait:
        return subprocess.Popen(
            cmd, cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.parametrize(
    "name", ["twelve_vs_seven", "twelve_vs_seven_independent", "budget_staffing_grid", "reform_timeline"]
)
def test_every_experiment_composes(name: str) -> None:
    cfg = load_config([f"experiment={name}"])
    assert cfg.comparison.name == name
    assert cfg.seed > 0  # pinned


@pytest.mark.xdist_group("headline_sweep")
def test_headline_sweep_merges_and_reports(headline_sweep: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, proc = headline_sweep  # experiment=twelve_vs_seven, 3 pairs, basic launcher, FAST window (conftest.py)
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 6 and (runs["status"] == "complete").all()
    assert sorted(runs["clusters"].unique()) == ["reform", "twelve"]
    summary = pd.read_parquet(out / "summary.parquet")
    assert {"run", "clusters", "seed", "replication", "kpi", "value"} <= set(summary.columns)
    effects = pd.read_csv(out / "effects.csv")
    assert (effects["n_pairs"] == 3).all()
    assert set(effects[["contrast", "treatment", "baseline"]].itertuples(index=False, name=None)) == {
        ("effect", "reform", "twelve")
    }
    for stem in ("series", "forest"):
        assert _png_dpi(out / "figures" / f"{stem}.png") == 300
        assert (out / "figures" / f"{stem}.svg").read_text().lstrip().startswith("<?xml")
    html = (out / "report.html").read_text()
    assert "data:image/svg+xml;base64," in html and "ERDF common indicators" in html and "In brief" in html
    assert "Difference [95% interval]" in proc.stdout and "Verdict" in proc.stdout
    assert "Report window: 2016-09 to 2018-06" in proc.stdout
    # clustersim-report rebuilds the same table from saved results only
    again = subprocess.run(
        [str(Path(sys.executable).parent / "clustersim-report"), str(out)], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert pd.read_csv(out / "effects.csv").equals(effects)


def _png_dpi(path: Path) -> int:
    """The resolution a PNG declares (its pHYs chunk), in dots per inch."""
    from PIL import Image

    with Image.open(path) as img:
        return round(img.info["dpi"][0])


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head():
    """A real local Ray instance on 127.0.0.1, started for the test and stopped after.

    Yields its address and the environment a client needs to attach. Ray 2.60 turns token
    authentication on for a client whenever ~/.ray/auth_token exists (any earlier local
    ``ray.init()`` writes one), so the head and its clients are given the same explicit mode
    and a token of their own: the test does not depend on what ran before it.
    """
    import secrets
    import shutil
    import tempfile

    ray = str(Path(sys.executable).parent / "ray")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    token = Path(temp) / "auth_token"
    token.write_text(secrets.token_hex(32))
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    env.pop("RAY_AUTH_TOKEN", None)
    start = [ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2"]
    start += ["--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"]
    subprocess.run(start, check=True, capture_output=True, timeout=180, env=env)
    try:
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120, env=env)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.xdist_group("services")
def test_same_sweep_same_results_on_every_launcher(tmp_path: Path, ray_head: tuple[str, dict[str, str]]) -> None:
    """basic, joblib, a real Ray instance and submitit's local executor: identical results."""
    address, ray_env = ray_head
    launchers = {
        "basic": ["hydra/launcher=basic"],
        "joblib": ["hydra/launcher=joblib_progress"],
        "ray": [
            "hydra/launcher=ray",
            f"hydra.launcher.ray.init.address={address}",
            "+hydra.launcher.ray.init.object_store_memory=null",
        ],
        "submitit_local": ["hydra/launcher=submitit_local"],
    }
    tables = {}
    for name, args in launchers.items():
        d = tmp_path / name
        d.mkdir()
        env = ray_env if name == "ray" else None
        proc = sweep(d, "experiment=twelve_vs_seven", "replication=range(0,2)", *args, env=env)
        assert proc.returncode == 0, proc.stdout
        s = pd.read_parquet(d / "sweep" / "summary.parquet")
        tables[name] = s.sort_values(["run", "kpi", "cluster"]).reset_index(drop=True)
        assert len(tables[name]["run"].unique()) == 4
    for name in ("joblib", "ray", "submitit_local"):
        pd.testing.assert_frame_equal(tables["basic"], tables[name], obj=name)


@pytest.mark.slow
def test_killed_sweep_resumes_without_duplicates(tmp_path: Path) -> None:
    args = ("experiment=twelve_vs_seven", "replication=range(0,5)", "hydra/launcher=basic")
    proc = sweep(tmp_path, *args, wait=False)
    jobs = tmp_path / "sweep" / "jobs"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(jobs.glob("*.json"))) < 3:  # a condition, not a duration
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # kill the sweep wherever it is
    proc.wait()
    records = {p.stem: json.loads(p.read_text()) for p in jobs.glob("*.json")}
    done_before = {name for name, r in records.items() if r["status"] == "complete"}
    assert 2 <= len(done_before) < 10
    again = sweep(tmp_path, *args)
    assert again.returncode == 0, again.stdout
    runs_dir = tmp_path / "sweep" / "runs"
    folders = [p.name for p in runs_dir.iterdir() if not p.name.startswith(".")]
    assert len(folders) == 10 and len(set(folders)) == 10
    assert not list(runs_dir.glob(".*.tmp-*"))  # a half-written folder is never counted
    statuses = {p.stem: json.loads(p.read_text()) for p in jobs.glob("*.json")}
    assert all(s["status"] == "complete" for s in statuses.values())
    for name in done_before:  # what was complete was not run again
        assert statuses[name]["reused"] is True
    runs = pd.read_parquet(tmp_path / "sweep" / "runs.parquet")
    assert len(runs) == 10 and runs["run"].is_unique


def test_failed_run_is_recorded_and_the_others_finish(tmp_path: Path) -> None:
    proc = sweep(
        tmp_path, "experiment=twelve_vs_seven", "replication=0", "staffing.run_fte=21,-1", "hydra/launcher=basic"
    )
    assert proc.returncode == 1  # the sweep says something failed
    runs = pd.read_parquet(tmp_path / "sweep" / "runs.parquet")
    failed = runs[runs["status"] == "failed"]
    assert len(failed) == 2 and failed["error"].str.contains("staffing.run_fte").all()
    assert (runs["status"] == "complete").sum() == 2
    report = (tmp_path / "sweep" / "report.md").read_text()
    assert "Failed runs" in report and "staffing.run_fte" in report


def test_pairing_narrows_the_confidence_interval() -> None:
    """Common random numbers: same number of runs, a narrower CI of the headline effect."""
    frames = []
    for pairing in ("common", "independent"):
        for arm in ("twelve", "reform"):
            for r in range(6):
                cfg = small_config(f"clusters={arm}", f"replication={r}", f"comparison.pairing={pairing}", *FAST[1:])
                s = simulate(cfg)["summary"]
                frames.append(s.assign(clusters=arm, replication=r, seed=cfg.seed, pairing=pairing))
    df = pd.concat(frames)
    ids = ["clusters", "replication", "seed"]
    paired = paired_effects(
        wide_summary(df[df["pairing"] == "common"], ids), "clusters", "twelve", "reform", ["seed", "replication"]
    )
    indep = independent_effects(wide_summary(df[df["pairing"] == "independent"], ids), "clusters", "twelve", "reform")
    width = {
        name: e.set_index("kpi").loc["members", "ci_high"] - e.set_index("kpi").loc["members", "ci_low"]
        for name, e in (("paired", paired), ("independent", indep))
    }
    assert width["paired"] < width["independent"]


@pytest.mark.slow
def test_budget_staffing_grid_reports_every_cell_and_heatmaps(tmp_path: Path) -> None:
    proc = sweep(
        tmp_path,
        "experiment=budget_staffing_grid",
        "replication=range(0,2)",
        "funding=erdf_half,erdf_5m",
        "staffing=lean,setup6_run21",
        "hydra/launcher=basic",
    )
    assert proc.returncode == 0, proc.stdout
    out = tmp_path / "sweep"
    effects = pd.read_csv(out / "effects.csv")
    cells = effects[["funding", "staffing"]].drop_duplicates()
    assert len(cells) == 4 and (effects["n_pairs"] == 2).all()
    report = (out / "report.md").read_text()
    # the headline cell is the practice's (the default options), named in words
    assert "for the cell EUR 5M for cluster managers (as in practice), 6 set-up, 21 running staff" in report
    assert "## Every cell of the grid" in report
    for kpi in ("ties_firm_firm", "members"):
        assert _png_dpi(out / "figures" / f"heatmap_{kpi}.png") == 300
        svg = (out / "figures" / f"heatmap_{kpi}.svg").read_text()
        assert "Budget for the cluster organisations" in svg and "Staff of the scheme" in svg  # axis titles
        assert "erdf_half" not in svg  # options by their human names
