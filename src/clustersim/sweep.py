"""Sweeps: one Hydra job per run, a status record per job, and the merge at the end.

Layout of a sweep folder (``hydra.sweep.dir``)::

    runs/<run name>/...          one complete run folder per configuration (atomic)
    jobs/<run name>.json         the job's status: complete or failed (with its error)
    summary.parquet, monthly.parquet, accounts.parquet, runs.parquet   the merged dataset

A job whose run folder already exists is not run again, so a sweep that was interrupted
(its process killed at any point) completes only what is missing when started again.
A job that fails is recorded as failed; the other jobs go on, and the merge says which
failed. The merge reads only saved results.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from clustersim.config import ConfigError, to_config
from clustersim.results import read_table, run_name
from clustersim.runner import run_and_save

logger = logging.getLogger(__name__)

ID_COLS = ("run", "clusters", "funding", "staffing", "population", "behaviour", "seed", "replication")
MERGED = ("summary", "monthly", "accounts", "runs")


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def write_parquet_atomic(df: pd.DataFrame, path: Path) -> None:
    """Write a Parquet file through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    df.to_parquet(tmp, index=False, compression="zstd")
    os.replace(tmp, path)


def run_job(cfg: Any, sweep_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """Run one job of a sweep and record its status; never raises for a failed run."""
    sweep_dir = Path(sweep_dir)
    status: dict[str, Any] = {"overrides": list(overrides)}
    try:
        config = to_config(cfg)
    except ConfigError as err:
        name = "invalid-" + "_".join(o.replace("/", "_") for o in overrides)[:150]
        status.update(run=name, status="failed", error=str(err))
        write_json_atomic(sweep_dir / "jobs" / f"{name}.json", status)
        return status
    config.output_dir = str(sweep_dir / "runs")  # a sweep's runs live in the sweep folder
    name = run_name(config)
    status["run"] = name
    try:
        result = run_and_save(config, progress=False)
        status.update(status="complete", folder=str(result.folder), reused=not result.written)
    except Exception as err:  # a failed run is data: record it and let the others go on
        logger.error("run %s failed: %s", name, err)
        status.update(status="failed", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
    write_json_atomic(sweep_dir / "jobs" / f"{name}.json", status)
    return status


def job_statuses(sweep_dir: Path) -> list[dict[str, Any]]:
    """Status records of a sweep's jobs, sorted by run name."""
    jobs = sorted((Path(sweep_dir) / "jobs").glob("*.json"))
    return [json.loads(p.read_text()) for p in jobs]


def _run_ids(folder: Path) -> dict[str, Any]:
    meta = json.loads((folder / "metadata.json").read_text())
    ids = {"run": folder.name, **meta["scenario"], "seed": meta["seed"], "replication": meta.get("replication", 0)}
    ids.pop("region", None)
    return ids


def _override_params(overrides: list[str]) -> dict[str, str]:
    """Swept keys other than the id columns, as ``param.<key>`` columns."""
    out = {}
    for o in overrides:
        key, _, value = o.lstrip("+~").partition("=")
        if key in ID_COLS or key.startswith("hydra") or key in ("experiment", "output_dir"):
            continue
        out[f"param.{key}"] = value
    return out


def merge_sweep(sweep_dir: Path) -> dict[str, pd.DataFrame]:
    """Merge the complete runs of a sweep into one dataset (Parquet, long form)."""
    sweep_dir = Path(sweep_dir)
    for stale in (sweep_dir / "runs").glob(".*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a killed job; never counted
    statuses = job_statuses(sweep_dir)
    runs, summaries, monthlies, accounts = [], [], [], []
    for st in statuses:
        row = {"run": st.get("run"), "status": st.get("status"), "error": st.get("error", "")}
        row.update(_override_params(st.get("overrides", [])))
        folder = sweep_dir / "runs" / str(st.get("run"))
        if st.get("status") == "complete" and (folder / "metadata.json").is_file():
            ids = _run_ids(folder)
            row.update(ids)
            extra = {k: v for k, v in row.items() if k.startswith("param.")}
            for name, bucket in (("summary", summaries), ("monthly", monthlies), ("accounts", accounts)):
                t = read_table(folder, name)
                if name == "monthly":
                    t = t[t["cluster"] == "all"]
                for col, val in {**ids, **extra}.items():
                    t.insert(0, col, val)
                bucket.append(t)
        elif st.get("status") == "complete":
            row["status"] = "missing"
        runs.append(row)
    merged = {
        "runs": pd.DataFrame(runs),
        "summary": pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame(),
        "monthly": pd.concat(monthlies, ignore_index=True) if monthlies else pd.DataFrame(),
        "accounts": pd.concat(accounts, ignore_index=True) if accounts else pd.DataFrame(),
    }
    for name, df in merged.items():
        write_parquet_atomic(df, sweep_dir / f"{name}.parquet")
    return merged


def read_sweep(sweep_dir: Path) -> dict[str, pd.DataFrame]:
    """Read a merged sweep dataset."""
    return {name: pd.read_parquet(Path(sweep_dir) / f"{name}.parquet") for name in MERGED}


def experiment_spec(sweep_dir: Path) -> dict[str, Any]:
    """The experiment's comparison spec saved beside the sweep (``experiment.yaml``)."""
    path = Path(sweep_dir) / "experiment.yaml"
    return yaml.safe_load(path.read_text()) if path.is_file() else {}


try:  # Hydra is a dependency; the callback only matters inside a Hydra multirun
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object  # type: ignore[misc,assignment]


class SweepCallback(Callback):
    """Hydra callback: record the comparison spec, then merge and report at the end.

    ``on_multirun_start`` and ``on_multirun_end`` run in the launching process, whatever
    the launcher (basic, joblib, Ray, submitit), so the merge sees every job's record.
    """

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """Write ``experiment.yaml`` (the comparison spec) into the sweep folder.

        A sensitivity sweep must cover exactly the rows of its design: otherwise one line
        names ``sensitivity.sample`` and the range allowed, and the sweep exits with status 2
        before any job runs.
        """
        import sys

        from omegaconf import OmegaConf

        sweep_dir = Path(config.hydra.sweep.dir)
        spec = OmegaConf.to_container(config.comparison, resolve=True)
        if config.sensitivity.method != "none":
            error = _check_design_sweep(config)
            if error:
                print(f"clustersim: error: {error}", file=sys.stderr)
                sys.exit(2)
            spec["sensitivity"] = OmegaConf.to_container(config.sensitivity, resolve=True)
            spec["sensitivity"].pop("sample", None)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        tmp = sweep_dir / f".experiment.yaml.tmp-{os.getpid()}"
        tmp.write_text(yaml.safe_dump(spec, sort_keys=False))
        os.replace(tmp, sweep_dir / "experiment.yaml")

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        """Merge the sweep's runs, build the report, print it; exit 1 if a run failed or no report could be formed."""
        import sys

        sweep_dir = Path(config.hydra.sweep.dir)
        if config.sensitivity.method != "none":
            from clustersim.sensitivity import build_sensitivity_report

            out = build_sensitivity_report(sweep_dir, merge=True)
            print(out["text"])
            print(f"\nsensitivity report: {out['folder'] / 'report.md'}")
            if len(out["failed"]):
                sys.exit(1)
        else:
            from clustersim.report import report_at_sweep_end

            status = report_at_sweep_end(sweep_dir)  # prints the report, or one line on why there is none
            if status:
                sys.exit(status)


def _swept_values(config: Any, key: str) -> list[str] | None:
    """The values a multirun sweeps ``key`` over (sweeper params, then command-line overrides)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    text = None
    params = config.hydra.sweeper.get("params") or {}
    if key in params:
        text = f"{key}={params[key]}"
    for o in config.hydra.overrides.task:
        if o.split("=", 1)[0].lstrip("+~") == key:
            text = o
    if text is None:
        return None
    override = OverridesParser.create().parse_override(text)
    if override.is_sweep_override():
        return [str(v) for v in override.sweep_iterator()]
    return [str(override.value())]


def _check_design_sweep(config: Any) -> str | None:
    """An error line unless ``sensitivity.sample`` is swept over exactly the design's rows."""
    from omegaconf import OmegaConf

    from clustersim.config import ConfigError
    from clustersim.sensitivity import check_sweep_samples

    plain = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
    try:
        cfg = to_config(plain)  # validates the design (row 0 of it) before anything runs
    except ConfigError as err:
        return str(err)
    values = _swept_values(config, "sensitivity.sample")
    if values is None:
        return (
            "sensitivity.sample: not swept; allowed: a sweep over the design's rows, e.g. sensitivity.sample=range(0,N)"
        )
    try:
        samples = [int(float(v)) for v in values]
    except ValueError:
        return f"sensitivity.sample: got {values[:3]}...; allowed: integers"
    return check_sweep_samples(cfg.sensitivity, samples)
