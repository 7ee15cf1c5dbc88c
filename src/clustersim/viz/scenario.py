"""What the dashboard runs: a scenario chosen in the page, its checks, its link, and its model.

A :class:`Scenario` holds the page's choices as typed (option names and text). Every
field is checked at once (:func:`field_errors`): a number that is not a number, a value
outside its range (ranges of the typed fields come from the region's presentation file,
``conf/report/<region>.yaml``), and then whatever the configuration itself refuses, each
message in plain words under its own field. A scenario is encoded in the page's address
(:func:`to_query`, :func:`from_query`) so that a link reproduces it.

:class:`DashboardModel` is the Mesa model of the "one run" page: it composes the
configuration with :func:`clustersim.config.load_config` and steps the chosen
:class:`~clustersim.model.ClusterModel`, recording where every public euro is each month
(:func:`money_breakdown`).
"""

from __future__ import annotations

import copy
import functools
import math
import threading
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import mesa
import numpy as np
import pandas as pd

from clustersim import months
from clustersim.config import Config, ConfigError, config_dir, load_config
from clustersim.labels import Notes, default_choices, default_comparison, load_notes
from clustersim.model import ClusterModel

#: The configuration groups chosen from a list, and the field of each.
GROUPS = ("clusters", "funding", "staffing", "population")
#: Fields choosing a cluster configuration.
CLUSTER_FIELDS = ("clusters", "baseline", "treatment")
#: Replications the comparison page accepts (each is one pair of runs).
REPLICATIONS = (2, 20)
SEEDS = (0, 2**32 - 1)
PAGES = ("compare", "explore", "about")

# Hydra's global state is one per process: compose one configuration at a time.
_HYDRA_LOCK = threading.Lock()


def group_options(group: str) -> list[str]:
    """The options of a configuration group, as the files in ``conf/<group>/`` name them."""
    folder = Path(config_dir()) / group
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.endswith("_schema"))


def _defaults() -> dict[str, str]:
    choice = default_choices()
    comparison = default_comparison()
    return {
        "clusters": choice.get("clusters", ""),
        "baseline": str(comparison["baseline"]),
        "treatment": str(comparison["treatment"]),
        "funding": choice.get("funding", ""),
        "staffing": choice.get("staffing", ""),
        "population": choice.get("population", ""),
        "region": choice.get("region", ""),
    }


DEFAULTS = _defaults()


@dataclass(frozen=True)
class Scenario:
    """The page's choices: options by name, numbers as typed (blank: as the option sets).

    Attributes:
        page: the page shown (``compare``, ``explore`` or ``about``).
        clusters: the cluster configuration of the "one run" page.
        baseline: the comparison's reference configuration.
        treatment: the configuration compared with it.
        funding: funding option (the budget).
        staffing: staffing option.
        population: firm population.
        seed: root seed, as typed.
        replications: pairs of runs of the comparison, as typed.
        cmo_grant_eur: money for the cluster organisations, as typed, or blank.
        setup_fte: set-up staff in FTE, as typed, or blank.
        run_fte: running staff in FTE, as typed, or blank.
    """

    page: str = "compare"
    clusters: str = DEFAULTS["clusters"]
    baseline: str = DEFAULTS["baseline"]
    treatment: str = DEFAULTS["treatment"]
    funding: str = DEFAULTS["funding"]
    staffing: str = DEFAULTS["staffing"]
    population: str = DEFAULTS["population"]
    seed: str = "1"
    replications: str = "5"
    cmo_grant_eur: str = ""
    setup_fte: str = ""
    run_fte: str = ""

    def overrides(self, clusters: str | None = None, replication: int = 0) -> list[str]:
        """The Hydra overrides of this scenario (its typed numbers read as numbers)."""
        out = [
            f"clusters={clusters or self.clusters}",
            f"funding={self.funding}",
            f"staffing={self.staffing}",
            f"population={self.population}",
            f"seed={int(str(self.seed).strip())}",
            f"replication={replication}",
            "progress=false",
        ]
        for name, spec in numeric_fields().items():
            text = str(getattr(self, name)).strip()
            if text:
                out.append(f"{spec['key']}={parse_number(text)!r}")
        return out

    def as_params(self) -> dict[str, str]:
        """The scenario as keyword arguments of :class:`DashboardModel`."""
        return asdict(self)

    @property
    def n_replications(self) -> int:
        """The replications of the comparison (the typed number; check it first)."""
        return int(str(self.replications).strip())


