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
