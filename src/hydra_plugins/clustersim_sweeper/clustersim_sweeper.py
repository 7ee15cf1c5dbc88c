"""Hydra's basic sweeper, checking each distinct configuration once instead of every job.

Before launching, Hydra's ``BasicSweeper`` composes the configuration of every job of a
batch, to fail early on a bad override; for a sweep of hundreds of replications or design
rows, that serial composition (about 0.4 s a job) is the largest overhead of the sweep. Jobs
that differ only in scalar values (``replication=7``, ``sensitivity.sample=42``) compose the
same config groups, so this sweeper checks the overrides of one job per distinct set of
config-group choices (``clusters=reform``, ``hydra/launcher=ray``...) and of the batch's
first and last job, as the command line's are checked, and composes each distinct set of
group choices once. A scalar value the schema refuses still fails, in its own job, which
clustersim records as a failed run with the message naming the key (``jobs/<run>.json``). Everything else,
including the order and the content of the jobs, is the basic sweeper's.

Runs are launched in batches: each job the launcher starts (a joblib task, a Ray task, a
SLURM array task) runs ``runs_per_job`` runs one after the other in its process, so that
the imports, Hydra's composition of a job and the launcher's own cost are paid once per
batch, not once per run (``hydra.sweeper.runs_per_job``; 0, the default, makes about two
batches per worker of the launcher, at most 1,000 runs each: ``n_jobs`` for joblib,
``num_cpus`` or the machine's cores for Ray, ``array_parallelism`` for submitit, 1 for the
basic launcher; 1 launches one job per run as Hydra does). A batch is the launched job of its first run, with the
override lists of all its runs in ``CLUSTERSIM_BATCH`` (``hydra.job.env_set``); every run
keeps its own configuration, folder, seeds, claim and record (``clustersim.sweep.run_batch``).

Two more differences, so that nothing fails quietly: ``multirun.yaml`` is written
atomically, and a job that fails (raises, or returns a record it could not write) does not
stop the sweep before its end: the jobs' returns are handed to the clustersim callback
(``clustersim.sweep.LAUNCHED``), which merges, reports and exits non-zero.
"""

# no `from __future__ import annotations`: Hydra loads plugin modules outside sys.modules,
# where dataclasses cannot resolve string annotations.
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser

log = logging.getLogger(__name__)


@dataclass
class ClusterSweeperConf:
    """Configuration of the sweeper: that of Hydra's basic sweeper."""

    _target_: str = "hydra_plugins.clustersim_sweeper.clustersim_sweeper.ClusterSweeper"
    max_batch_size: Optional[int] = None  # noqa: UP045 (OmegaConf reads typing.Optional)
    params: Optional[dict[str, str]] = None  # noqa: UP045
    runs_per_job: int = 0  # runs of one launched job: 0 = about two batches per worker, 1 = one job per run


ConfigStore.instance().store(group="hydra/sweeper", name="clustersim", node=ClusterSweeperConf, provider="clustersim")


def representatives(batch: Sequence[Sequence[str]], is_group: Callable[[str], bool]) -> list[Sequence[str]]:
    """The jobs of ``batch`` to compose: one per distinct set of group choices, plus the first and last."""
    chosen: dict[tuple[str, ...], Sequence[str]] = {}
    for overrides in batch:
        key = tuple(sorted(o for o in overrides if is_group(o)))
        chosen.setdefault(key, overrides)
    picked = list(chosen.values())
    for extra in (batch[0], batch[-1]) if batch else ():
        if extra not in picked:
            picked.append(extra)
    return picked


JOBLIB_LAUNCHER = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"

# pools being warmed before Hydra composed the sweep (clustersim.cli), by their joblib settings
_EARLY: dict[tuple[tuple[str, str], ...], threading.Thread] = {}


def _joblib_args(settings: Any) -> Optional[dict[str, Any]]:  # noqa: UP045
    """The ``Parallel`` arguments the joblib launcher uses for ``settings`` (None: nothing to warm)."""
    try:
        from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_container(settings, resolve=True) if OmegaConf.is_config(settings) else dict(settings)
        cfg.pop("_target_", None)
        cfg["backend"] = "loky"
        process_joblib_cfg(cfg)
        cfg["verbose"] = 0  # the executor's arguments do not depend on it below 50
        n = int(cfg.get("n_jobs") or -1)
        n = n if n > 0 else (os.cpu_count() or 1) + 1 + n
    except Exception as err:  # warming is an optimisation: never stop a sweep for it
        log.debug("not warming the joblib workers: %s", err)
        return None
    return cfg if n > 1 else None


def _key(cfg: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), repr(v)) for k, v in cfg.items()))