# ------------------------------------------------------------------------------ link
def to_query(scenario: Scenario) -> str:
    """The scenario as a URL query string (fields that differ from the defaults)."""
    default = Scenario()
    items = {f.name: getattr(scenario, f.name) for f in fields(Scenario)}
    return urlencode({k: v for k, v in items.items() if v != getattr(default, k)})


def from_query(query: str) -> Scenario:
    """A scenario from a URL query string; unknown keys are ignored, values kept as typed."""
    names = {f.name for f in fields(Scenario)}
    values = {k: v for k, v in parse_qsl(query.lstrip("?"), keep_blank_values=True) if k in names}
    return replace(Scenario(), **values)


# ------------------------------------------------------------------------- checking
def notes() -> Notes:
    """The presentation notes of the dashboard's region (labels, typed fields' ranges)."""
    return load_notes(DEFAULTS["region"])


def numeric_fields() -> dict[str, dict[str, Any]]:
    """The typed number fields: name -> key, label, unit, min, max, example (from the notes)."""
    return {k: dict(v) for k, v in (notes().dashboard.get("fields") or {}).items()}


def parse_number(text: str) -> float:
    """A typed number: digits with an optional sign, decimals, exponent; spaces, commas and _ as separators.

    Raises:
        ValueError: for anything else ("5 million", "abc", "nan", "inf").
    """
    cleaned = str(text).strip().replace(",", "").replace("_", "").replace(" ", "")
    value = float(cleaned)
    if not math.isfinite(value) or cleaned.lower() in ("nan", "inf", "-inf", "+inf", "infinity"):
        raise ValueError(text)
    return value


def amount(x: float, unit: str) -> str:
    """A typed field's bound in words: ``EUR 50,000,000``, ``100 FTE``."""
    if unit == "EUR":
        return f"EUR {x:,.0f}"
    return f"{x:,g} {unit}".strip()


FIELD_LABELS = {
    "clusters": "Cluster set-up of the run",
    "baseline": "Compare with (reference)",
    "treatment": "Set-up to compare",
    "funding": "Budget",
    "staffing": "Staff",
    "population": "Firms",
    "seed": "Seed",
    "replications": "Replications",
}


def field_label(name: str) -> str:
    """The label of a field of the page."""
    spec = numeric_fields().get(name)
    return str(spec["label"]) if spec else FIELD_LABELS.get(name, name)


def field_errors(scenario: Scenario) -> dict[str, str]:
    """Every invalid field of the scenario at once: field name -> a message in plain words.

    First each field alone (an option that exists, a whole number, a number in its range);
    then, if the fields are each fine, the configurations the scenario needs, whose
    complaints are put beside the field they belong to (``general`` otherwise).
    """
    errors: dict[str, str] = {}
    for name in (*CLUSTER_FIELDS, "funding", "staffing", "population"):
        group = "clusters" if name in CLUSTER_FIELDS else name
        value = getattr(scenario, name)
        if value not in group_options(group):
            names = ", ".join(notes().option(group, o) for o in notes().order(group, group_options(group)))
            errors[name] = f"'{value}' is not one of the options; choose one of: {names}."
    if not errors.get("baseline") and scenario.baseline == scenario.treatment:
        errors["treatment"] = "Choose a set-up other than the reference, so that there is something to compare."
    errors.update(_integer_error("seed", scenario.seed, *SEEDS))
    errors.update(_integer_error("replications", scenario.replications, *REPLICATIONS))
    for name, spec in numeric_fields().items():
        text = str(getattr(scenario, name)).strip()
        if not text:
            continue
        low, high, unit = float(spec["min"]), float(spec["max"]), str(spec.get("unit", ""))
        allowed = f"from {amount(low, unit)} to {amount(high, unit)}"
        try:
            value = parse_number(text)
        except ValueError:
            errors[name] = f"Type a number in digits {allowed}, e.g. {spec.get('example', '')} (you typed '{text}')."
            continue
        if not low <= value <= high:
            errors[name] = f"Type a number {allowed} (you typed {text})."
    if errors:
        return errors
    for clusters in dict.fromkeys((scenario.clusters, scenario.baseline, scenario.treatment)):
        try:
            compose(scenario.overrides(clusters))
        except ConfigError as exc:
            name = field_of(exc) or "general"
            errors.setdefault(name, plain_message(exc))
    return errors


