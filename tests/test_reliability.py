"""Nothing fails quietly: exit statuses, faults, interrupts and concurrency on the real command line.

Every test runs the console scripts of .venv/bin in real processes and waits on conditions
(a file appearing, a line printed), never on durations.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from clustersim import atomic, store

BIN = Path(sys.executable).parent
CLUSTERSIM, REPORT = str(BIN / "clustersim"), str(BIN / "clustersim-report")
FAST = ["population=small", "start=2016-06", "end=2017-03", "report_start=2016-06", "progress=false"]
LONG = ["population=small", "start=2009-01", "end=2020-12", "report_start=2016-01", "progress=false"]
ENV = {**os.environ, "HYDRA_FULL_ERROR": "0", "CLUSTERSIM_DEBUG": "0"}


def run(*args: str, cwd: Path, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # a full disk, as the process sees it: writes past the limit fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        list(args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env=ENV,
        preexec_fn=limit if limit_bytes else None,
    )


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
    return subprocess.Popen(list(args), cwd=cwd, env=ENV, text=True, start_new_session=True, **pipes)


def sweep_args(folder: Path, *args: str, window: list[str] = FAST) -> list[str]:
    return [CLUSTERSIM, "-m", *args, *window, "hydra/launcher=basic", f"hydra.sweep.dir={folder}"]


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("clustersim") and ": " in ln]


def assert_one_line(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr[-3000:]
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def wait_for(condition, what: str, proc: subprocess.Popen[str] | None = None, limit: float = 600) -> None:
    """Wait until ``condition()`` holds (a safety limit only stops a hung test)."""
    deadline = time.monotonic() + limit
    while not condition():
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"the process ended ({proc.returncode}) before {what}: {out[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def records(folder: Path) -> dict[str, dict]:
    out = {}
    for p in (folder / "jobs").glob("*.json"):
        try:
            out[p.stem] = json.loads(p.read_text())
        except (OSError, ValueError):  # being replaced right now
            continue
    return out


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if atomic.TEMP_MARK in p.name]


# --------------------------------------------------------------------- exit statuses
def test_a_sweep_where_every_run_is_invalid_exits_1_and_says_where_the_details_are(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    proc = run(*sweep_args(out, "experiment=twelve_vs_seven", "replication=0", "staffing.run_fte=-1"), cwd=tmp_path)
    assert proc.returncode == 1
    line = assert_one_line(proc, "no complete run", "2 of 2 runs failed", "staffing.run_fte", str(out / "jobs"))
    assert line.startswith("clustersim: error:")
    assert all(r["status"] == "failed" for r in records(out).values()) and len(records(out)) == 2


@pytest.mark.slow
def test_a_single_arm_sweep_gets_its_own_report_and_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    proc = run(*sweep_args(out, "clusters=seven", "replication=range(0,2)"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert error_lines(proc.stderr) == []
    report = (out / "report.md").read_text()
    assert "2 replications" in report and "Member firms" in report
    dist = pd.read_csv(out / "distribution.csv")
    assert "members" in set(dist["kpi"])
    assert (out / "figures" / "series.png").is_file()
    # the same folder asked for a comparison it cannot form: one line, exit 1
    spec = yaml.safe_load((out / "experiment.yaml").read_text())
    spec["arms"] = ["twelve", "seven"]
    spec.update(baseline="twelve", treatment="seven")
    (out / "experiment.yaml").write_text(yaml.safe_dump(spec))
    again = run(REPORT, str(out), cwd=tmp_path)
    assert again.returncode == 1
    assert_one_line(
        again, "cannot form the comparison of clusters = twelve, seven", "no complete run of clusters=twelve"
    )


def test_a_sweep_of_two_arms_the_comparison_does_not_name_gets_their_comparison(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    proc = run(*sweep_args(out, "clusters=twelve,seven", "replication=0"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert error_lines(proc.stderr) == []
    effects = pd.read_csv(out / "effects.csv")
    assert set(effects[["treatment", "baseline"]].itertuples(index=False, name=None)) == {("seven", "twelve")}


@pytest.fixture
def done_sweep(headline_sweep: tuple[Path, object]) -> Path:
    """A small complete comparison (the shared 3-pair sweep, conftest.py) to break: each test works on a copy."""
    return headline_sweep[0]


def copy_sweep(src: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "sweep"
    shutil.copytree(src, dst)
    return dst


@pytest.mark.xdist_group("headline_sweep")
def test_a_merge_that_cannot_write_exits_1_and_leaves_the_old_merge(done_sweep: Path, tmp_path: Path) -> None:
    out = copy_sweep(done_sweep, tmp_path)
    before = (out / "summary.parquet").read_bytes()
    proc = run(REPORT, str(out), cwd=tmp_path, limit_bytes=1024)  # a full disk for every file above 1 KB
    assert proc.returncode == 1
    assert_one_line(proc, "clustersim-report: error: the merge or report of", "File too large")
    assert (out / "summary.parquet").read_bytes() == before and temporaries(out) == []


@pytest.mark.xdist_group("headline_sweep")
def test_a_report_that_fails_exits_1_in_one_line(done_sweep: Path, tmp_path: Path) -> None:
    out = copy_sweep(done_sweep, tmp_path)
    (out / "effects.csv").unlink()
    (out / "effects.csv").mkdir()  # the report cannot put its table there
    (out / "effects.csv" / "keep").write_text("x")
    proc = run(REPORT, str(out), cwd=tmp_path)
    assert proc.returncode == 1
    assert_one_line(proc, "the merge or report of", "effects.csv")


def test_a_single_run_on_a_full_disk_exits_1_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    proc = run(CLUSTERSIM, *FAST, f"output_dir={tmp_path / 'runs'}", cwd=tmp_path, limit_bytes=1024)
    assert proc.returncode == 1
    assert_one_line(proc, "the run could not be written under", "File too large")
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [".locks"]
    assert temporaries(tmp_path / "runs") == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; run as a user to test this")
def test_a_read_only_runs_folder_fails_every_job_and_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    (out / "runs").mkdir(parents=True)
    (out / "runs").chmod(0o555)
    try:
        proc = run(*sweep_args(out, "experiment=twelve_vs_seven", "replication=0"), cwd=tmp_path)
    finally:
        (out / "runs").chmod(0o755)
    assert proc.returncode == 1
    assert_one_line(proc, "Permission denied")


# ------------------------------------------------------------------------ interrupts
def test_ctrl_c_on_a_run_exits_130_in_one_line_and_leaves_nothing_half_written(tmp_path: Path) -> None:
    args = [CLUSTERSIM, *LONG[:-1], "progress=true", f"output_dir={tmp_path / 'runs'}"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=ENV, text=True, stderr=subprocess.PIPE, start_new_session=True)
    assert proc.stderr is not None
    seen = ""
    while "mo/s" not in seen:  # the progress bar: the simulation has started
        chunk = os.read(proc.stderr.fileno(), 4096).decode()
        assert chunk, f"ended before the run started: {seen}"
        seen += chunk
    os.killpg(proc.pid, signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=300) == 130
    assert "Traceback" not in rest
    assert [ln for ln in rest.splitlines() if ln.startswith("clustersim")] == ["clustersim: interrupted"]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [".locks"]


@pytest.mark.slow
def test_ctrl_c_on_a_sweep_exits_130_and_a_rerun_completes_it(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = sweep_args(out, "experiment=twelve_vs_seven", "replication=range(0,2)", window=LONG)
    proc = start(*args, cwd=tmp_path)
    wait_for(lambda: any(r.get("status") == "running" for r in records(out).values()), "a run in progress", proc)
    os.killpg(proc.pid, signal.SIGINT)
    text, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "Traceback" not in text
    assert [ln for ln in text.splitlines() if ln.startswith("clustersim")] == ["clustersim: interrupted"]
    again = run(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(pd.read_parquet(out / "runs.parquet")) == 4 and temporaries(out / "runs") == []


# -------------------------------------------------------------- kill and concurrency
@pytest.mark.slow
def test_a_killed_sweep_is_reported_interrupted_then_resumes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = sweep_args(out, "experiment=twelve_vs_seven", "replication=range(0,2)", window=LONG)
    proc = start(*args, cwd=tmp_path)
    wait_for(lambda: any(r.get("status") == "running" for r in records(out).values()), "a run in progress", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = [name for name, r in records(out).items() if r["status"] == "running"]
    assert len(killed) == 1  # one job was computing it when the sweep was killed
    report = run(REPORT, str(out), cwd=tmp_path)
    assert report.returncode == 1
    assert_one_line(report, "failed", "the job ended before the run was complete")
    runs = pd.read_parquet(out / "runs.parquet")
    assert runs.set_index("run").loc[killed[0], "status"] == "interrupted"
    again = run(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {r["status"] for r in records(out).values()} == {"complete"} and len(records(out)) == 4
    assert temporaries(out / "runs") == []


@pytest.mark.slow
def test_a_merge_during_a_running_sweep_neither_breaks_nor_miscounts_it(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = sweep_args(out, "experiment=twelve_vs_seven", "replication=range(0,2)", window=LONG)
    proc = start(*args, cwd=tmp_path)
    wait_for(lambda: any(r.get("status") == "running" for r in records(out).values()), "a run in progress", proc)
    report = run(REPORT, str(out), cwd=tmp_path)  # while that run is being computed
    assert "Traceback" not in report.stderr
    runs = pd.read_parquet(out / "runs.parquet")
    assert runs.empty or (runs["status"] == "complete").all()  # the run in progress is not counted as failed
    text, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, text[-3000:]
    assert "FileNotFoundError" not in text and "failed" not in text
    assert {r["status"] for r in records(out).values()} == {"complete"} and len(records(out)) == 4


@pytest.mark.slow
def test_two_sweeps_on_one_folder_compute_each_run_once(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = sweep_args(out, "experiment=twelve_vs_seven", "replication=range(0,3)")
    a, b = start(*args, cwd=tmp_path), start(*args, cwd=tmp_path)
    text_a, _ = a.communicate(timeout=900)
    text_b, _ = b.communicate(timeout=900)
    assert a.returncode == 0 and b.returncode == 0, (text_a[-2000:], text_b[-2000:])
    computed = text_a.count("complete (computed)") + text_b.count("complete (computed)")
    reused = text_a.count("complete (reused)") + text_b.count("complete (reused)")
    assert computed == 6 and reused == 6
    assert len(pd.read_parquet(out / "runs.parquet")) == 6


# -------------------------------------------------- the cleaner and the claims, in-process
def _hold(folder: str, ready, release) -> None:  # runs in another process
    with store.claim(folder):
        ready.set()
        release.wait(120)


def test_the_merge_removes_a_temporary_folder_only_when_its_writer_is_gone(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    folder = runs / "twelve-x"
    tmp = atomic.temp_path(folder)
    tmp.mkdir(parents=True)
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    writer = ctx.Process(target=_hold, args=(str(folder), ready, release))
    writer.start()
    try:
        assert ready.wait(60)
        assert store.is_claimed(folder)
        assert store.remove_stale(tmp_path) == 0 and tmp.is_dir()  # its writer holds the claim
    finally:
        release.set()
        writer.join(60)
    assert not store.is_claimed(folder)
    assert store.remove_stale(tmp_path) == 1 and not tmp.exists()  # its writer is gone


def test_a_claim_is_released_when_its_process_is_killed(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "r"
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(folder), ready, release))
    holder.start()
    assert ready.wait(60) and store.is_claimed(folder)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(60)
    assert not store.is_claimed(folder)
    with store.claim(folder, wait=False) as got:
        assert got
