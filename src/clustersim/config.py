"""Typed configuration schemas, their Hydra registration and their validation.

Every parameter of the model enters through these dataclasses. Hydra checks keys and
types against them when the configuration is composed; :func:`validate` then checks
ranges and cross-group consistency (for example that a cluster mapping covers each of
the region's domains exactly once) and raises :class:`ConfigError` naming the key and
what is allowed.

Units are in the names: ``_eur`` for euros, ``_fte`` for full-time equivalents,
``_months`` for months, ``_share`` or ``_rate`` for values in [0, 1].
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

SIZE_CLASSES: tuple[str, ...] = ("micro", "small", "medium", "large")
SERVICE_LINES: tuple[str, ...] = (
    "innovation",
    "business_opportunities",
    "competences",
    "communication",
    "internationalisation",
)
CALL_LINES: tuple[str, ...] = ("members", "never_members", "all")
STAFF_ALLOCATIONS: tuple[str, ...] = ("equal", "by_members")
BENEFITS: tuple[str, ...] = ("tie", "introduction", "prescreen", "funded_project", "training", "international_tie")
_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong kind or out of range."""

    def __init__(self, key: str, message: str) -> None:
        """Name the offending key and say what is allowed."""
        self.key = key
        super().__init__(f"invalid configuration: {key}: {message}")


# --------------------------------------------------------------------------- region
@dataclass
class ResearchOrgConfig:
    """Research organisations (universities, public research centres)."""

    count: int = 20
    concurrent_projects: int = 6
    domains_per_org: int = 3


@dataclass
class RegionConfig:
    """Facts about one region: its thematic taxonomy, actors and prices."""

    name: str = "region"
    domains: list[str] = field(default_factory=list)
    domain_firm_shares: list[float] = field(default_factory=list)
    domain_families: list[int] = field(default_factory=list)
    research_organisations: ResearchOrgConfig = field(default_factory=ResearchOrgConfig)
    n_training_agencies: int = 60
    n_external_partners: int = 40
    inter_regional_partner_share: float = 0.3
    hours_per_fte_month: float = 143.0
    staff_cost_eur_per_fte_month: float = 5000.0
    activity_cost_eur_per_service_hour: float = 30.0
    member_fee_eur_per_year: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------------- population
@dataclass
class PopulationConfig:
    """The regional pool of firms that could plausibly join a cluster."""

    name: str = "population"
    n_smes: int = 10000
    n_large_firms: int = 150
    sme_size_shares: list[float] = field(default_factory=lambda: [0.3, 0.55, 0.15])
    employees_min: list[int] = field(default_factory=lambda: [2, 10, 50, 250])
    employees_max: list[int] = field(default_factory=lambda: [9, 49, 249, 5000])
    turnover_eur_per_employee: float = 200000.0
    initial_awareness_share: float = 0.15
    secondary_same_family_share: float = 0.7


# ------------------------------------------------------------------------- clusters
@dataclass
class ClusterPeriod:
    """One cluster configuration in force from ``start`` until the next period."""

    start: str = "2009-01"
    label: str = "twelve"
    mapping: dict[str, list[str]] = field(default_factory=dict)
    transition_months: int = 0
    cluster_meetings: list[str] = field(default_factory=list)
    plenary_meetings: list[str] = field(default_factory=list)


@dataclass
class ClustersConfig:
    """A sequence of cluster configurations (one period, or a reform)."""

    name: str = "clusters"
    periods: list[ClusterPeriod] = field(default_factory=list)


# -------------------------------------------------------------------------- funding
@dataclass
class CallConfig:
    """One R&D project call of the Region."""

    name: str = "call"
    opens: str = "2016-01"
    closes: str = "2016-06"
    budget_eur: float = 0.0
    line: str = "all"
    aid_intensity: dict[str, float] = field(
        default_factory=lambda: {"micro": 0.5, "small": 0.5, "medium": 0.4, "large": 0.3}
    )
    min_cost_sme_eur: float = 300000.0
    min_cost_with_large_eur: float = 600000.0
    min_ro_share: float = 0.2
    max_duration_months: int = 24
    max_proposals_per_firm: int = 3
    min_quality: float = 0.0


@dataclass
class ProgrammeConfig:
    """A funding programme: the CMO grant and the R&D calls of one period."""

    start: str = "2016-01"
    end: str = "2020-12"
    cmo_grant_eur: float = 0.0
    cmo_grant_disbursements: list[str] = field(default_factory=list)
    calls: list[CallConfig] = field(default_factory=list)


@dataclass
class FundingConfig:
    """The public money: one or more programmes."""

    name: str = "funding"
    programmes: dict[str, ProgrammeConfig] = field(default_factory=dict)


