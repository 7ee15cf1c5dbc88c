"""The calibration specification (``conf/calibration/piedmont.yaml``) as a typed, checked structure.

OmegaConf checks keys and types against these dataclasses (:func:`clustersim.study.read_spec`);
each ``check()`` then checks what a type cannot say (roles, ranges, scales, the scenario a
target names), raising :class:`~clustersim.errors.SpecError` naming the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import MISSING

from clustersim.errors import SpecError
from clustersim.study import Scenario, read_spec, spec_from_data, spec_path, words

ROLES: tuple[str, ...] = ("objective", "check")
SCALES: tuple[str, ...] = ("linear", "log")
MEASURES: tuple[str, ...] = ("joiner_turnover_gap", "large_share")
DEFAULT_SPEC = "calibration/piedmont.yaml"  # relative to the packaged conf/ folder


@dataclass
class Target:
    """One observed quantity the model should reproduce.

    Attributes:
        name: identifier (the key of ``targets``; a column of the history, a row of the table).
        scenario: the scenario whose runs produce the simulated value.
        kpi: the KPI name (monthly table if ``date`` is set, else the summary table);
            defaults to ``measure`` or ``table``.
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

    name: str = ""
    scenario: str = MISSING
    kpi: str = ""
    value: float = MISSING
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
    args: dict[str, Any] = field(default_factory=dict)

    def check(self, where: str, scenarios: Mapping[str, Any]) -> None:
        """Refuse an unknown measure, table, scenario or role, a zero value, a tolerance <= 0."""
        self.kpi = self.kpi or self.measure or self.table
        self.source, self.note = words(self.source), words(self.note)
        if self.measure and self.measure not in MEASURES:
            raise SpecError(f"{where}.measure", f"got {self.measure!r}; allowed: one of {list(MEASURES)}")
        if self.table and (self.table != "calls" or not self.row or not self.column):
            raise SpecError(f"{where}.table", f"got {self.table!r}; allowed: calls, with row (a call) and column")
        if self.scenario not in scenarios:
            raise SpecError(f"{where}.scenario", f"got {self.scenario!r}; allowed: one of {sorted(scenarios)}")
        if self.role not in ROLES:
            raise SpecError(f"{where}.role", f"got {self.role!r}; allowed: one of {list(ROLES)}")
        if self.value == 0 or not math.isfinite(self.value):
            raise SpecError(f"{where}.value", f"got {self.value}; allowed: a finite number other than 0")
        if not self.tolerance > 0:
            raise SpecError(f"{where}.tolerance", f"got {self.tolerance}; allowed: a number > 0")
        if not self.weight >= 0:
            raise SpecError(f"{where}.weight", f"got {self.weight}; allowed: a number >= 0")


@dataclass
class Parameter:
    """A free parameter: a configuration key and its plausible range.

    Attributes:
        key: dotted configuration key (the key of ``parameters``), e.g. ``behaviour.membership.beta0``.
        range: ``[low, high]``, the plausible range.
        scale: ``linear`` or ``log`` (how the unit interval maps onto the range).
        note: what the parameter mostly moves.
    """

    key: str = ""
    range: list[float] = MISSING
    scale: str = "linear"
    note: str = ""

    @property
    def low(self) -> float:
        """Lower end of the plausible range."""
        return float(self.range[0])

    @property
    def high(self) -> float:
        """Upper end of the plausible range."""
        return float(self.range[1])

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

    def check(self, where: str) -> None:
        """Refuse a range that is not ``[low, high]`` with ``low < high``, a bad scale, a key outside the model's."""
        self.note = words(self.note)
        if len(self.range) != 2 or not self.low < self.high:
            raise SpecError(f"{where}.range", f"got {list(self.range)}; allowed: [low, high] with low < high")
        if self.scale not in SCALES or (self.scale == "log" and self.low <= 0):
            raise SpecError(f"{where}.scale", f"got {self.scale!r}; allowed: one of {list(SCALES)} (log needs low > 0)")
        if not self.key.startswith(("behaviour.", "population.")):
            raise SpecError(where, "allowed: keys under behaviour. or population.")


@dataclass
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
    overrides: list[str] = field(default_factory=list)

    @property
    def budget(self) -> int:
        """The hard budget of evaluations of the search (LHS plus local)."""
        return self.n_lhs + self.n_local

    def check(self, where: str) -> None:
        """Refuse sizes below 1 (n_local below 0) and an initial step outside (0, 1]."""
        for k in ("n_lhs", "replications", "final_replications", "n_jobs"):
            if int(getattr(self, k)) < 1:
                raise SpecError(f"{where}.{k}", f"got {getattr(self, k)}; allowed: an integer >= 1")
        if self.n_local < 0:
            raise SpecError(f"{where}.n_local", f"got {self.n_local}; allowed: an integer >= 0")
        if not 0 < self.initial_step <= 1:
            raise SpecError(f"{where}.initial_step", f"got {self.initial_step}; allowed: a number in (0, 1]")


@dataclass
class CalibrationSpec:
    """Targets, free parameters, scenarios and method of one calibration (the YAML file's keys)."""

    targets: dict[str, Target] = field(default_factory=dict)
    parameters: dict[str, Parameter] = field(default_factory=dict)
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    name: str = "calibration"
    method: Method = field(default_factory=Method)
    reduced: Method = field(default_factory=lambda: Method(n_lhs=4, replications=1, n_local=4, final_replications=2))
    path: str = ""

    def check(self) -> None:
        """Check every target, parameter and method; name the keys from the mappings' keys."""
        for sc in self.scenarios.values():
            sc.description = words(sc.description)
        for name, t in self.targets.items():
            t.name = name
            t.check(f"targets.{name}", self.scenarios)
        for key, p in self.parameters.items():
            p.key = key
            p.check(f"parameters.{key}")
        if not self.targets or not self.parameters or not self.objective_targets():
            raise SpecError(
                self.path or "spec", "needs scenarios, at least one objective target and one free parameter"
            )
        self.method.check("method")
        self.reduced.check("reduced")

    @property
    def free(self) -> tuple[Parameter, ...]:
        """The free parameters, in the order of the file."""
        return tuple(self.parameters.values())

    @property
    def keys(self) -> list[str]:
        """The free parameters' configuration keys, in order."""
        return list(self.parameters)

    def objective_targets(self) -> dict[str, Target]:
        """The targets that enter the objective."""
        return {k: t for k, t in self.targets.items() if t.role == "objective"}

    def with_method(self, method: Method) -> CalibrationSpec:
        """The same spec with another method."""
        return replace(self, method=method)

    def from_unit(self, u: Sequence[float]) -> dict[str, float]:
        """Map a point of the unit cube onto parameter values (clipped to the box)."""
        return {p.key: p.from_unit(x) for p, x in zip(self.free, u, strict=True)}

    def to_unit(self, params: Mapping[str, float]) -> np.ndarray:
        """Map parameter values onto the unit cube."""
        return np.array([p.to_unit(params[p.key]) for p in self.free])


def load_spec(path: str | Path | None = None) -> CalibrationSpec:
    """Read a calibration specification (default: the packaged ``conf/calibration/piedmont.yaml``)."""
    return read_spec(CalibrationSpec, spec_path(path, DEFAULT_SPEC))


def spec_from_dict(data: Any, path: str = "") -> CalibrationSpec:
    """Build and check a :class:`CalibrationSpec` from its plain data (a parsed YAML file)."""
    return spec_from_data(CalibrationSpec, data, path)
