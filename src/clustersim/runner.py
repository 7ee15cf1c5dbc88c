"""Run one simulation from a configuration and collect its tables.

:func:`prepare` gives the configuration a job runs (a sensitivity design row applied),
:func:`simulate` runs it, :func:`run_and_save` writes its folder once: under the run's
claim (:func:`clustersim.store.claim`), so that two processes asking for the same run
compute it once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from clustersim import atomic
from clustersim.arrowtables import RunTables, categorical, either, frame_table, plain, text
from clustersim.config import Config, validate
from clustersim.kpis import undefined_note
from clustersim.metrics import accounts_arrow, accounts_table, calls_arrow, calls_table, summary_arrow
from clustersim.microdata import Sink, proposals_arrow, proposals_table
from clustersim.model import ClusterModel
from clustersim.network import ORIGINS, TIE_KINDS
from clustersim.results import config_hash, is_complete, metadata, read_table, run_name, write_run


@dataclass
class RunResult:
    """The tables of one run and where they were written."""

    tables: Mapping[str, pd.DataFrame]  # a run computed here: RunTables (DataFrames made when asked for)
    folder: Path
    written: bool
    arrow: dict[str, Any] = field(default_factory=dict)  # the tables as written (a run computed here)


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


PROJECT_COLUMNS = {
    "call": "str",
    "line": "str",
    "month": "int64",
    "lead": "int64",
    "n_firms": "int64",
    "research_org": "int64",
    "duration_months": "int64",
    "cost_cents": "int64",
    "grant_cents": "int64",
    "quality": "float64",
    "prescreened": "bool",
    "in_report_window": "bool",
}


def projects_table(projects: list[dict[str, Any]]) -> pd.DataFrame:
    """The funded projects, one row each (with their columns and dtypes when there is none)."""
    table = pd.DataFrame(projects)
    if table.empty:
        table = pd.DataFrame({c: pd.Series(dtype=t) for c, t in PROJECT_COLUMNS.items()})
    return table


def projects_arrow(projects: list[dict[str, Any]]) -> pa.Table | None:
    """:func:`projects_table` as the Arrow table ``from_pandas`` makes of it (None for a shape it does not cover).

    Covered: every project with the keys of :data:`PROJECT_COLUMNS` in that order, each
    value of the type pandas infers the column's dtype from.
    """
    names = tuple(PROJECT_COLUMNS)
    if not projects or not all(tuple(p) == names for p in projects):
        return None
    columns = {}
    for name, kind in PROJECT_COLUMNS.items():
        values = [p[name] for p in projects]
        if kind == "str":
            column = text(values) if all(type(v) is str for v in values) else None
        else:
            column = plain(values, kind)
        if column is None:
            return None
        columns[name] = column
    return frame_table(columns)


def ties_arrow(columns: dict[str, np.ndarray]) -> pa.Table:
    """The tie ledger's table (``TieLedger.to_frame``) as ``from_pandas`` converts it, from its columns."""
    table = dict(columns)
    table["kind"] = categorical(columns["kind"], list(TIE_KINDS))
    table["origin"] = categorical(columns["origin"], list(ORIGINS))
    return frame_table(table)


def simulate(cfg: Config, progress: bool = False, firm_sink: Sink | None = None) -> RunTables:
    """Run the model over the configured window and return its tables (DataFrames, made when asked for).

    With ``firm_sink`` the yearly firm snapshots go to it as they are made (a Parquet
    writer keeps the whole region's microdata out of memory) and ``firms`` is not returned.
    The tables are built as Arrow tables (:mod:`clustersim.arrowtables`): a run written to
    its folder is never converted to pandas.
    """
    model = ClusterModel(cfg)
    model.firm_recorder.sink = firm_sink
    model.run(progress=progress)
    accounts = model.accounts()
    for account in accounts:
        account.check()
    state = model.state
    ties = state.ledger.table_columns()
    frames: dict[str, pd.DataFrame] = {}  # the DataFrames already made (by a pandas builder)
    tables = {
        "monthly": either(model.recorder.monthly_arrow, model.recorder.monthly_table, frames, "monthly"),
        "summary": summary_arrow(state, model.recorder, ties),
        "accounts": either(lambda: accounts_arrow(accounts), lambda: accounts_table(accounts), frames, "accounts"),
        "projects": either(
            lambda: projects_arrow(state.projects), lambda: projects_table(state.projects), frames, "projects"
        ),
        "ties": ties_arrow(ties),
        "proposals": either(lambda: proposals_arrow(state), lambda: proposals_table(state), frames, "proposals"),
        "calls": either(lambda: calls_arrow(state), lambda: calls_table(state), frames, "calls"),
    }
    if firm_sink is None:
        tables["firms"] = model.firm_recorder.arrow()
    return RunTables(tables, frames)


