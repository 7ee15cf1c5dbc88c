"""The command line end to end, in a subprocess, including bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

SHORT = ["population=small", "start=2016-01", "end=2016-12", "report_start=2016-01", "progress=false"]


def clustersim(tmp_path: Path, *args: str, module: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "clustersim"] if module else [str(Path(sys.executable).parent / "clustersim")]
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [*cmd, *args, f"output_dir={tmp_path / 'runs'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def run_folders(runs: Path) -> list[Path]:
    """The run folders under ``runs`` (the hidden ``.locks`` folder of the claims left out)."""
    return [p for p in runs.iterdir() if not p.name.startswith(".")]


def test_run_writes_tables_config_and_metadata(tmp_path: Path) -> None:
    proc = clustersim(tmp_path, "clusters=seven", "funding=erdf_5m", "seed=3", *SHORT)
    assert proc.returncode == 0, proc.stderr
    assert "members" in proc.stdout and "CO01" in proc.stdout
    (folder,) = run_folders(tmp_path / "runs")
    assert folder.name.startswith("seven-erdf_5m-setup6_run21-small-seed3-")
    for name in ("monthly", "summary", "accounts", "projects", "ties"):
        table = pd.read_parquet(folder / f"{name}.parquet")
        assert name in ("projects", "ties") or len(table) > 0
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["seed"] == 3 and len(meta["config_hash"]) == 64
    assert meta["package_version"] and meta["git_revision"]
    assert "clusters:" in (folder / "config.yaml").read_text()
    monthly = pd.read_parquet(folder / "monthly.parquet")
    assert list(monthly.columns) == ["month", "date", "kpi", "cluster", "value"]
    assert monthly["date"].min() == "2016-01" and monthly["date"].max() == "2016-12"
    # no Hydra output folders, no temporary folders left behind (only the claims' lock files)
    assert not (tmp_path / "outputs").exists()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [".locks", folder.name]


def test_python_dash_m_and_rerun_never_overwrites(tmp_path: Path) -> None:
    first = clustersim(tmp_path, *SHORT, module=True)
    assert first.returncode == 0, first.stderr
    (folder,) = run_folders(tmp_path / "runs")
    stamp = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = clustersim(tmp_path, *SHORT, module=True)
    assert again.returncode == 0, again.stderr
    assert "already complete" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamp


BAD = [
    (["seed=-1"], "seed"),
    (["foo=1"], "foo"),
    (["clusters=eight"], "clusters"),
    (["seed=abc"], "seed"),
    (["staffing.run_fte=-2"], "staffing.run_fte"),
    (["funding.programmes.erdf_2014_2020.cmo_grant_eur=-5"], "cmo_grant_eur"),
    (["behaviour.ties.p_max=1.5"], "behaviour.ties.p_max"),
    (["end=2008-12"], "end"),
    (["start=2009-13"], "start"),
    (["clusters.periods.0.mapping.agrifood=[agrifood,textile]"], "mapping"),
    (["~clusters.periods.0.mapping.textile"], "mapping"),
    # found by fuzzing and fault injection (issue "Nothing fails quietly"): each is one line, exit 2
    (["=3"], "'=3'"),
    (["@seed=1"], "@seed=1"),
    (["+=1"], "'+=1'"),
    (["population=null"], "population"),
    (["+foo=1"], "foo: no such key"),
    (["++foo=bar"], "foo: no such key"),
    (["clusters.periods.0.mapping={}"], "clusters.periods.0.mapping"),
    (["population=population_schema"], "population"),
    (["seed=${nope}"], "no ${...} interpolation"),
    (["seed=${oc.env:HOME}"], "no ${...} interpolation"),
    (["seed=1", "seed=2"], "set twice"),
    (["funding.programmes.erdf_2014_2020.cmo_grant_eur=1e300"], "cmo_grant_eur"),
    (["region.n_external_partners=9223372036854775808"], "n_external_partners"),
    (["region.research_organisations.count=1000000"], "research_organisations.count"),
    (["behaviour.calls.consortium_max=1000000"], "consortium_max"),
    (["clusters.periods.0.cluster_meetings=[0000-01]"], "cluster_meetings[0]"),
    (["clusters.periods.0.plenary_meetings=[1899-12]"], "plenary_meetings[0]"),
    (["funding.programmes.erdf_2014_2020.calls.0.opens=9999-01"], "calls[0].opens"),
    (["funding.programmes.erdf_2014_2020.calls.0.closes=2200-01"], "calls[0].closes"),
    (["staffing.run_ft=3"], "did you mean staffing.run_fte?"),
    (["clusters=sevn"], "did you mean seven?"),
    (["--foo"], "--foo"),
    (["clusters=twelve,seven"], "a sweep needs -m"),
]


@pytest.mark.parametrize(("args", "key"), BAD, ids=[a[0] for a, _ in BAD])
def test_bad_input_one_message_nonzero_exit_nothing_written(tmp_path: Path, args: list[str], key: str) -> None:
    proc = clustersim(tmp_path, "population=small", *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("clustersim: error:") and key in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "outputs").exists()


def test_help_is_fast_and_focused(tmp_path: Path) -> None:
    """Groups and options with one line each, from the YAML and the schema, without starting Hydra."""
    proc = subprocess.run([str(Path(sys.executable).parent / "clustersim"), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
    text = proc.stdout
    for group, option in (("population", "small"), ("clusters", "reform"), ("staffing", "lean")):
        assert f"  {group}:" in text and f"    {option}" in text
    assert "twelve_vs_seven_small" in text and "Exit status: 0 done" in text
    assert "_schema" not in text and "calibration/" not in text and "validation" not in text.lower()
    assert len(text.splitlines()) < 90
    keys = subprocess.run(
        [str(Path(sys.executable).parent / "clustersim"), "--help", "staffing"], capture_output=True, text=True
    )
    assert keys.returncode == 0 and "staffing.run_fte" in keys.stdout and "a number from 0 to 1,000" in keys.stdout
    wrong = subprocess.run(
        [str(Path(sys.executable).parent / "clustersim"), "--help", "stafing"], capture_output=True, text=True
    )
    assert wrong.returncode == 2 and "did you mean staffing?" in wrong.stderr and len(wrong.stderr.splitlines()) == 1


def test_an_unknown_flag_is_one_line_with_a_suggestion(tmp_path: Path) -> None:
    proc = clustersim(tmp_path, "--mutlirun", "population=small")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "(did you mean --multirun" in proc.stderr