def _integer_error(name: str, text: str, low: int, high: int) -> dict[str, str]:
    t = str(text).strip()
    try:
        value = int(t)
    except ValueError:
        return {name: f"Type a whole number from {low:,} to {high:,} (you typed '{t}')."}
    if not low <= value <= high:
        return {name: f"Type a whole number from {low:,} to {high:,} (you typed {t})."}
    return {}


def plain_message(error: ConfigError) -> str:
    """A configuration error in words: what is allowed, without the configuration's internal key."""
    text = str(error)
    _, _, rest = text.partition(": ")
    got, _, allowed = rest.partition("; allowed: ")
    if allowed:
        return f"Not possible with these settings: allowed {allowed} ({got.removeprefix('got ')} was asked)."
    return f"Not possible with these settings: {rest or text}."


def field_of(error: ConfigError) -> str | None:
    """The scenario field whose control a configuration error belongs to, or None."""
    key = error.key
    for name, spec in numeric_fields().items():
        if key == spec["key"]:
            return name
    if key in {f.name for f in fields(Scenario)}:
        return key
    head = key.split(".", 1)[0]
    if head in GROUPS:
        # a value the option sets (e.g. staffing.run_fte of the option) belongs to its group control
        return "clusters" if head == "clusters" else head
    return None


@functools.lru_cache(maxsize=64)
def _compose(overrides: tuple[str, ...]) -> Config:
    with _HYDRA_LOCK:
        return load_config(list(overrides))


def compose(overrides: list[str]) -> Config:
    """A fresh validated configuration for ``overrides`` (raises ConfigError); compositions are cached."""
    return copy.deepcopy(_compose(tuple(overrides)))


def validate(scenario: Scenario) -> None:
    """Raise :class:`ConfigError` for the first invalid field (see :func:`field_errors` for all of them)."""
    errors = field_errors(scenario)
    if errors:
        name, message = next(iter(errors.items()))
        raise ConfigError(name, message)


# ------------------------------------------------------------------------- the model
class DashboardModel(mesa.Model):
    """The model of the "one run" page: the chosen scenario, stepped month by month.

    Args:
        **choices: the :class:`Scenario` fields (option names and numbers as text).

    Raises:
        ConfigError: if the scenario's configuration is invalid; nothing is built then.
    """

    def __init__(self, **choices: str) -> None:
        """Compose and validate the configuration first, then build the model."""
        scenario = replace(Scenario(), **{k: str(v) for k, v in choices.items()})
        validate(scenario)
        cfg = compose(scenario.overrides())
        super().__init__(rng=cfg.seed)
        self.choices = scenario
        self.cfg = cfg
        self.sim = ClusterModel(cfg)
        self.n_months = self.sim.n_months
        self.money_rows: list[dict[str, float]] = []

    def step(self) -> None:
        """Advance the run by one month and record where the money is."""
        if self.sim.running:
            self.sim.step()
            self.money_rows.append(money_breakdown(self.sim))
        self.running = self.sim.running

    @property
    def months_done(self) -> int:
        """Months simulated so far."""
        return len(self.sim.recorder.rows)

    def month_label(self, month: int | None = None) -> str:
        """``YYYY-MM`` of a month index (default: the last month simulated, or the start)."""
        if month is None:
            month = max(self.months_done - 1, 0)
        return month_label(self.cfg.start, month)

    def reform_month(self) -> int | None:
        """Month index at which the run's second cluster configuration starts, if any."""
        periods = self.cfg.clusters.periods
        if len(periods) < 2:
            return None
        return months_between(self.cfg.start, periods[1].start)


def month_label(start: str, month: int) -> str:
    """``YYYY-MM`` of month index ``month`` counted from ``start`` (``YYYY-MM``)."""
    return months.add_months(start, month)


def months_between(start: str, date: str) -> int:
    """Whole months from ``start`` to ``date`` (both ``YYYY-MM``)."""
    return months.month_index(date) - months.month_index(start)


