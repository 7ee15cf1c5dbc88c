"""Sweeps through Hydra: one job per run (or per batch of runs), and the callback that ends a sweep.

The store (run claims, job records, the merge, reading it back) is :mod:`clustersim.store`,
which never imports Hydra; this module is the Hydra glue on top of it:

- :func:`run_job`, the task of one run: validate, apply the design row, claim the run,
  compute it unless it is complete, and record it (``jobs/<run>.json``). It never raises
  for a failed run: a failure is data, recorded with its error, and the other runs go on.
- :func:`run_batch`, the task of one Hydra job that runs several runs in its process (the
  clustersim sweeper hands each launched job a batch, ``CLUSTERSIM_BATCH``): each run's
  configuration is composed from its own overrides, once per distinct set of group choices
  with the other overrides set on a copy (:class:`JobConfigs`), and each run is
  :func:`run_job`, with its own folder, seeds, claim and record.
- :class:`SweepCallback`: before the jobs, the comparison spec (``experiment.yaml``);
  after them, the merge and the report the sweep asked for (:mod:`clustersim.finish`), and
  the exit status: 0 only if every run, the merge and the report succeeded.

A job whose run folder already exists is not run again, so a sweep that was interrupted
(its process killed at any point) completes only what is missing when started again.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import logging
import os
import sys
import traceback
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clustersim import store
from clustersim.config import Config, ConfigError, to_config, validate
from clustersim.results import is_complete, run_name
from clustersim.store import experiment_spec, job_statuses, merge_sweep, read_sweep

__all__ = [
    "BATCH_ENV",
    "JobConfigs",
    "SweepCallback",
    "decode_batch",
    "encode_batch",
    "experiment_spec",
    "job_statuses",
    "merge_sweep",
    "read_sweep",
    "run_batch",
    "run_job",
    "run_task",
]

logger = logging.getLogger(__name__)

# The environment variable (set through hydra.job.env_set by the clustersim sweeper) that
# carries the runs of a launched job: their override lists, compressed.
BATCH_ENV = "CLUSTERSIM_BATCH"

# What the launcher returned for the jobs of the current multirun (set by the clustersim
# sweeper, read by the callback): job failures that left no record behind still count.
LAUNCHED: dict[str, Any] = {}


def invalid_name(overrides: list[str]) -> str:
    """The record name of a job whose configuration was refused (no run name exists for it)."""
    import hashlib

    text = "_".join(o.replace("/", "_") for o in overrides)
    safe = "".join(c if c.isalnum() or c in "._=,-" else "_" for c in text)[:120]
    return f"invalid-{safe}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _record(sweep_dir: Path, name: str, status: dict[str, Any]) -> None:
    try:
        store.write_record(sweep_dir, name, status)
    except OSError as err:  # the record cannot be written: the launcher's return value still says it
        status["record"] = f"not written: {err}"
        logger.error("job %s: its record could not be written: %s", name, err)


def run_job(cfg: Any, sweep_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """Run one job of a sweep and record its status; never raises for a failed run.

    A run computed here also writes its part of the sweep's dataset
    (``dataset/<table>/run=<run>/``) from the tables in memory, the firm microdata as a link
    to the run's own file; the merge writes the parts of runs it finds missing.
    """
    from clustersim.results import config_hash
    from clustersim.runner import prepare, run_and_save

    sweep_dir = Path(sweep_dir)
    status: dict[str, Any] = {"overrides": list(overrides)}
    try:
        config = prepare(to_config(cfg))
    except ConfigError as err:
        name = invalid_name(overrides)
        status.update(run=name, status="failed", error=str(err))
        _record(sweep_dir, name, status)
        return status
    config.output_dir = str(sweep_dir / "runs")  # a sweep's runs live in the sweep folder
    digest = config_hash(config)
    name = run_name(config, digest)
    folder = sweep_dir / "runs" / name
    status["run"] = name
    try:
        with store.claim(folder):  # another sweep computing this run: wait, then reuse it
            part = None
            if not is_complete(folder):
                _record(sweep_dir, name, {**status, "status": "running"})
                part = _DatasetPart(sweep_dir, name, _dataset_ids(sweep_dir, name, config, digest, overrides))
            result = run_and_save(config, progress=False, firm_ids=part.ids if part is not None else None)
            if part is not None and result.written:
                part.finish(result.arrow, result.tables, result.folder)
            status.update(status="complete", folder=str(result.folder), reused=not result.written)
            _record(sweep_dir, name, status)
    except Exception as err:  # a failed run is data: record it and let the others go on
        logger.error("run %s failed: %s", name, err)
        status.update(status="failed", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
        _record(sweep_dir, name, status)
    return status


_EXPERIMENTS: dict[Path, str] = {}


def _dataset_ids(sweep_dir: Path, run: str, config: Config, digest: str, overrides: list[str]) -> dict[str, Any]:
    """The run's identity in the sweep's dataset, as the merge would give it (:func:`clustersim.store.dataset_ids`)."""
    key = sweep_dir.resolve()
    if key not in _EXPERIMENTS:
        _EXPERIMENTS[key] = str(experiment_spec(sweep_dir).get("name", sweep_dir.name))
    meta = {
        "scenario": {
            "clusters": config.clusters.name,
            "funding": config.funding.name,
            "staffing": config.staffing.name,
            "population": config.population.name,
            "behaviour": config.behaviour.name,
        },
        "seed": config.seed,
        "replication": config.replication,
        "config_hash": digest,
    }
    return store.dataset_ids(_EXPERIMENTS[key], run, meta, store.override_params(overrides))


class _DatasetPart:
    """A run's part of the sweep's dataset, written by its job when the run is complete.

    The firm microdata (the largest table) is written once: the run's ``firms.parquet``
    carries the identity columns (``run_and_save(firm_ids=...)``) and the dataset's part is
    a hard link to it (a copy where links are not possible); the other tables' parts are
    written from the tables in memory, as converted to Arrow for the run folder.
    """

    def __init__(self, sweep_dir: Path, run: str, ids: dict[str, Any]) -> None:
        self.sweep_dir, self.run, self.ids = sweep_dir, run, ids

    def finish(self, arrow: dict[str, Any], tables: Mapping[str, Any], folder: Path) -> None:
        """The run is complete: put its parts in place (those not there yet).

        ``arrow``: the tables as written to the run folder (Arrow); ``tables``: the run's
        tables, for one not among them (never made a DataFrame otherwise).
        """
        if (folder / "firms.parquet").is_file():  # not written with microdata=false
            store.link_dataset_firms(self.sweep_dir, self.run, folder / "firms.parquet", self.ids)
        for table in store.DATASET:
            if table == "firms":
                continue
            data = arrow[table] if table in arrow else tables[table] if table in tables else None
            if data is not None:
                store.write_dataset_table(self.sweep_dir, table, self.run, data, self.ids)


def encode_batch(jobs: list[list[str]]) -> str:
    """The override lists of a batch of runs as one short ASCII word (for ``hydra.job.env_set``)."""
    raw = zlib.compress(json.dumps(jobs, separators=(",", ":")).encode(), 9)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_batch(text: str) -> list[list[str]]:
    """The override lists :func:`encode_batch` encoded."""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return [list(map(str, job)) for job in json.loads(zlib.decompress(raw))]


class _Slow(Exception):
    """An override the fast path does not set itself: compose the job the full way."""


class JobConfigs:
    """Typed configurations of a sweep's runs, composed once per distinct set of group choices.

    Runs that choose the same config groups (``clusters=reform``, ``experiment=...``) and
    set the same other keys (``replication``, ``sensitivity.sample``...) share one composed
    and validated configuration: the first such run's (composed by the launcher, or here);
    each further run gets a copy with its own values of those keys set on it, validated
    again. An override this does not handle plainly (a list, a mapping, a ``+``/``~``, a
    value of another type than its key's, null) composes that run the full way
    (:func:`clustersim.config.load_config`), which also gives a refused value its usual
    one-line error. Either way a run's configuration is the one ``load_config`` gives for
    its overrides.
    """

    def __init__(self) -> None:
        """Start with nothing composed."""
        self._bases: dict[tuple[tuple[str, ...], tuple[str, ...]], Config] = {}
        self._parser: Any = None
        self._parsed: dict[str, Any] = {}

    def parse(self, overrides: list[str]) -> list[Any]:
        """Hydra's parse of the override lines (``OverridesParser.parse_overrides``), each distinct line once.

        A sweep's runs share most of their lines (``experiment=...``, the arm), and making
        Hydra's parser (its grammar functions) and parsing a line cost about 0.3 ms each;
        the parsed overrides are only read. A line that does not parse raises as before.
        """
        from hydra.core.override_parser.overrides_parser import OverridesParser

        if self._parser is None:
            self._parser = OverridesParser.create()
        out = []
        for line in overrides:
            parsed = self._parsed.get(line)
            if parsed is None:
                parsed = self._parser.parse_overrides([line])[0]
                if len(self._parsed) < 4096:
                    self._parsed[line] = parsed
            out.append(parsed)
        return out

    def config(self, overrides: list[str], composed: Any = None) -> Config:
        """The validated configuration of one run (ConfigError when it is refused).

        ``composed``: the run's configuration as Hydra composed it, if at hand.
        """
        from hydra.core.override_parser.types import OverrideType

        from clustersim.config import load_config
        from clustersim.overrides import INTERNAL_GROUPS, USER_GROUPS

        groups = set(USER_GROUPS) | set(INTERNAL_GROUPS)
        try:
            parsed = self.parse(list(overrides))
        except Exception:
            return load_config(list(overrides))  # raises the one-line error
        base_lines, values = [], []
        for line, o in zip(overrides, parsed, strict=True):
            key = o.key_or_group
            if key in groups or "/" in key or key == "hydra" or key.startswith("hydra.") or o.package is not None:
                base_lines.append(line)
            else:
                values.append(o)
        plain = all(o.type == OverrideType.CHANGE and not o.is_sweep_override() for o in values)
        key = (tuple(base_lines), tuple(o.key_or_group for o in values))
        base = self._bases.get(key) if plain else None
        if base is None:
            cfg = to_config(composed) if composed is not None else load_config(list(overrides))
            if plain:
                self._bases[key] = copy.deepcopy(cfg)
            return cfg
        try:
            cfg = copy.deepcopy(base)
            for o in values:  # every key the shared configuration's run set, set to this run's value
                _set_plain(cfg, o.key_or_group, o.value())
            return validate(cfg)
        except (_Slow, ConfigError):
            return load_config(list(overrides))


def _set_plain(cfg: Config, dotted: str, value: Any) -> None:
    """Set a scalar field of ``cfg`` by its dotted key, if the value has the field's type; else _Slow."""
    import typing

    *path, last = dotted.split(".")
    node: Any = cfg
    for part in path:
        if dataclasses.is_dataclass(node) and not isinstance(node, type) and part in _field_types(type(node)):
            node = getattr(node, part)
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise _Slow
    if not (dataclasses.is_dataclass(node) and not isinstance(node, type)):
        raise _Slow
    kind = _field_types(type(node)).get(last)
    if kind is None:
        raise _Slow
    if kind is bool and type(value) is bool:
        new: Any = value
    elif kind is int and type(value) is int:
        new = value
    elif kind is float and type(value) in (int, float):
        new = float(value)
    elif kind is str and type(value) is str:
        new = value
    else:
        raise _Slow
    if typing.get_origin(kind) is not None:
        raise _Slow
    setattr(node, last, new)


_FIELD_TYPES: dict[type, dict[str, Any]] = {}


def _field_types(cls: type) -> dict[str, Any]:
    """The resolved type of each field of dataclass ``cls`` (cached)."""
    types = _FIELD_TYPES.get(cls)
    if types is None:
        import typing

        hints = typing.get_type_hints(cls)
        types = _FIELD_TYPES[cls] = {f.name: hints.get(f.name) for f in dataclasses.fields(cls)}
    return types


_CONFIGS = JobConfigs()


def run_batch(sweep_dir: Path, jobs: list[list[str]], composed: Any = None, first: list[str] | None = None) -> list:
    """Run the runs of one launched job, one after the other in this process; return their records.

    Each run keeps its own overrides, folder, seeds, claim and record (:func:`run_job`); a run
    whose configuration is refused is recorded as failed, and the others go on. ``composed``
    is the launched job's configuration as Hydra composed it (that of run ``first``).
    """
    _freeze_imports()
    out = []
    for overrides in jobs:
        try:
            given = composed if first is not None and list(overrides) == list(first) else None
            cfg: Any = _CONFIGS.config(overrides, given)
        except ConfigError as err:
            name = invalid_name(overrides)
            status: dict[str, Any] = {"overrides": list(overrides), "run": name, "status": "failed", "error": str(err)}
            _record(Path(sweep_dir), name, status)
            out.append(status)
            continue
        out.append(_logged(run_job(cfg, sweep_dir, overrides)))
    return out


_FROZEN: list[int] = []  # the process whose objects :func:`_freeze_imports` froze


def _freeze_imports() -> None:
    """Move the process's objects to the collector's permanent generation, once, before its first batch.

    The objects are the imported libraries' and the launcher's state. A run switches the
    cyclic collector off while its months go, but its tables and writes still trigger
    collections, and a full one walked every object of the process (the imported libraries'
    too): about 100 ms, every 20 runs or so. Frozen objects are still freed when no longer
    referenced; only cycles among them would wait. A sweep job's collections went from
    10-12 to 6 ms a run (``gc.callbacks``, 20 runs of the headline, twice).
    """
    import gc

    if os.getpid() not in _FROZEN:  # a forked child would freeze its own objects again
        gc.freeze()
        _FROZEN.append(os.getpid())


def warm_worker() -> int:
    """Import what a run needs, in a launcher's worker before its first job (returns the worker's pid).

    The sweeper sends this to the joblib workers while it still checks the configurations,
    so that their imports (Mesa, the model, Hydra's plugins: about 2 s) overlap with that
    work instead of delaying the first run.
    """
    from hydra.core.plugins import Plugins

    import clustersim.runner  # noqa: F401  (the model, Mesa, pyarrow)

    Plugins.instance()
    return os.getpid()


def _logged(status: dict[str, Any]) -> dict[str, Any]:
    how = " (reused)" if status.get("reused") else " (computed)" if status["status"] == "complete" else ""
    logger.info("%s%s: %s", status["status"], how, status["run"])
    return status


def run_task(cfg: Any, sweep_dir: Path, overrides: list[str]) -> Any:
    """The task of one launched job of a sweep: its batch of runs (``CLUSTERSIM_BATCH``), or its one run."""
    batch = os.environ.get(BATCH_ENV)
    if batch:
        return run_batch(sweep_dir, decode_batch(batch), cfg, overrides)
    return _logged(run_job(cfg, sweep_dir, overrides))


try:  # Hydra is a dependency; the callback only matters inside a Hydra multirun
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object  # type: ignore[misc,assignment]


def _fail(message: str, status: int = 1) -> None:
    print(f"clustersim: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


class SweepCallback(Callback):
    """Hydra callback: record the comparison spec, then merge and report at the end.

    ``on_multirun_start`` and ``on_multirun_end`` run in the launching process, whatever
    the launcher (basic, joblib, Ray, submitit), so the merge sees every job's record. Any
    failure ends the command with one line and a non-zero status (Hydra would otherwise turn
    an exception of a callback into a warning and exit 0).
    """

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """Write ``experiment.yaml`` (the comparison spec, with the arms the sweep runs).

        A sensitivity sweep that does not cover exactly the rows of its design is refused in
        one line with exit status 2 before any job runs. Any other sweep gets a report (two
        arms, named contrasts, a grid, or one arm); one that cannot form the comparison it
        asks for ends with one line and exit status 1.
        """
        from omegaconf import OmegaConf

        LAUNCHED.clear()
        sweep_dir = Path(config.hydra.sweep.dir)
        spec = OmegaConf.to_container(config.comparison, resolve=True)
        assert isinstance(spec, dict)
        arms = _swept_values(config, str(spec.get("arm", "clusters")))
        spec["arms"] = arms if arms is not None else [str(config.clusters.name)]
        if config.sensitivity.method != "none":
            error = _check_design_sweep(config)
            if error:
                _fail(error, 2)
            spec["sensitivity"] = OmegaConf.to_container(config.sensitivity, resolve=True)
            spec["sensitivity"].pop("sample", None)
        try:
            store.write_experiment_spec(sweep_dir, spec)
        except OSError as err:
            _fail(f"cannot write the sweep folder {sweep_dir}: {err.strerror or err}")

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        """Merge the sweep's runs, build its report, print the table; exit 1 if anything failed."""
        from clustersim import finish

        sweep_dir = Path(config.hydra.sweep.dir)
        outcome = finish.finish_sweep(sweep_dir, launched=dict(LAUNCHED))
        if outcome.text:
            print(outcome.text, flush=True)
        if outcome.error:
            _fail(outcome.error, outcome.status)


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
