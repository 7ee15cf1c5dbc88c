"""Sweep benchmark of clustersim: a whole experiment through the real command line.

The benchmark runs the same sweep once per worker count, each time into a fresh sweep
folder, with the command a user types (one line)::

    clustersim -m experiment=twelve_vs_seven 'replication=range(0,100)'
        hydra.sweep.dir=<tmp>/twelve_vs_seven-n<W>
        hydra/launcher=joblib_progress hydra.launcher.n_jobs=<W> [extra overrides]

With the default 100 replications that is 2 arms x 100 = 200 runs of Piedmont
(12,150 firms, 2009-01..2020-12). The command also merges the runs and builds the report
(the sweep's ``on_multirun_end`` callback), so its wall time covers everything a user
waits for. For each sweep the benchmark then reports:

* the wall time T of the command and the runs per minute;
* the simulation time of the runs, the sum of ``wall_seconds`` in each run folder's
  ``metadata.json`` (construction, run and the run's tables; not the writing);
* the merge + report time, from timing ``clustersim-report <sweep dir>`` afterwards
  (a whole process: it includes about 2 s of imports that the sweep's own process has
  already paid);
* the launcher overhead = T - (sum of simulation time / workers) - merge + report;
* a timeline from the run folders' timestamps: start-up (command start to the first
  simulation start), the job phase (first simulation start to the last job record) and
  the tail (last job record to the command's exit: merge, report, shut-down), and the
  time per job outside the simulation within the job phase;
* and, across worker counts, the parallel efficiency (T_1 / T_W) / W;
* the overhead factor: T x W over the same runs' construction + simulation time in one
  process, alone on the machine (issue 11's reference); and, for W > 1, the same factor
  against the runs timed in W such processes at once, which share the cores, caches and
  memory bandwidth as the sweep's workers do: what remains is the sweep's own work.

A probe in a fresh process then times the pieces of the per-job overhead on one of the
sweeps: imports of the command's modules, the Hydra composition and validation of one
job's configuration, writing one run folder, ``git_revision`` (run for every run's
metadata), and the merge and the report separately.

Examples::

    python benchmarks/bench_sweep.py                              # 200 Piedmont runs, 1 and 2 workers
    python benchmarks/bench_sweep.py --replications 10 --extra-overrides population=small
    python benchmarks/bench_sweep.py --out /tmp/sweep.md --keep --sweep-root /tmp/bench-sweeps

The command is the ``clustersim`` console script beside the running interpreter, so it
imports clustersim as this interpreter would (``PYTHONPATH`` first). To measure a fixed
commit while the working tree is being edited, clone it and point ``PYTHONPATH`` at the
clone's ``src`` (a clone rather than an export, so that ``git_revision`` does the same
work as in a checkout)::

    git clone -q . /tmp/snap && PYTHONPATH=/tmp/snap/src python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPERIMENT = "twelve_vs_seven"
DEFAULT_REPLICATIONS = 100
DEFAULT_WORKERS = (1, 2)
TARGET_EFFICIENCY = 0.85


# ----------------------------------------------------------------------------- commands
def console_script(name: str) -> list[str]:
    """The command of a console script of this environment (beside ``sys.executable``)."""
    path = Path(sys.executable).parent / name
    if path.is_file():
        return [str(path)]
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name}: not found beside {sys.executable} nor on PATH")
    return [found]


def launcher_overrides(launcher: str, workers: int) -> list[str]:
    """The overrides that choose the launcher and its number of workers."""
    if launcher == "ray":  # a local Ray instance started by the launcher, with ``workers`` CPUs
        return ["hydra/launcher=ray", f"+hydra.launcher.ray.init.num_cpus={workers}"]
    return ["hydra/launcher=joblib_progress", f"hydra.launcher.n_jobs={workers}"]


def sweep_command(
    experiment: str, replications: int, sweep_dir: Path, workers: int, extra: list[str], launcher: str = "joblib"
) -> list[str]:
    """The ``clustersim -m`` command of one sweep.

    Args:
        experiment: the experiment option (``conf/experiment/<name>.yaml``).
        replications: the number of replications (pairs) of the sweep.
        sweep_dir: the sweep folder (``hydra.sweep.dir``); it must not exist yet.
        workers: joblib's ``n_jobs`` (Ray's ``num_cpus``).
        extra: further overrides, appended last.
        launcher: ``joblib`` or ``ray`` (a local Ray instance).

    Returns:
        The argument list of the command.
    """
    return [
        *console_script("clustersim"),
        "-m",
        f"experiment={experiment}",
        f"replication=range(0,{replications})",
        f"hydra.sweep.dir={sweep_dir}",
        *launcher_overrides(launcher, workers),
        *extra,
    ]


def children_cpu_s() -> float:
    """User + system CPU seconds of this process's reaped children so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def load_average() -> str:
    """The 1-minute load average, formatted (``?`` where it is not available)."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"


# ----------------------------------------------------------------------------- one sweep
@dataclass
class SweepResult:
    """The figures of one sweep (one worker count)."""

    workers: int
    sweep_dir: Path
    wall_s: float = 0.0
    cpu_s: float = 0.0
    exit_status: int = 0
    runs: int = 0
    failed: int = 0
    sim_s: list[float] = field(default_factory=list)
    startup_s: float = float("nan")
    job_phase_s: float = float("nan")
    tail_s: float = float("nan")
    report_s: float = float("nan")
    load_before: str = "?"
    load_after: str = "?"
    inprocess_s: float = float("nan")  # the same runs' construction + simulation, in one process
    inprocess_median_s: float = float("nan")
    inprocess_cpu_s: float = float("nan")
    contended_s: float = float("nan")  # the same, as many processes at once as the sweep has workers

    @property
    def contended_factor(self) -> float:
        """Sweep wall time x workers / the runs' in-process time with as many processes at once as workers."""
        return self.wall_s * self.workers / self.contended_s

    @property
    def overhead_factor(self) -> float:
        """Sweep wall time x workers / the same runs' in-process construction + simulation time."""
        return self.wall_s * self.workers / self.inprocess_s

    @property
    def cpu_factor(self) -> float:
        """CPU time of the sweep's processes / the same runs' in-process CPU time (less sensitive to load)."""
        return self.cpu_s / self.inprocess_cpu_s

    @property
    def job_phase_factor(self) -> float:
        """The same, counting only the job phase (no start-up, merge or report)."""
        return self.job_phase_s * self.workers / self.inprocess_s

    @property
    def sim_total_s(self) -> float:
        """Sum of the runs' simulation times."""
        return float(sum(self.sim_s))

    @property
    def runs_per_min(self) -> float:
        """Complete runs per minute of sweep wall time."""
        return 60.0 * self.runs / self.wall_s if self.wall_s else float("nan")

    @property
    def overhead_s(self) -> float:
        """Launcher overhead: wall - simulation / workers - merge + report."""
        return self.wall_s - self.sim_total_s / self.workers - self.report_s

    @property
    def per_job_outside_sim_s(self) -> float:
        """Mean time per job, within the job phase, spent outside the simulation."""
        if not self.runs:
            return float("nan")
        return (self.job_phase_s * self.workers - self.sim_total_s) / self.runs


