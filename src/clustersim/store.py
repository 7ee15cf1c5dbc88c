"""The store of runs and sweeps on disk: claims, job records, the merge, reading it back.

Layout of a sweep folder (``hydra.sweep.dir``)::

    runs/<run name>/...          one complete run folder per configuration (atomic)
    runs/.locks/<run name>.lock  the run's claim (a lock held while the run is computed)
    jobs/<run name>.json         the job's record: running, complete or failed (with its error)
    summary.parquet, monthly.parquet, accounts.parquet, runs.parquet   the merged dataset
    .locks/merge.lock            held while the folder is merged and reported

**Claims.** A run is computed only by the process that holds its claim, an exclusive
``flock`` on ``runs/.locks/<run>.lock``; the operating system releases it when the process
ends, however it ends (even SIGKILL). A second sweep (or a second command) that needs the
same run waits for the claim, then finds the run complete and reuses it, so two sweeps on
one folder compute each run once. ``flock`` works across machines on NFS (Linux emulates
it with POSIX locks); on a file system without locks, give each sweep its own folder.

**Merging while a sweep runs.** The merge only removes a temporary folder or file whose
writer is gone (the run's claim is free), counts a run whose job still holds its claim as
in progress (left out of the merged tables, not counted as failed), and reports a record
left ``running`` by a job that was killed as ``interrupted``.

This module never imports Hydra; the Hydra callback (:mod:`clustersim.sweep`) imports it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from clustersim import atomic
from clustersim.confdir import safe_load

if TYPE_CHECKING:  # pandas is imported where a table is made or read: a sweep starts without it
    import pandas as pd

logger = logging.getLogger(__name__)

ID_COLS = ("run", "clusters", "funding", "staffing", "population", "behaviour", "seed", "replication")
MERGED = ("summary", "monthly", "accounts", "runs")
# Tables merged as a dataset partitioned by run (dataset/<table>/run=<run>/part-0.parquet),
# streamed one run at a time: queryable by pyarrow, DuckDB and polars without loading all.
DATASET = ("summary", "monthly", "accounts", "calls", "proposals", "firms")
LOCKS = ".locks"
FAILED_STATUSES = ("failed", "missing", "interrupted", "unreadable")

_held: dict[str, int] = {}  # lock files this process holds, with a count (claims are re-entrant)
_held_guard = threading.Lock()


# ------------------------------------------------------------------------------- claims
def _lock_file(folder: Path) -> Path:
    return folder.parent / LOCKS / f"{folder.name}.lock"


@contextmanager
def _flock(path: Path, wait: bool) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created if needed); yield False if busy and ``wait`` is False."""
    key = os.path.abspath(path)
    with _held_guard:
        if _held.get(key):
            _held[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield True
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                yield False
                return
            raise
        with _held_guard:
            _held[key] = 1
        try:
            yield True
        finally:
            with _held_guard:
                _held.pop(key, None)
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def claim(folder: Path | str, wait: bool = True) -> Iterator[bool]:
    """Hold the claim on run folder ``folder`` (yields True); without ``wait``, False if someone else holds it.

    Re-entrant within one process. The claim is released when the block ends or the process dies.
    """
    with _flock(_lock_file(Path(folder)), wait) as got:
        yield got


def is_claimed(folder: Path | str) -> bool:
    """True if another process holds the claim on ``folder`` now (a run being computed)."""
    lock = _lock_file(Path(folder))
    if not lock.exists():
        return False
    try:
        with _flock(lock, wait=False) as got:
            return not got
    except OSError:  # cannot even open the lock file (read-only folder): nobody could claim it either
        return False


@contextmanager
def merge_lock(sweep_dir: Path | str) -> Iterator[None]:
    """Hold the sweep folder's merge lock: one merge or report at a time (re-entrant)."""
    with _flock(Path(sweep_dir) / LOCKS / "merge.lock", wait=True):
        yield


# -------------------------------------------------------------------------- job records
def record_path(sweep_dir: Path | str, run: str) -> Path:
    """Where the record of run ``run`` is kept."""
    return Path(sweep_dir) / "jobs" / f"{run}.json"


def write_record(sweep_dir: Path | str, run: str, status: dict[str, Any]) -> Path:
    """Write a job's record atomically."""
    return atomic.write_json(record_path(sweep_dir, run), status)


def job_statuses(sweep_dir: Path | str) -> list[dict[str, Any]]:
    """Records of a sweep's jobs, sorted by run name (an unreadable record is reported as such)."""
    out = []
    for path in sorted((Path(sweep_dir) / "jobs").glob("*.json")):
        try:
            record = json.loads(path.read_text())
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as err:
            record = {"run": path.stem, "status": "unreadable", "error": f"{path}: {err}"}
        record.setdefault("run", path.stem)
        out.append(record)
    return out


def remove_stale(sweep_dir: Path | str) -> int:
    """Remove temporary folders and files whose writer is gone; return how many were removed.

    A run folder or a job record being written belongs to the run's claim: it is removed only
    when the claim is free (taken here, without waiting, for the time of the removal). The
    merged tables' temporaries belong to the merge lock, which the caller holds.
    """
    sweep_dir = Path(sweep_dir)
    runs = sweep_dir / "runs"
    removed = 0
    for parent, strip in ((runs, ""), (sweep_dir / "jobs", ".json")):
        if not parent.is_dir():
            continue
        for tmp in parent.iterdir():
            if not atomic.is_temp(tmp):
                continue
            run = atomic.final_name(tmp).removesuffix(strip)
            try:
                with claim(runs / run, wait=False) as free:
                    if free and tmp.exists():
                        atomic._remove(tmp)
                        removed += 1
            except OSError:  # the lock cannot be created (read-only folder): leave it
                continue
    for tmp in sweep_dir.glob(f".*{atomic.TEMP_MARK}*"):
        atomic._remove(tmp)
        removed += 1
    return removed


# ------------------------------------------------------------------------------- merge
def _run_ids(folder: Path) -> dict[str, Any]:
    meta = json.loads((folder / "metadata.json").read_text())
    ids = {"run": folder.name, **meta["scenario"], "seed": meta["seed"], "replication": meta.get("replication", 0)}
    ids.pop("region", None)
    return ids


def override_params(overrides: list[str]) -> dict[str, str]:
    """Swept keys other than the id columns, as ``param.<key>`` columns."""
    out = {}
    for o in overrides:
        key, _, value = o.lstrip("+~").partition("=")
        if key in ID_COLS or key.startswith("hydra") or key in ("experiment", "output_dir"):
            continue
        out[f"param.{key}"] = value
    return out


class SweepTables(dict):
    """The merged tables of a sweep: ``runs`` in memory, the others read from their files when first asked for.

    So that a merge of many runs never holds the monthly table (tens of millions of rows
    for a large sweep) unless a caller asks for it; :func:`read_monthly` reads only part of it.
    """

    def __init__(self, sweep_dir: Path, runs: pd.DataFrame) -> None:
        """The tables of ``sweep_dir``, with ``runs`` already known."""
        super().__init__(runs=runs)
        self.sweep_dir = Path(sweep_dir)

    def __missing__(self, name: str) -> pd.DataFrame:
        import pandas as pd

        if name not in MERGED:
            raise KeyError(name)
        table = pd.read_parquet(self.sweep_dir / f"{name}.parquet")
        self[name] = table
        return table


MERGE_ROWS = 1 << 19  # rows buffered before a row group of a merged table is written


class _StreamedTable:
    """One merged table written run by run (a Parquet writer under a temporary name)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = atomic.temp_path(path)
        self.writer: Any = None
        self.buffer: list[Any] = []
        self.rows = 0

    def add(self, table: Any) -> None:
        self.buffer.append(table)
        self.rows += table.num_rows
        if self.rows >= MERGE_ROWS:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.buffer:
            return
        data = pa.concat_tables(self.buffer, promote_options="permissive")
        self.buffer, self.rows = [], 0
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, data.schema, compression="zstd")
        elif data.schema != self.writer.schema:
            data = data.cast(self.writer.schema)
        self.writer.write_table(data, row_group_size=MERGE_ROWS)

    def close(self) -> None:
        import pandas as pd

        self.flush()
        if self.writer is None:  # no complete run: an empty table, as before
            atomic.write_parquet(pd.DataFrame(), self.path)
            return
        self.writer.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.tmp.unlink(missing_ok=True)


def _merged_ids(ids: dict[str, Any], params: list[str], extra: dict[str, str], n: int) -> list[tuple[str, Any]]:
    """The identity columns of one run's rows in a merged table, in their order: the swept keys, then the ids, reversed.

    (The order ``DataFrame.insert(0, ...)`` of the ids then the swept keys left them in.)
    """
    import pyarrow as pa

    cols = []
    for key in reversed(params):  # as DataFrame.insert(0, ...) of ids then params left them
        value = extra.get(key)
        cols.append((key, pa.nulls(n, pa.string()) if value is None else pa.repeat(pa.scalar(value, pa.string()), n)))
    for key in reversed(list(ids)):
        value = ids[key]
        typ = pa.int64() if isinstance(value, int) and not isinstance(value, bool) else pa.string()
        cols.append((key, pa.repeat(pa.scalar(value, typ), n)))
    return cols


def merge_sweep(sweep_dir: Path | str) -> dict[str, pd.DataFrame]:
    """Merge the complete runs of a sweep into one dataset (Parquet, long form) and return it.

    Holds the merge lock; runs whose job is still computing them are left out (and logged),
    a record left ``running`` by a killed job is ``interrupted``. The merged tables
    (``summary``, ``monthly`` (whole-region rows), ``accounts``) are written one run at a
    time through a Parquet writer, so the merge's memory does not grow with the sweep; the
    returned mapping holds ``runs`` and reads the others from their files when asked.
    """
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    sweep_dir = Path(sweep_dir)
    with merge_lock(sweep_dir):
        remove_stale(sweep_dir)
        statuses = job_statuses(sweep_dir)
        params: list[str] = []
        for st in statuses:
            for key in override_params(st.get("overrides", [])):
                if key not in params:
                    params.append(key)
        streams = {name: _StreamedTable(sweep_dir / f"{name}.parquet") for name in ("summary", "monthly", "accounts")}
        runs = []
        in_progress = 0
        try:
            for st in statuses:
                row = {"run": st.get("run"), "status": st.get("status"), "error": st.get("error", "")}
                row.update(override_params(st.get("overrides", [])))
                folder = sweep_dir / "runs" / str(st.get("run"))
                if st.get("status") == "running":
                    if is_claimed(folder):
                        in_progress += 1
                        continue
                    row.update(status="interrupted", error="the job ended before the run was complete (killed?)")
                if st.get("status") == "complete" and (folder / "metadata.json").is_file():
                    ids = _run_ids(folder)
                    row.update(ids)
                    extra = {k: v for k, v in row.items() if k.startswith("param.")}
                    for name, stream in streams.items():
                        t = pq.ParquetFile(folder / f"{name}.parquet").read()  # read_table's dataset costs more
                        if name == "monthly":
                            t = t.filter(pc.equal(t["cluster"], "all"))
                        for i, (col, values) in enumerate(_merged_ids(ids, params, extra, t.num_rows)):
                            t = t.add_column(i, col, values)
                        stream.add(t.replace_schema_metadata(None))
                elif st.get("status") == "complete":
                    row.update(status="missing", error=f"the record says complete but {folder} is not there")
                runs.append(row)
            for stream in streams.values():
                stream.close()
        except BaseException:
            for stream in streams.values():
                stream.discard()
            raise
        if in_progress:
            logger.warning("%s: %d run(s) being computed by a running job, not merged yet", sweep_dir, in_progress)
        runs_df = pd.DataFrame(runs)
        atomic.write_parquet(runs_df, sweep_dir / "runs.parquet")
        merge_dataset(sweep_dir, runs_df)
    return SweepTables(sweep_dir, runs_df)


def _const(value: Any, n: int) -> Any:
    """A column of ``n`` copies of ``value``: dictionary-encoded for text (one value stored), int64 for integers."""
    import numpy as np
    import pyarrow as pa

    if isinstance(value, str):
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value]))
    return pa.repeat(pa.scalar(value), n)


def dataset_ids(experiment: str, run: str, meta: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The identity columns of a run's rows in the dataset (``run`` itself is the partition)."""
    scenario = {k: v for k, v in sorted(meta.get("scenario", {}).items()) if k != "region"}
    ids: dict[str, Any] = {"experiment": experiment, **scenario, "seed": meta["seed"]}
    ids["replication"] = meta.get("replication", 0)
    ids["config_hash"] = meta.get("config_hash", "")
    ids.update({k: str(v) for k, v in sorted(params.items()) if k.startswith("param.") and isinstance(v, str)})
    return ids


def with_ids(data: Any, ids: dict[str, Any], cache: dict[tuple[str, int], Any] | None = None) -> Any:
    """An Arrow table or record batch with the identity columns appended (those it lacks).

    ``cache``: constant columns made before, by column and length (Arrow arrays are
    immutable: a run's yearly batches of the same firms share them).
    """
    import pyarrow as pa

    names = list(data.schema.names)
    arrays = [data.column(i) for i in range(len(names))]
    for col, val in ids.items():
        if col != "run" and col not in names:
            names.append(col)
            column = cache.get((col, data.num_rows)) if cache is not None else None
            if column is None:
                column = _const(val, data.num_rows)
                if cache is not None:
                    cache[(col, data.num_rows)] = column
            arrays.append(column)
    if isinstance(data, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(arrays, names=names)
    return pa.Table.from_arrays(arrays, names=names)


def dataset_path(sweep_dir: Path | str, table: str, run: str) -> Path:
    """Where run ``run``'s rows of ``table`` are in the dataset."""
    return Path(sweep_dir) / "dataset" / table / f"run={run}" / "part-0.parquet"


def link_dataset_firms(sweep_dir: Path | str, run: str, source: Path, ids: dict[str, Any]) -> bool:
    """Put a run's firm microdata into the dataset (unless there); return whether written.

    A run folder's ``firms.parquet`` that already holds the identity columns (a sweep's
    run) becomes the part itself, by a hard link (one copy on disk; a copy where the
    filesystem refuses links); an older file without them is written again with them.
    """
    import pyarrow.parquet as pq

    target = dataset_path(sweep_dir, "firms", run)
    if target.is_file():
        return False
    names = set(pq.read_schema(source).names)
    if not all(col in names for col in ids if col != "run"):
        return write_dataset_table(sweep_dir, "firms", run, pq.ParquetFile(source).read(), ids)

    def link(tmp: Path) -> None:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)

    atomic.write_with(target, link)
    return True


def write_dataset_table(sweep_dir: Path | str, table: str, run: str, data: Any, ids: dict[str, Any]) -> bool:
    """Write one run's ``table`` into the dataset (atomically) unless it is there; return whether written."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = dataset_path(sweep_dir, table, run)
    if target.is_file():
        return False
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False, nthreads=1)
    data = with_ids(data, ids)
    options = atomic.parquet_options(data.schema)
    atomic.write_with(target, lambda tmp: pq.write_table(data, tmp, compression="zstd", **options))
    return True


def merge_dataset(sweep_dir: Path | str, runs: pd.DataFrame) -> int:
    """Write each complete run's tables into ``dataset/<table>/run=<run>/part-0.parquet``; return runs added.

    Every row carries the run's identity as columns (``experiment``, ``run``, ``clusters``,
    ``funding``, ``staffing``, ``population``, ``behaviour``, ``seed``, ``replication``,
    ``config_hash`` and the swept ``param.*`` keys; text columns dictionary-encoded). A
    sweep's jobs write their runs' parts as they finish (:func:`clustersim.sweep.run_job`);
    the merge writes only what is missing (a run reused from an earlier sweep, a job killed
    in between). One run is read at a time and a run already in the dataset is not written
    again, so the merge's memory does not grow with the sweep. Read it with
    ``pyarrow.dataset.dataset(path, partitioning="hive")``,
    ``duckdb.sql("select ... from 'dataset/firms/*/*.parquet'")`` or
    ``polars.scan_parquet("dataset/firms/*/*.parquet")``.
    """
    import pyarrow.parquet as pq

    sweep_dir = Path(sweep_dir)
    if runs.empty or "status" not in runs.columns:
        return 0
    experiment = str(experiment_spec(sweep_dir).get("name", sweep_dir.name))
    added = 0
    for row in runs[runs["status"] == "complete"].to_dict("records"):
        run = str(row["run"])
        folder = sweep_dir / "runs" / run
        todo = [
            t for t in DATASET if not dataset_path(sweep_dir, t, run).is_file() and (folder / f"{t}.parquet").is_file()
        ]  # a run written with microdata=false has no firms table
        if not todo:
            continue
        meta = json.loads((folder / "metadata.json").read_text())
        ids = dataset_ids(experiment, run, meta, row)
        wrote = False
        for table in todo:
            source = folder / f"{table}.parquet"
            if source.is_file() and table == "firms":
                wrote |= link_dataset_firms(sweep_dir, run, source, ids)
            elif source.is_file():
                wrote |= write_dataset_table(sweep_dir, table, run, pq.ParquetFile(source).read(), ids)
        added += wrote
    return added


def read_sweep(sweep_dir: Path | str) -> dict[str, pd.DataFrame]:
    """Read a merged sweep dataset (``monthly`` is read only when asked for: see :func:`read_monthly`)."""
    import pandas as pd

    sweep_dir = Path(sweep_dir)
    return SweepTables(sweep_dir, pd.read_parquet(sweep_dir / "runs.parquet"))


def read_monthly(
    sweep_dir: Path | str, kpis: list[str] | tuple[str, ...] | None = None, columns: list[str] | None = None
) -> pd.DataFrame:
    """The merged monthly table; only the rows of ``kpis`` and only ``columns`` (those present) when given.

    Read batch by batch, keeping only the rows asked for, with every text column but
    ``date`` as a category: a large sweep's report reads the few series it draws (about an
    eighth of the table) without ever holding the whole table.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = Path(sweep_dir) / "monthly.parquet"
    if kpis is None and columns is None:
        return pd.read_parquet(path)
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    if "kpi" not in names:  # an empty merge
        return pd.read_parquet(path)
    keep = [c for c in (columns or names) if c in names]
    read = keep if "kpi" in keep or kpis is None else [*keep, "kpi"]
    wanted = pa.array(list(kpis)) if kpis is not None else None
    parts = []
    for batch in pf.iter_batches(batch_size=1 << 16, columns=read):
        if wanted is not None:
            batch = batch.filter(pc.is_in(batch.column("kpi"), value_set=wanted))
        arrays = []
        for name in keep:
            col = batch.column(name)
            if name == "date":  # compared with dates as text by the report: plain text, short offsets
                col = col.cast(pa.string())
            elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                col = pc.dictionary_encode(col)  # a run's name repeated on every row: stored once
            arrays.append(col)
        parts.append(pa.RecordBatch.from_arrays(arrays, names=keep))
    if not parts:
        return pd.read_parquet(path, columns=keep).iloc[0:0]
    table = pa.Table.from_batches(parts)
    del parts
    return table.to_pandas(self_destruct=True)


def failed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``runs.parquet`` that did not end in a complete run."""
    if runs.empty or "status" not in runs.columns:
        return runs
    return runs[runs["status"].isin(FAILED_STATUSES) | ~runs["status"].isin(("complete", *FAILED_STATUSES))]


def experiment_spec(sweep_dir: Path | str) -> dict[str, Any]:
    """The experiment's comparison spec saved beside the sweep (``experiment.yaml``)."""
    path = Path(sweep_dir) / "experiment.yaml"
    return safe_load(path.read_text()) if path.is_file() else {}


def write_experiment_spec(sweep_dir: Path | str, spec: dict[str, Any]) -> Path:
    """Save the comparison spec beside the sweep (under the merge lock)."""
    with merge_lock(sweep_dir):
        return atomic.write_text(Path(sweep_dir) / "experiment.yaml", yaml.safe_dump(spec, sort_keys=False))


def runs_in_progress(sweep_dir: Path | str) -> int:
    """Runs whose record says ``running`` and whose claim a live job holds."""
    sweep_dir = Path(sweep_dir)
    return sum(
        1
        for st in job_statuses(sweep_dir)
        if st.get("status") == "running" and is_claimed(sweep_dir / "runs" / str(st.get("run")))
    )
