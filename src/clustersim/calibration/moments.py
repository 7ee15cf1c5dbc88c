"""The simulated moments: the targets' values read from model runs, over replications.

Replication ``r`` of every scenario and every parameter vector is child ``r`` of
``SeedSequence(root_seed)`` (:func:`clustersim.study.scenario_config`): common random
numbers, so two parameter vectors are compared on the same draws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor

import pandas as pd

from clustersim.calibration.spec import CalibrationSpec, Target
from clustersim.config import Config
from clustersim.study import RunRecord, run_all, run_record
from clustersim.study import scenario_config as study_config

#: A per-replication moments function: ``(params, spec, replication, root_seed) -> {target: value}``.
MomentsFn = Callable[[Mapping[str, float], CalibrationSpec, int, int], Mapping[str, float]]


def scenario_config(
    spec: CalibrationSpec, scenario: str, params: Mapping[str, float], replication: int, root_seed: int
) -> Config:
    """The validated configuration of one run: scenario, parameters, seed and replication."""
    overrides = [*spec.scenarios[scenario].overrides, *spec.method.overrides]
    return study_config(overrides, root_seed, replication, params)


def read_moments(rec: RunRecord, targets: Sequence[Target]) -> dict[str, float]:
    """Read the targets' simulated values from one run (NaN when absent)."""
    out: dict[str, float] = {}
    tables = rec.tables
    monthly = tables["monthly"]
    summary = tables["summary"]
    dates = monthly["date"].astype(str).str[:7]
    for t in targets:
        if t.measure or t.table:
            out[t.name] = _special_moment(tables, t, monthly, dates)
            continue
        if t.date is not None:
            sel = monthly[(monthly["kpi"] == t.kpi) & (monthly["cluster"] == t.cluster) & (dates == t.date)]
        else:
            sel = summary[(summary["kpi"] == t.kpi) & (summary["cluster"] == t.cluster)]
        out[t.name] = float(sel["value"].iloc[-1]) if len(sel) else float("nan")
    return out


def _special_moment(tables: Mapping[str, pd.DataFrame], t: Target, monthly: pd.DataFrame, dates: pd.Series) -> float:
    """A target read from the calls table or a named microdata measure (NaN when absent)."""
    if t.table == "calls":
        calls = tables["calls"].set_index("call")
        if t.row not in calls.index:
            return float("nan")
        num, _, den = t.column.partition("/")
        value = float(calls.loc[t.row, num])
        if den:
            d = float(calls.loc[t.row, den])
            return value / d if d else float("nan")
        return value
    if t.measure == "joiner_turnover_gap":
        from clustersim.matched import joiner_turnover_gap

        return joiner_turnover_gap(tables["firms"], **dict(t.args))
    # large_share: large members over members in the month `date`
    at = monthly[(monthly["cluster"] == "all") & (dates == t.date)].set_index("kpi")["value"]
    members = float(at.get("members", float("nan")))
    return float(at.get("members_large", float("nan"))) / members if members else float("nan")


def run_moments(cfg: Config, targets: Sequence[Target]) -> dict[str, float]:
    """Run the model once and read the targets' values."""
    return read_moments(run_record(cfg), targets)


def _run_task(task: tuple[int, Config, tuple[Target, ...]]) -> dict[str, float]:
    return run_moments(task[1], task[2])


def _targets_by_scenario(spec: CalibrationSpec) -> dict[str, tuple[Target, ...]]:
    """The targets of each scenario that has any, in the order of the scenarios."""
    by = {s: tuple(t for t in spec.targets.values() if t.scenario == s) for s in spec.scenarios}
    return {s: ts for s, ts in by.items() if ts}


def model_moments(params: Mapping[str, float], spec: CalibrationSpec, replication: int, root_seed: int) -> dict:
    """The model's moments of one replication (every scenario of the spec, in process).

    Args:
        params: values of the free parameters, by configuration key.
        spec: the calibration specification.
        replication: the replication (child of ``SeedSequence(root_seed)``).
        root_seed: root of the model's seed sequence.

    Returns:
        Simulated value of every target, by target name.
    """
    out: dict[str, float] = {}
    for scenario, targets in _targets_by_scenario(spec).items():
        cfg = scenario_config(spec, scenario, params, replication, root_seed)
        out.update(run_moments(cfg, targets))
    return out


def replicate_moments(
    params: Mapping[str, float],
    spec: CalibrationSpec,
    replications: int,
    root_seed: int,
    moments_fn: MomentsFn | None = None,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Moments of replications ``0..replications-1``: one row per replication, one column per target.

    Args:
        params: values of the free parameters, by configuration key.
        spec: the calibration specification.
        replications: number of replications (children 0.. of the root seed).
        root_seed: root of the seed sequence (the same for every parameter vector).
        moments_fn: per-replication moments (default: the model, :func:`model_moments`).
        executor: optional pool; the model's (scenario, replication) runs are spread over it.

    Returns:
        A DataFrame indexed by replication with one column per target.
    """
    names = list(spec.targets)
    if moments_fn is None and executor is not None:
        tasks = [
            (r, scenario_config(spec, scenario, params, r, root_seed), targets)
            for scenario, targets in _targets_by_scenario(spec).items()
            for r in range(replications)
        ]
        rows: list[dict[str, float]] = [{} for _ in range(replications)]
        for (r, _, _), moments in zip(tasks, run_all(_run_task, tasks, executor), strict=True):
            rows[r].update(moments)
    else:
        fn = moments_fn or model_moments
        rows = [dict(fn(params, spec, r, root_seed)) for r in range(replications)]
    frame = pd.DataFrame(rows, index=pd.RangeIndex(replications, name="replication"))
    return frame.reindex(columns=names).astype(float)


def simulated_moments(
    params: Mapping[str, float],
    spec: CalibrationSpec,
    replications: int,
    root_seed: int,
    moments_fn: MomentsFn | None = None,
    executor: Executor | None = None,
) -> dict[str, float]:
    """Simulated moments: the mean of each target over replications ``0..replications-1``.

    The model runs every scenario of ``spec`` once per replication; replication ``r`` is
    child ``r`` of ``SeedSequence(root_seed)`` whatever the parameters (common random
    numbers).

    Args:
        params: values of the free parameters, by configuration key.
        spec: the calibration specification.
        replications: number of replications.
        root_seed: root of the seed sequence.
        moments_fn: per-replication moments (default: the model).
        executor: optional pool for the model's runs.

    Returns:
        Mean simulated value of every target, by target name.
    """
    frame = replicate_moments(params, spec, replications, root_seed, moments_fn, executor)
    return {k: float(v) for k, v in frame.mean(axis=0).items()}
