"""Hydra's basic sweeper, checking each distinct configuration once instead of every job.

Before launching, Hydra's ``BasicSweeper`` composes the configuration of every job of a
batch, to fail early on a bad override; for a sweep of hundreds of replications or design
rows, that serial composition (about 0.4 s a job) is the largest overhead of the sweep. Jobs
that differ only in scalar values (``replication=7``, ``sensitivity.sample=42``) compose the
same config groups, so this sweeper composes one job per distinct set of config-group
choices (``clusters=reform``, ``hydra/launcher=ray``...), plus the batch's first and last
job. A scalar value the schema refuses still fails, in its own job, which clustersim records
as a failed run with the message naming the key (``jobs/<run>.json``). Everything else,
including the order and the content of the jobs, is the basic sweeper's.

Two more differences, so that nothing fails quietly: ``multirun.yaml`` is written
atomically, and a job that fails (raises, or returns a record it could not write) does not
stop the sweep before its end: the jobs' returns are handed to the clustersim callback
(``clustersim.sweep.LAUNCHED``), which merges, reports and exits non-zero.
"""

# no `from __future__ import annotations`: Hydra loads plugin modules outside sys.modules,
# where dataclasses cannot resolve string annotations.
import logging
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


class ClusterSweeper(BasicSweeper):
    """Hydra's basic sweeper, composing one job per distinct set of config-group choices."""

    def _is_group(self, override: str) -> bool:
        key = override.lstrip("+~").split("=", 1)[0].split("@", 1)[0]
        if "/" in key:
            return True
        loader = self.hydra_context.config_loader if getattr(self, "hydra_context", None) else self.config_loader
        return key in loader.list_groups("")

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Compose the representative jobs of ``batch`` (see the module's docstring)."""
        super().validate_batch_is_legal(representatives(batch, self._is_group))

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
        while not self.is_done():
            batch = self.get_job_batch()
            self.validate_batch_is_legal(batch)
            try:
                results = self.launcher.launch(batch, initial_job_idx=initial_job_idx)
            except Exception as err:  # the launcher lost the batch (a worker killed...): say so at the end
                first = (str(err).strip().splitlines() or [""])[0]
                unrecorded += [f"{' '.join(o)}: launcher error {type(err).__name__}: {first}" for o in batch]
                results = []
            for overrides, r in zip(batch, results, strict=False):
                error = _job_problem(r)
                if error:
                    unrecorded.append(f"{' '.join(overrides)}: {error}")
            jobs += len(batch)
            initial_job_idx += len(batch)
            returns.append(results)
        LAUNCHED.update(jobs=jobs, unrecorded=unrecorded)
        return returns


def _job_problem(r: Any) -> str:
    """Why a job's failure may be missing from the records ('' if its record tells it all)."""
    from hydra.core.utils import JobStatus

    if r.status == JobStatus.FAILED:
        err = r._return_value
        first = (str(err).strip().splitlines() or [""])[0]
        return f"the job raised {type(err).__name__}: {first}"
    value = r._return_value
    if isinstance(value, dict) and str(value.get("record", "")).startswith("not written"):
        return f"{value.get('status')}, record {value['record']}"
    return ""
