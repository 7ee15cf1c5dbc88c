"""Scaling benchmark of clustersim: wall time and peak memory against the number of firms.

Every measurement runs in a fresh Python subprocess (this script re-invoked with
``--worker``), so imports, caches and the peak resident set size (``ru_maxrss``) belong
to that one run alone. The worker builds the configuration with
:func:`clustersim.config.load_config`, constructs :class:`clustersim.model.ClusterModel`,
runs it, and prints one JSON line with its timings and its peak memory.

For a total firm count ``N`` the worker sets ``population.n_smes = N - n_large_firms``
(150 large firms by default) on the default Piedmont population; ``N = 428,457`` uses
``population=region_all_firms`` instead, the region's whole register. The default
Piedmont run (``load_config([])``, 12,150 firms) is timed end to end as well.

Targets checked (with 144 months, 2009-01..2020-12):

* the default Piedmont run, construction + run, in at most 2 s;
* at most 150 ns per firm-month at 100,000 firms (run time / (N x months));
* the whole region (428,457 firms) in at most 30 s (construction + run) and 4 GB.

Example::

    python benchmarks/bench_scaling.py --repeats 3 --out benchmarks/results.md

The workers import clustersim as the parent would (``PYTHONPATH`` first). To measure a
fixed commit while the working tree is being edited, export it and point ``PYTHONPATH``
at the export's ``src``::

    git archive HEAD | tar -x -C /tmp/snap
    PYTHONPATH=/tmp/snap/src python benchmarks/bench_scaling.py
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGION_FIRMS = 428_457
N_LARGE = 150
START = "2009-01"
REPORT_START = "2016-01"
DEFAULT_SIZES = (1_000, 10_000, 100_000, REGION_FIRMS)
PIEDMONT = "piedmont"  # label of the default run (load_config([]))

TARGET_PIEDMONT_S = 2.0
TARGET_NS_PER_FIRM_MONTH = 150.0
TARGET_NS_AT_N = 100_000
TARGET_REGION_S = 30.0
TARGET_REGION_MB = 4096.0
TARGET_MONTHS = 144

METRICS = ("build_s", "run_s", "total_s", "ns_per_firm_month", "run_cpu_s", "cpu_ns_per_firm_month", "peak_rss_mb")


# ----------------------------------------------------------------------------- worker
def month_after(start: str, months: int) -> str:
    """The ``YYYY-MM`` month ``months`` months after ``start`` (``months`` may be 0)."""
    year, month = (int(x) for x in start.split("-"))
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def overrides_for(size: int | str, months: int, seed: int) -> list[str]:
    """Hydra overrides of one measurement: the population, the run window and the seed.

    Args:
        size: total number of firms, or :data:`PIEDMONT` for the default configuration.
        months: length of the run window, starting at :data:`START`.
        seed: the run's seed.

    Returns:
        The override strings for :func:`clustersim.config.load_config`.
    """
    end = month_after(START, months - 1)
    window = [f"start={START}", f"end={end}", f"report_start={min(REPORT_START, end)}"]
    common = ["progress=false", f"seed={seed}", *window]
    if size == PIEDMONT:
        return common
    n = int(size)
    if n == REGION_FIRMS:
        return ["population=region_all_firms", *common]
    if n <= N_LARGE:
        raise ValueError(f"a size must exceed the {N_LARGE} large firms, got {n}")
    return [f"population.n_smes={n - N_LARGE}", f"population.n_large_firms={N_LARGE}", *common]


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(who).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def worker(overrides: list[str], firms: str = "memory") -> dict[str, Any]:
    """Run one measurement in this process and return its figures.

    Args:
        overrides: Hydra override strings for :func:`clustersim.config.load_config`.
        firms: where the firm microdata go: ``memory`` (kept for ``simulate()`` to
            return, as an in-process run does) or ``parquet`` (streamed to a Parquet file
            as the run goes, as the command line does; the writing counts in the run).

    Returns:
        Wall-clock timings in seconds (import, configuration, construction, run), the
        CPU time of the run (less sensitive than wall time to other processes on a busy
        machine), the number of firms and months, and the peak resident memory of this
        process in MiB.
    """
    t0 = time.perf_counter()
    from clustersim.config import load_config
    from clustersim.model import ClusterModel

    t1 = time.perf_counter()
    cfg = load_config(overrides)
    rss_before_build = peak_rss_mb()
    t2 = time.perf_counter()
    model = ClusterModel(cfg)
    t3, c3 = time.perf_counter(), time.process_time()
    if firms == "parquet":
        import tempfile

        from clustersim.runner import ParquetSink

        with tempfile.TemporaryDirectory() as tmp, ParquetSink(Path(tmp) / "firms.parquet") as sink:
            model.firm_recorder.sink = sink
            model.run(progress=False)
    else:
        model.run(progress=False)
    t4, c4 = time.perf_counter(), time.process_time()
    return {
        "n_firms": int(model.firms.n),
        "months": int(model.n_months),
        "import_s": t1 - t0,
        "config_s": t2 - t1,
        "build_s": t3 - t2,
        "run_s": t4 - t3,
        "run_cpu_s": c4 - c3,
        "rss_before_build_mb": rss_before_build,
        "peak_rss_mb": peak_rss_mb(),
    }


# ----------------------------------------------------------------------------- parent
@dataclass
class Series:
    """All repeats of one case (a firm count or the default Piedmont run)."""

    label: str
    runs: list[dict[str, Any]] = field(default_factory=list)

    def values(self, key: str) -> list[float]:
        """The values of ``key`` over the repeats."""
        return [float(r[key]) for r in self.runs]

    def median(self, key: str) -> float:
        """Median of ``key`` over the repeats (NaN if there are none)."""
        vals = self.values(key)
        return statistics.median(vals) if vals else float("nan")

    def span(self, key: str) -> tuple[float, float]:
        """Minimum and maximum of ``key`` over the repeats."""
        vals = self.values(key)
        return (min(vals), max(vals)) if vals else (float("nan"), float("nan"))


def measure(size: int | str, months: int, seed: int, timeout: float, firms: str = "memory") -> dict[str, Any]:
    """Run one measurement in a fresh subprocess and return its figures.

    Args:
        size: total number of firms, or :data:`PIEDMONT`.
        months: run window length in months.
        seed: the run's seed.
        timeout: seconds before the subprocess is abandoned.
        firms: ``memory`` or ``parquet``: where the firm microdata go (:func:`worker`).

    Returns:
        The worker's figures plus ``total_s`` (construction + run) and
        ``ns_per_firm_month`` (run wall time / (firms x months)) and its CPU-time
        counterpart ``cpu_ns_per_firm_month``.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(overrides_for(size, months, seed))]
    cmd += ["--firms", firms]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"worker for {size} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["total_s"] = out["build_s"] + out["run_s"]
    firm_months = out["n_firms"] * out["months"]
    out["ns_per_firm_month"] = out["run_s"] * 1e9 / firm_months
    out["cpu_ns_per_firm_month"] = out["run_cpu_s"] * 1e9 / firm_months
    out["process_wall_s"] = wall
    return out


