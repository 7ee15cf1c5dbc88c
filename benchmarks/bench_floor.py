"""The floor of a sweep's overhead factor: what a sweep cannot avoid, against the run itself.

Issue 11 asks for a sweep's wall time x workers to stay within 1.15 x the same runs'
in-process construction + simulation time, while every run keeps its own complete folder.
This benchmark measures the two costs that no launcher, cache or worker design removes,
and divides them by the run:

* **the writes**: one real run folder is made by the sweep's own job code
  (:func:`clustersim.sweep.run_batch`); every file of the run's folder and its job record
  is read back (a Parquet file as the Arrow table it holds) and written again by pyarrow
  alone, with the codec, dictionary and statistics choices read from the file's own
  metadata. Building the tables, the claims and renames are not counted, nor the
  sweep's dataset parts and the identity columns its firm microdata carries for them
  (the parts are timed and shown apart, since a merge could make them instead): this is
  the least any code could spend to put the run's complete folder on disk;
* **the start-up**: the CPU time a fresh worker process spends importing what a run needs
  (the model, Mesa, pyarrow, Hydra's plugins), paid once per worker.

From them, a lower bound of the overhead factor for N runs on W workers,
``(N (run + writes) + W start-up) / (N run)``, which leaves out the merge, the report,
the configurations, building the tables and the workers' sharing of the machine, all of
which only add. It is given twice: with the run's complete folder alone, and with the
sweep's dataset as well (issue 11's item 5: each run's part of it, with the run's
identity as columns, which a sweep's job writes; a merge that wrote them instead would
pay the same at the sweep's end, on one core). Where the bound is above 1.15 the target
cannot be met on this machine with per-run Parquet folders, whatever the sweep machinery
does.

Examples::

    python benchmarks/bench_floor.py                       # a reform run of the headline
    python benchmarks/bench_floor.py --repeats 9 --overrides experiment=twelve_vs_seven clusters=twelve
    python benchmarks/bench_floor.py --run-s 0.1           # also: the bound if a run took 0.1 s
    python benchmarks/bench_floor.py --writer polars       # the same files written by polars' writer
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_OVERRIDES = ("experiment=twelve_vs_seven", "clusters=reform")
TARGET_FACTOR = 1.15
SWEEPS = ((200, 1), (200, 2), (2000, 2), (20000, 2))  # (runs, workers)
_DICTIONARY = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}


def write_options(path: Path) -> dict[str, Any]:
    """The writer options a Parquet file was written with, as far as its metadata tells them."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    if meta.num_row_groups == 0:
        return {"compression": "zstd"}
    group = meta.row_group(0)
    columns = [group.column(k) for k in range(group.num_columns)]
    return {
        "compression": columns[0].compression.lower() if columns else "zstd",
        "use_dictionary": [c.path_in_schema for c in columns if _DICTIONARY & set(c.encodings)],
        "write_statistics": [c.path_in_schema for c in columns if c.is_stats_set],
        "row_group_size": max(group.num_rows, 1),
    }


def run_files(sweep_dir: Path) -> tuple[list[Path], list[Path]]:
    """The files of the run's folder and job record, and the dataset parts not linked to them."""
    folder = [p for p in sorted((sweep_dir / "runs").glob("*/*")) if p.is_file()]
    folder += sorted((sweep_dir / "jobs").glob("*.json"))
    inodes = {(p.stat().st_dev, p.stat().st_ino) for p in folder}  # the dataset's firm part is a hard link
    parts = [
        p
        for p in sorted((sweep_dir / "dataset").rglob("*.parquet"))
        if (p.stat().st_dev, p.stat().st_ino) not in inodes
    ]
    return folder, parts


def label(path: Path, sweep_dir: Path, run: str) -> str:
    """A file's path in the sweep folder, its run's name shortened to ``<run>``."""
    return path.relative_to(sweep_dir).as_posix().replace(run, "<run>")


def identity_columns(sweep_dir: Path, run: str) -> list[str]:
    """The columns the sweep adds to a run's rows for its dataset (a part's, not in the run's own table)."""
    import pyarrow.parquet as pq

    own = set(pq.read_schema(sweep_dir / "runs" / run / "monthly.parquet").names)
    part = pq.read_schema(next((sweep_dir / "dataset" / "monthly").glob("*/*.parquet")))
    return [name for name in part.names if name not in own]


