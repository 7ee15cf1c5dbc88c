"""Run one simulation from a configuration and collect its tables.

:func:`prepare` gives the configuration a job runs (a sensitivity design row applied),
:func:`simulate` runs it, :func:`run_and_save` writes its folder once: under the run's
claim (:func:`clustersim.store.claim`), so that two processes asking for the same run
compute it once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clustersim.config import Config, validate
from clustersim.kpis import undefined_note
from clustersim.metrics import accounts_table, summary
from clustersim.model import ClusterModel
from clustersim.results import is_complete, metadata, read_table, run_name, write_run


@dataclass
class RunResult:
    """The tables of one run and where they were written."""

    tables: dict[str, pd.DataFrame]
    folder: Path
    written: bool


def prepare(cfg: Config) -> Config:
    """The configuration a job runs: with its sensitivity design row's values set (a copy), else ``cfg``.

    Loading a configuration checks a design but does not apply it; the job that runs a row
    applies it here, so the run folder's name and config hash hold the values it used.
    Idempotent.
    """
    if cfg.sensitivity.method == "none":
        return cfg
    from clustersim.sensitivity import apply_sample

    return validate(apply_sample(cfg))


def mark_undefined(summary_table: pd.DataFrame) -> pd.DataFrame:
    """Add the ``note`` column: ``not defined: <reason>`` where a KPI has no value (NaN), else ''."""
    out = summary_table.copy()
    missing = ~np.isfinite(out["value"].to_numpy(dtype=float))
    out["note"] = [undefined_note(k) if m else "" for k, m in zip(out["kpi"], missing, strict=True)]
    return out


def simulate(cfg: Config, progress: bool = False) -> dict[str, pd.DataFrame]:
    """Run the model over the configured window and return its tables."""
    model = ClusterModel(cfg)
    model.run(progress=progress)
    for account in model.accounts():
        account.check()
    projects = pd.DataFrame(model.projects)
    if projects.empty:
        projects = pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in (
                    ("call", "str"),
                    ("line", "str"),
                    ("month", "int64"),
                    ("lead", "int64"),
                    ("n_firms", "int64"),
                    ("research_org", "int64"),
                    ("duration_months", "int64"),
                    ("cost_cents", "int64"),
                    ("grant_cents", "int64"),
                    ("quality", "float64"),
                    ("prescreened", "bool"),
                    ("in_report_window", "bool"),
                )
            }
        )
    return {
        "monthly": model.recorder.monthly_table(),
        "summary": mark_undefined(summary(model)),
        "accounts": accounts_table(model),
        "projects": projects,
        "ties": model.ledger.to_frame(),
    }


def run_and_save(cfg: Config, progress: bool = False) -> RunResult:
    """Run and write the run folder under ``cfg.output_dir``, unless it is complete (then read it).

    The run is computed under its claim: a second process asking for it meanwhile waits,
    then reads the folder the first one wrote.
    """
    from clustersim.store import claim

    cfg = prepare(cfg)
    folder = Path(cfg.output_dir) / run_name(cfg)
    if is_complete(folder):
        return RunResult({"summary": read_table(folder, "summary")}, folder, written=False)
    with claim(folder):
        if is_complete(folder):
            return RunResult({"summary": read_table(folder, "summary")}, folder, written=False)
        t0 = time.perf_counter()
        tables = simulate(cfg, progress=progress)
        written = write_run(folder, tables, cfg, metadata(cfg, time.perf_counter() - t0))
    return RunResult(tables, folder, written)
