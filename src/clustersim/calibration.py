"""Calibration by the simulated method of moments.

The model is run under the scenarios of a calibration specification
(``conf/calibration/piedmont.yaml``): its *moments* (monthly member counts, end-of-run KPIs)
are averaged over replications and compared with observed *targets*. The objective is the
weighted sum of squared relative errors, each scaled by the target's tolerance. The
search is a Latin hypercube over the free parameters' plausible box followed by
Nelder-Mead from the best design point, in the unit cube and clipped to the box, under a
hard budget of model evaluations. Common random numbers: replication ``r`` of every
scenario and every parameter vector is child ``r`` of ``SeedSequence(model_seed)``, so two
parameter vectors are compared on the same draws.

Command line: ``clustersim-calibrate [--reduced] [--out DIR]`` (see :func:`main`). The method
and the results are described in ``docs/CALIBRATION.md``.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from clustersim import atomic
from clustersim.config import Config, config_dir, get_key, load_config, set_key, validate

logger = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("objective", "check")
SCALES: tuple[str, ...] = ("linear", "log")
DEFAULT_SPEC = "calibration/piedmont.yaml"  # relative to the packaged conf/ folder

#: A per-replication moments function: ``(params, spec, replication, root_seed) -> {target: value}``.
MomentsFn = Callable[[Mapping[str, float], "CalibrationSpec", int, int], Mapping[str, float]]


# --------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class Target:
    """One observed quantity the model should reproduce.

    Attributes:
        name: identifier (a column of the history and a row of the table).
        scenario: the scenario whose runs produce the simulated value.
        kpi: the KPI name (monthly table if ``date`` is set, else the summary table).
        value: the observed value (a point target).
        weight: weight of the term in the objective (0 for checks).
        tolerance: relative error that costs one unit of weight.
        role: ``objective`` (fitted) or ``check`` (reported only).
        cluster: the cluster column to read (``all`` for the whole scheme).
        date: the month ``YYYY-MM`` of a monthly target, or None for a summary KPI.
        source: where the observed value comes from.
        note: why the point target was chosen, when it is a reading of the source.
        table: read from another table instead: ``calls`` (one row per call: ``row`` is
            the call, ``column`` a column or a ratio ``a/b`` of two).
        row: the row of ``table``.
        column: the column of ``table``.
        measure: a named measure on the run's microdata instead of a KPI:
            ``joiner_turnover_gap`` (:func:`clustersim.matched.joiner_turnover_gap`, with
            ``args``), ``large_share`` (large members / members at ``date``).
        args: the measure's arguments.
    """

    name: str
    scenario: str
    kpi: str
    value: float
    weight: float = 1.0
    tolerance: float = 0.1
    role: str = "objective"
    cluster: str = "all"
    date: str | None = None
    source: str = ""
    note: str = ""
    table: str = ""
    row: str = ""
    column: str = ""
    measure: str = ""
    args: tuple[tuple[str, Any], ...] = ()


MEASURES: tuple[str, ...] = ("joiner_turnover_gap", "large_share")


@dataclass(frozen=True)
class Parameter:
    """A free parameter: a configuration key and its plausible range.

    Attributes:
        key: dotted configuration key, e.g. ``behaviour.membership.beta0``.
        low: lower end of the plausible range.
        high: upper end of the plausible range.
        scale: ``linear`` or ``log`` (how the unit interval maps onto the range).
        note: what the parameter mostly moves.
    """

    key: str
    low: float
    high: float
    scale: str = "linear"
    note: str = ""

    def from_unit(self, u: float) -> float:
        """Map ``u`` in [0, 1] (clipped) onto the range."""
        u = float(np.clip(u, 0.0, 1.0))
        if self.scale == "log":
            return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        return float(self.low + u * (self.high - self.low))

    def to_unit(self, x: float) -> float:
        """Map a value of the range onto [0, 1] (clipped)."""
        if self.scale == "log":
            u = (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            u = (x - self.low) / (self.high - self.low)
        return float(np.clip(u, 0.0, 1.0))


@dataclass(frozen=True)
class Scenario:
    """A model configuration (Hydra overrides) under which moments are simulated."""

    name: str
    overrides: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class Method:
    """Settings of the search.

    Attributes:
        seed: seed of the Latin hypercube.
        model_seed: root of the model's ``SeedSequence`` (common random numbers).
        n_lhs: points of the Latin hypercube.
        replications: replications per evaluation (children 0..replications-1).
        n_local: at most this many model evaluations in the Nelder-Mead phase.
        final_replications: replications of the best vector for the table.
        initial_step: edge of Nelder-Mead's initial simplex in the unit cube.
        n_jobs: worker processes for the runs of one evaluation (1: in process).
        overrides: Hydra overrides appended to every scenario.
    """

    seed: int = 0
    model_seed: int = 0
    n_lhs: int = 24
    replications: int = 3
    n_local: int = 30
    final_replications: int = 10
    initial_step: float = 0.15
    n_jobs: int = 1
    overrides: tuple[str, ...] = ()

    @property
    def budget(self) -> int:
        """The hard budget of evaluations of the search (LHS plus local)."""
        return self.n_lhs + self.n_local


@dataclass(frozen=True)
class CalibrationSpec:
    """Targets, free parameters, scenarios and method of one calibration."""

    name: str
    targets: dict[str, Target]
    parameters: tuple[Parameter, ...]
    scenarios: dict[str, Scenario]
    method: Method = field(default_factory=Method)
    reduced: Method = field(default_factory=lambda: Method(n_lhs=4, replications=1, n_local=4, final_replications=2))
    path: str = ""

    @property
    def keys(self) -> list[str]:
        """The free parameters' configuration keys, in order."""
        return [p.key for p in self.parameters]

    def objective_targets(self) -> dict[str, Target]:
        """The targets that enter the objective."""
        return {k: t for k, t in self.targets.items() if t.role == "objective"}

    def with_method(self, method: Method) -> CalibrationSpec:
        """The same spec with another method."""
        return replace(self, method=method)

    def from_unit(self, u: Sequence[float]) -> dict[str, float]:
        """Map a point of the unit cube onto parameter values (clipped to the box)."""
        return {p.key: p.from_unit(x) for p, x in zip(self.parameters, u, strict=True)}

    def to_unit(self, params: Mapping[str, float]) -> np.ndarray:
        """Map parameter values onto the unit cube."""
        return np.array([p.to_unit(params[p.key]) for p in self.parameters])