def write_jobs(
    files: list[Path], names: list[str], drop: tuple[str, ...] = (), writer: str = "pyarrow"
) -> list[tuple[str, Any, dict[str, Any] | None]]:
    """What writing each file again takes: its name, its content, its Parquet options (None: bytes).

    A Parquet file's content is the Arrow table it holds, less the columns ``drop``; with
    ``writer="polars"`` it is that table as a polars DataFrame (converted here, not timed),
    written with the file's codec and polars' own choices for the rest.
    """
    import pyarrow.parquet as pq

    jobs: list[tuple[str, Any, dict[str, Any] | None]] = []
    for path, name in zip(files, names, strict=True):
        if path.suffix != ".parquet":
            jobs.append((name, path.read_bytes(), None))
            continue
        table = pq.read_table(path)
        table = table.drop_columns([c for c in drop if c in table.column_names])
        options = write_options(path)
        if writer == "polars":
            import polars as pl

            jobs.append((name, pl.from_arrow(table), {"compression": options["compression"], "polars": True}))
            continue
        for key in ("use_dictionary", "write_statistics"):
            options[key] = [c for c in options.get(key, []) if c in table.column_names]
        jobs.append((name, table, options))
    return jobs


def time_writes(jobs: list[tuple[str, Any, dict[str, Any] | None]], folder: Path) -> dict[str, float]:
    """Write every file once into ``folder`` (Parquet by pyarrow or polars, text as bytes); seconds by file."""
    import pyarrow.parquet as pq

    out = {}
    for k, (name, data, options) in enumerate(jobs):
        target = folder / f"{k}{Path(name).suffix}"
        t0 = time.perf_counter()
        if options is None:
            target.write_bytes(data)
        elif options.get("polars"):
            data.write_parquet(target, compression=options["compression"])
        else:
            pq.write_table(data, target, **options)
        out[name] = time.perf_counter() - t0
        target.unlink()
    return out


def measure(overrides: list[str], groups: dict[str, list], repeats: int) -> tuple[float, dict[str, float], dict]:
    """Medians of the run and of each group of writes (their total, and by file), measured in turn.

    Each repeat times one in-process run (construction + simulation, after one warm-up run)
    and then every group's writes (after one warm-up of each), so that the machine's drift
    moves them alike.
    """
    from clustersim.config import load_config
    from clustersim.model import ClusterModel
    from clustersim.runner import prepare

    cfg = prepare(load_config(overrides))
    ClusterModel(cfg).run()
    runs: list[float] = []
    totals: dict[str, list[float]] = {g: [] for g in groups}
    per_file: dict[str, dict[str, list[float]]] = {g: {} for g in groups}
    with tempfile.TemporaryDirectory(prefix="clustersim-floor-") as tmp:
        for jobs in groups.values():  # warm-up: the writers' first-call costs, paid once by a worker
            time_writes(jobs, Path(tmp))
        for _ in range(repeats):
            t0 = time.perf_counter()
            ClusterModel(cfg).run()
            runs.append(time.perf_counter() - t0)
            for group, jobs in groups.items():
                times = time_writes(jobs, Path(tmp))
                totals[group].append(sum(times.values()))
                for name, dt in times.items():
                    per_file[group].setdefault(name, []).append(dt)
    median = statistics.median
    return (
        median(runs),
        {g: median(ts) for g, ts in totals.items()},
        {g: {n: median(ts) for n, ts in files.items()} for g, files in per_file.items()},
    )


_IMPORTS = (
    "import time\n"
    "import clustersim.runner\n"
    "from hydra.core.plugins import Plugins\n"
    "Plugins.instance()\n"
    "print(time.process_time())\n"
)


def time_startup(repeats: int) -> float:
    """Median CPU seconds of a fresh process importing what a run needs (as a sweep worker does)."""
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _IMPORTS], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def bound(run_s: float, writes_s: float, startup_s: float, runs: int, workers: int) -> float:
    """The lower bound of the overhead factor of ``runs`` runs on ``workers`` workers."""
    return (runs * (run_s + writes_s) + workers * startup_s) / (runs * run_s)