def read_timeline(res: SweepResult, t_start: float, t_end: float) -> None:
    """Fill the run count, simulation times and timeline of ``res`` from its sweep folder.

    Each run folder's ``metadata.json`` holds ``created_unix`` (the end of the
    simulation) and ``wall_seconds`` (its length); each job record ``jobs/<run>.json``
    is written last in its job, so its modification time is the end of the job.
    """
    starts, job_ends = [], []
    for meta_path in sorted((res.sweep_dir / "runs").glob("*/metadata.json")):
        meta = json.loads(meta_path.read_text())
        res.sim_s.append(float(meta["wall_seconds"]))
        starts.append(float(meta["created_unix"]) - float(meta["wall_seconds"]))
    for job in sorted((res.sweep_dir / "jobs").glob("*.json")):
        status = json.loads(job.read_text())
        if status.get("status") == "complete":
            res.runs += 1
        else:
            res.failed += 1
        job_ends.append(job.stat().st_mtime)
    if starts and job_ends:
        res.startup_s = min(starts) - t_start
        res.job_phase_s = max(job_ends) - min(starts)
        res.tail_s = t_end - max(job_ends)


def run_sweep(
    experiment: str,
    replications: int,
    sweep_dir: Path,
    workers: int,
    extra: list[str],
    timeout: float,
    launcher: str = "joblib",
) -> SweepResult:
    """Run one sweep through the command line, then time ``clustersim-report`` on it.

    Args:
        experiment: the experiment option.
        replications: replications (pairs) of the sweep.
        sweep_dir: a sweep folder that does not exist yet.
        workers: joblib's ``n_jobs`` (Ray's ``num_cpus``).
        extra: further overrides.
        timeout: seconds allowed for the sweep command.
        launcher: ``joblib`` or ``ray`` (a local Ray instance).

    Returns:
        The sweep's figures; the command's output is kept in ``<sweep_dir>.log``.
    """
    if sweep_dir.exists():
        raise SystemExit(f"{sweep_dir} exists: a sweep folder must be fresh, or runs are reused")
    sweep_dir.parent.mkdir(parents=True, exist_ok=True)
    res = SweepResult(workers=workers, sweep_dir=sweep_dir, load_before=load_average())
    cmd = sweep_command(experiment, replications, sweep_dir, workers, extra, launcher)
    log = sweep_dir.with_name(sweep_dir.name + ".log")
    print(f"$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    cpu0 = children_cpu_s()
    with log.open("w", encoding="utf-8") as fh:
        t_start, p0 = time.time(), time.perf_counter()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout, check=False)
        res.wall_s, t_end = time.perf_counter() - p0, time.time()
    res.cpu_s = children_cpu_s() - cpu0
    res.exit_status = proc.returncode
    res.load_after = load_average()
    read_timeline(res, t_start, t_end)
    if (sweep_dir / "jobs").is_dir():
        p0 = time.perf_counter()
        rep = subprocess.run(
            [*console_script("clustersim-report"), str(sweep_dir)], capture_output=True, text=True, check=False
        )
        res.report_s = time.perf_counter() - p0
        if rep.returncode != 0:
            print(f"clustersim-report exited with {rep.returncode}:\n{rep.stderr[-2000:]}", file=sys.stderr)
    print(
        f"  {workers} worker(s): {res.wall_s:.1f} s, {res.runs} runs ({res.failed} failed), exit {res.exit_status}, "
        f"simulation {res.sim_total_s:.1f} s, clustersim-report {res.report_s:.1f} s, load {res.load_before}"
        f" -> {res.load_after}; log: {log}",
        file=sys.stderr,
        flush=True,
    )
    return res