def _method(node: Mapping[str, Any] | None, name: str) -> Method:
    node = dict(node or {})
    allowed = {f for f in Method.__dataclass_fields__}
    unknown = set(node) - allowed
    if unknown:
        raise ValueError(f"{name}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    node["overrides"] = tuple(node.get("overrides") or ())
    m = Method(**node)
    for k in ("n_lhs", "replications", "final_replications", "n_jobs"):
        if int(getattr(m, k)) < 1:
            raise ValueError(f"{name}.{k}: got {getattr(m, k)}; allowed: an integer >= 1")
    if m.n_local < 0:
        raise ValueError(f"{name}.n_local: got {m.n_local}; allowed: an integer >= 0")
    if not 0 < m.initial_step <= 1:
        raise ValueError(f"{name}.initial_step: got {m.initial_step}; allowed: a number in (0, 1]")
    return m


def spec_from_dict(data: Mapping[str, Any], path: str = "") -> CalibrationSpec:
    """Build and check a :class:`CalibrationSpec` from its YAML data.

    Args:
        data: the parsed YAML (see ``conf/calibration/piedmont.yaml``).
        path: where it was read from (for messages and the record).

    Returns:
        The specification.

    Raises:
        ValueError: a missing or inconsistent entry, naming it.
    """
    scenarios = {
        name: Scenario(name, tuple(node.get("overrides") or ()), str(node.get("description", "")).strip())
        for name, node in (data.get("scenarios") or {}).items()
    }
    targets: dict[str, Target] = {}
    for name, node in (data.get("targets") or {}).items():
        t = Target(
            name=name,
            scenario=node["scenario"],
            kpi=str(node.get("kpi", node.get("measure", node.get("table", "")))),
            value=float(node["value"]),
            weight=float(node.get("weight", 1.0)),
            tolerance=float(node.get("tolerance", 0.1)),
            role=node.get("role", "objective"),
            cluster=str(node.get("cluster", "all")),
            date=None if node.get("date") is None else str(node["date"]),
            source=str(node.get("source", "")).strip(),
            note=str(node.get("note", "")).strip(),
            table=str(node.get("table", "")),
            row=str(node.get("row", "")),
            column=str(node.get("column", "")),
            measure=str(node.get("measure", "")),
            args=tuple(sorted((node.get("args") or {}).items())),
        )
        if t.measure and t.measure not in MEASURES:
            raise ValueError(f"targets.{name}.measure: got {t.measure!r}; allowed: {list(MEASURES)}")
        if t.table and (t.table != "calls" or not t.row or not t.column):
            raise ValueError(f"targets.{name}.table: allowed: calls, with row (a call) and column")
        if t.scenario not in scenarios:
            raise ValueError(f"targets.{name}.scenario: got {t.scenario!r}; allowed: {sorted(scenarios)}")
        if t.role not in ROLES:
            raise ValueError(f"targets.{name}.role: got {t.role!r}; allowed: {list(ROLES)}")
        if t.value == 0 or t.tolerance <= 0 or t.weight < 0:
            raise ValueError(f"targets.{name}: value must be non-zero, tolerance > 0 and weight >= 0")
        targets[name] = t
    parameters = []
    for key, node in (data.get("parameters") or {}).items():
        low, high = (float(v) for v in node["range"])
        p = Parameter(key, low, high, node.get("scale", "linear"), str(node.get("note", "")).strip())
        if not low < high:
            raise ValueError(f"parameters.{key}.range: got {[low, high]}; allowed: [low, high] with low < high")
        if p.scale not in SCALES or (p.scale == "log" and low <= 0):
            raise ValueError(f"parameters.{key}.scale: got {p.scale!r}; allowed: {list(SCALES)} (log needs low > 0)")
        if not key.startswith(("behaviour.", "population.")):
            raise ValueError(f"parameters.{key}: allowed: keys under behaviour. or population.")
        parameters.append(p)
    if not targets or not parameters or not any(t.role == "objective" for t in targets.values()):
        raise ValueError(f"{path or 'spec'}: needs scenarios, at least one objective target and one parameter")
    return CalibrationSpec(
        name=str(data.get("name", "calibration")),
        targets=targets,
        parameters=tuple(parameters),
        scenarios=scenarios,
        method=_method(data.get("method"), "method"),
        reduced=_method(data.get("reduced"), "reduced"),
        path=path,
    )


def load_spec(path: str | Path | None = None) -> CalibrationSpec:
    """Read a calibration specification (default: the packaged ``conf/calibration/piedmont.yaml``)."""
    p = Path(path) if path is not None else Path(config_dir()) / DEFAULT_SPEC
    with open(p) as fh:
        data = yaml.safe_load(fh)
    return spec_from_dict(data, str(p))


# ------------------------------------------------------------------------ the model
@functools.lru_cache(maxsize=16)
def _base_config(overrides: tuple[str, ...]) -> Config:
    """Compose a scenario's configuration once (Hydra composition is the slow part)."""
    return load_config(list(overrides))


def scenario_config(
    spec: CalibrationSpec, scenario: str, params: Mapping[str, float], replication: int, root_seed: int
) -> Config:
    """The validated configuration of one run: scenario, parameters, seed and replication."""
    sc = spec.scenarios[scenario]
    cfg = copy.deepcopy(_base_config((*sc.overrides, *spec.method.overrides)))
    for key, value in params.items():
        set_key(cfg, key, value)
    cfg.seed = int(root_seed)
    cfg.replication = int(replication)
    cfg.progress = False
    return validate(cfg)


def read_moments(tables: Mapping[str, pd.DataFrame], targets: Sequence[Target]) -> dict[str, float]:
    """Read the targets' simulated values from one run's tables (NaN when absent)."""
    out: dict[str, float] = {}
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


def _run_scenario(cfg: Config, targets: tuple[Target, ...]) -> dict[str, float]:
    from clustersim.runner import simulate

    return read_moments(simulate(cfg), targets)


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
    for scenario in spec.scenarios:
        targets = tuple(t for t in spec.targets.values() if t.scenario == scenario)
        if targets:
            cfg = scenario_config(spec, scenario, params, replication, root_seed)
            out.update(_run_scenario(cfg, targets))
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
        futures = {}
        for scenario in spec.scenarios:
            targets = tuple(t for t in spec.targets.values() if t.scenario == scenario)
            if not targets:
                continue
            for r in range(replications):
                cfg = scenario_config(spec, scenario, params, r, root_seed)
                futures[(scenario, r)] = executor.submit(_run_scenario, cfg, targets)
        rows: list[dict[str, float]] = [{} for _ in range(replications)]
        for (_, r), fut in futures.items():
            rows[r].update(fut.result())
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


# ------------------------------------------------------------------------ objective
def objective(moments: Mapping[str, float], targets: Mapping[str, Target]) -> float:
    """Weighted sum of squared relative errors, each scaled by the target's tolerance.

    ``sum_t weight_t * ((m_t - v_t) / (|v_t| * tolerance_t))**2`` over the targets with role
    ``objective``; checks do not count. A missing or non-finite moment gives ``inf``.

    Args:
        moments: simulated values by target name.
        targets: the targets by name.

    Returns:
        The objective (0 at the targets).
    """
    total = 0.0
    for name, t in targets.items():
        if t.role != "objective" or t.weight == 0:
            continue
        m = moments.get(name, float("nan"))
        if m is None or not math.isfinite(m):
            return float("inf")
        total += t.weight * ((m - t.value) / (abs(t.value) * t.tolerance)) ** 2
    return float(total)


def latin_hypercube(spec: CalibrationSpec, n: int, seed: int) -> tuple[np.ndarray, list[dict[str, float]]]:
    """A Latin hypercube of ``n`` points over the parameters' box.

    Args:
        spec: the calibration specification (its parameters and scales).
        n: number of points.
        seed: seed of ``scipy.stats.qmc.LatinHypercube``.

    Returns:
        The points in the unit cube (``n x d``) and the same points as parameter dicts.
    """
    from scipy.stats import qmc

    unit = qmc.LatinHypercube(d=len(spec.parameters), seed=np.random.default_rng(seed)).random(n)
    return unit, [spec.from_unit(u) for u in unit]


# ---------------------------------------------------------------------- calibration
@dataclass
class CalibrationResult:
    """What a calibration found.

    Attributes:
        params: the best parameter values, by configuration key.
        objective: the objective of the best vector at the estimation replications.
        final_objective: the objective of the best vector's mean over the final replications.
        table: per target: observed, simulated mean, 95% CI over the final replications,
            relative error, weight, tolerance, role.
        history: one row per evaluation (phase, objective, parameters, moments, seconds).
        final_moments: the best vector's moments, one row per final replication.
        spec: the specification used (with the method actually run).
        reduced: whether the reduced method was used.
        n_evaluations: model evaluations of the search (LHS plus local, without the final re-run).
        seconds: wall time.
    """

    params: dict[str, float]
    objective: float
    final_objective: float
    table: pd.DataFrame
    history: pd.DataFrame
    final_moments: pd.DataFrame
    spec: CalibrationSpec
    reduced: bool
    n_evaluations: int
    seconds: float

    @property
    def behaviour_params(self) -> dict[str, float]:
        """The best values of the keys under ``behaviour.``."""
        return {k: v for k, v in self.params.items() if k.startswith("behaviour.")}

    @property
    def population_params(self) -> dict[str, float]:
        """The best values of the keys under ``population.`` (not part of the behaviour group)."""
        return {k: v for k, v in self.params.items() if k.startswith("population.")}

    @property
    def overrides(self) -> list[str]:
        """The best values as Hydra override strings."""
        return [f"{k}={v!r}" for k, v in self.params.items()]


class _BudgetExhausted(Exception):
    """Raised inside the local search when the evaluation budget is spent."""


class _Evaluator:
    """Counts evaluations, enforces the budget and records the history."""

    def __init__(
        self,
        spec: CalibrationSpec,
        budget: int,
        moments_fn: MomentsFn | None,
        executor: Executor | None,
        bar: Any,
    ) -> None:
        self.spec = spec
        self.budget = budget
        self.moments_fn = moments_fn
        self.executor = executor
        self.bar = bar
        self.rows: list[dict[str, Any]] = []
        self.best: tuple[float, dict[str, float]] = (float("inf"), {})

    def __call__(self, u: np.ndarray, phase: str) -> float:
        if len(self.rows) >= self.budget:
            raise _BudgetExhausted
        params = self.spec.from_unit(np.clip(np.asarray(u, dtype=float), 0.0, 1.0))
        t0 = time.perf_counter()
        m = self.spec.method
        moments = simulated_moments(params, self.spec, m.replications, m.model_seed, self.moments_fn, self.executor)
        value = objective(moments, self.spec.targets)
        seconds = time.perf_counter() - t0
        self.rows.append(
            {"evaluation": len(self.rows), "phase": phase, "objective": value, **params, **moments, "seconds": seconds}
        )
        if value < self.best[0] or not self.best[1]:
            self.best = (value, params)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(best=f"{self.best[0]:.3g}")
        logger.debug("evaluation %d (%s): objective %.4g in %.1f s", len(self.rows) - 1, phase, value, seconds)
        return value

    def history(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def _initial_simplex(x0: np.ndarray, step: float) -> np.ndarray:
    """Nelder-Mead's initial simplex around ``x0``, inside the unit cube."""
    d = len(x0)
    simplex = np.tile(x0, (d + 1, 1))
    for i in range(d):
        simplex[i + 1, i] = x0[i] + step if x0[i] + step <= 1.0 else x0[i] - step
    return simplex


def _ci95(values: pd.Series) -> tuple[float, float]:
    """Two-sided 95% t interval of the mean (NaN with fewer than two finite values)."""
    from scipy import stats

    v = values.dropna().to_numpy(dtype=float)
    if len(v) < 2:
        return float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    mean = float(v.mean())
    return mean - half, mean + half


def target_table(spec: CalibrationSpec, per_replication: pd.DataFrame) -> pd.DataFrame:
    """Target, simulated mean with its 95% CI over replications, and relative error.

    Args:
        spec: the calibration specification.
        per_replication: moments, one row per replication, one column per target.

    Returns:
        One row per target (objective targets first, then checks).
    """
    rows = []
    for name, t in spec.targets.items():
        col = per_replication[name] if name in per_replication else pd.Series(dtype=float)
        mean = float(col.mean()) if col.notna().any() else float("nan")
        lo, hi = _ci95(col)
        rel = (mean - t.value) / abs(t.value)
        rows.append(
            {
                "target": name,
                "role": t.role,
                "scenario": t.scenario,
                "kpi": t.kpi,
                "date": t.date or "window",
                "observed": t.value,
                "simulated_mean": mean,
                "ci95_low": lo,
                "ci95_high": hi,
                "relative_error": rel,
                "tolerance": t.tolerance,
                "weight": t.weight,
                "within_tolerance": bool(abs(rel) <= t.tolerance) if math.isfinite(rel) else False,
                "replications": int(col.notna().sum()),
            }
        )
    table = pd.DataFrame(rows)
    order = table["role"].map({r: i for i, r in enumerate(ROLES)})
    return table.assign(_o=order).sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)


def current_values(spec: CalibrationSpec) -> dict[str, float]:
    """The free parameters' values in the composed configuration (clipped to their ranges)."""
    cfg = scenario_config(spec, next(iter(spec.scenarios)), {}, 0, spec.method.model_seed)
    return {p.key: float(np.clip(get_key(cfg, p.key), p.low, p.high)) for p in spec.parameters}


def calibrate(
    spec: CalibrationSpec,
    reduced: bool = False,
    progress: bool = True,
    moments_fn: MomentsFn | None = None,
) -> CalibrationResult:
    """Calibrate the free parameters by the simulated method of moments.

    A Latin hypercube of ``n_lhs`` points over the box, then Nelder-Mead (in the unit cube,
    clipped to the box) from the best design point, with at most ``n_local`` evaluations;
    the search never uses more than ``n_lhs + n_local`` evaluations. Every evaluation uses
    the same replication seeds (common random numbers). The best vector is finally re-run
    with ``final_replications`` replications for the table of targets.

    Args:
        spec: the calibration specification (:func:`load_spec`).
        reduced: use ``spec.reduced`` instead of ``spec.method`` (a quick end-to-end run).
        progress: show a progress bar on stderr.
        moments_fn: per-replication moments ``(params, spec, replication, root_seed) ->
            {target: value}``; default the model (a cheap synthetic function in tests).

    Returns:
        The :class:`CalibrationResult`.
    """
    from scipy.optimize import minimize

    t_start = time.perf_counter()
    method = spec.reduced if reduced else spec.method
    spec = spec.with_method(method)
    budget = method.budget
    logger.info(
        "calibrating %d parameters on %d targets (%s): %d LHS points + at most %d local evaluations, %d replications",
        len(spec.parameters),
        len(spec.objective_targets()),
        "reduced" if reduced else "full",
        method.n_lhs,
        method.n_local,
        method.replications,
    )
    executor: Executor | None = None
    if method.n_jobs > 1 and moments_fn is None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        executor = ProcessPoolExecutor(max_workers=method.n_jobs, mp_context=multiprocessing.get_context("spawn"))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=budget + 1, desc="calibration", unit="eval")
    try:
        ev = _Evaluator(spec, budget, moments_fn, executor, bar)
        unit, _ = latin_hypercube(spec, method.n_lhs, method.seed)
        if moments_fn is None:
            # the configuration's current values (the previous estimates) are a candidate too,
            # in place of the last design point, so that a re-calibration starts from them
            unit[-1] = spec.to_unit(current_values(spec))
        for k, u in enumerate(unit):
            ev(u, "current" if moments_fn is None and k == len(unit) - 1 else "lhs")
        x0 = unit[int(np.nanargmin(ev.history()["objective"].to_numpy(dtype=float)))]
        if method.n_local > 0 and math.isfinite(ev.best[0]):
            d = len(spec.parameters)
            try:
                minimize(
                    lambda u: ev(u, "local"),
                    x0,
                    method="Nelder-Mead",
                    bounds=[(0.0, 1.0)] * d,
                    options={
                        "maxfev": method.n_local,
                        "initial_simplex": _initial_simplex(x0, method.initial_step),
                        "xatol": 1e-3,
                        "fatol": 1e-4,
                    },
                )
            except _BudgetExhausted:
                logger.info("evaluation budget of %d spent", budget)
        best_value, best_params = ev.best
        logger.info("best objective %.4g after %d evaluations; re-running it", best_value, len(ev.rows))
        final = replicate_moments(best_params, spec, method.final_replications, method.model_seed, moments_fn, executor)
        if bar is not None:
            bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if executor is not None:
            executor.shutdown()
    final_objective = objective({k: float(v) for k, v in final.mean(axis=0).items()}, spec.targets)
    return CalibrationResult(
        params=dict(best_params),
        objective=float(best_value),
        final_objective=float(final_objective),
        table=target_table(spec, final),
        history=ev.history(),
        final_moments=final,
        spec=spec,
        reduced=reduced,
        n_evaluations=len(ev.rows),
        seconds=time.perf_counter() - t_start,
    )


