"""Running the validation: every scenario's replications, measured run by run, then the tables.

One task per (scenario, replication) (:func:`measure_run`), run in this process or over a
pool of processes (:func:`clustersim.study.pool`); results are gathered in the tasks' order,
so the tables do not depend on the number of processes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clustersim.config import Config
from clustersim.errors import SpecError
from clustersim.study import pool, progress_bar, run_all, run_record, scenario_config
from clustersim.validation.measures import cluster_sizes, measure, turnover_run
from clustersim.validation.network import network_facts, random_degree_counts, tie_graph
from clustersim.validation.spec import Item, Network, Turnover, ValidationSpec
from clustersim.validation.tables import (
    comparison_table,
    network_table,
    replications_study,
    robustness_table,
    turnover_table,
)

logger = logging.getLogger("clustersim.validate")


@dataclass
class RunTask:
    """One run of the validation: what to run and what to measure in it."""

    scenario: str
    replication: int
    cfg: Config
    items: list[Item]
    primary: bool
    snapshot_dates: list[str]
    network: Network
    turnover: Turnover | None
    study_kpis: list[str]


@dataclass
class RunOutcome:
    """What one run gives: the items' values and, for the primary scenario, the other statistics."""

    values: dict[str, float]
    network: dict[str, float] | None = None
    degrees: np.ndarray | None = None
    turnover: dict[str, float] | None = None
    kpis: dict[str, float] = field(default_factory=dict)
    sizes: list[tuple[str, str, float]] = field(default_factory=list)


def measure_run(task: RunTask) -> RunOutcome:
    """Run the model once and measure everything the validation reads from that run."""
    rec = run_record(task.cfg, task.snapshot_dates)
    out = RunOutcome(values={})
    if task.primary:
        g = tie_graph(rec.tables["ties"], task.network.kinds)
        out.network = network_facts(g, task.network.tail_xmin)
        out.degrees = np.bincount(np.array([d for _, d in g.degree()], dtype=np.int64), minlength=1)
        if task.turnover is not None:
            out.turnover = turnover_run(task.cfg, task.turnover)
        out.kpis = {k: rec.summary_value(k) for k in task.study_kpis}
        out.sizes = cluster_sizes(rec, task.snapshot_dates)
    for item in task.items:
        out.values[item.name] = measure(rec, item.measure, out.network, out.turnover)
    return out


@dataclass
class ValidationResult:
    """What a validation found.

    Attributes:
        spec: the specification used.
        reduced: whether the reduced sizes were used.
        replications: replications per scenario.
        per_replication: long table ``scenario, replication, item, value``.
        table: the side-by-side comparison (primary scenario).
        robustness: the robust items under every scenario (mean and 95% CI).
        network: the network statistics with their random-graph references.
        turnover: the turnover comparison.
        study_curve: relative CI half-width against the number of replications, per KPI.
        study_needed: replications needed for each target half-width, per KPI.
        degree_counts: firms by degree, summed over the primary scenario's replications.
        random_degree_counts: the same for the random references (expected counts).
        cluster_sizes: members per cluster at the snapshot dates, one row per replication.
        seconds: wall time.
    """

    spec: ValidationSpec
    reduced: bool
    replications: int
    per_replication: pd.DataFrame
    table: pd.DataFrame
    robustness: pd.DataFrame
    network: pd.DataFrame
    turnover: pd.DataFrame
    study_curve: pd.DataFrame
    study_needed: pd.DataFrame
    degree_counts: np.ndarray
    random_degree_counts: np.ndarray
    cluster_sizes: pd.DataFrame
    seconds: float