def fmt(series: Series, key: str, digits: int) -> str:
    """``median (min-max)`` of ``key``, or just the median for a single repeat."""
    med = series.median(key)
    lo, hi = series.span(key)
    if len(series.runs) < 2:
        return f"{med:,.{digits}f}"
    return f"{med:,.{digits}f} ({lo:,.{digits}f}–{hi:,.{digits}f})"


def results_table(all_series: list[Series]) -> str:
    """The markdown table of medians (with min-max over the repeats)."""
    lines = [
        "| case | firms | months | construction s | run s | construction + run s | ns / firm-month "
        "| run CPU s | CPU ns / firm-month | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in all_series:
        first = s.runs[0]
        lines.append(
            f"| {s.label} | {first['n_firms']:,} | {first['months']} | {fmt(s, 'build_s', 3)} | {fmt(s, 'run_s', 2)} "
            f"| {fmt(s, 'total_s', 2)} | {fmt(s, 'ns_per_firm_month', 0)} | {fmt(s, 'run_cpu_s', 2)} "
            f"| {fmt(s, 'cpu_ns_per_firm_month', 0)} | {fmt(s, 'peak_rss_mb', 0)} |"
        )
    return "\n".join(lines)


def overhead_table(all_series: list[Series]) -> str:
    """The markdown table of per-process overheads: imports and configuration loading."""
    lines = [
        "| case | import s | load_config s | RSS before construction MB | whole subprocess s |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in all_series:
        lines.append(
            f"| {s.label} | {fmt(s, 'import_s', 2)} | {fmt(s, 'config_s', 2)} | {fmt(s, 'rss_before_build_mb', 0)} "
            f"| {fmt(s, 'process_wall_s', 2)} |"
        )
    return "\n".join(lines)


def check_targets(all_series: list[Series], months: int) -> list[tuple[str, str, str]]:
    """Each target with the measured median and a verdict (met, NOT met or not measured).

    Args:
        all_series: the measured cases.
        months: the run window length (the targets are defined for 144 months).

    Returns:
        Rows of (target, measured, verdict).
    """
    by_n = {s.runs[0]["n_firms"]: s for s in all_series if s.label != PIEDMONT and s.runs}
    piedmont = next((s for s in all_series if s.label == PIEDMONT and s.runs), None)
    full = months == TARGET_MONTHS
    rows: list[tuple[str, str, str]] = []

    def verdict(ok: bool) -> str:
        return ("met" if ok else "NOT met") + ("" if full else f" (at {months} months, not {TARGET_MONTHS})")

    target = f"default Piedmont run (construction + run) <= {TARGET_PIEDMONT_S:g} s"
    if piedmont is None:
        rows.append((target, "-", "not measured"))
    else:
        t = piedmont.median("total_s")
        rows.append((target, f"{t:.2f} s", verdict(t <= TARGET_PIEDMONT_S)))
    target = f"<= {TARGET_NS_PER_FIRM_MONTH:g} ns per firm-month at {TARGET_NS_AT_N:,} firms"
    if TARGET_NS_AT_N in by_n:
        ns = by_n[TARGET_NS_AT_N].median("ns_per_firm_month")
        rows.append((target, f"{ns:.0f} ns", verdict(ns <= TARGET_NS_PER_FIRM_MONTH)))
    else:
        rows.append((target, "-", "not measured"))
    for target, key, limit, unit in (
        (f"whole region ({REGION_FIRMS:,} firms) <= {TARGET_REGION_S:g} s", "total_s", TARGET_REGION_S, "s"),
        (f"whole region ({REGION_FIRMS:,} firms) <= 4 GB peak RSS", "peak_rss_mb", TARGET_REGION_MB, "MB"),
    ):
        if REGION_FIRMS in by_n:
            v = by_n[REGION_FIRMS].median(key)
            rows.append((target, f"{v:,.1f} {unit}", verdict(v <= limit)))
        else:
            rows.append((target, "-", "not measured"))
    return rows


def targets_table(rows: list[tuple[str, str, str]]) -> str:
    """The targets as a markdown table."""
    lines = ["| target | measured (median) | verdict |", "|---|---:|---|"]
    lines += [f"| {t} | {m} | {v} |" for t, m, v in rows]
    return "\n".join(lines)


def machine_summary() -> str:
    """One line on the machine: CPU, cores, load, Python and numpy versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        import numpy

        np_version = numpy.__version__
    except ImportError:  # pragma: no cover - numpy is a dependency
        np_version = "?"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"CPU: {cpu}; cores: {os.cpu_count()}; load average at start: {load}; "
        f"Python {platform.python_version()}; numpy {np_version}"
    )


def code_version() -> str:
    """Where the workers import clustersim from, with its git commit when it is a checkout.

    The package is located as the workers will find it (``PYTHONPATH`` first, then the
    installed or editable package), without importing it. ``+dirty`` marks uncommitted
    changes under src/ or conf/.
    """
    spec = importlib.util.find_spec("clustersim")
    if spec is None or spec.origin is None:
        return "clustersim not found"
    root = Path(spec.origin).resolve().parents[2]  # <root>/src/clustersim/__init__.py
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src", "conf"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"{root} (not a git checkout)"
    return f"{root} at {head}" + ("+dirty" if dirty else "")


def write_csv(path: Path, all_series: list[Series]) -> None:
    """Write one row per case: medians, minima and maxima of every figure."""
    keys = (*METRICS, "import_s", "config_s", "process_wall_s")
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["case", "n_firms", "months", "repeats"] + [f"{k}_{s}" for k in keys for s in ("median", "min", "max")]
        )
        for s in all_series:
            row: list[Any] = [s.label, s.runs[0]["n_firms"], s.runs[0]["months"], len(s.runs)]
            for k in keys:
                lo, hi = s.span(k)
                row += [f"{s.median(k):.6g}", f"{lo:.6g}", f"{hi:.6g}"]
            w.writerow(row)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="total firm counts N")
    ap.add_argument("--repeats", type=int, default=3, help="measurements per case (median reported)")
    ap.add_argument("--months", type=int, default=TARGET_MONTHS, help=f"run window length from {START}")
    ap.add_argument("--seed", type=int, default=0, help="seed of every run (same work in each repeat)")
    ap.add_argument("--no-piedmont", action="store_true", help="skip the default Piedmont run")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per subprocess")
    ap.add_argument("--out", type=Path, help="also write the results: .csv for CSV, otherwise markdown")
    ap.add_argument(
        "--firms",
        choices=["memory", "parquet"],
        default="memory",
        help="the firm microdata kept in memory (an in-process run) or streamed to Parquet (the command line)",
    )
    ap.add_argument("--worker", metavar="JSON", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker``, one measurement) and print the tables."""
    args = parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(json.loads(args.worker), args.firms)))
        return 0
    if args.repeats < 1 or args.months < 1:
        raise SystemExit("--repeats and --months must be at least 1")
    cases: list[int | str] = ([] if args.no_piedmont else [PIEDMONT]) + list(args.sizes)
    all_series = [Series(label=str(c) if c == PIEDMONT else f"N={int(c):,}") for c in cases]
    machine = f"{machine_summary()}; clustersim: {code_version()}"
    print(machine, file=sys.stderr)
    # Repeats are interleaved (every case once, then again) so that a burst of load on a
    # shared machine does not fall on one case only.
    failures: list[str] = []
    for r in range(args.repeats):
        for case, series in zip(cases, all_series, strict=True):
            try:
                res = measure(case, args.months, args.seed, args.timeout, args.firms)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                failures.append(f"{series.label}, repeat {r + 1}: {str(exc).strip().splitlines()[-1]}")
                print(f"[{r + 1}/{args.repeats}] {series.label}: FAILED\n{exc}", file=sys.stderr, flush=True)
                continue
            series.runs.append(res)
            print(
                f"[{r + 1}/{args.repeats}] {series.label}: build {res['build_s']:.3f} s, run {res['run_s']:.2f} s, "
                f"{res['ns_per_firm_month']:.0f} ns/firm-month, peak {res['peak_rss_mb']:.0f} MB",
                file=sys.stderr,
                flush=True,
            )
    measured = [s for s in all_series if s.runs]
    targets = check_targets(measured, args.months)
    parts = [
        f"{machine}; repeats: {args.repeats}; months: {args.months}; firm microdata: {args.firms}; medians (min–max)",
        results_table(measured),
        "Per-process overheads (not part of construction + run):\n\n" + overhead_table(measured),
        targets_table(targets),
    ]
    if failures:
        parts.append("Failed measurements:\n\n" + "\n".join(f"- {f}" for f in failures))
    report = "\n\n".join(parts)
    print(report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.out.suffix.lower() == ".csv":
            write_csv(args.out, measured)
        else:
            args.out.write_text(report + "\n", encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