# -------------------------------------------------------------------------- outputs
def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def calibration_table_markdown(result: CalibrationResult) -> str:
    """The table of targets and the best parameters, as Markdown.

    Args:
        result: a calibration result.

    Returns:
        Markdown text: the targets (observed, simulated mean with 95% CI, relative error)
        and the best parameter values with their ranges.
    """
    m = result.spec.method
    lines = [
        f"Objective {result.objective:.4g} at {m.replications} replication(s); "
        f"{result.final_objective:.4g} on the mean of {m.final_replications} replications "
        f"({result.n_evaluations} evaluations, {'reduced' if result.reduced else 'full'} method).",
        "",
        "| target | role | observed | simulated mean | 95% CI | relative error | tolerance |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for r in result.table.itertuples(index=False):
        ci = f"[{_fmt(r.ci95_low)}, {_fmt(r.ci95_high)}]" if math.isfinite(r.ci95_low) else "n/a"
        rel = f"{r.relative_error:+.1%}" if math.isfinite(r.relative_error) else "n/a"
        when = "" if r.date == "window" else f" ({r.date})"
        lines.append(
            f"| {r.target}{when} | {r.role} | {_fmt(r.observed)} | {_fmt(r.simulated_mean)} | {ci} | {rel} "
            f"| {r.tolerance:.0%} |"
        )
    lines += ["", "| parameter | best | range | scale |", "|---|---:|---|---|"]
    for p in result.spec.parameters:
        lines.append(f"| `{p.key}` | {result.params[p.key]:.4g} | [{p.low:g}, {p.high:g}] | {p.scale} |")
    return "\n".join(lines) + "\n"


def _nest(flat: Mapping[str, float], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.removeprefix(prefix).split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = float(value)
    return out


def calibrated_config_text(result: CalibrationResult) -> str:
    """The text of a Hydra ``behaviour`` group option holding the calibrated values."""
    header = [
        "# Calibrated behavioural parameters (clustersim-calibrate; docs/CALIBRATION.md).",
        f"# Specification: {result.spec.name}; objective {result.objective:.4g} "
        f"({result.spec.method.replications} replications), {result.final_objective:.4g} "
        f"({result.spec.method.final_replications} replications); "
        f"{'REDUCED method: a smoke test, not an estimate' if result.reduced else 'full method'}.",
        "# Every key not set here is that of conf/behaviour/default.yaml.",
    ]
    if result.population_params:
        header.append("# Population keys are not part of the behaviour group; set them with the population")
        header.append("# (conf/population/*.yaml) or on the command line:")
        header += [f"#   {k}={v!r}" for k, v in result.population_params.items()]
    body = {"defaults": ["default", "_self_"], "name": "calibrated", **_nest(result.behaviour_params, "behaviour.")}
    return "\n".join(header) + "\n" + yaml.safe_dump(body, sort_keys=False)


def write_calibrated_config(result: CalibrationResult, path: str | Path) -> dict[str, float]:
    """Write the calibrated behaviour keys as a Hydra ``behaviour`` group option.

    The file (e.g. ``conf/behaviour/calibrated.yaml``) starts with ``defaults: [default,
    _self_]``, so every key not calibrated keeps its value from ``default.yaml``; select it
    with ``behaviour=calibrated``. Keys under ``population.`` cannot live in the behaviour
    group: they are listed in the file's header and returned.

    Args:
        result: a calibration result.
        path: the file to write (atomically).

    Returns:
        The calibrated keys under ``population.`` (to be set in the population group).
    """
    atomic.write_text(path, calibrated_config_text(result))
    return dict(result.population_params)


def _best_record(result: CalibrationResult) -> dict[str, Any]:
    m = result.spec.method
    return {
        "spec": result.spec.path or result.spec.name,
        "reduced": result.reduced,
        "objective": float(result.objective),
        "final_objective": float(result.final_objective),
        "n_evaluations": int(result.n_evaluations),
        "seconds": round(float(result.seconds), 1),
        "method": {
            "seed": m.seed,
            "model_seed": m.model_seed,
            "n_lhs": m.n_lhs,
            "replications": m.replications,
            "n_local": m.n_local,
            "final_replications": m.final_replications,
            "overrides": list(m.overrides),
        },
        "params": {k: float(v) for k, v in result.params.items()},
        "overrides": result.overrides,
    }


def write_results(result: CalibrationResult, out: str | Path) -> Path:
    """Write a calibration's results into the folder ``out``, atomically.

    Files: ``history.parquet`` (every evaluation), ``table.csv`` and ``table.md`` (targets
    and best parameters), ``best.yaml`` (best values, objective, method) and
    ``calibrated.yaml`` (a ``behaviour`` group option, see :func:`write_calibrated_config`).
    Everything is written to a temporary sibling folder, which then replaces ``out``.

    Args:
        result: a calibration result.
        out: the results folder.

    Returns:
        The folder written.
    """
    out = Path(out)
    with atomic.folder(out, replace=True) as tmp:
        result.history.to_parquet(tmp / "history.parquet", index=False)
        result.table.to_csv(tmp / "table.csv", index=False)
        (tmp / "table.md").write_text(calibration_table_markdown(result))
        (tmp / "best.yaml").write_text(yaml.safe_dump(_best_record(result), sort_keys=False))
        write_calibrated_config(result, tmp / "calibrated.yaml")
    return out


def main(argv: list[str] | None = None) -> int:
    """``clustersim-calibrate [--reduced] [--out DIR]``: calibrate and write the results."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="clustersim-calibrate", description=main.__doc__)
    parser.add_argument("--reduced", action="store_true", help="the reduced method (a quick end-to-end run)")
    parser.add_argument(
        "--out", type=Path, default=None, help="results folder (default results/calibration, or ...-reduced)"
    )
    parser.add_argument(
        "--spec", type=Path, default=None, help="calibration file (default: conf/calibration/piedmont.yaml)"
    )
    parser.add_argument("--n-lhs", type=int, default=None, help="override the method's n_lhs")
    parser.add_argument("--replications", type=int, default=None, help="override the method's replications")
    parser.add_argument("--n-local", type=int, default=None, help="override the method's n_local")
    parser.add_argument("--final-replications", type=int, default=None, help="override final_replications")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes per evaluation (n_jobs)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)  # this module's progress; the model's loggers stay at WARNING
    try:
        spec = load_spec(args.spec)
        changes = {
            k: v
            for k, v in (
                ("n_lhs", args.n_lhs),
                ("replications", args.replications),
                ("n_local", args.n_local),
                ("final_replications", args.final_replications),
                ("n_jobs", args.jobs),
            )
            if v is not None
        }
        if changes:
            which = "reduced" if args.reduced else "method"
            spec = replace(spec, **{which: _method({**vars(getattr(spec, which)), **changes}, which)})
    except (OSError, ValueError, KeyError, yaml.YAMLError) as err:
        print(f"clustersim-calibrate: error: {err}", file=sys.stderr)
        return 2
    out = args.out or Path("results") / ("calibration-reduced" if args.reduced else "calibration")
    result = calibrate(spec, reduced=args.reduced, progress=not args.quiet)
    folder = write_results(result, out)
    print(calibration_table_markdown(result))
    print(f"results: {folder}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
