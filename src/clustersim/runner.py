"""Run one simulation from a configuration and collect its tables."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from clustersim.config import Config
from clustersim.metrics import accounts_table, summary
from clustersim.model import ClusterModel
from clustersim.results import metadata, run_name, write_run


@dataclass
class RunResult:
    """The tables of one run and where they were written."""

    tables: dict[str, pd.DataFrame]
    folder: Path
    written: bool


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
        "summary": summary(model),
        "accounts": accounts_table(model),
        "projects": projects,
        "ties": model.ledger.to_frame(),
    }


def run_and_save(cfg: Config, progress: bool = False) -> RunResult:
    """Run and write the run folder under ``cfg.output_dir`` (skipped if complete)."""
    folder = Path(cfg.output_dir) / run_name(cfg)
    if folder.exists():
        from clustersim.results import read_table

        return RunResult({"summary": read_table(folder, "summary")}, folder, written=False)
    t0 = time.perf_counter()
    tables = simulate(cfg, progress=progress)
    written = write_run(folder, tables, cfg, metadata(cfg, time.perf_counter() - t0))
    return RunResult(tables, folder, written)