# ------------------------------------------------------------------------- staffing
@dataclass
class StaffingConfig:
    """CMO staff: set-up and running head counts and how they are shared."""

    name: str = "staffing"
    setup_fte: float = 6.0
    run_fte: float = 21.0
    setup_months: int = 6
    overhead_fte_per_cmo: float = 0.75
    allocation: str = "equal"
    skill: float = 1.0


# ------------------------------------------------------------------------ behaviour
@dataclass
class MembershipParams:
    """Membership as a discrete choice with inertia (a logit)."""

    review_rate: float = 0.08
    beta0: float = -1.9
    beta_service: float = 1.5
    beta_fee: float = 1.0
    beta_satisfaction: float = 1.0
    beta_call: float = 0.5
    switching_cost: float = 1.5
    service_reference_hours: float = 2.0
    fee_reference_share: float = 0.001
    satisfaction_memory: float = 0.9
    awareness_per_comm_hour: float = 0.004
    benefits: dict[str, float] = field(
        default_factory=lambda: {
            "tie": 1.0,
            "introduction": 0.3,
            "prescreen": 0.3,
            "funded_project": 3.0,
            "training": 0.5,
            "international_tie": 1.0,
        }
    )


@dataclass
class CmoParams:
    """CMO productivity and the penalties of breadth and merger."""

    action_plan: dict[str, float] = field(
        default_factory=lambda: {
            "innovation": 0.3,
            "business_opportunities": 0.25,
            "competences": 0.15,
            "communication": 0.15,
            "internationalisation": 0.15,
        }
    )
    breadth_penalty: float = 0.15
    merger_efficiency_loss: float = 0.3
    hours_per_introduction: float = 12.0
    hours_per_prescreen: float = 16.0
    hours_per_training_agreement: float = 300.0
    hours_per_international_link: float = 150.0
    hours_per_consortium_support: float = 30.0
    meeting_alignment_boost: float = 0.2


@dataclass
class TieParams:
    """Tie formation: cognitive distance, trust and the brokered search."""

    candidates_per_introduction: int = 5
    p_min: float = 0.05
    p_max: float = 0.6
    trust_decay: float = 0.97
    distance_weight: float = 0.6
    past_partner_first: float = 0.3
    spontaneous_tie_rate: float = 0.0004
    cross_cluster_share: float = 0.1
    plenary_introductions_per_cmo: int = 10
    ro_introduction_share: float = 0.05


@dataclass
class CallParams:
    """Consortium formation and proposal quality in R&D calls."""

    apply_rate_members: float = 0.02
    apply_rate_non_members: float = 0.002
    aid_wedge_elasticity: float = 1.0
    consortium_min: int = 2
    consortium_max: int = 5
    duration_months_min: int = 12
    cost_eur_per_month: dict[str, float] = field(
        default_factory=lambda: {
            "micro": 8000.0,
            "small": 12000.0,
            "medium": 20000.0,
            "large": 40000.0,
        }
    )
    ro_share_extra_max: float = 0.15
    prescreen_quality_lift: float = 0.1
    prescreen_withdraw_below: float = 0.35
    quality_noise: float = 0.1
    knowledge_gain: float = 0.15
    innovation_boost: float = 3.0
    innovation_boost_months: int = 24


@dataclass
class TrainingParams:
    """Training agreements and absorptive capacity (half-life learning)."""

    trainees_per_agreement_month: float = 1.0
    agreement_months: int = 24
    half_life_months: float = 6.0


@dataclass
class InternationalParams:
    """International links of CMOs and ties of their members abroad."""

    ties_per_link_month: float = 0.025


@dataclass
class DynamicsParams:
    """Firm dynamics: knowledge, innovation and turnover."""

    knowledge_depreciation_month: float = 0.005
    innovation_rate_month: float = 0.004
    new_to_market_share: float = 0.3
    tie_knowledge_gain: float = 0.03
    turnover_growth_month: float = 0.001
    turnover_growth_sd: float = 0.02
    innovation_turnover_gain: float = 0.03


@dataclass
class BehaviourConfig:
    """Free behavioural parameters (assumptions, to be calibrated)."""

    name: str = "behaviour"
    membership: MembershipParams = field(default_factory=MembershipParams)
    cmo: CmoParams = field(default_factory=CmoParams)
    ties: TieParams = field(default_factory=TieParams)
    calls: CallParams = field(default_factory=CallParams)
    training: TrainingParams = field(default_factory=TrainingParams)
    international: InternationalParams = field(default_factory=InternationalParams)
    dynamics: DynamicsParams = field(default_factory=DynamicsParams)


# ---------------------------------------------------------------------- comparison
@dataclass
class ContrastConfig:
    """One named comparison of two arms: ``treatment - baseline``, and what it means in words."""

    name: str = "effect"
    treatment: str = "reform"
    baseline: str = "twelve"
    description: str = ""