def report(
    run_s: float,
    writes: dict[str, float],
    startup_s: float,
    per_file: dict,
    extra: list[float],
    writer: str = "pyarrow",
) -> str:
    """The figures and the bounds as markdown (``writes``: the ``folder`` and ``sweep`` totals)."""
    folder, sweep_s = writes["folder"], writes["sweep"]
    lines = [
        f"- a run in-process (construction + simulation, median): {run_s * 1000:.1f} ms",
        f"- writing its complete folder, {writer} alone (median): {folder * 1000:.1f} ms"
        f" = {folder / run_s:.1%} of the run; the target leaves {(TARGET_FACTOR - 1) * run_s * 1000:.1f} ms"
        " a run for everything outside the simulation",
        f"- with the sweep's dataset as well (its parts, and the identity columns in the firm microdata):"
        f" {sweep_s * 1000:.1f} ms = {sweep_s / run_s:.1%} of the run",
        f"- a worker's start-up (imports, CPU, median): {startup_s:.2f} s",
        "",
        "| file | write (ms), run folder alone | write (ms), as a sweep writes it |",
        "|---|---:|---:|",
    ]
    names = sorted(set(per_file["folder"]) | set(per_file["sweep"]), key=lambda n: -per_file["sweep"].get(n, 0.0))
    for name in names:
        cells = [f"{per_file[g][name] * 1000:.2f}" if name in per_file[g] else "" for g in ("folder", "sweep")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        "| a run of (s) | runs | workers | lower bound, run folder | lower bound, with the dataset"
        " | 1.15 (folder / dataset) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [run_s, *extra]:
        for runs, workers in SWEEPS:
            low = bound(r, folder, startup_s, runs, workers)
            high = bound(r, sweep_s, startup_s, runs, workers)
            verdict = " / ".join("possible" if b <= TARGET_FACTOR else "above" for b in (low, high))
            lines.append(f"| {r:.3f} | {runs} | {workers} | {low:.3f} | {high:.3f} | {verdict} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--overrides", nargs="*", default=list(DEFAULT_OVERRIDES), help="the run's overrides")
    parser.add_argument("--repeats", type=int, default=7, help="measurements per figure (medians reported)")
    parser.add_argument("--run-s", type=float, nargs="*", default=[], help="also bound runs of these seconds")
    parser.add_argument(
        "--writer",
        choices=("pyarrow", "polars"),
        default="pyarrow",
        help="the Parquet writer timed: pyarrow (clustersim's) or polars (a dev dependency; its own encodings)",
    )
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.repeats < 1:
        print("bench_floor: error: --repeats must be at least 1", file=sys.stderr)
        return 2
    from clustersim import sweep

    with tempfile.TemporaryDirectory(prefix="clustersim-floor-sweep-") as tmp:
        sweep_dir = Path(tmp)
        (sweep_dir / "jobs").mkdir()
        (status,) = sweep.run_batch(sweep_dir, [list(args.overrides)])
        if status.get("status") != "complete":
            print(f"bench_floor: error: the run did not complete: {status}", file=sys.stderr)
            return 1
        run = str(status["run"])
        folder, parts = run_files(sweep_dir)
        ids = tuple(identity_columns(sweep_dir, run))
        names = [label(p, sweep_dir, run) for p in folder]
        groups = {
            "folder": write_jobs(folder, names, drop=ids, writer=args.writer),
            "sweep": write_jobs(folder, names, writer=args.writer)
            + write_jobs(parts, [label(p, sweep_dir, run) for p in parts], writer=args.writer),
        }
    run_s, writes, per_file = measure(list(args.overrides), groups, args.repeats)
    startup_s = time_startup(max(3, args.repeats // 2))
    text = (
        f"# Floor of a sweep's overhead factor ({' '.join(args.overrides)}; {args.writer}; {os.cpu_count()} CPUs)\n\n"
        + report(run_s, writes, startup_s, per_file, args.run_s, args.writer)
    )
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
