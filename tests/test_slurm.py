"""A real SLURM: a sweep through hydra/launcher=submitit_slurm gives the same results as joblib.

The cluster is Debian's slurm-wlm on one node (slurmctld + slurmd + munged on 127.0.0.1),
started by `.ci/slurm.sh` (which .ci/run calls). Without it, the test is skipped with the
reason; tests/test_experiments.py still covers submitit's local executor.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

# the short window of tests/test_experiments.py: the reform (2016-09) and the 2017-2018 calls
FAST = ["population=small", "start=2015-06", "end=2018-06", "report_start=2016-09"]
CLUSTERSIM = str(Path(sys.executable).parent / "clustersim")
PARTITION = "debug"
SLURM = [
    "hydra/launcher=submitit_slurm",
    f"hydra.launcher.partition={PARTITION}",
    "hydra.launcher.timeout_min=10",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
]
START = "start it with `.ci/slurm.sh` (as root it installs Debian's slurm-wlm)"


def slurm_unavailable() -> str | None:
    """Why SLURM cannot take the test's jobs, or None when a node of the partition has free CPUs."""
    for tool in ("sinfo", "sbatch", "scontrol"):
        if shutil.which(tool) is None:
            return f"no SLURM client ({tool} is not on PATH): {START}"
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-N", "-p", PARTITION, "-o", "%T"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return f"sinfo does not answer within 20 s: {START}"
    if proc.returncode != 0:
        return f"SLURM does not answer (sinfo: {proc.stderr.strip()}): {START}"
    states = proc.stdout.split()
    if not {"idle", "mixed"} & set(states):  # a node with free CPUs
        return f"partition {PARTITION!r} has no idle node (states: {states or 'none'}); see `.ci/slurm.sh status`"
    return None


@pytest.fixture(scope="module")
def slurm() -> None:
    reason = slurm_unavailable()
    if reason:
        pytest.skip(reason)


def array_jobs(sweep_dir: Path) -> set[str]:
    """The SLURM array jobs a sweep submitted, from submitit's folders (<job>_<task>)."""
    folder = sweep_dir / ".submitit"
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return {m[1] for m in map(re.compile(r"(\d+)_\d+").fullmatch, names) if m}


def run_sweep(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    out = workdir / "sweep"
    cmd = [CLUSTERSIM, "-m", "experiment=twelve_vs_seven", "replication=range(0,2)", *args, *FAST]
    cmd.append(f"hydra.sweep.dir={out}")
    try:
        return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as e:
        # submitit waits for result files; a job that died without one would keep it waiting
        logs = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in sorted(out.glob(".submitit/*/*_log.*")))
        for job in array_jobs(out):
            subprocess.run(["scancel", job], capture_output=True, timeout=30)
        pytest.fail(f"sweep did not finish in 300 s: {' '.join(cmd)}\n{e.stdout}\n{logs}")


@pytest.mark.slow
@pytest.mark.xdist_group("services")
def test_submitit_slurm_sweep_matches_joblib(tmp_path: Path, slurm: None) -> None:
    """The same paired sweep on joblib and as SLURM array jobs: identical merged tables."""
    tables, effects = {}, {}
    for name, args in {"joblib": ["hydra/launcher=joblib"], "slurm": SLURM}.items():
        d = tmp_path / name
        d.mkdir()
        proc = run_sweep(d, *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        s = pd.read_parquet(d / "sweep" / "summary.parquet")
        tables[name] = s.sort_values(["run", "kpi", "cluster"]).reset_index(drop=True)
        assert len(tables[name]["run"].unique()) == 4
        effects[name] = pd.read_csv(d / "sweep" / "effects.csv")
    pd.testing.assert_frame_equal(tables["joblib"], tables["slurm"], obj="slurm")
    pd.testing.assert_frame_equal(effects["joblib"], effects["slurm"], obj="slurm effects")

    # the runs really went through SLURM: one array job of 4 tasks, completed in the partition
    jobs = array_jobs(tmp_path / "slurm" / "sweep")
    assert len(jobs) == 1, jobs
    show = subprocess.run(["scontrol", "-o", "show", "job", jobs.pop()], capture_output=True, text=True, timeout=30)
    tasks = show.stdout.splitlines()
    assert len(tasks) == 4, show.stdout + show.stderr
    for task in tasks:
        assert "JobState=COMPLETED" in task and "ExitCode=0:0" in task and f"Partition={PARTITION}" in task, task