@dataclass
class ComparisonConfig:
    """How a sweep's runs are compared (used by the merge and the report).

    With no ``contrasts`` the report compares ``treatment`` with ``baseline``; a list of
    contrasts compares any pairs of arms (e.g. a total effect and its two parts).
    """

    name: str = "single_run"
    title: str = ""
    arm: str = "clusters"
    baseline: str = "twelve"
    treatment: str = "reform"
    pairing: str = "common"
    by: list[str] = field(default_factory=list)
    contrasts: list[ContrastConfig] = field(default_factory=list)
    correction: str = "holm"  # multiple comparisons over the KPIs: holm | bh | none


PAIRINGS: tuple[str, ...] = ("common", "independent")
CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")


# --------------------------------------------------------------------- sensitivity
@dataclass
class SensitivityParameter:
    """One input of a global sensitivity design: a numeric configuration key and its range."""

    key: str = "behaviour.membership.beta0"
    low: float = 0.0
    high: float = 1.0
    scale: str = "linear"  # linear | log (sampled uniformly in log space)


@dataclass
class SensitivityConfig:
    """A global sensitivity design (docs/SENSITIVITY.md); ``method: none`` for ordinary runs.

    A sweep runs one job per design row (``sample``) and arm; every job recomputes the
    design from this node and sets its row's values before the run, so any launcher works.
    """

    method: str = "none"  # none | morris | sobol
    sample: int = 0  # the design row this run applies
    seed: int = 0  # seed of the design (SALib's sampler)
    trajectories: int = 10  # Morris: number of trajectories r
    levels: int = 4  # Morris: grid levels p (even)
    base_samples: int = 32  # Sobol (Saltelli): base sample N, a power of 2
    parameters: list[SensitivityParameter] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # KPIs whose 7-minus-12 effect is analysed


SENSITIVITY_METHODS: tuple[str, ...] = ("none", "morris", "sobol")


def design_size(s: SensitivityConfig) -> int:
    """Rows of the design: r(k+1) for Morris, N(k+2) for Sobol without second order, 1 for none."""
    k = len(s.parameters)
    if s.method == "morris":
        return s.trajectories * (k + 1)
    if s.method == "sobol":
        return s.base_samples * (k + 2)
    return 1


# ------------------------------------------------------------------------ calibrate
@dataclass
class CalibrateTask:
    """The calibration task (``task: calibrate``, ``clustersim experiment=calibrate``)."""

    spec: str = "piedmont"  # conf/calibration/<spec>.yaml: targets, free parameters, method
    reduced: bool = False  # the spec's reduced method (CI and a quick look)
    out: str = ""  # results folder; default results/calibration (or results/calibration-reduced)
    jobs: int = 1  # worker processes for the runs of one evaluation
    progress: bool = True


TASKS: tuple[str, ...] = ("simulate", "calibrate")


# ---------------------------------------------------------------------------- root
@dataclass
class Config:
    """The whole configuration of one simulation run."""

    seed: int = 0
    replication: int = 0
    start: str = "2009-01"
    end: str = "2020-12"
    report_start: str = "2016-01"
    output_dir: str = "results/runs"
    progress: bool = True
    region: RegionConfig = field(default_factory=RegionConfig)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    clusters: ClustersConfig = field(default_factory=ClustersConfig)
    funding: FundingConfig = field(default_factory=FundingConfig)
    staffing: StaffingConfig = field(default_factory=StaffingConfig)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)
    comparison: ComparisonConfig = field(default_factory=ComparisonConfig)
    sensitivity: SensitivityConfig = field(default_factory=SensitivityConfig)
    task: str = "simulate"  # simulate (one run) | calibrate (the calibration of `calibrate`)
    calibrate: CalibrateTask = field(default_factory=CalibrateTask)


