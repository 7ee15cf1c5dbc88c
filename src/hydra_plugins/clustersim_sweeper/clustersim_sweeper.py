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
"""

# no `from __future__ import annotations`: Hydra loads plugin modules outside sys.modules,
# where dataclasses cannot resolve string annotations.
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore


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