# ----------------------------------------------------------------------------- in-process reference
def inprocess(sweep_dir: Path, part: int = 0, parts: int = 1) -> dict[str, float]:
    """Construction + simulation time of the runs of a finished sweep, one after the other in this process.

    Each run's configuration is composed from its job record's overrides beforehand (not
    timed); only ``ClusterModel(cfg)`` and ``model.run()`` are timed, as an in-process
    user of the model would run them. ``part`` of ``parts``: every ``parts``-th run from
    the ``part``-th (the contended reference runs ``parts`` such processes at once).
    """
    from clustersim.config import load_config
    from clustersim.model import ClusterModel
    from clustersim.runner import prepare

    jobs = [json.loads(p.read_text()) for p in sorted((sweep_dir / "jobs").glob("*.json"))]
    cfgs = [prepare(load_config(j["overrides"])) for j in jobs if j.get("status") == "complete"][part::parts]
    ClusterModel(cfgs[0]).run()  # warm-up: first-call caches, as a sweep's workers have them
    total = cpu = 0.0
    times = []
    for cfg in cfgs:
        t0, c0 = time.perf_counter(), time.process_time()
        ClusterModel(cfg).run()
        times.append(time.perf_counter() - t0)
        total += times[-1]
        cpu += time.process_time() - c0
    return {"total_s": total, "cpu_s": cpu, "median_s": statistics.median(times), "runs": len(cfgs)}