def register_configs() -> None:
    """Register the schemas in Hydra's ConfigStore (base of every group option)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="region", name="region_schema", node=RegionConfig)
    cs.store(group="population", name="population_schema", node=PopulationConfig)
    cs.store(group="clusters", name="clusters_schema", node=ClustersConfig)
    cs.store(group="funding", name="funding_schema", node=FundingConfig)
    cs.store(group="staffing", name="staffing_schema", node=StaffingConfig)
    cs.store(group="behaviour", name="behaviour_schema", node=BehaviourConfig)
    cs.store(group="sensitivity", name="sensitivity_schema", node=SensitivityConfig)


# ----------------------------------------------------------------------- validation
def month_index(date: str, key: str = "date") -> int:
    """Return months since year 0 for a ``YYYY-MM`` string, or raise ConfigError."""
    match = _MONTH_RE.match(str(date))
    if match is None:
        raise ConfigError(key, f"got {date!r}; allowed: a month written YYYY-MM")
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(key, f"got {value!r}; allowed: {allowed}")


def _non_negative(value: float, key: str) -> None:
    _check(value >= 0, key, value, "a number >= 0")


def _share(value: float, key: str) -> None:
    _check(0.0 <= value <= 1.0, key, value, "a share between 0 and 1")


def _positive_int(value: int, key: str, minimum: int = 1) -> None:
    _check(value >= minimum, key, value, f"an integer >= {minimum}")


def _shares_summing_to_one(values: list[float], key: str, n: int | None = None) -> None:
    if n is not None:
        _check(len(values) == n, key, list(values), f"a list of {n} shares")
    for i, v in enumerate(values):
        _share(v, f"{key}[{i}]")
    _check(abs(sum(values) - 1.0) < 1e-6, key, list(values), "shares summing to 1")


def _validate_region(r: RegionConfig) -> None:
    n = len(r.domains)
    _check(n >= 2, "region.domains", list(r.domains), "a list of at least 2 domain names")
    _check(len(set(r.domains)) == n, "region.domains", list(r.domains), "unique names")
    _shares_summing_to_one(r.domain_firm_shares, "region.domain_firm_shares", n)
    _check(
        len(r.domain_families) == n,
        "region.domain_families",
        list(r.domain_families),
        f"a list of {n} integer family labels",
    )
    _positive_int(r.research_organisations.count, "region.research_organisations.count")
    _positive_int(
        r.research_organisations.concurrent_projects,
        "region.research_organisations.concurrent_projects",
    )
    _check(
        1 <= r.research_organisations.domains_per_org <= n,
        "region.research_organisations.domains_per_org",
        r.research_organisations.domains_per_org,
        f"an integer from 1 to {n}",
    )
    _positive_int(r.n_training_agencies, "region.n_training_agencies")
    _positive_int(r.n_external_partners, "region.n_external_partners")
    _share(r.inter_regional_partner_share, "region.inter_regional_partner_share")
    _check(
        0 < r.hours_per_fte_month <= 744,
        "region.hours_per_fte_month",
        r.hours_per_fte_month,
        "hours in (0, 744]",
    )
    _non_negative(r.staff_cost_eur_per_fte_month, "region.staff_cost_eur_per_fte_month")
    _non_negative(r.activity_cost_eur_per_service_hour, "region.activity_cost_eur_per_service_hour")
    _check(
        set(r.member_fee_eur_per_year) == set(SIZE_CLASSES),
        "region.member_fee_eur_per_year",
        dict(r.member_fee_eur_per_year),
        f"one fee for each size class {list(SIZE_CLASSES)}",
    )
    for k, v in r.member_fee_eur_per_year.items():
        _non_negative(v, f"region.member_fee_eur_per_year.{k}")


def _validate_population(p: PopulationConfig) -> None:
    _positive_int(p.n_smes, "population.n_smes", 10)
    _check(p.n_smes <= 5_000_000, "population.n_smes", p.n_smes, "at most 5,000,000")
    _check(p.n_large_firms >= 0, "population.n_large_firms", p.n_large_firms, ">= 0")
    _shares_summing_to_one(p.sme_size_shares, "population.sme_size_shares", 3)
    for key in ("employees_min", "employees_max"):
        values = getattr(p, key)
        _check(len(values) == 4, f"population.{key}", list(values), "4 integers")
    for i in range(4):
        _check(
            1 <= p.employees_min[i] <= p.employees_max[i],
            f"population.employees_max[{i}]",
            p.employees_max[i],
            f"an integer >= employees_min[{i}] = {p.employees_min[i]} >= 1",
        )
    _check(
        p.turnover_eur_per_employee > 0,
        "population.turnover_eur_per_employee",
        p.turnover_eur_per_employee,
        "a number > 0",
    )
    _share(p.initial_awareness_share, "population.initial_awareness_share")
    _share(p.secondary_same_family_share, "population.secondary_same_family_share")


def _validate_clusters(c: ClustersConfig, domains: list[str], start: int, end: int) -> None:
    _check(len(c.periods) >= 1, "clusters.periods", [], "at least one period")
    previous = None
    for i, period in enumerate(c.periods):
        key = f"clusters.periods[{i}]"
        m = month_index(period.start, f"{key}.start")
        if i == 0:
            _check(m <= start, f"{key}.start", period.start, "a month on or before start")
        else:
            _check(m > previous, f"{key}.start", period.start, "after the previous period")
        previous = m
        _check(len(period.mapping) >= 1, f"{key}.mapping", {}, "at least one cluster")
        seen: dict[str, str] = {}
        for cluster, members in period.mapping.items():
            for d in members:
                _check(d in domains, f"{key}.mapping.{cluster}", d, f"domains of {domains}")
                _check(
                    d not in seen,
                    f"{key}.mapping.{cluster}",
                    d,
                    f"each domain in one cluster only (already in {seen.get(d)})",
                )
                seen[d] = cluster
        missing = [d for d in domains if d not in seen]
        _check(not missing, f"{key}.mapping", missing, "every domain covered (these are not)")
        _check(
            period.transition_months >= 0,
            f"{key}.transition_months",
            period.transition_months,
            "an integer >= 0",
        )
        for j, d in enumerate(period.cluster_meetings):
            month_index(d, f"{key}.cluster_meetings[{j}]")
        for j, d in enumerate(period.plenary_meetings):
            month_index(d, f"{key}.plenary_meetings[{j}]")
    del end


def _validate_call(call: CallConfig, key: str) -> None:
    o = month_index(call.opens, f"{key}.opens")
    c = month_index(call.closes, f"{key}.closes")
    _check(c >= o, f"{key}.closes", call.closes, f"a month on or after opens ({call.opens})")
    _non_negative(call.budget_eur, f"{key}.budget_eur")
    _check(call.line in CALL_LINES, f"{key}.line", call.line, f"one of {list(CALL_LINES)}")
    _check(
        set(call.aid_intensity) == set(SIZE_CLASSES),
        f"{key}.aid_intensity",
        dict(call.aid_intensity),
        f"one share for each size class {list(SIZE_CLASSES)}",
    )
    for k, v in call.aid_intensity.items():
        _share(v, f"{key}.aid_intensity.{k}")
    _non_negative(call.min_cost_sme_eur, f"{key}.min_cost_sme_eur")
    _non_negative(call.min_cost_with_large_eur, f"{key}.min_cost_with_large_eur")
    _share(call.min_ro_share, f"{key}.min_ro_share")
    _positive_int(call.max_duration_months, f"{key}.max_duration_months")
    _positive_int(call.max_proposals_per_firm, f"{key}.max_proposals_per_firm")
    _share(call.min_quality, f"{key}.min_quality")


def _validate_funding(f: FundingConfig) -> None:
    for name, prog in f.programmes.items():
        key = f"funding.programmes.{name}"
        s = month_index(prog.start, f"{key}.start")
        e = month_index(prog.end, f"{key}.end")
        _check(e >= s, f"{key}.end", prog.end, f"a month on or after start ({prog.start})")
        _non_negative(prog.cmo_grant_eur, f"{key}.cmo_grant_eur")
        _check(
            prog.cmo_grant_eur == 0 or len(prog.cmo_grant_disbursements) >= 1,
            f"{key}.cmo_grant_disbursements",
            list(prog.cmo_grant_disbursements),
            "at least one month when cmo_grant_eur > 0",
        )
        for j, d in enumerate(prog.cmo_grant_disbursements):
            m = month_index(d, f"{key}.cmo_grant_disbursements[{j}]")
            _check(s <= m <= e, f"{key}.cmo_grant_disbursements[{j}]", d, "within the programme")
        for j, call in enumerate(prog.calls):
            _validate_call(call, f"{key}.calls[{j}]")


def _validate_staffing(s: StaffingConfig) -> None:
    _non_negative(s.setup_fte, "staffing.setup_fte")
    _non_negative(s.run_fte, "staffing.run_fte")
    _check(s.setup_months >= 0, "staffing.setup_months", s.setup_months, "an integer >= 0")
    _non_negative(s.overhead_fte_per_cmo, "staffing.overhead_fte_per_cmo")
    _check(
        s.allocation in STAFF_ALLOCATIONS,
        "staffing.allocation",
        s.allocation,
        f"one of {list(STAFF_ALLOCATIONS)}",
    )
    _check(0 < s.skill <= 5, "staffing.skill", s.skill, "a multiplier in (0, 5]")


def _validate_behaviour(b: BehaviourConfig) -> None:
    m = b.membership
    for k in ("review_rate", "satisfaction_memory"):
        _share(getattr(m, k), f"behaviour.membership.{k}")
    for k in (
        "beta_service",
        "beta_fee",
        "beta_satisfaction",
        "beta_call",
        "switching_cost",
        "awareness_per_comm_hour",
        "fee_reference_share",
    ):
        _non_negative(getattr(m, k), f"behaviour.membership.{k}")
    _check(
        m.service_reference_hours > 0,
        "behaviour.membership.service_reference_hours",
        m.service_reference_hours,
        "a number > 0",
    )
    _check(
        set(m.benefits) == set(BENEFITS),
        "behaviour.membership.benefits",
        dict(m.benefits),
        f"one value for each benefit {list(BENEFITS)}",
    )
    for k, v in m.benefits.items():
        _non_negative(v, f"behaviour.membership.benefits.{k}")
    c = b.cmo
    _check(
        set(c.action_plan) == set(SERVICE_LINES),
        "behaviour.cmo.action_plan",
        dict(c.action_plan),
        f"one share for each service line {list(SERVICE_LINES)}",
    )
    _shares_summing_to_one(list(c.action_plan.values()), "behaviour.cmo.action_plan")
    _non_negative(c.breadth_penalty, "behaviour.cmo.breadth_penalty")
    _share(c.merger_efficiency_loss, "behaviour.cmo.merger_efficiency_loss")
    _share(c.meeting_alignment_boost, "behaviour.cmo.meeting_alignment_boost")
    for k in (
        "hours_per_introduction",
        "hours_per_prescreen",
        "hours_per_training_agreement",
        "hours_per_international_link",
        "hours_per_consortium_support",
    ):
        _check(getattr(c, k) > 0, f"behaviour.cmo.{k}", getattr(c, k), "hours > 0")
    t = b.ties
    _positive_int(t.candidates_per_introduction, "behaviour.ties.candidates_per_introduction")
    for k in (
        "p_min",
        "p_max",
        "trust_decay",
        "distance_weight",
        "past_partner_first",
        "spontaneous_tie_rate",
        "cross_cluster_share",
        "ro_introduction_share",
    ):
        _share(getattr(t, k), f"behaviour.ties.{k}")
    _check(t.p_min <= t.p_max, "behaviour.ties.p_max", t.p_max, f">= p_min ({t.p_min})")
    _check(
        t.plenary_introductions_per_cmo >= 0,
        "behaviour.ties.plenary_introductions_per_cmo",
        t.plenary_introductions_per_cmo,
        "an integer >= 0",
    )
    k = b.calls
    for name in ("apply_rate_members", "apply_rate_non_members", "ro_share_extra_max"):
        _share(getattr(k, name), f"behaviour.calls.{name}")
    for name in ("prescreen_quality_lift", "prescreen_withdraw_below", "quality_noise"):
        _share(getattr(k, name), f"behaviour.calls.{name}")
    _share(k.knowledge_gain, "behaviour.calls.knowledge_gain")
    _non_negative(k.aid_wedge_elasticity, "behaviour.calls.aid_wedge_elasticity")
    _non_negative(k.innovation_boost, "behaviour.calls.innovation_boost")
    _positive_int(k.consortium_min, "behaviour.calls.consortium_min")
    _check(
        k.consortium_max >= k.consortium_min,
        "behaviour.calls.consortium_max",
        k.consortium_max,
        f">= consortium_min ({k.consortium_min})",
    )
    _positive_int(k.duration_months_min, "behaviour.calls.duration_months_min")
    _positive_int(k.innovation_boost_months, "behaviour.calls.innovation_boost_months")
    _check(
        set(k.cost_eur_per_month) == set(SIZE_CLASSES),
        "behaviour.calls.cost_eur_per_month",
        dict(k.cost_eur_per_month),
        f"one cost for each size class {list(SIZE_CLASSES)}",
    )
    for name, v in k.cost_eur_per_month.items():
        _non_negative(v, f"behaviour.calls.cost_eur_per_month.{name}")
    tr = b.training
    _non_negative(tr.trainees_per_agreement_month, "behaviour.training.trainees_per_agreement_month")
    _positive_int(tr.agreement_months, "behaviour.training.agreement_months")
    _check(
        tr.half_life_months > 0,
        "behaviour.training.half_life_months",
        tr.half_life_months,
        "months > 0",
    )
    _non_negative(b.international.ties_per_link_month, "behaviour.international.ties_per_link_month")
    d = b.dynamics
    for name in (
        "knowledge_depreciation_month",
        "innovation_rate_month",
        "new_to_market_share",
        "tie_knowledge_gain",
        "innovation_turnover_gain",
    ):
        _share(getattr(d, name), f"behaviour.dynamics.{name}")
    _check(
        -0.1 <= d.turnover_growth_month <= 0.1,
        "behaviour.dynamics.turnover_growth_month",
        d.turnover_growth_month,
        "a monthly rate in [-0.1, 0.1]",
    )
    _check(
        0 <= d.turnover_growth_sd <= 0.5,
        "behaviour.dynamics.turnover_growth_sd",
        d.turnover_growth_sd,
        "a number in [0, 0.5]",
    )


def _check_finite(node: Any, key: str) -> None:
    """Every number in the configuration must be finite (no inf, no nan)."""
    import dataclasses
    import math

    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            _check_finite(getattr(node, f.name), f"{key}.{f.name}" if key else f.name)
    elif isinstance(node, dict):
        for k, v in node.items():
            _check_finite(v, f"{key}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_finite(v, f"{key}[{i}]")
    elif isinstance(node, float):
        _check(math.isfinite(node), key, node, "a finite number")


def get_key(cfg: Config, key: str) -> float | int:
    """The numeric value of a dotted configuration key (``behaviour.membership.beta0``).

    Raises:
        KeyError: no such key. TypeError: the key is not a number.
    """
    *path, last = key.split(".")
    node: Any = cfg
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif not isinstance(node, dict) and dataclasses.is_dataclass(node) and hasattr(node, part):
            node = getattr(node, part)
        else:
            raise KeyError(f"{key}: no such key")
    if isinstance(node, dict):
        if last not in node:
            raise KeyError(f"{key}: no such key")
        current = node[last]
    else:
        if not dataclasses.is_dataclass(node) or not hasattr(node, last):
            raise KeyError(f"{key}: no such key")
        current = getattr(node, last)
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise TypeError(f"{key}: not a number ({current!r})")
    return current


def set_key(cfg: Config, key: str, value: float) -> None:
    """Set a dotted numeric key of a :class:`Config` in place, keeping integer keys integers."""
    current = get_key(cfg, key)
    *path, last = key.split(".")
    node: Any = cfg
    for part in path:
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    new: float | int = round(value) if isinstance(current, int) else float(value)
    if isinstance(node, dict):
        node[last] = new
    else:
        setattr(node, last, new)


def _validate_sensitivity(cfg: Config) -> None:
    from clustersim.metrics import KPI_BY_NAME

    s = cfg.sensitivity
    _check(s.method in SENSITIVITY_METHODS, "sensitivity.method", s.method, f"one of {list(SENSITIVITY_METHODS)}")
    if s.method == "none":
        return
    _check(len(s.parameters) >= 2, "sensitivity.parameters", len(s.parameters), "at least 2 parameters")
    seen: set[str] = set()
    for i, p in enumerate(s.parameters):
        key = f"sensitivity.parameters[{i}]"
        try:
            get_key(cfg, p.key)
        except (KeyError, TypeError) as exc:
            raise ConfigError(
                f"{key}.key", f"got {p.key!r} ({exc}); allowed: a numeric key of the configuration"
            ) from None
        _check(p.key not in seen, f"{key}.key", p.key, "a key not listed twice")
        seen.add(p.key)
        _check(p.scale in ("linear", "log"), f"{key}.scale", p.scale, "'linear' or 'log'")
        _check(p.high > p.low, f"{key}.high", p.high, f"a number > low ({p.low})")
        if p.scale == "log":
            _check(p.low > 0, f"{key}.low", p.low, "a number > 0 (log scale)")
    _check(s.seed >= 0, "sensitivity.seed", s.seed, "an integer >= 0")
    if s.method == "morris":
        _check(s.trajectories >= 2, "sensitivity.trajectories", s.trajectories, "an integer >= 2")
        _check(s.levels >= 2 and s.levels % 2 == 0, "sensitivity.levels", s.levels, "an even integer >= 2")
    else:
        n = s.base_samples
        _check(n >= 2 and n & (n - 1) == 0, "sensitivity.base_samples", n, "a power of 2 (2, 4, 8, ...)")
    _check(len(s.outputs) >= 1, "sensitivity.outputs", list(s.outputs), "at least one KPI")
    for i, kpi in enumerate(s.outputs):
        _check(
            kpi in KPI_BY_NAME, f"sensitivity.outputs[{i}]", kpi, f"a KPI of docs/ODD.md 7.3 ({', '.join(KPI_BY_NAME)})"
        )
    size = design_size(s)
    _check(0 <= s.sample < size, "sensitivity.sample", s.sample, f"an integer in [0, {size}) for this design")


def validate(cfg: Config) -> Config:
    """Check ranges and cross-group consistency; return ``cfg`` or raise ConfigError."""
    _check_finite(cfg, "")
    start = month_index(cfg.start, "start")
    end = month_index(cfg.end, "end")
    _check(end >= start, "end", cfg.end, f"a month on or after start ({cfg.start})")
    _check(end - start < 1200, "end", cfg.end, "at most 100 years after start")
    report = month_index(cfg.report_start, "report_start")
    _check(
        start <= report <= end,
        "report_start",
        cfg.report_start,
        f"a month between start ({cfg.start}) and end ({cfg.end})",
    )
    _check(cfg.seed >= 0, "seed", cfg.seed, "an integer >= 0")
    _check(cfg.replication >= 0, "replication", cfg.replication, "an integer >= 0")
    _check(bool(cfg.output_dir), "output_dir", cfg.output_dir, "a non-empty path")
    _validate_region(cfg.region)
    _validate_population(cfg.population)
    _validate_clusters(cfg.clusters, list(cfg.region.domains), start, end)
    _validate_funding(cfg.funding)
    _validate_staffing(cfg.staffing)
    _validate_behaviour(cfg.behaviour)
    comp = cfg.comparison
    _check(comp.arm == "clusters", "comparison.arm", comp.arm, "'clusters' (the arms are cluster configurations)")
    _check(comp.pairing in PAIRINGS, "comparison.pairing", comp.pairing, f"one of {list(PAIRINGS)}")
    for i, col in enumerate(comp.by):
        allowed = ("funding", "staffing", "population", "behaviour")
        _check(col in allowed, f"comparison.by[{i}]", col, f"one of {list(allowed)}")
    _check(comp.correction in CORRECTIONS, "comparison.correction", comp.correction, f"one of {list(CORRECTIONS)}")
    names = [c.name for c in comp.contrasts]
    for i, c in enumerate(comp.contrasts):
        key = f"comparison.contrasts[{i}]"
        _check(bool(c.name) and names.count(c.name) == 1, f"{key}.name", c.name, "a non-empty name used once")
        _check(
            c.treatment != c.baseline, f"{key}.treatment", c.treatment, f"an arm other than the baseline ({c.baseline})"
        )
    _validate_sensitivity(cfg)
    _check(cfg.task in TASKS, "task", cfg.task, f"one of {list(TASKS)}")
    _check(cfg.calibrate.jobs >= 1, "calibrate.jobs", cfg.calibrate.jobs, "an integer >= 1")
    spec_file = f"{config_dir()}/calibration/{cfg.calibrate.spec}.yaml"
    import os

    if cfg.task == "calibrate" and not os.path.isfile(spec_file):
        names = sorted(f[:-5] for f in os.listdir(f"{config_dir()}/calibration") if f.endswith(".yaml"))
        _check(False, "calibrate.spec", cfg.calibrate.spec, f"one of {names} (conf/calibration/)")
    return cfg


def to_config(cfg: DictConfig | dict | Config) -> Config:
    """Turn a composed Hydra config (or a plain dict) into a validated :class:`Config`."""
    if isinstance(cfg, Config):
        return _with_design(validate(cfg))
    schema = OmegaConf.structured(Config)
    try:
        merged = OmegaConf.merge(schema, cfg)
        obj = OmegaConf.to_object(merged)
    except Exception as exc:  # omegaconf raises several error types; name the key
        key = getattr(exc, "full_key", None) or "config"
        msg = getattr(exc, "msg", None) or str(exc).splitlines()[0]
        raise ConfigError(str(key), msg) from None
    assert isinstance(obj, Config)
    return _with_design(validate(obj))


def _with_design(cfg: Config) -> Config:
    """A run of a sensitivity design gets its row's parameter values (idempotent)."""
    if cfg.sensitivity.method == "none":
        return cfg
    from clustersim.sensitivity import apply_sample

    return validate(apply_sample(cfg))


