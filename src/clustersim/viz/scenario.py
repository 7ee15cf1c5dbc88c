"""What the dashboard runs: a scenario chosen in the page, validated, and its models.

A :class:`Scenario` holds the choices as the page has them (option names and the text typed
in numeric fields). :class:`DashboardModel` is the Mesa model SolaraViz drives: it composes
the configuration with :func:`clustersim.config.load_config` (so a bad value raises the
same :class:`~clustersim.config.ConfigError` as the command line) and steps the chosen
:class:`~clustersim.model.ClusterModel` together with the paired 12-vs-7 arms: the same
budget, staffing and seed under ``clusters=twelve`` and ``clusters=reform`` (one history
until the reform, common random numbers).
"""

from __future__ import annotations

import copy
import functools
import threading
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import mesa
import numpy as np
import pandas as pd

from clustersim import months
from clustersim.config import Config, ConfigError, config_dir, load_config
from clustersim.model import ClusterModel

#: The numeric fields a policy maker can type, with the configuration key each sets.
NUMERIC_FIELDS: dict[str, tuple[str, str]] = {
    "cmo_grant_eur": ("funding.programmes.erdf_2014_2020.cmo_grant_eur", "CMO grants 2014-2020 (EUR)"),
    "setup_fte": ("staffing.setup_fte", "Set-up staff (FTE)"),
    "run_fte": ("staffing.run_fte", "Running staff (FTE)"),
}
#: The configuration groups chosen from a list of options, and the field for each.
GROUPS = ("clusters", "funding", "staffing", "population")
#: The two arms of the paired view.
PAIR = ("twelve", "reform")

# Hydra's global state is one per process: compose one configuration at a time.
_HYDRA_LOCK = threading.Lock()


def group_options(group: str) -> list[str]:
    """The options of a configuration group, as the files in ``conf/<group>/`` name them."""
    folder = Path(config_dir()) / group
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.endswith("_schema"))


@dataclass(frozen=True)
class Scenario:
    """The page's choices: options by name and numeric fields as typed (blank: as the option sets).

    Attributes:
        clusters: cluster configuration (``twelve``, ``seven`` or ``reform``).
        funding: funding option (the budget).
        staffing: staffing option.
        population: firm population.
        seed: root seed, as typed.
        cmo_grant_eur: CMO grants of the 2014-2020 programme in EUR, as typed, or blank.
        setup_fte: set-up staff in FTE, as typed, or blank.
        run_fte: running staff in FTE, as typed, or blank.
    """

    clusters: str = "twelve"
    funding: str = "erdf_5m"
    staffing: str = "setup6_run21"
    population: str = "piedmont"
    seed: str = "1"
    cmo_grant_eur: str = ""
    setup_fte: str = ""
    run_fte: str = ""

    def overrides(self, clusters: str | None = None) -> list[str]:
        """The Hydra overrides for this scenario, optionally under another cluster configuration."""
        out = [
            f"clusters={clusters or self.clusters}",
            f"funding={self.funding}",
            f"staffing={self.staffing}",
            f"population={self.population}",
            f"seed={str(self.seed).strip()}",
            "progress=false",
        ]
        for name, (key, _label) in NUMERIC_FIELDS.items():
            text = str(getattr(self, name)).strip()
            if text:
                out.append(f"{key}={text}")
        return out

    def as_params(self) -> dict[str, str]:
        """The scenario as keyword arguments of :class:`DashboardModel`."""
        return asdict(self)


def field_of(error: ConfigError) -> str | None:
    """The scenario field whose control a configuration error belongs to, or None."""
    key = error.key
    for name, (field_key, _label) in NUMERIC_FIELDS.items():
        if key == field_key:
            return name
    names = {f.name for f in fields(Scenario)}
    head = key.split(".", 1)[0]
    if key in names:
        return key
    if head in GROUPS:
        # a value the option sets (e.g. staffing.run_fte of the option) belongs to its group control
        return head
    return None


@functools.lru_cache(maxsize=64)
def _compose(overrides: tuple[str, ...]) -> Config:
    with _HYDRA_LOCK:
        return load_config(list(overrides))


def compose(overrides: list[str]) -> Config:
    """A fresh validated configuration for ``overrides`` (raises ConfigError); compositions are cached."""
    return copy.deepcopy(_compose(tuple(overrides)))


def validate(scenario: Scenario) -> None:
    """Raise :class:`ConfigError` if any configuration the scenario needs is invalid."""
    for clusters in dict.fromkeys((scenario.clusters, *PAIR)):
        compose(scenario.overrides(clusters))


class DashboardModel(mesa.Model):
    """The model SolaraViz drives: the chosen scenario and the paired 12-vs-7 arms, stepped together.

    Args:
        paired: also run the paired arms (``clusters=twelve`` and ``clusters=reform``).
        **choices: the :class:`Scenario` fields (option names and numeric fields as text).

    Raises:
        ConfigError: if the scenario's configuration is invalid; nothing is built then.
    """

    def __init__(self, paired: bool = True, **choices: str) -> None:
        """Compose and validate every configuration first, then build the models."""
        scenario = replace(Scenario(), **{k: str(v) for k, v in choices.items()})
        cfgs = {scenario.clusters: compose(scenario.overrides())}
        if paired:
            for clusters in PAIR:
                if clusters not in cfgs:
                    cfgs[clusters] = compose(scenario.overrides(clusters))
        main_cfg = cfgs[scenario.clusters]
        super().__init__(rng=main_cfg.seed)
        self.choices = scenario
        self.cfg = main_cfg
        self.sim = ClusterModel(main_cfg)
        models = {scenario.clusters: self.sim}
        for clusters, cfg in cfgs.items():
            if clusters not in models:
                models[clusters] = ClusterModel(cfg)
        self.pair: dict[str, ClusterModel] = {c: models[c] for c in PAIR if c in models}
        self._models = list(models.values())
        self.n_months = self.sim.n_months

    def step(self) -> None:
        """Advance every model by one month (the paired arms in lockstep with the chosen one)."""
        for model in self._models:
            if model.running:
                model.step()
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
        """Month index at which the reform arm's second cluster configuration starts, if any."""
        arm = self.pair.get("reform")
        periods = arm.cfg.clusters.periods if arm is not None else self.cfg.clusters.periods
        if len(periods) < 2:
            return None
        return months_between(self.cfg.start, periods[1].start)


def month_label(start: str, month: int) -> str:
    """``YYYY-MM`` of month index ``month`` counted from ``start`` (``YYYY-MM``)."""
    return months.add_months(start, month)


def months_between(start: str, date: str) -> int:
    """Whole months from ``start`` to ``date`` (both ``YYYY-MM``)."""
    return months.month_index(date) - months.month_index(start)


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


def money(sim: ClusterModel) -> pd.DataFrame:
    """Money paid out (cumulative) and left (balances), in EUR, one row per month."""
    rows = totals(sim)
    if rows.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "project grants paid": rows["project_grants_eur"].cumsum(),
            "CMO grants paid": rows["cmo_grants_paid_eur"].cumsum(),
            "left with the Region": rows["region_balance_eur"],
            "left with the CMOs": rows["cmo_balance_eur"],
        }
    )