def _start_warming(cfg: dict[str, Any]) -> threading.Thread:
    n = int(cfg.get("n_jobs") or -1)
    n = n if n > 0 else (os.cpu_count() or 1) + 1 + n

    def warm() -> None:
        from joblib import Parallel, delayed

        from clustersim.sweep import warm_worker

        try:
            Parallel(**cfg)(delayed(warm_worker)() for _ in range(n))
        except Exception as err:
            log.debug("warming the joblib workers failed: %s", err)

    thread = threading.Thread(target=warm, name="clustersim-warm-workers", daemon=True)
    thread.start()
    return thread


def warm_joblib_early(launcher_settings: dict[str, Any]) -> bool:
    """Start the joblib workers of a sweep about to be composed (its ``hydra.launcher`` settings); True if started.

    The command line calls this as soon as it has checked a sweep's overrides, while Hydra
    still has to compose the sweep (about a second on one core, the other core idle): the
    workers import the model meanwhile, and :func:`warm_joblib_workers` hands the same
    warming over to the sweeper when the launcher's settings are the same. Any other
    launcher: nothing is started.
    """
    if str(launcher_settings.get("_target_", "")) != JOBLIB_LAUNCHER:
        return False
    cfg = _joblib_args(launcher_settings)
    if cfg is None:
        return False
    key = _key(cfg)
    if key not in _EARLY:
        _EARLY[key] = _start_warming(cfg)
    return True


def warm_joblib_workers(launcher: Any) -> Optional[threading.Thread]:  # noqa: UP045
    """Start the joblib launcher's workers now, importing the model, in a background thread.

    joblib reuses a worker pool whose arguments are the same, so the launcher's own
    ``Parallel`` later finds the workers started and their imports done. Returns the thread
    to join before launching (None when the launcher is not joblib or runs in-process); the
    thread the command line started for the same settings (:func:`warm_joblib_early`), if any.
    """
    settings = getattr(launcher, "joblib", None)
    if settings is None:
        return None
    cfg = _joblib_args(settings)
    if cfg is None:
        return None
    early = _EARLY.pop(_key(cfg), None)
    return early if early is not None else _start_warming(cfg)


def release_joblib_workers() -> None:
    """Let joblib's worker processes exit now, while the merge and the report run.

    The workers hold the model's imports; each takes most of a second to shut down, and
    an idle pool was otherwise shut down only at the interpreter's exit, after the report
    (about 1 s of a 30-run sweep's wall time). Asks without waiting; does nothing when no
    pool was started (another launcher) and never raises.
    """
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:  # pragma: no cover (joblib is a dependency)
        return
    executor = getattr(reusable_executor, "_executor", None)
    if executor is None:
        return
    try:
        executor.shutdown(wait=False)
    except Exception as err:  # an optimisation only
        log.debug("joblib's workers not released early: %s", err)


def runs_elsewhere(launcher: Any) -> bool:
    """Whether the launcher runs the jobs in other processes (joblib with 2 or more workers, Ray, SLURM).

    Only then does the launching process import the report's modules while the runs go on:
    an in-process launcher's jobs import too, and two threads should not import at once.
    """
    target = str(launcher.get("_target_", "")) if launcher is not None else ""
    if not target or "BasicLauncher" in target:
        return False
    return not ("joblib" in target and launcher_workers(launcher) <= 1)


def preload_report(config: Any) -> None:
    """Import the merge's and the report's modules (``clustersim.finish.preload``), in a background thread."""
    from clustersim.finish import preload

    preload(sensitivity=str(config.get("sensitivity", {}).get("method", "none")) != "none")


def launcher_workers(launcher: Any) -> int:
    """How many jobs the launcher runs at once (joblib's n_jobs, Ray's CPUs, submitit's array parallelism)."""
    target = str(launcher.get("_target_", "")) if launcher is not None else ""
    cores = os.cpu_count() or 1
    if "joblib" in target:
        n = int(launcher.get("n_jobs", -1) or -1)
        return max(1, n if n > 0 else cores + 1 + n)
    if "ray" in target.lower():
        cpus = (launcher.get("ray") or {}).get("init", {}).get("num_cpus")
        return max(1, int(cpus) if cpus else cores)
    if "submitit" in target:
        return max(1, int(launcher.get("array_parallelism", 256) or 256))
    return 1


AUTO_MAX = 1000  # the largest automatic batch: a huge sweep still reports and balances in steps


def batches(jobs: Sequence[Sequence[str]], runs_per_job: int, workers: int) -> list[list[list[str]]]:
    """Consecutive batches of ``jobs``: ``runs_per_job`` each, or (0) about two per worker, at most AUTO_MAX."""
    if not jobs:
        return []
    size = runs_per_job if runs_per_job > 0 else min(AUTO_MAX, math.ceil(len(jobs) / min(len(jobs), 2 * workers)))
    return [[list(j) for j in jobs[i : i + size]] for i in range(0, len(jobs), size)]