def config_dir() -> str:
    """The folder of the packaged Hydra configuration (``conf/``)."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parents[1] / "conf"):
        if (candidate / "config.yaml").is_file():
            return str(candidate)
    raise FileNotFoundError("the clustersim configuration folder conf/ was not found")


def load_config(overrides: list[str] | None = None) -> Config:
    """Compose the Hydra configuration with ``overrides`` and validate it.

    Example: ``load_config(["clusters=seven", "population=small", "seed=3"])``.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from hydra.initialize import get_gh_backup, restore_gh_from_backup
    from omegaconf.errors import OmegaConfBaseException

    overrides = list(overrides or [])
    register_configs()
    # inside a running Hydra app (e.g. `clustersim experiment=calibrate`) its global state is
    # put back afterwards, so that the app can finish normally
    backup = get_gh_backup()
    try:
        if GlobalHydra.instance().is_initialized():
            GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            try:
                cfg = compose(config_name="config", overrides=overrides)
            except (HydraException, OmegaConfBaseException) as exc:
                raise composition_error(exc, overrides) from None
    finally:
        restore_gh_from_backup(backup)
    return to_config(cfg)


def composition_error(exc: Exception, overrides: list[str]) -> ConfigError:
    """Turn a Hydra/OmegaConf composition error into one ConfigError naming the key."""
    import re

    text = str(exc)
    missing = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if missing:
        group, option = missing.groups()
        options = re.findall(r"^\t(\S+)$", text, flags=re.M)
        allowed = ", ".join(o for o in options if not o.endswith("_schema"))
        return ConfigError(group, f"got {option!r}; allowed: {allowed}")
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    detail = str(cause).strip()
    first = detail.splitlines()[0] if detail else text
    key = re.search(r"full_key: (\S+)", detail)
    if key and "not in" in first:
        return ConfigError(key.group(1), "no such key; allowed: the keys of the schema (see conf/ and docs/ODD.md)")
    if key:
        return ConfigError(key.group(1), first)
    bad = getattr(exc, "override", None)
    if isinstance(bad, str) and bad:
        name = bad.lstrip("+~").split("=", 1)[0]
        return ConfigError(name, f"cannot read the override {bad!r}: {first}; allowed: Hydra's key=value syntax")
    for o in overrides:
        if o in text:
            name = o.lstrip("+~").split("=", 1)[0]
            return ConfigError(name, f"cannot read the override {o!r}; allowed: key=value in Hydra's override syntax")
    return ConfigError("overrides", text.splitlines()[0] if text else type(exc).__name__)