def tasks(spec: ValidationSpec, replications: int, reduced: bool = False) -> list[RunTask]:
    """The runs of a validation, scenario by scenario (primary first), replication by replication."""
    extra = spec.reduced.overrides if reduced else []
    needs_turnover = any(i.measure.type == "turnover" for i in spec.items.values())
    out = []
    for scenario in [spec.primary_scenario, *spec.robustness_scenarios]:
        primary = scenario == spec.primary_scenario
        overrides = [*spec.scenarios[scenario].overrides, *extra]
        items = [i for i in spec.items.values() if primary or i.robust]
        for r in range(replications):
            cfg = scenario_config(overrides, spec.seed, r)
            turnover = spec.turnover if primary and needs_turnover else None
            out.append(
                RunTask(
                    scenario,
                    r,
                    cfg,
                    items,
                    primary,
                    list(spec.snapshot_dates),
                    spec.network,
                    turnover,
                    list(spec.replications_study.kpis),
                )
            )
    return out


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    size = max(a.size, b.size)
    return np.pad(a, (0, size - a.size)) + np.pad(b, (0, size - b.size))


def validate_model(
    spec: ValidationSpec,
    reduced: bool = False,
    replications: int | None = None,
    progress: bool = True,
    jobs: int = 1,
) -> ValidationResult:
    """Run the validation: every scenario's replications, the measures and the tables.

    The primary scenario's runs give every item, the network facts, the turnover
    comparison (one extra run per replication, when turnover items exist) and the
    replications study; the robustness scenarios' runs give the items marked ``robust``.

    Args:
        spec: the specification (:func:`clustersim.validation.spec.load_spec`).
        reduced: use the reduced sizes and overrides (a quick end-to-end run).
        replications: replications per scenario (default: the specification's).
        progress: show a progress bar on stderr.
        jobs: worker processes (1: every run in this process); the results are the same.

    Returns:
        The :class:`ValidationResult`.
    """
    t0 = time.perf_counter()
    n_rep = int(replications or (spec.reduced.replications if reduced else spec.replications))
    if n_rep < 2:
        raise SpecError("replications", f"got {n_rep}; allowed: an integer >= 2")
    todo = tasks(spec, n_rep, reduced)
    logger.info("validation: %d runs in %d process(es)", len(todo), max(1, jobs))
    with pool(jobs) as executor, progress_bar(len(todo), "validation", "run", progress) as bar:
        outcomes = run_all(measure_run, todo, executor, bar)
    rows, net_rows, turn_rows, kpi_rows, size_rows = [], [], [], [], []
    degree_counts, random_counts = np.zeros(1), np.zeros(1)
    for task, out in zip(todo, outcomes, strict=True):
        if task.primary:
            assert out.network is not None and out.degrees is not None
            net_rows.append(out.network)
            degree_counts = _add(degree_counts, out.degrees)
            size = degree_counts.size
            rnd = random_degree_counts(int(out.network["nodes"]), float(out.network["random_lambda"]), size)
            random_counts = _add(random_counts, rnd)
            if out.turnover is not None:
                turn_rows.append(out.turnover)
            kpi_rows.append(out.kpis)
            size_rows += [(task.replication, *s) for s in out.sizes]
        rows += [(task.scenario, task.replication, name, value) for name, value in out.values.items()]
    per_rep = pd.DataFrame(rows, columns=["scenario", "replication", "item", "value"])
    wide = per_rep.pivot_table(index=["scenario", "replication"], columns="item", values="value", dropna=False)
    scenarios = [spec.primary_scenario, *spec.robustness_scenarios]
    curve, needed = replications_study(spec, pd.DataFrame(kpi_rows, columns=list(spec.replications_study.kpis)))
    return ValidationResult(
        spec=spec,
        reduced=reduced,
        replications=n_rep,
        per_replication=per_rep,
        table=comparison_table(spec, wide.loc[spec.primary_scenario]),
        robustness=robustness_table(spec, wide, scenarios),
        network=network_table(net_rows),
        turnover=turnover_table(turn_rows, spec),
        study_curve=curve,
        study_needed=needed,
        degree_counts=degree_counts,
        random_degree_counts=random_counts,
        cluster_sizes=pd.DataFrame(size_rows, columns=["replication", "date", "cluster", "members"]),
        seconds=time.perf_counter() - t0,
    )