# ----------------------------------------------------------------------------- money
MONEY_PARTS = (
    "Awarded as R&D project grants",
    "Paid to cluster organisations",
    "In calls, not (yet) awarded",
    "With the Region, not yet paid out",
)


def money_breakdown(sim: ClusterModel) -> dict[str, float]:
    """Where every euro of the run's public budget is now, in EUR; the parts add up to ``allocated``.

    Read from the run's accounts (integer cents; :meth:`ClusterModel.accounts`): the
    Region's budget is either still with the Region, moved to a call (where it is awarded
    to projects or not, yet), or paid to cluster organisations (everything else the Region
    transferred out).
    """
    accounts = sim.accounts()
    region = [a for a in accounts if a.kind == "region"]
    calls = [a for a in accounts if a.kind == "call"]
    allocated = sum(a.allocated for a in region)
    to_calls = sum(a.allocated for a in calls)
    parts = {
        MONEY_PARTS[0]: sum(a.spent for a in calls),
        MONEY_PARTS[1]: sum(a.transferred_out for a in region) - to_calls,
        MONEY_PARTS[2]: sum(a.balance for a in calls),
        MONEY_PARTS[3]: sum(a.balance + a.spent for a in region),
    }
    total = sum(parts.values())
    if total != allocated:
        raise AssertionError(f"public money does not add up: {total} != {allocated} cents")
    out = {k: v / 100.0 for k, v in parts.items()}
    out["allocated"] = allocated / 100.0
    return out


def run_summary(sim: ClusterModel) -> pd.DataFrame:
    """The end-of-run KPIs of a finished model (:func:`clustersim.metrics.summary`)."""
    from clustersim import metrics

    state = getattr(sim, "state", None)  # the model's state object, where the model keeps one
    return metrics.summary(state, sim.recorder) if state is not None else metrics.summary(sim)


# ----------------------------------------------------------------------------- series
def totals(sim: ClusterModel) -> pd.DataFrame:
    """The monthly scalars recorded so far, one row per month (empty before the first step)."""
    return pd.DataFrame(sim.recorder.rows)


def members_by_cluster(sim: ClusterModel) -> pd.DataFrame:
    """Members per cluster, one column per cluster key (``label/name``), one row per month."""
    rows = sim.recorder.rows
    if not rows:
        return pd.DataFrame()
    table = sim.recorder.monthly_table()
    members = table[(table["kpi"] == "members") & (table["cluster"] != "all")]
    wide = members.pivot_table(index="month", columns="cluster", values="value", aggfunc="sum")
    return wide.sort_index()


def ties_by_origin(sim: ClusterModel) -> pd.DataFrame:
    """Cumulative collaborations by origin (brokered, project, plenary, ...), one row per month."""
    n = len(sim.recorder.rows)
    ties = sim.ledger.to_frame()
    months = pd.RangeIndex(n, name="month")
    if ties.empty or n == 0:
        return pd.DataFrame(index=months)
    counts = ties.groupby(["month", "origin"], observed=False).size().unstack("origin", fill_value=0)
    return counts.reindex(months, fill_value=0).cumsum()


def cross_shares(sim: ClusterModel, window: int = 12) -> pd.DataFrame:
    """Shares of firm-firm ties that cross domains and clusters, over the last ``window`` months."""
    n = len(sim.recorder.rows)
    months = pd.RangeIndex(n, name="month")
    ties = sim.ledger.to_frame()
    ties = ties[ties["kind"] == "firm_firm"]
    if ties.empty or n == 0:
        return pd.DataFrame({"cross_domain": np.nan, "cross_cluster": np.nan}, index=months)
    grouped = ties.groupby("month")[["cross_domain", "cross_cluster"]].agg(["sum", "count"]).reindex(months)
    grouped = grouped.fillna(0).rolling(window, min_periods=1).sum()
    out = pd.DataFrame(index=months)
    for col in ("cross_domain", "cross_cluster"):
        count = grouped[(col, "count")]
        out[col] = (grouped[(col, "sum")] / count).where(count > 0)
    return out


def money(model: DashboardModel) -> pd.DataFrame:
    """Where the public money is, month by month (EUR; the parts add up to the budget)."""
    return pd.DataFrame(model.money_rows)
