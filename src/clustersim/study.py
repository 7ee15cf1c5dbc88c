"""What the studies that run the model many times share: calibration and validation.

A study reads a typed specification from a plain YAML file under ``conf/`` (an OmegaConf
structured config: :func:`read_spec`), runs scenarios (Hydra overrides, :class:`Scenario`)
over replications (replication ``r`` of every scenario is child ``r`` of
``SeedSequence(seed)``: :func:`scenario_config`), measures each run from its
:class:`RunRecord` (:func:`run_record`), in this process or over a pool of processes
(:func:`pool`, :func:`run_all`), and summarises each measure by its mean and 95% t
interval (:func:`interval`, on :mod:`clustersim.stats`). Its command line reports bad
input in one line with exit status 2 (:class:`Parser`, :func:`command`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import logging
import multiprocessing
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clustersim import stats
from clustersim.confdir import safe_load
from clustersim.config import Config, config_dir, load_config, set_key, validate
from clustersim.errors import SpecError
from clustersim.months import month_index, parse_month


# --------------------------------------------------------------------- specifications
@dataclass
class Scenario:
    """A model configuration under which a study runs: Hydra overrides on the default one."""

    description: str = ""
    overrides: list[str] = field(default_factory=list)


def words(text: str) -> str:
    """Text with its whitespace collapsed (YAML's folded blocks keep line ends)."""
    return " ".join(str(text).split())


def spec_path(path: str | Path | None, default: str) -> Path:
    """The specification file: ``path``, or ``default`` in the packaged ``conf/`` folder."""
    return Path(path) if path is not None else Path(config_dir()) / default


def read_spec[T](schema: type[T], path: str | Path) -> T:
    """Read a YAML specification into the structured config ``schema`` (:func:`spec_from_data`).

    Raises:
        SpecError: the file is not YAML, or an entry is unknown, of the wrong type or out of
            range (naming it). OSError: the file cannot be read.
    """
    import yaml

    try:
        data = safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise SpecError(str(path), f"not a YAML file ({str(err).splitlines()[0]})") from None
    return spec_from_data(schema, data, str(path))


def spec_from_data[T](schema: type[T], data: Any, path: str = "") -> T:
    """Build the dataclass ``schema`` from plain data through OmegaConf, and check it.

    OmegaConf checks the keys and types (``OmegaConf.structured``); the schema's ``check()``
    method, when it has one, checks ranges and the rules that involve several entries. A
    ``path`` field, when the schema has one, records where the data came from.

    Raises:
        SpecError: naming the first bad entry by its dotted key.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(data, Mapping):
        raise SpecError(path or "spec", f"got {type(data).__name__}; allowed: a mapping of the specification's keys")
    try:
        spec = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), dict(data)))
    except OmegaConfBaseException as exc:
        raise _omegaconf_error(schema, exc) from None
    if path and any(f.name == "path" for f in dataclasses.fields(spec)):
        spec.path = path
    check = getattr(spec, "check", None)
    if check is not None:
        check()
    return spec


def _omegaconf_error(schema: type, exc: Exception) -> SpecError:
    key = str(getattr(exc, "full_key", "") or "spec")
    first = (str(getattr(exc, "msg", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
    if type(exc).__name__ == "MissingMandatoryValue":
        return SpecError(key, "missing; allowed: a value")
    if first.startswith("Key '") and " not in " in first:
        return SpecError(key, "no such key; allowed: the keys of the specification (see the packaged file)")
    if "is not Optional" in first:
        return SpecError(key, "got null; allowed: a value")
    return SpecError(key, first)


def check_month(value: str, key: str) -> int:
    """Month index of a ``YYYY-MM`` entry of a specification; SpecError naming ``key`` otherwise."""
    if parse_month(value) is None:
        raise SpecError(key, f"got {value!r}; allowed: a month written YYYY-MM")
    return month_index(value)


# ------------------------------------------------------------------------ the runs
@functools.lru_cache(maxsize=16)
def _base_config(overrides: tuple[str, ...]) -> Config:
    """Compose a scenario's configuration once (Hydra composition is the slow part)."""
    return load_config(list(overrides))


def scenario_config(
    overrides: Sequence[str], seed: int, replication: int, params: Mapping[str, float] | None = None
) -> Config:
    """The validated configuration of one run: a scenario's overrides, parameter values, seed and replication.

    Replication ``r`` is child ``r`` of ``SeedSequence(seed)`` (the model's own seeding), so
    every scenario and parameter vector of a study meets the same draws (common random
    numbers). The cached composition is never modified.
    """
    cfg = copy.deepcopy(_base_config(tuple(overrides)))
    for key, value in (params or {}).items():
        set_key(cfg, key, value)
    cfg.seed = int(seed)
    cfg.replication = int(replication)
    cfg.progress = False
    return validate(cfg)


@dataclass
class Snapshot:
    """Membership at the end of one month: the cluster index of each firm (-1: none) and the clusters' keys."""

    member_of: np.ndarray
    keys: list[str]


@dataclass
class RunRecord:
    """One run, as the measures of a study read it.

    Attributes:
        tables: the run's tables, exactly those of :func:`clustersim.runner.simulate`
            (``monthly``, ``summary``, ``accounts``, ``projects``, ``ties``, ``proposals``,
            ``calls``, ``firms``).
        snapshots: membership at the end of the months asked for, by ``YYYY-MM``.
        size_class: size class per firm (fixed over a run).
        start_index: month index of the run's first month.
        report_month: the model month the report window opens.
    """

    tables: dict[str, pd.DataFrame]
    snapshots: dict[str, Snapshot]
    size_class: np.ndarray
    start_index: int
    report_month: int

    def month(self, date: str) -> int:
        """Model month of ``YYYY-MM``."""
        return month_index(date) - self.start_index

    def monthly_value(self, kpi: str, cluster: str, date: str) -> float:
        """A KPI of the monthly table in the month ``date`` (NaN when absent)."""
        mon = self.tables["monthly"]
        sel = mon[(mon["kpi"] == kpi) & (mon["cluster"] == cluster) & (mon["month"] == self.month(date))]
        return float(sel["value"].iloc[-1]) if len(sel) else float("nan")

    def summary_value(self, kpi: str, cluster: str = "all") -> float:
        """An end-of-run KPI over the report window (NaN when absent or undefined)."""
        s = self.tables["summary"]
        sel = s[(s["kpi"] == kpi) & (s["cluster"] == cluster)]
        return float(sel["value"].iloc[-1]) if len(sel) else float("nan")


def run_record(cfg: Config, snapshot_dates: Sequence[str] = ()) -> RunRecord:
    """Run the model once, month by month, keeping its tables and membership snapshots.

    The tables are made by the functions :func:`clustersim.runner.simulate` uses, and
    taking a snapshot only reads state, so the random streams and the tables are those of
    ``simulate(cfg)`` (a test checks it).

    Args:
        cfg: the run's configuration.
        snapshot_dates: months (``YYYY-MM``) at whose end membership is recorded.
    """
    from clustersim.metrics import calls_table, summary
    from clustersim.microdata import proposals_table
    from clustersim.model import ClusterModel
    from clustersim.runner import mark_undefined

    model = ClusterModel(cfg)
    state = model.state
    wanted = {month_index(d) - state.start_index: d for d in snapshot_dates}
    snapshots: dict[str, Snapshot] = {}
    for _ in range(state.n_months):
        model.step()
        if state.month in wanted:
            snapshots[wanted[state.month]] = Snapshot(state.firms.member_of.copy(), [c.key for c in state.cmos])
    for account in model.accounts():
        account.check()
    projects = pd.DataFrame(state.projects)
    if projects.empty:  # the columns the measures read
        kinds = ("str", "str", "int64", "int64", "int64", "int64", "int64", "bool")
        names = ("call", "line", "month", "n_firms", "duration_months", "cost_cents", "grant_cents", "in_report_window")
        projects = pd.DataFrame({c: pd.Series(dtype=k) for c, k in zip(names, kinds, strict=True)})
    tables = {
        "monthly": model.recorder.monthly_table(),
        "summary": mark_undefined(summary(state, model.recorder)),
        "projects": projects,
        "ties": state.ledger.to_frame(),
        "proposals": proposals_table(state),
        "calls": calls_table(state),
        "firms": model.firm_recorder.table(),
    }
    return RunRecord(tables, snapshots, state.firms.size_class.copy(), state.start_index, state.report_month)


@contextmanager
def pool(jobs: int) -> Iterator[Executor | None]:
    """A pool of ``jobs`` worker processes (spawned: no state inherited), or None for one job."""
    if jobs <= 1:
        yield None
        return
    executor = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield executor
    finally:
        executor.shutdown(cancel_futures=True)


def run_all[T, R](
    fn: Callable[[T], R], tasks: Sequence[T], executor: Executor | None = None, bar: Any = None
) -> list[R]:
    """``fn(task)`` for every task, in the tasks' order: in this process, or spread over ``executor``.

    ``fn`` must be a module-level function (it is pickled for the workers). Each finished
    task advances ``bar`` (a tqdm bar) by one.
    """
    if executor is None:
        out = []
        for task in tasks:
            out.append(fn(task))
            if bar is not None:
                bar.update(1)
        return out
    futures = [executor.submit(fn, task) for task in tasks]
    results = []
    for fut in futures:
        results.append(fut.result())
        if bar is not None:
            bar.update(1)
    return results


@contextmanager
def progress_bar(total: int, desc: str, unit: str, enabled: bool = True) -> Iterator[Any]:
    """A tqdm bar on stderr, or None when not ``enabled``; closed on exit."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit)
    try:
        yield bar
    finally:
        bar.close()


# ------------------------------------------------------------------------ summaries
def interval(values: Sequence[float] | np.ndarray | pd.Series) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean over replications and its 95% t interval.

    The interval is :func:`clustersim.stats.mean_interval` (non-finite values are ignored).
    """
    ci = stats.mean_interval(np.asarray(values, dtype=float))
    return ci.estimate, ci.low, ci.high


# ------------------------------------------------------------------------ the command
class UsageError(Exception):
    """A bad command-line argument (reported in one line, exit status 2)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (:class:`UsageError`), without the usage block."""

    def error(self, message: str) -> Any:
        """Raise :class:`UsageError` instead of printing the usage and exiting (argparse's hook)."""
        raise UsageError(message)


def command(prog: str, argv: list[str] | None, parser: Parser, body: Callable[[argparse.Namespace], int]) -> int:
    """Parse ``argv`` and run ``body``; bad input (an argument, a specification) is one line and exit status 2.

    The study's own progress is logged at INFO (the model's loggers stay at WARNING).
    """
    try:
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
        logging.getLogger(f"clustersim.{prog.removeprefix('clustersim-')}").setLevel(logging.INFO)
        return body(args)
    except (UsageError, SpecError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2


def load_spec_arg[T](load: Callable[[Path | None], T], path: Path | None) -> T:
    """``load(path)``, an unreadable file reported as bad input naming ``--spec``."""
    try:
        return load(path)
    except OSError as err:
        raise SpecError("--spec", f"{err.strerror or err}: {err.filename or path}") from None