class ClusterSweeper(BasicSweeper):
    """Hydra's basic sweeper, composing one job per distinct set of config-group choices, launching runs in batches."""

    def __init__(self, max_batch_size: Optional[int], params: Optional[dict[str, str]] = None, runs_per_job: int = 0):  # noqa: UP045
        """Hydra's basic sweeper with ``runs_per_job`` (see the module's docstring)."""
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.runs_per_job = int(runs_per_job or 0)
        self._groups: frozenset[str] | None = None

    def _is_group(self, override: str) -> bool:
        key = override.lstrip("+~").split("=", 1)[0].split("@", 1)[0]
        if "/" in key:
            return True
        if self._groups is None:  # listed once: a listing walks the config folders (7,000 jobs took minutes)
            loader = self.hydra_context.config_loader if getattr(self, "hydra_context", None) else self.config_loader
            self._groups = frozenset(loader.list_groups(""))
        return key in self._groups

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Check the representative jobs of ``batch`` and compose their group choices (see the module's docstring).

        Each job's overrides are checked as the command line's are (keys, types, options:
        :func:`clustersim.overrides.check`) and each distinct set of group choices is
        composed once per process (:func:`clustersim.config.check_groups`), raising the
        one-line ConfigError naming the key; Hydra's own check composed and copied every
        representative whole, about 0.5 s each, while the workers were starting.
        """
        from clustersim.config import Config, check_groups
        from clustersim.overrides import check

        for overrides in representatives(batch, self._is_group):
            check(list(overrides), Config)
            check_groups(list(overrides))

    def sweep(self, arguments: list[str]) -> Any:
        """The basic sweeper's loop, writing ``multirun.yaml`` atomically and collecting failed jobs."""
        from omegaconf import OmegaConf

        from clustersim import atomic
        from clustersim.sweep import LAUNCHED

        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        params_conf = self._parse_config()
        params_conf.extend(arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        self.overrides = self.split_arguments(parser.parse_overrides(params_conf), self.max_batch_size)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(sweep_dir / "multirun.yaml", OmegaConf.to_yaml(self.config))
        returns: list[Sequence[Any]] = []
        unrecorded: list[str] = []
        jobs = 0
        initial_job_idx = 0
        from clustersim.sweep import BATCH_ENV, encode_batch

        workers = launcher_workers(self.config.hydra.get("launcher"))
        warming = warm_joblib_workers(self.launcher)
        preloading: Optional[threading.Thread] = None  # noqa: UP045
        while not self.is_done():
            batch = self.get_job_batch()
            self.validate_batch_is_legal(batch)
            if warming is not None:
                warming.join()
                warming = None
            if preloading is None and runs_elsewhere(self.config.hydra.get("launcher")):  # imports while workers run
                preloading = threading.Thread(target=preload_report, args=(self.config,), daemon=True)
                preloading.start()
            groups = batches(batch, self.runs_per_job, workers)
            if self.runs_per_job == 1:
                launched = [g[0] for g in groups]  # one job per run, as Hydra does
            else:
                launched = [[*g[0], f"+hydra.job.env_set.{BATCH_ENV}='{encode_batch(g)}'"] for g in groups]
            try:
                results = self.launcher.launch(launched, initial_job_idx=initial_job_idx)
            except Exception as err:  # the launcher lost the batch (a worker killed...): say so at the end
                first = (str(err).strip().splitlines() or [""])[0]
                unrecorded += [f"{' '.join(o)}: launcher error {type(err).__name__}: {first}" for o in batch]
                results = []
            for group, r in zip(groups, results, strict=False):
                error = _job_problem(r)
                if error:
                    unrecorded += [f"{' '.join(overrides)}: {error}" for overrides in group]
            jobs += len(batch)
            initial_job_idx += len(launched)
            returns.append(results)
        release_joblib_workers()
        if preloading is not None:  # done long before the runs in practice; the callback imports nothing concurrently
            preloading.join()
        LAUNCHED.update(jobs=jobs, unrecorded=unrecorded)
        return returns


def _job_problem(r: Any) -> str:
    """Why a job's failure may be missing from the records ('' if its record tells it all)."""
    from hydra.core.utils import JobStatus

    if r.status == JobStatus.FAILED:
        err = r._return_value
        first = (str(err).strip().splitlines() or [""])[0]
        return f"the job raised {type(err).__name__}: {first}"
    values = r._return_value if isinstance(r._return_value, list) else [r._return_value]
    for value in values:
        if isinstance(value, dict) and str(value.get("record", "")).startswith("not written"):
            return f"{value.get('status')}, record {value['record']}"
    return ""