def run_and_save(cfg: Config, progress: bool = False, firm_ids: dict[str, Any] | None = None) -> RunResult:
    """Run and write the run folder under ``cfg.output_dir``, unless it is complete (then read it).

    The run is computed under its claim: a second process asking for it meanwhile waits,
    then reads the folder the first one wrote. ``firm_ids`` (a sweep's run) are identity
    columns appended to the firm microdata (:func:`clustersim.store.with_ids`), so that the
    run's ``firms.parquet`` is also its part of the sweep's dataset, written once. With
    ``microdata=false`` no ``firms.parquet`` is written (the other tables are the same).
    """
    from clustersim.store import claim

    cfg = prepare(cfg)
    digest = config_hash(cfg)
    folder = Path(cfg.output_dir) / run_name(cfg, digest)
    if is_complete(folder):
        return RunResult({"summary": read_table(folder, "summary")}, folder, written=False)
    with claim(folder):
        if is_complete(folder):
            return RunResult({"summary": read_table(folder, "summary")}, folder, written=False)
        t0 = time.perf_counter()
        firms_file = atomic.temp_path(folder)  # the firm microdata, streamed (the run's claim covers it)
        try:
            if cfg.microdata:
                with ParquetSink(firms_file, firm_ids) as sink:
                    tables = simulate(cfg, progress=progress, firm_sink=sink)
            else:  # the snapshots are made as always (the same state), then dropped
                tables = simulate(cfg, progress=progress, firm_sink=_discard)
            meta = metadata(cfg, time.perf_counter() - t0, digest)
            arrow: dict[str, Any] = {}
            files = {"firms": firms_file} if cfg.microdata else {}
            written = write_run(folder, tables.arrow, cfg, meta, files=files, converted=arrow)
        finally:
            firms_file.unlink(missing_ok=True)
    return RunResult(tables, folder, written, arrow)


def _discard(batch: pa.RecordBatch) -> None:
    """The firm sink of a run without microdata (``microdata=false``)."""


class ParquetSink:
    """Writes record batches to one Parquet file as they come, with ``ids`` appended.

    Batches are gathered until at least ``row_group_rows`` rows wait, then written as one
    row group: a Piedmont run's 147,000 firm-years go in one row group instead of twelve
    (fewer pages, statistics and dictionaries: about a fifth less time and a quarter less
    disk), while a yearly batch of the whole region (428,457 rows) is written at once, as
    before, so memory stays bounded.
    """

    def __init__(self, path: Path, ids: dict[str, Any] | None = None, row_group_rows: int = 1 << 18) -> None:
        """Open nothing yet: the schema is that of the first batch."""
        self.path = path
        self.ids = ids
        self.row_group_rows = row_group_rows
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._id_columns: dict[tuple[str, int], Any] = {}  # the constant columns, shared by batches of one length

    def __call__(self, batch: pa.RecordBatch) -> None:
        """Take one batch; write a row group when enough rows are waiting."""
        if self.ids:
            from clustersim.store import with_ids

            batch = with_ids(batch, self.ids, self._id_columns)
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(
                self.path, table.schema, compression="zstd", **atomic.parquet_options(table.schema)
            )
        self._writer.write_table(table, row_group_size=max(self.row_group_rows, table.num_rows))
        self._pending, self._pending_rows = [], 0

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc and exc[0] is None:
            self._flush()
        if self._writer is not None:
            self._writer.close()
