"""The search: the objective, a Latin hypercube then Nelder-Mead under a hard budget of evaluations.

The objective is the weighted sum of squared relative errors, each scaled by the target's
tolerance (:func:`objective`). :func:`calibrate` evaluates a Latin hypercube over the free
parameters' box, then runs Nelder-Mead from the best point (in the unit cube, clipped to
the box) until the budget of evaluations is spent, and re-runs the best vector for the
table of targets (:func:`target_table`: the mean with its 95% t interval, from
:func:`clustersim.stats.mean_interval`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clustersim import stats
from clustersim.calibration.moments import MomentsFn, replicate_moments, scenario_config, simulated_moments
from clustersim.calibration.spec import ROLES, CalibrationSpec, Target
from clustersim.config import get_key
from clustersim.study import pool, progress_bar

logger = logging.getLogger("clustersim.calibrate")


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

    unit = qmc.LatinHypercube(d=len(spec.free), seed=np.random.default_rng(seed)).random(n)
    return unit, [spec.from_unit(u) for u in unit]


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
        ci = stats.mean_interval(col.to_numpy(dtype=float))
        lo, hi = ci.low, ci.high
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
    return {p.key: float(np.clip(get_key(cfg, p.key), p.low, p.high)) for p in spec.free}


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
        len(spec.free),
        len(spec.objective_targets()),
        "reduced" if reduced else "full",
        method.n_lhs,
        method.n_local,
        method.replications,
    )
    jobs = method.n_jobs if moments_fn is None else 1
    with pool(jobs) as executor, progress_bar(budget + 1, "calibration", "eval", progress) as bar:
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
            d = len(spec.free)
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