def run_inprocess(sweep_dir: Path, timeout: float, parts: int = 1) -> dict[str, float]:
    """Run :func:`inprocess` in ``parts`` fresh subprocesses at once (this script with ``--inprocess``); sum them.

    With one part, the runs alone on the machine (the issue's reference); with as many parts
    as the sweep has workers, the runs as the workers run them, sharing the machine's cores,
    caches and memory bandwidth: what remains of the overhead factor against that reference
    is the sweep's own work (start-up, writes, merge, report), not the sharing.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "--inprocess", str(sweep_dir), "--parts", str(parts)]
    procs = [
        subprocess.Popen([*cmd, "--part", str(k)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in range(parts)
    ]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"in-process reference failed ({proc.returncode}):\n{err[-4000:]}")
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "total_s": sum(o["total_s"] for o in outs),
        "cpu_s": sum(o["cpu_s"] for o in outs),
        "median_s": statistics.median(o["median_s"] for o in outs),
        "runs": sum(o["runs"] for o in outs),
    }


# ----------------------------------------------------------------------------- probe
def _median_time(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def probe(sweep_dir: Path, overrides: list[str], repeats: int = 5) -> dict[str, float]:
    """Time the pieces of a sweep's overhead in this (fresh) process.

    Args:
        sweep_dir: a finished sweep folder; it is merged again (the files are rewritten
            with the same content) and a scratch run folder is written and removed.
        overrides: one job's overrides (the experiment, its arm and replication).
        repeats: repeats of each piece after a warm-up (median reported).

    Returns:
        Seconds for: importing the command's modules, composing one job's configuration
        with Hydra, validating it, writing one run folder, ``git_revision``, merging the
        sweep and building its report from the merged files.
    """
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    import clustersim.cli  # what the command and every joblib worker import
    import clustersim.sweep

    out["import_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    import clustersim.report

    out["import_report_s"] = time.perf_counter() - t0

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from clustersim.config import config_dir, register_configs, to_config
    from clustersim.results import git_revision, read_table, run_name, write_run
    from clustersim.sweep import merge_sweep

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
        out["compose_s"] = _median_time(lambda: compose(config_name="config", overrides=overrides), repeats)
    config = to_config(cfg)
    out["validate_s"] = _median_time(lambda: to_config(cfg), repeats)
    folder = next((p for p in sorted((sweep_dir / "runs").iterdir()) if (p / "metadata.json").is_file()), None)
    if folder is not None:
        tables = {name: read_table(folder, name) for name in ("monthly", "summary", "accounts", "projects", "ties")}
        meta = json.loads((folder / "metadata.json").read_text())
        with tempfile.TemporaryDirectory() as scratch:
            times = []
            for i in range(repeats):
                target = Path(scratch) / f"{run_name(config)}-{i}"
                t0 = time.perf_counter()
                write_run(target, tables, config, meta)
                times.append(time.perf_counter() - t0)
            out["write_run_s"] = statistics.median(times)
    out["git_revision_s"] = _median_time(git_revision, repeats)
    t0 = time.perf_counter()
    merge_sweep(sweep_dir)
    out["merge_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    clustersim.report.build_report(sweep_dir, merge=False)
    out["report_s"] = time.perf_counter() - t0
    return out


def run_probe(sweep_dir: Path, overrides: list[str], timeout: float) -> dict[str, float]:
    """Run :func:`probe` in a fresh subprocess (this script with ``--probe``)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--probe", str(sweep_dir), "--probe-overrides"]
    proc = subprocess.run([*cmd, json.dumps(overrides)], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"probe failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- tables
def sweep_table(results: list[SweepResult]) -> str:
    """The main markdown table: one row per worker count."""
    lines = [
        "| workers | runs | sweep wall s | runs / min | Σ simulation s | simulation s / run (median) "
        "| merge + report s | launcher overhead s | overhead / run s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        med = statistics.median(r.sim_s) if r.sim_s else float("nan")
        per_run = r.overhead_s / r.runs if r.runs else float("nan")
        lines.append(
            f"| {r.workers} | {r.runs} | {r.wall_s:.1f} | {r.runs_per_min:.1f} | {r.sim_total_s:.1f} | {med:.2f} "
            f"| {r.report_s:.1f} | {r.overhead_s:.1f} | {per_run:.3f} |"
        )
    return "\n".join(lines)


def timeline_table(results: list[SweepResult]) -> str:
    """The timeline of each sweep, from the run folders' timestamps."""
    lines = [
        "| workers | start-up s (to first simulation) | job phase s | tail s (last job to exit) "
        "| per job outside simulation s | CPU s (reaped processes) | load before → after |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.workers} | {r.startup_s:.1f} | {r.job_phase_s:.1f} | {r.tail_s:.1f} | {r.per_job_outside_sim_s:.3f} "
            f"| {r.cpu_s:.1f} | {r.load_before} → {r.load_after} |"
        )
    return "\n".join(lines)


def factor_table(results: list[SweepResult]) -> str:
    """The overhead factor of each sweep: wall x workers over the runs' in-process time."""
    lines = [
        "| workers | runs | sweep wall s | Σ in-process construction + simulation s | in-process s / run (median) "
        "| overhead factor (wall x workers / Σ) | job phase only | CPU factor (sweep CPU / in-process CPU) "
        "| Σ in-process, W processes at once s | factor against it |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.workers} | {r.runs} | {r.wall_s:.1f} | {r.inprocess_s:.1f} | {r.inprocess_median_s:.3f} "
            f"| {r.overhead_factor:.2f} | {r.job_phase_factor:.2f} | {r.cpu_factor:.2f} "
            f"| {r.contended_s:.1f} | {r.contended_factor:.2f} |"
        )
    return "\n".join(lines)


def efficiency_lines(results: list[SweepResult]) -> list[str]:
    """Parallel efficiency of every multi-worker sweep against the 1-worker sweep."""
    base = next((r for r in results if r.workers == 1), None)
    if base is None:
        return []
    lines = []
    for r in results:
        if r.workers == 1 or not r.wall_s:
            continue
        speedup = base.wall_s / r.wall_s
        eff = speedup / r.workers
        sim_ratio = (r.sim_total_s / r.runs) / (base.sim_total_s / base.runs) if r.runs and base.runs else float("nan")
        verdict = "met" if eff >= TARGET_EFFICIENCY else "NOT met"
        lines.append(
            f"- {r.workers} workers: speed-up T1/T{r.workers} = {speedup:.2f}, parallel efficiency "
            f"{100 * eff:.0f}% (aim {100 * TARGET_EFFICIENCY:.0f}%: {verdict}); simulation time per run "
            f"x{sim_ratio:.2f} against 1 worker"
        )
    return lines


def probe_table(p: dict[str, float]) -> str:
    """The probe's figures as a markdown table."""
    rows = (
        ("import clustersim.cli + clustersim.sweep (fresh process)", "import_s"),
        ("import clustersim.report (after the above)", "import_report_s"),
        ("Hydra composition of one job's configuration", "compose_s"),
        ("validation (to_config) of one job's configuration", "validate_s"),
        ("writing one run folder (write_run: 5 Parquet files, config, metadata)", "write_run_s"),
        ("git_revision (two git subprocesses, once per run)", "git_revision_s"),
        ("merge_sweep (read every run folder, write the merged dataset)", "merge_s"),
        ("build_report from the merged dataset (tables, figures, HTML)", "report_s"),
    )
    lines = ["| piece | s |", "|---|---:|"]
    lines += [f"| {label} | {p[key]:.3f} |" for label, key in rows if key in p]
    return "\n".join(lines)


def machine_summary() -> str:
    """One line on the machine and the software."""
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"CPU: {cpu}; cores: {os.cpu_count()}; Python {platform.python_version()}"


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default=EXPERIMENT, help="experiment option (conf/experiment/)")
    ap.add_argument("--replications", type=int, default=DEFAULT_REPLICATIONS, help="replications (pairs) per sweep")
    ap.add_argument("--workers", type=int, nargs="+", default=list(DEFAULT_WORKERS), help="joblib n_jobs values")
    ap.add_argument(
        "--extra-overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="further overrides of every run, e.g. population=small end=2017-12",
    )
    ap.add_argument("--sweep-root", type=Path, help="folder for the sweep folders (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the sweep folders (removed by default)")
    ap.add_argument("--no-probe", action="store_true", help="skip the probe of the overhead's pieces")
    ap.add_argument("--launcher", choices=["joblib", "ray"], default="joblib", help="the launcher of the sweeps")
    ap.add_argument(
        "--no-inprocess", action="store_true", help="skip the in-process reference (and the overhead factor)"
    )
    ap.add_argument("--inprocess", type=Path, metavar="SWEEP_DIR", help=argparse.SUPPRESS)
    ap.add_argument("--part", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--parts", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per sweep")
    ap.add_argument("--out", type=Path, help="also write the markdown report to this file")
    ap.add_argument("--probe", type=Path, metavar="SWEEP_DIR", help=argparse.SUPPRESS)
    ap.add_argument("--probe-overrides", metavar="JSON", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the sweeps (or, with ``--probe``, the probe) and print the tables."""
    args = parse_args(argv)
    if args.probe is not None:
        print(json.dumps(probe(args.probe, json.loads(args.probe_overrides or "[]"))))
        return 0
    if args.inprocess is not None:
        print(json.dumps(inprocess(args.inprocess, args.part, args.parts)))
        return 0
    if args.replications < 1 or any(w < 1 for w in args.workers):
        raise SystemExit("--replications and --workers must be at least 1")
    root = args.sweep_root or Path(tempfile.mkdtemp(prefix="clustersim-bench-sweep-"))
    machine = machine_summary()
    print(f"{machine}; sweep folders under {root}", file=sys.stderr)
    results: list[SweepResult] = []
    try:
        for w in args.workers:
            sweep_dir = root / f"{args.experiment}-n{w}"
            results.append(
                run_sweep(
                    args.experiment, args.replications, sweep_dir, w, args.extra_overrides, args.timeout, args.launcher
                )
            )
            if not args.no_inprocess and results[-1].runs:
                if len(results) == 1 or math.isnan(results[0].inprocess_s):
                    ref = run_inprocess(sweep_dir, args.timeout)
                    results[-1].inprocess_s, results[-1].inprocess_median_s = ref["total_s"], ref["median_s"]
                    results[-1].inprocess_cpu_s = ref["cpu_s"]
                else:  # the same runs: the reference of the first sweep
                    results[-1].inprocess_s = results[0].inprocess_s
                    results[-1].inprocess_median_s = results[0].inprocess_median_s
                    results[-1].inprocess_cpu_s = results[0].inprocess_cpu_s
                print(f"  in-process reference: {results[-1].inprocess_s:.1f} s", file=sys.stderr, flush=True)
                if w == 1:
                    results[-1].contended_s = results[-1].inprocess_s
                else:
                    results[-1].contended_s = run_inprocess(sweep_dir, args.timeout, parts=w)["total_s"]
                    print(f"  {w} at once: {results[-1].contended_s:.1f} s", file=sys.stderr, flush=True)
        probed: dict[str, float] = {}
        if not args.no_probe and results and results[-1].runs:
            job = [f"experiment={args.experiment}", "clusters=reform", "replication=0", *args.extra_overrides]
            job.append(f"hydra.sweep.dir={results[-1].sweep_dir}")
            try:
                probed = run_probe(results[-1].sweep_dir, job, args.timeout)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"probe failed: {exc}", file=sys.stderr)
    finally:
        if not args.keep and args.sweep_root is None:
            shutil.rmtree(root, ignore_errors=True)
    n_runs = 2 * args.replications
    shown = " ".join(args.extra_overrides)
    launcher = " ".join(launcher_overrides(args.launcher, 0)).replace("=0", "=<W>")
    command = (
        f"clustersim -m experiment={args.experiment} 'replication=range(0,{args.replications})' "
        f"hydra.sweep.dir=<tmp> {launcher}"
    ) + (f" {shown}" if shown else "")
    parts = [
        f"{machine}; {n_runs} runs per sweep (2 arms x {args.replications}); command: `{command}`",
        sweep_table(results),
        timeline_table(results),
        factor_table(results) if not args.no_inprocess else "",
        "\n".join(efficiency_lines(results)),
    ]
    if probed:
        parts.append("Pieces of the overhead (probe, fresh process, medians):\n\n" + probe_table(probed))
    bad = [r for r in results if r.exit_status != 0 or r.failed or r.runs != n_runs]
    if bad:
        parts.append(
            "Problems:\n\n"
            + "\n".join(
                f"- {r.workers} worker(s): exit {r.exit_status}, {r.runs} complete, {r.failed} failed" for r in bad
            )
        )
    report = "\n\n".join(p for p in parts if p)
    print(report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n", encoding="utf-8")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
