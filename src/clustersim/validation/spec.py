"""The validation specification (``conf/validation/piedmont.yaml``) as a typed, checked structure.

OmegaConf checks keys and types against these dataclasses (:func:`clustersim.study.read_spec`);
each ``check()`` then checks what a type cannot say (a measure's required keys, months,
a public figure's kind), raising :class:`~clustersim.errors.SpecError` naming the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clustersim.config import SIZE_CLASSES
from clustersim.errors import SpecError
from clustersim.study import Scenario, check_month, read_spec, spec_from_data, spec_path, words

DEFAULT_SPEC = "validation/piedmont.yaml"  # relative to the packaged conf/ folder
PUBLIC_KINDS: tuple[str, ...] = ("point", "lower_bound", "upper_bound", "range")
MEASURES: dict[str, tuple[str, ...]] = {
    # measure type -> its required keys
    "summary": ("kpi",),
    "cluster_members": ("date", "cluster"),
    "cluster_rank": ("date", "cluster"),
    "member_share": ("date", "sizes"),
    "sme_members_per_cluster": ("date",),
    "call_line": ("line", "stat"),
    "call": ("call", "stat"),
    "grants_awarded": ("until",),
    "projects_until": ("until",),
    "project_rule": ("rule", "value"),
    "turnover": ("stat",),
    "network": ("stat",),
}
CALL_STATS = (
    "proposals",
    "funded",
    "success_rate",
    "grants_eur_m",
    "budget_eur_m",
    "firms_per_project",
    "admitted_share",
    "oversubscription",
    "cross_cluster_share",
)
PROJECT_RULES = ("min_cost_eur", "max_duration_months", "max_aid_share")
TURNOVER_STATS = (
    "share_above_members",
    "share_above_matched",
    "share_above_gap_pp",
    "share_above_ratio",
    "growth_members_pct",
    "growth_matched_pct",
    "growth_gap_pp",
    "share_above_joiners",
    "share_above_joiners_matched",
    "joiners_share_gap_pp",
    "joiners_growth_gap_pp",
    "n_members",
    "n_joiners",
    "n_never",
)
NETWORK_STATS = (
    "nodes",
    "edges",
    "mean_degree",
    "max_degree",
    "degree_cv",
    "degree_cv_random",
    "degree_cv_ratio",
    "power_law_alpha",
    "power_law_alpha_random",
    "random_lambda",
    "clustering",
    "clustering_random",
    "clustering_ratio",
    "giant_share",
    "giant_share_random",
    "assortativity",
)
_ALLOWED_VALUES = {
    "call_line": ("stat", CALL_STATS),
    "call": ("stat", CALL_STATS),
    "project_rule": ("rule", PROJECT_RULES),
    "turnover": ("stat", TURNOVER_STATS),
    "network": ("stat", NETWORK_STATS),
}
#: measures read from the membership snapshots (their dates must be in ``snapshot_dates``)
SNAPSHOT_MEASURES = ("member_share", "sme_members_per_cluster")


def _fmt(x: float) -> str:
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if x == int(x):
        return f"{int(x)}"
    return f"{x:.3g}"


@dataclass
class Public:
    """A public figure: a point, a bound or a range.

    Attributes:
        kind: ``point``, ``lower_bound``, ``upper_bound`` or ``range``.
        value: the figure (the bound for a bound; unused for a range).
        low: lower end of a range.
        high: upper end of a range.
    """

    kind: str = "point"
    value: float = math.nan
    low: float = math.nan
    high: float = math.nan

    @property
    def reference(self) -> float:
        """The number the gap is measured from (the midpoint of a range)."""
        return 0.5 * (self.low + self.high) if self.kind == "range" else self.value

    def text(self) -> str:
        """The figure in words, e.g. ``>= 200`` or ``2 to 3.5``."""
        if self.kind == "lower_bound":
            return f">= {_fmt(self.value)}"
        if self.kind == "upper_bound":
            return f"<= {_fmt(self.value)}"
        if self.kind == "range":
            return f"{_fmt(self.low)} to {_fmt(self.high)}"
        return _fmt(self.value)

    def check(self, where: str) -> None:
        """Refuse an unknown kind, a range with ``low >= high`` or a figure that is not finite."""
        if self.kind not in PUBLIC_KINDS:
            raise SpecError(f"{where}.kind", f"got {self.kind!r}; allowed: one of {list(PUBLIC_KINDS)} or public: null")
        if self.kind == "range":
            if not self.low < self.high:
                raise SpecError(where, f"got low {self.low}, high {self.high}; allowed: low < high")
        elif not math.isfinite(self.value):
            raise SpecError(f"{where}.value", f"got {self.value}; allowed: a finite number")


@dataclass
class Measure:
    """What to read from a run: the measure's ``type`` and the keys it needs (:data:`MEASURES`).

    Attributes:
        type: the kind of measure.
        kpi: a summary KPI (``summary``).
        cluster: a cluster key (``all`` for the whole scheme, the default where it is optional).
        date: a month ``YYYY-MM`` (monthly values and snapshots).
        until: the last month counted (``grants_awarded``, ``projects_until``).
        line: a call line (``call_line``).
        call: a call's name (``call``).
        stat: the statistic (calls, turnover, network).
        rule: a rule of the calls (``project_rule``) ...
        value: ... and its threshold.
        sizes: size classes (``member_share``).
        equals: ``cluster_rank`` only: 1 when the rank equals it, else 0.
        scale: the value is multiplied by it.
    """

    type: str = "???"
    kpi: str | None = None
    cluster: str | None = None
    date: str | None = None
    until: str | None = None
    line: str | None = None
    call: str | None = None
    stat: str | None = None
    rule: str | None = None
    value: float | None = None
    sizes: list[str] | None = None
    equals: float | None = None
    scale: float = 1.0

    def check(self, where: str) -> None:
        """Refuse an unknown type, a missing key, a month that is not ``YYYY-MM``, an unknown statistic."""
        if self.type not in MEASURES:
            raise SpecError(f"{where}.type", f"got {self.type!r}; allowed: one of {sorted(MEASURES)}")
        for key in MEASURES[self.type]:
            if getattr(self, key) is None:
                needs = list(MEASURES[self.type])
                raise SpecError(f"{where}.{key}", f"missing; the measure {self.type!r} needs {needs}")
        for key in ("date", "until"):
            if getattr(self, key) is not None:
                check_month(getattr(self, key), f"{where}.{key}")
        if self.type in _ALLOWED_VALUES:
            key, values = _ALLOWED_VALUES[self.type]
            if getattr(self, key) not in values:
                raise SpecError(f"{where}.{key}", f"got {getattr(self, key)!r}; allowed: one of {list(values)}")
        if self.type == "member_share" and (not self.sizes or any(s not in SIZE_CLASSES for s in self.sizes)):
            raise SpecError(f"{where}.sizes", f"got {self.sizes!r}; allowed: a list of {list(SIZE_CLASSES)}")


@dataclass
class Item:
    """One validation output: a measure of the model and, maybe, a public figure.

    Attributes:
        name: identifier (the key of ``items``).
        group: the heading it is reported under.
        label: what it is, in words (default: its name).
        measure: what is read from each run.
        public: the public figure, or None.
        mark: ``C`` (stated in the source) or ``I`` (inferred: an assumption).
        tolerance: relative gap still read as "within" (default: ``default_tolerance``).
        robust: also computed under the robustness scenarios.
        source: where the public figure comes from.
        note: how it is read.
    """

    name: str = ""
    group: str = "other"
    label: str = ""
    measure: Measure = field(default_factory=Measure)
    public: Public | None = None
    mark: str = ""
    tolerance: float | None = None  # the spec's default_tolerance when not given
    robust: bool = False
    source: str = ""
    note: str = ""


@dataclass
class Reduced:
    """The reduced validation (tests, CI): fewer replications, extra overrides."""

    replications: int = 3
    overrides: list[str] = field(default_factory=list)


@dataclass
class Network:
    """The collaboration network read: tie kinds, and the smallest degree of the tail."""

    kinds: list[str] = field(default_factory=lambda: ["firm_firm"])
    tail_xmin: int = 3


@dataclass
class Turnover:
    """Turnover growth of members and joiners against matched never-members (the ``turnover`` items)."""

    start: str | None = None
    end: str | None = None
    joiners_from: str | None = None
    joiners_to: str | None = None
    threshold: float | None = None

    def months(self) -> dict[str, str]:
        """The four dates, by name (all given: checked when turnover items exist)."""
        return {k: str(getattr(self, k)) for k in ("start", "end", "joiners_from", "joiners_to")}


@dataclass
class ReplicationsStudy:
    """KPIs whose CI width is studied against the number of replications, and the half-widths wanted."""

    kpis: list[str] = field(default_factory=list)
    half_widths: list[float] = field(default_factory=lambda: [0.05, 0.02])


@dataclass
class ValidationSpec:
    """Items, scenarios and sizes of one validation (the YAML file's keys)."""

    items: dict[str, Item] = field(default_factory=dict)
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    primary_scenario: str = ""
    robustness_scenarios: list[str] = field(default_factory=list)
    name: str = "validation"
    seed: int = 0
    replications: int = 30
    default_tolerance: float = 0.2
    reduced: Reduced = field(default_factory=Reduced)
    snapshot_dates: list[str] = field(default_factory=list)
    network: Network = field(default_factory=Network)
    turnover: Turnover = field(default_factory=Turnover)
    replications_study: ReplicationsStudy = field(default_factory=ReplicationsStudy)
    path: str = ""

    def tolerance(self, item: Item) -> float:
        """The item's tolerance, or the default."""
        return self.default_tolerance if item.tolerance is None else float(item.tolerance)

    def check(self) -> None:
        """Check what the types cannot: names, months, required blocks; normalise texts."""
        for sc in self.scenarios.values():
            sc.description = words(sc.description)
        if self.primary_scenario not in self.scenarios:
            raise SpecError(
                "primary_scenario", f"got {self.primary_scenario!r}; allowed: one of {sorted(self.scenarios)}"
            )
        for s in self.robustness_scenarios:
            if s not in self.scenarios or s == self.primary_scenario:
                raise SpecError(
                    "robustness_scenarios", f"got {s!r}; allowed: scenarios other than {self.primary_scenario!r}"
                )
        if not self.items:
            raise SpecError("items", "none; allowed: at least one item")
        for name, item in self.items.items():
            self._check_item(name, item)
        for key, value in (("replications", self.replications), ("reduced.replications", self.reduced.replications)):
            if value < 2:
                raise SpecError(key, f"got {value}; allowed: an integer >= 2 (a CI needs two replications)")
        if self.seed < 0:
            raise SpecError("seed", f"got {self.seed}; allowed: an integer >= 0")
        for i, d in enumerate(self.snapshot_dates):
            check_month(d, f"snapshot_dates[{i}]")
        needed = {str(i.measure.date) for i in self.items.values() if i.measure.type in SNAPSHOT_MEASURES}
        missing = sorted(needed - set(self.snapshot_dates))
        if missing:
            raise SpecError(
                "snapshot_dates", f"missing {missing}; the {' and '.join(SNAPSHOT_MEASURES)} items need them"
            )
        self._check_turnover()

    def _check_item(self, name: str, item: Item) -> None:
        where = f"items.{name}"
        item.name = name
        item.label = item.label or name
        item.source, item.note = words(item.source), words(item.note)
        item.measure.check(f"{where}.measure")
        if item.public is None:
            item.mark = ""
        else:
            item.public.check(f"{where}.public")
            if item.mark not in ("C", "I"):
                raise SpecError(
                    f"{where}.mark", f"got {item.mark!r}; allowed: 'C' (stated in the source) or 'I' (inferred)"
                )
        item.tolerance = self.tolerance(item)
        if not item.tolerance >= 0:
            raise SpecError(f"{where}.tolerance", f"got {item.tolerance}; allowed: a number >= 0")
        if item.robust and item.measure.type in ("turnover", "network"):
            raise SpecError(
                f"{where}.robust", "turnover and network measures are computed for the primary scenario only"
            )

    def _check_turnover(self) -> None:
        t = self.turnover
        for key in ("start", "end", "joiners_from", "joiners_to"):
            if getattr(t, key) is not None:
                check_month(getattr(t, key), f"turnover.{key}")
        if not any(i.measure.type == "turnover" for i in self.items.values()):
            return
        for key in ("start", "end", "joiners_from", "joiners_to", "threshold"):
            if getattr(t, key) is None:
                raise SpecError(f"turnover.{key}", "missing; the turnover items need it")
        if not check_month(str(t.start), "turnover.start") < check_month(str(t.end), "turnover.end"):
            raise SpecError("turnover.end", f"got {t.end!r}; allowed: a month after turnover.start")


def load_spec(path: str | Path | None = None) -> ValidationSpec:
    """Read a validation specification (default: the packaged ``conf/validation/piedmont.yaml``)."""
    return read_spec(ValidationSpec, spec_path(path, DEFAULT_SPEC))


def spec_from_dict(data: Any, path: str = "") -> ValidationSpec:
    """Build and check a :class:`ValidationSpec` from its plain data (a parsed YAML file)."""
    return spec_from_data(ValidationSpec, data, path)
