"""Run one simulation from a configuration and collect its tables."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from clustersim.config import Config
from clustersim.metrics import accounts_table, calls_table, summary
from clustersim.microdata import Sink, proposals_table
from clustersim.model import ClusterModel
from clustersim.results import metadata, run_name, write_run


@dataclass
class RunResult:
    """The tables of one run and where they were written."""

    tables: dict[str, pd.DataFrame]
    folder: Path
    written: bool


def simulate(cfg: Config, progress: bool = False, firm_sink: Sink | None = None) -> dict[str, pd.DataFrame]:
    """Run the model over the configured window and return its tables.

    With ``firm_sink`` the yearly firm snapshots go to it as they are made (a Parquet
    writer keeps the whole region's microdata out of memory) and ``firms`` is not returned.
    """
    model = ClusterModel(cfg)
    model.firm_recorder.sink = firm_sink
    model.run(progress=progress)
    for account in model.accounts():
        account.check()
    projects = pd.DataFrame(model.state.projects)
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
    tables = {
        "monthly": model.recorder.monthly_table(),
        "summary": summary(model.state, model.recorder),
        "accounts": accounts_table(model.accounts()),
        "projects": projects,
        "ties": model.state.ledger.to_frame(),
        "proposals": proposals_table(model.state),
        "calls": calls_table(model.state),
    }
    if firm_sink is None:
        tables["firms"] = model.firm_recorder.table()
    return tables


def run_and_save(cfg: Config, progress: bool = False) -> RunResult:
    """Run and write the run folder under ``cfg.output_dir`` (skipped if complete)."""
    folder = Path(cfg.output_dir) / run_name(cfg)
    if folder.exists():
        from clustersim.results import read_table

        return RunResult({"summary": read_table(folder, "summary")}, folder, written=False)
    t0 = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    firms_file = folder.parent / f".{folder.name}.firms-{os.getpid()}.parquet"
    try:
        with ParquetSink(firms_file) as sink:
            tables = simulate(cfg, progress=progress, firm_sink=sink)
        written = write_run(folder, tables, cfg, metadata(cfg, time.perf_counter() - t0), files={"firms": firms_file})
    finally:
        firms_file.unlink(missing_ok=True)
    return RunResult(tables, folder, written)


class ParquetSink:
    """Writes record batches to one Parquet file as they come (one row group each)."""

    def __init__(self, path: Path) -> None:
        """Open nothing yet: the schema is that of the first batch."""
        self.path = path
        self._writer: pq.ParquetWriter | None = None

    def __call__(self, batch: pa.RecordBatch) -> None:
        """Write one batch."""
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, batch.schema, compression="zstd")
        self._writer.write_batch(batch)

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
