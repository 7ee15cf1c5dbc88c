"""Merge benchmark: peak memory and time of merging a sweep of many runs (synthetic run folders).

A sweep folder with ``--runs`` complete runs is laid out as a sweep leaves it (``runs/<run>/``
with ``summary``, ``monthly`` and ``accounts`` Parquet files and ``metadata.json``, and a
``jobs/<run>.json`` record each), from the tables of one real run (``population=small``,
2009-2020: 144 months, the full monthly table) hard-linked into every folder, with each
run's own identity (two arms, seeds, replications) in its metadata. Then, each in a fresh
subprocess so that the peak resident set size (``ru_maxrss``) is its own:

* ``merge``: :func:`clustersim.store.merge_sweep` (the merged ``summary``, ``monthly``,
  ``accounts`` and ``runs`` files and the dataset partitioned by run);
* ``series``: what the report reads of the monthly table
  (:func:`clustersim.store.read_monthly` of the four series it draws);
* ``summary``: the merged summary read whole (what the report's statistics use).

Example (20,000 runs: about 86 million monthly rows; several minutes, ~3 GB of disk)::

    python benchmarks/bench_merge.py --runs 20000 --out /tmp/merge.md

``PYTHONPATH`` chooses the code measured (e.g. an export of an older commit, to compare).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MB = 2048.0
TABLES = ("summary", "monthly", "accounts")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_template(folder: Path) -> dict:
    """Run one small simulation and write its run folder; return its metadata."""
    from clustersim.config import load_config
    from clustersim.runner import run_and_save

    cfg = load_config(["population=small", "progress=false", f"output_dir={folder}"])
    result = run_and_save(cfg)
    return {"folder": str(result.folder), "meta": json.loads((result.folder / "metadata.json").read_text())}


def lay_out(sweep: Path, template: dict, n_runs: int) -> None:
    """Lay out ``n_runs`` complete runs in ``sweep`` (tables hard-linked from the template)."""
    src = Path(template["folder"])
    meta0 = template["meta"]
    (sweep / "runs").mkdir(parents=True)
    (sweep / "jobs").mkdir()
    (sweep / "experiment.yaml").write_text("name: bench_merge\narm: clusters\nbaseline: twelve\ntreatment: reform\n")
    for k in range(n_runs):
        arm = ("twelve", "reform")[k % 2]
        rep = k // 2
        run = f"{arm}-erdf_5m-setup6_run21-small-seed1-rep{rep}-{k:012x}"
        folder = sweep / "runs" / run
        folder.mkdir()
        for t in TABLES:
            os.link(src / f"{t}.parquet", folder / f"{t}.parquet")
        meta = dict(meta0, seed=1, replication=rep, config_hash=f"{k:064x}")
        meta["scenario"] = dict(meta0["scenario"], clusters=arm)
        (folder / "metadata.json").write_text(json.dumps(meta))
        record = {"run": run, "status": "complete", "overrides": [f"clusters={arm}", f"replication={rep}"]}
        (sweep / "jobs" / f"{run}.json").write_text(json.dumps(record))


def worker(task: str, sweep: Path) -> dict:
    """Time one task in this process and report its peak memory."""
    from clustersim import store

    t0 = time.perf_counter()
    if task == "merge":
        data = store.merge_sweep(sweep)
        rows = len(data["runs"])
    elif task == "series":
        from clustersim.labels import SERIES

        columns = ["run", "month", "date", "kpi", "value", "clusters"]  # what the report reads
        rows = len(store.read_monthly(sweep, kpis=SERIES, columns=columns))
    else:
        rows = len(store.read_sweep(sweep)["summary"])
    return {"task": task, "seconds": time.perf_counter() - t0, "rows": rows, "peak_rss_mb": peak_rss_mb()}


def run_worker(task: str, sweep: Path, timeout: float) -> dict:
    """Run :func:`worker` in a fresh subprocess."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", task, "--sweep", str(sweep)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{task} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Lay out the sweep, run the tasks, print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20_000, help="complete runs in the synthetic sweep")
    ap.add_argument("--root", type=Path, help="folder for the sweep (default: a temporary folder, removed)")
    tasks = ["merge", "series", "summary"]
    ap.add_argument("--tasks", nargs="+", default=tasks, choices=tasks)
    ap.add_argument("--timeout", type=float, default=7200.0)
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--sweep", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.sweep)))
        return 0
    root = args.root or Path(tempfile.mkdtemp(prefix="clustersim-bench-merge-"))
    try:
        t0 = time.perf_counter()
        sweep = root / "sweep"
        if (sweep / "runs").is_dir():  # a --root laid out before: measured again as it is
            print(f"reusing {sweep}", file=sys.stderr)
        else:
            lay_out(sweep, make_template(root / "template"), args.runs)
            print(f"laid out {args.runs} runs in {time.perf_counter() - t0:.0f} s under {sweep}", file=sys.stderr)
        results = [run_worker(task, sweep, args.timeout) for task in args.tasks]
        files = {t: sweep / f"{t}.parquet" for t in TABLES}
        sizes = {t: f.stat().st_size / 2**20 for t, f in files.items() if f.exists()}
    finally:
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    lines = [
        f"{args.runs} runs (synthetic, population=small tables, 144 months); "
        f"merged files MB: {', '.join(f'{k} {v:.0f}' for k, v in sizes.items())}",
        "",
        "| task | s | rows | peak RSS MB | within 2 GB |",
        "|---|---:|---:|---:|---|",
    ]
    for r in results:
        ok = "yes" if r["peak_rss_mb"] <= TARGET_MB else "NO"
        lines.append(f"| {r['task']} | {r['seconds']:.1f} | {r['rows']:,} | {r['peak_rss_mb']:.0f} | {ok} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if all(r["peak_rss_mb"] <= TARGET_MB for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
