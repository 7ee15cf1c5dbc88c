"""Typed configuration schemas, their Hydra registration and their validation.

Every parameter of the model enters through these dataclasses. Each field declares what it
allows in its metadata (:func:`clustersim.schema.param`); its value comes from the YAML
under ``conf/``, the one source of values (a dataclass default is ``???``, "missing").
Hydra checks keys and types when the configuration is composed; :func:`validate` then walks
the schema (:func:`clustersim.schema.check_tree`: ranges, choices, lengths, dates) and runs
the few checks that involve several fields (a cluster mapping covers each of the region's
domains exactly once, ``p_min <= p_max``...), raising :class:`ConfigError` naming the key
and what is allowed.

Units are in the names: ``_eur`` for euros, ``_fte`` for full-time equivalents,
``_months`` for months, ``_share`` or ``_rate`` for values in [0, 1].

Upper bounds (README "Bad input"): every count, amount, duration and date has one, chosen
so that any accepted configuration runs in reasonable time and memory (the bounds'
constants below). A sensitivity design is checked here but applied by the job that runs
it (:func:`clustersim.runner.prepare`), not by loading the configuration.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from clustersim.confdir import config_dir
from clustersim.errors import ConfigError, refused
from clustersim.kpis import KPI_BY_NAME
from clustersim.months import month_index
from clustersim.schema import (
    Allowed,
    allowed_at,
    check_tree,
    choice,
    dict_of,
    dotted_key,
    flag,
    identifier,
    integer,
    list_of,
    month,
    number,
    param,
    section,
    share,
    text,
)

__all__ = ["ConfigError", "config_dir", "month_index"]

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
PAIRINGS: tuple[str, ...] = ("common", "independent")
CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")
SENSITIVITY_METHODS: tuple[str, ...] = ("none", "morris", "sobol")
TASKS: tuple[str, ...] = ("simulate", "calibrate")
COMPARISON_BY: tuple[str, ...] = ("funding", "staffing", "population", "behaviour")

# ------------------------------------------------------------------------ upper bounds
# What the model runs in reasonable time and memory (README "Bad input", docs/ODD.md 6.4).
MAX_SMES = 5_000_000  # ~12x the region's register (428,457 firms: 2.2 s, 243 MB a run)
MAX_LARGE_FIRMS = 100_000
MAX_ORGANISATIONS = 10_000  # research organisations, training agencies
MAX_PARTNERS = 100_000  # external partners of the CMOs
MAX_EUR = 1e12  # any programme, call or grant amount: cents stay exact (int64, 28-digit Decimal)
MAX_EUR_RATE = 1e8  # a cost or fee per month, hour, employee or year
MAX_FTE = 1000.0  # CMO staff: 50 times the practice's 21
MAX_MONTHS = 1200  # any duration or window: 100 years
MIN_HOURS, MAX_HOURS = 1.0, 1e5  # CMO hours for one service (at least an hour: the services are counted one by one)
MAX_COEFFICIENT = 50.0  # logit coefficients and elasticities (exp(50) is still finite)
MAX_DOMAINS = 100
MAX_DATES = 1200  # dates in one list (meetings, grant tranches)
MAX_SEED = 2**63 - 1
MAX_REPLICATION = 1_000_000
MAX_DESIGN_ROWS = 1_000_000


# --------------------------------------------------------------------------- region
@dataclass
class ResearchOrgConfig:
    """Research organisations (universities, public research centres)."""

    count: int = param(integer(1, MAX_ORGANISATIONS), "research organisations in the region")
    concurrent_projects: int = param(integer(1, 1000), "projects one organisation can run at once")
    domains_per_org: int = param(integer(1, MAX_DOMAINS), "domains an organisation works in (at most the domains)")


@dataclass
class RegionConfig:
    """Facts about one region: its thematic taxonomy, actors and prices."""

    name: str = param(identifier(), "name of the region option")
    domains: list[str] = param(list_of(identifier(), 2, MAX_DOMAINS), "the thematic domains (unique names)")
    domain_firm_shares: list[float] = param(
        list_of(number(0, 1e9), 2, MAX_DOMAINS), "weight of each domain in the firm pool (normalised to shares)"
    )
    domain_families: list[int] = param(list_of(integer(0, MAX_DOMAINS)), "technological family label per domain")
    research_organisations: ResearchOrgConfig = section(ResearchOrgConfig, "research organisations")
    n_training_agencies: int = param(integer(1, MAX_ORGANISATIONS), "accredited training agencies")
    n_external_partners: int = param(integer(1, MAX_PARTNERS), "regions and countries reachable by CMOs")
    inter_regional_partner_share: float = param(share(), "share of external partners in other Italian regions")
    hours_per_fte_month: float = param(number(0, 744, gt=True), "working hours of one FTE a month")
    staff_cost_eur_per_fte_month: float = param(number(0, MAX_EUR_RATE), "loaded cost of one CMO employee a month")
    activity_cost_eur_per_service_hour: float = param(number(0, MAX_EUR_RATE), "non-staff cost per service hour")
    member_fee_eur_per_year: dict[str, float] = param(
        dict_of(number(0, MAX_EUR_RATE), keys=SIZE_CLASSES), "annual member fee by size class"
    )


# ----------------------------------------------------------------------- population
@dataclass
class PopulationConfig:
    """The regional pool of firms that could plausibly join a cluster."""

    name: str = param(identifier(), "name of the population option")
    n_smes: int = param(integer(10, MAX_SMES), "SMEs in the pool")
    n_large_firms: int = param(integer(0, MAX_LARGE_FIRMS), "large firms in the pool")
    sme_size_shares: list[float] = param(list_of(share(), 3, 3), "micro, small, medium shares of the SMEs (sum 1)")
    employees_min: list[int] = param(list_of(integer(1, 1_000_000), 4, 4), "fewest employees per size class")
    employees_max: list[int] = param(list_of(integer(1, 1_000_000), 4, 4), "most employees per size class")
    turnover_eur_per_employee: float = param(number(0, MAX_EUR_RATE, gt=True), "turnover per employee")
    initial_awareness_share: float = param(share(), "share of firms aware of the scheme at the start")
    secondary_same_family_share: float = param(share(), "chance a secondary domain is in the primary's family")


# ------------------------------------------------------------------------- clusters
@dataclass
class ClusterPeriod:
    """One cluster configuration in force from ``start`` until the next period."""

    start: str = param(month(), "first month of the period")
    label: str = param(identifier(), "label of the configuration (twelve, seven...)")
    mapping: dict[str, list[str]] = param(
        dict_of(list_of(identifier(), 1, MAX_DOMAINS), min_len=1, max_len=MAX_DOMAINS),
        "cluster name -> its domains; every domain in exactly one cluster",
    )
    transition_months: int = param(integer(0, MAX_MONTHS), "months of merger transition after the start")
    relaunch: bool = param(flag(), "every CMO tendered anew (a set-up phase); false: unchanged clusters keep theirs")
    managing_organisations: dict[str, int] = param(
        dict_of(integer(1, 100), min_len=0, max_len=MAX_DOMAINS),
        "organisations managing a cluster (each bears an overhead); clusters not listed: 1",
    )
    cluster_meetings: list[str] = param(list_of(month(), 0, MAX_DATES), "months of Region-CMO meetings")
    plenary_meetings: list[str] = param(list_of(month(), 0, MAX_DATES), "months of plenary meetings")


@dataclass
class ClustersConfig:
    """A sequence of cluster configurations (one period, or a reform)."""

    name: str = param(identifier(), "name of the clusters option")
    periods: list[ClusterPeriod] = param(list_of(None, 1, 100), "the configurations in force, in time order")


# -------------------------------------------------------------------------- funding
@dataclass
class TopUp:
    """More money for a closed call's ranking (admitted proposals not yet funded)."""

    month: str = param(month(), "month the money comes")
    budget_eur: float = param(number(0, MAX_EUR), "money added")


@dataclass
class CallConfig:
    """One R&D project call of the Region."""

    name: str = param(identifier(), "name of the call")
    opens: str = param(month(), "month the call opens")
    closes: str = param(month(), "month the call closes (on or after opens)")
    budget_eur: float = param(number(0, MAX_EUR), "money of the call")
    line: str = param(choice(CALL_LINES), "who may apply")
    aid_intensity: dict[str, float] = param(dict_of(share(), keys=SIZE_CLASSES), "grant share of cost by size class")
    min_cost_sme_eur: float = param(number(0, MAX_EUR), "minimum project cost, SMEs only")
    min_cost_with_large_eur: float = param(number(0, MAX_EUR), "minimum project cost with a large firm")
    min_ro_share: float = param(share(), "least share of cost contracted to research organisations")
    max_duration_months: int = param(integer(1, MAX_MONTHS), "longest project")
    max_proposals_per_firm: int = param(integer(1, 100), "proposals one firm may join")
    min_quality: float = param(
        share(), "least quality score to be admitted (besides behaviour.calls.admission_quality)"
    )
    top_ups: list[TopUp] = param(list_of(None, 0, MAX_DATES), "later money for the call's ranking (its waiting list)")


@dataclass
class ProgrammeConfig:
    """A funding programme: the CMO grant and the R&D calls of one period."""

    start: str = param(month(), "first month of the programme")
    end: str = param(month(), "last month of the programme")
    cmo_grant_eur: float = param(number(0, MAX_EUR), "money for the CMOs")
    cmo_grant_disbursements: list[str] = param(list_of(month(), 0, MAX_DATES), "months the CMO grant is paid")
    calls: list[CallConfig] = param(list_of(None, 0, 50), "R&D project calls")


@dataclass
class FundingConfig:
    """The public money: one or more programmes."""

    name: str = param(identifier(), "name of the funding option")
    programmes: dict[str, ProgrammeConfig] = param(dict_of(None, max_len=10), "programme name -> programme")


# ------------------------------------------------------------------------- staffing
@dataclass
class StaffingConfig:
    """CMO staff: set-up and running head counts and how they are shared."""

    name: str = param(identifier(), "name of the staffing option")
    setup_fte: float = param(number(0, MAX_FTE), "CMO staff (FTE) while a configuration is set up")
    run_fte: float = param(number(0, MAX_FTE), "CMO staff (FTE) once it runs")
    setup_months: int = param(integer(0, MAX_MONTHS), "months of set-up staffing after each configuration starts")
    overhead_fte_per_cmo: float = param(number(0, 100), "fixed management FTE of each CMO")
    allocation: str = param(choice(STAFF_ALLOCATIONS), "how staff is shared among CMOs")
    skill: float = param(number(0, 5, gt=True), "service output per hour, relative")


# ------------------------------------------------------------------------ behaviour
@dataclass
class MembershipParams:
    """Membership as a discrete choice with inertia (a logit)."""

    review_rate: float = param(share(), "chance a firm reviews its membership in a month")
    beta0: float = param(number(-MAX_COEFFICIENT, MAX_COEFFICIENT), "intercept of the membership utility")
    beta_service: float = param(number(0, MAX_COEFFICIENT), "weight of service hours per member")
    beta_fee: float = param(number(0, MAX_COEFFICIENT), "weight of the fee")
    beta_satisfaction: float = param(number(0, MAX_COEFFICIENT), "weight of satisfaction")
    beta_call: float = param(number(0, MAX_COEFFICIENT), "weight of an open members-only call")
    switching_cost: float = param(number(0, MAX_COEFFICIENT), "inertia against joining and for staying")
    service_reference_hours: float = param(number(0, MAX_HOURS, gt=True), "service hours a member expects")
    fee_reference_share: float = param(share(), "fee as a share of turnover that weighs one unit")
    satisfaction_memory: float = param(share(), "monthly persistence of satisfaction")
    awareness_per_comm_hour: float = param(share(), "awareness per CMO communication hour")
    beta_large: float = param(number(-MAX_COEFFICIENT, MAX_COEFFICIENT), "anchor premium of large firms")
    benefits: dict[str, float] = param(
        dict_of(number(0, 100), keys=BENEFITS), "satisfaction from one service of each kind"
    )


@dataclass
class CmoParams:
    """CMO productivity and the penalties of breadth and merger."""

    action_plan: dict[str, float] = param(
        dict_of(share(), keys=SERVICE_LINES), "share of service hours per service line (sum 1)"
    )
    breadth_penalty: float = param(number(0, 10), "productivity lost per extra domain of a cluster")
    merger_efficiency_loss: float = param(share(), "productivity lost during a merger transition")
    hours_per_introduction: float = param(number(MIN_HOURS, MAX_HOURS), "CMO hours per brokered introduction")
    hours_per_prescreen: float = param(number(MIN_HOURS, MAX_HOURS), "CMO hours per pre-screened proposal")
    hours_per_training_agreement: float = param(number(MIN_HOURS, MAX_HOURS), "CMO hours per training agreement")
    hours_per_international_link: float = param(number(MIN_HOURS, MAX_HOURS), "CMO hours per link abroad")
    hours_per_consortium_support: float = param(number(MIN_HOURS, MAX_HOURS), "CMO hours per consortium helped")
    support_knowledge_gain: float = param(share(), "knowledge gain of an innovation-support session")
    meeting_alignment_boost: float = param(share(), "productivity gained after a Region meeting")


@dataclass
class TieParams:
    """Tie formation: cognitive distance, trust and the brokered search."""

    candidates_per_introduction: int = param(integer(1, 1000), "partners a CMO considers per introduction")
    p_min: float = param(share(), "least chance an introduction becomes a tie")
    p_max: float = param(share(), "greatest chance (at moderate distance; >= p_min)")
    trust_decay: float = param(share(), "monthly persistence of trust")
    distance_weight: float = param(share(), "weight of cognitive distance")
    past_partner_first: float = param(share(), "chance to go back to a past partner first")
    spontaneous_tie_rate: float = param(share(), "monthly chance of a tie without the policy")
    need_own_domain_share: float = param(share(), "share of partner needs in the member's own domain")
    need_related_share: float = param(share(), "share of the needs outside the own domain that are in a related one")
    referral_success: float = param(share(), "chance a referral to another domain's CMO brings candidates")
    plenary_hours_per_fte: float = param(number(0, 744), "staff hours per FTE spent on introductions at a plenary")
    ro_introduction_share: float = param(share(), "share of introductions to a research organisation")


@dataclass
class CallParams:
    """Consortium formation and proposal quality in R&D calls."""

    apply_rate_members: float = param(share(), "monthly chance a member starts a proposal in an open call")
    apply_rate_non_members: float = param(share(), "the same for a non-member")
    aid_wedge_elasticity: float = param(number(0, MAX_COEFFICIENT), "response of applications to aid intensity")
    consortium_min: int = param(integer(1, 50), "fewest firms in a consortium")
    consortium_max: int = param(integer(1, 50), "most firms in a consortium (>= consortium_min)")
    own_cluster_partner_share: float = param(share(), "chance a searched partner comes from the lead's own cluster")
    duration_months_min: int = param(integer(1, MAX_MONTHS), "shortest project")
    cost_eur_per_month: dict[str, float] = param(
        dict_of(number(0, MAX_EUR_RATE), keys=SIZE_CLASSES), "project cost per firm and month by size class"
    )
    ro_share_extra_max: float = param(share(), "most extra research share above the call's minimum")
    prescreen_quality_lift: float = param(share(), "quality added by a CMO pre-screen")
    prescreen_withdraw_below: float = param(share(), "quality below which a pre-screened proposal is withdrawn")
    quality_noise: float = param(share(), "standard deviation of proposal quality")
    admission_quality: float = param(share(), "the calls' minimum score for admission, in the model's units")
    knowledge_gain: float = param(share(), "knowledge gained from a funded project")
    innovation_boost: float = param(number(0, 1000), "innovation rate multiplier after a project")
    innovation_boost_months: int = param(integer(1, MAX_MONTHS), "months the boost lasts")


@dataclass
class TrainingParams:
    """Training agreements and absorptive capacity (half-life learning)."""

    trainees_per_agreement_month: float = param(number(0, 1000), "trainees per agreement a month")
    agreement_months: int = param(integer(1, MAX_MONTHS), "length of an agreement")
    half_life_months: float = param(number(0, MAX_MONTHS, gt=True), "half-life of learning")


@dataclass
class InternationalParams:
    """International links of CMOs and ties of their members abroad."""

    ties_per_link_month: float = param(number(0, 100), "members' ties abroad per CMO link a month")


@dataclass
class DynamicsParams:
    """Firm dynamics: knowledge, innovation and turnover."""

    knowledge_depreciation_month: float = param(share(), "monthly knowledge depreciation")
    innovation_rate_month: float = param(share(), "monthly innovation chance at full knowledge")
    new_to_market_share: float = param(share(), "share of innovations new to the market")
    tie_knowledge_gain: float = param(share(), "knowledge gained from a new tie")
    turnover_growth_month: float = param(
        number(-0.1, 0.1, words="a monthly rate in [-0.1, 0.1]"), "mean monthly turnover growth"
    )
    turnover_growth_sd: float = param(number(0, 0.5), "standard deviation of monthly turnover growth")
    innovation_turnover_gain: float = param(share(), "turnover gained from an innovation")
    member_innovation_lift: float = param(share(), "members' innovation chance is 1 + lift times a non-member's")
    member_growth_premium_month: float = param(number(0, 0.05), "members' extra turnover growth a month")


@dataclass
class BehaviourConfig:
    """Free behavioural parameters (assumptions, to be calibrated)."""

    name: str = param(identifier(), "name of the behaviour option")
    membership: MembershipParams = section(MembershipParams, "joining and staying")
    cmo: CmoParams = section(CmoParams, "CMO productivity")
    ties: TieParams = section(TieParams, "tie formation")
    calls: CallParams = section(CallParams, "consortia and proposals")
    training: TrainingParams = section(TrainingParams, "training agreements")
    international: InternationalParams = section(InternationalParams, "links abroad")
    dynamics: DynamicsParams = section(DynamicsParams, "knowledge, innovation, turnover")


# ---------------------------------------------------------------------- comparison
@dataclass
class ContrastConfig:
    """One named comparison of two arms: ``treatment - baseline``, and what it means in words."""

    name: str = param(identifier(), "name of the contrast")
    treatment: str = param(identifier(), "the arm compared")
    baseline: str = param(identifier(), "the arm it is compared with")
    description: str = param(text(0, 400), "what the contrast means, in plain words")


@dataclass
class ComparisonConfig:
    """How a sweep's runs are compared (used by the merge and the report).

    With no ``contrasts`` the report compares ``treatment`` with ``baseline``; a list of
    contrasts compares any pairs of arms (e.g. a total effect and its two parts).
    """

    name: str = param(identifier(), "name of the comparison; the sweep folder is results/sweeps/<name>")
    title: str = param(text(0, 200), "title of the report")
    arm: str = param(choice(("clusters",), words="'clusters' (the arms are cluster configurations)"), "the arm key")
    baseline: str = param(identifier(), "the arm differences are taken from")
    treatment: str = param(identifier(), "the other arm")
    pairing: str = param(choice(PAIRINGS), "common random numbers, or independent seeds")
    by: list[str] = param(list_of(choice(COMPARISON_BY), 0, len(COMPARISON_BY)), "groups compared separately")
    contrasts: list[ContrastConfig] = param(list_of(None, 0, 50), "named contrasts (treatment - baseline) to report")
    correction: str = param(choice(CORRECTIONS), "multiple-comparison correction over the KPIs: holm, bh or none")


# --------------------------------------------------------------------- sensitivity
@dataclass
class SensitivityParameter:
    """One input of a global sensitivity design: a numeric configuration key and its range."""

    key: str = param(dotted_key(), "a numeric key of the configuration")
    low: float = param(number(-MAX_EUR, MAX_EUR), "lowest value (within the key's own range)")
    high: float = param(number(-MAX_EUR, MAX_EUR), "highest value (> low)")
    scale: str = param(choice(("linear", "log")), "log: sampled uniformly in log space")


@dataclass
class SensitivityConfig:
    """A global sensitivity design (docs/SENSITIVITY.md); ``method: none`` for ordinary runs.

    A sweep runs one job per design row (``sample``) and arm; every job recomputes the
    design from this node and sets its row's values before the run, so any launcher works.
    """

    method: str = param(choice(SENSITIVITY_METHODS), "none | morris | sobol")
    sample: int = param(integer(0, MAX_DESIGN_ROWS), "the design row this run applies")
    seed: int = param(integer(0, 2**32 - 1), "seed of the design (SALib's sampler)")
    trajectories: int = param(integer(2, 1000), "Morris: number of trajectories r")
    levels: int = param(integer(2, 100), "Morris: grid levels p (even)")
    base_samples: int = param(integer(2, 65536), "Sobol (Saltelli): base sample N, a power of 2")
    parameters: list[SensitivityParameter] = param(list_of(None, 0, 50), "the inputs and their ranges")
    outputs: list[str] = param(
        list_of(choice(tuple(KPI_BY_NAME), words=f"a KPI of docs/ODD.md 7.3 ({', '.join(KPI_BY_NAME)})"), 0, 50),
        "KPIs whose 7-minus-12 effect is analysed",
    )


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

    spec: str = param(identifier(), "conf/calibration/<spec>.yaml: targets, free parameters, method")
    reduced: bool = param(flag(), "the spec's reduced method (CI and a quick look)")
    out: str = param(text(0, 4096), "results folder; empty: results/calibration (or -reduced)")
    jobs: int = param(integer(1, 1024), "worker processes for the runs of one evaluation")
    progress: bool = param(flag(), "progress display")


# ---------------------------------------------------------------------------- root
@dataclass
class Config:
    """The whole configuration of one simulation run."""

    seed: int = param(integer(0, MAX_SEED), "root of the SeedSequence (entropy)")
    replication: int = param(integer(0, MAX_REPLICATION), "this run's child of the root SeedSequence")
    start: str = param(month(), "first simulated month (YYYY-MM)")
    end: str = param(month(), "last simulated month (at most 100 years after start)")
    report_start: str = param(month(), "first month of the window the end-of-run summary covers")
    output_dir: str = param(text(1, 4096), "one folder per run is written under it")
    progress: bool = param(flag(), "progress bar on stderr")
    microdata: bool = param(flag(), "write the firm microdata (firms.parquet); false for large designs")
    region: RegionConfig = section(RegionConfig, "the region: domains, actors, prices")
    population: PopulationConfig = section(PopulationConfig, "the pool of firms")
    clusters: ClustersConfig = section(ClustersConfig, "the cluster configurations over time")
    funding: FundingConfig = section(FundingConfig, "CMO grants and R&D calls by programme")
    staffing: StaffingConfig = section(StaffingConfig, "CMO staff")
    behaviour: BehaviourConfig = section(BehaviourConfig, "free behavioural parameters")
    comparison: ComparisonConfig = section(ComparisonConfig, "how a sweep's runs are compared")
    sensitivity: SensitivityConfig = section(SensitivityConfig, "a global sensitivity design")
    task: str = param(choice(TASKS), "simulate (one run) | calibrate")
    calibrate: CalibrateTask = section(CalibrateTask, "the calibration task")


SCHEMAS: dict[str, type] = {
    "region": RegionConfig,
    "population": PopulationConfig,
    "clusters": ClustersConfig,
    "funding": FundingConfig,
    "staffing": StaffingConfig,
    "behaviour": BehaviourConfig,
    "sensitivity": SensitivityConfig,
}


_REGISTERED: list[Any] = []  # the ConfigStore the schemas were put in (once per process)


def register_configs() -> None:
    """Register the schemas in Hydra's ConfigStore (base of every group option), once per process.

    Storing a schema turns its dataclasses into an OmegaConf node (about 30-50 ms again each
    time, 0.2 s the first): the command line, the sweep's checks and every composition of a
    worker call this, and the store keeps what it was given.
    """
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    if any(done is cs for done in _REGISTERED):
        return
    cs.store(name="config_schema", node=Config)
    for group, schema in SCHEMAS.items():
        cs.store(group=group, name=f"{group}_schema", node=schema)
    _REGISTERED.append(cs)


# ------------------------------------------------------------------ cross-field checks
def _check(ok: bool, key_: str, value: Any, allowed: str) -> None:
    if not ok:
        raise refused(key_, value, allowed)


def _sums_to_one(values: list[float], key_: str, what: str = "shares summing to 1") -> None:
    _check(abs(sum(values) - 1.0) < 1e-6, key_, list(values), what)


def _check_window(cfg: Config) -> tuple[int, int]:
    start, end = month_index(cfg.start, "start"), month_index(cfg.end, "end")
    _check(end >= start, "end", cfg.end, f"a month on or after start ({cfg.start})")
    _check(end - start < MAX_MONTHS, "end", cfg.end, "at most 100 years after start")
    report = month_index(cfg.report_start, "report_start")
    _check(
        start <= report <= end,
        "report_start",
        cfg.report_start,
        f"a month between start ({cfg.start}) and end ({cfg.end})",
    )
    return start, end


def _check_region(r: RegionConfig) -> None:
    n = len(r.domains)
    _check(len(set(r.domains)) == n, "region.domains", list(r.domains), "unique names")
    _check(len(r.domain_firm_shares) == n, "region.domain_firm_shares", list(r.domain_firm_shares), f"{n} weights")
    _check(sum(r.domain_firm_shares) > 0, "region.domain_firm_shares", list(r.domain_firm_shares), "a positive sum")
    _check(len(r.domain_families) == n, "region.domain_families", list(r.domain_families), f"{n} family labels")
    per = r.research_organisations.domains_per_org
    _check(per <= n, "region.research_organisations.domains_per_org", per, f"an integer from 1 to {n}")


def _check_population(p: PopulationConfig) -> None:
    _sums_to_one(p.sme_size_shares, "population.sme_size_shares")
    for i, (low, high) in enumerate(zip(p.employees_min, p.employees_max, strict=True)):
        _check(low <= high, f"population.employees_max[{i}]", high, f"an integer >= employees_min[{i}] = {low}")


def _check_clusters(c: ClustersConfig, domains: list[str], start: int) -> None:
    previous = -1
    for i, period in enumerate(c.periods):
        key_ = f"clusters.periods[{i}]"
        m = month_index(period.start, f"{key_}.start")
        if i == 0:
            _check(m <= start, f"{key_}.start", period.start, "a month on or before start")
        else:
            _check(m > previous, f"{key_}.start", period.start, "after the previous period")
        previous = m
        seen: dict[str, str] = {}
        for cluster, members in period.mapping.items():
            for d in members:
                _check(d in domains, f"{key_}.mapping.{cluster}", d, f"domains of {domains}")
                _check(
                    d not in seen, f"{key_}.mapping.{cluster}", d, f"each domain in one cluster only (in {seen.get(d)})"
                )
                seen[d] = cluster
        missing = [d for d in domains if d not in seen]
        _check(not missing, f"{key_}.mapping", missing, "every domain covered (these are not)")
        for cluster in period.managing_organisations:
            _check(
                cluster in period.mapping,
                f"{key_}.managing_organisations.{cluster}",
                cluster,
                f"a cluster of the period's mapping ({sorted(period.mapping)})",
            )


def _check_funding(f: FundingConfig) -> None:
    for prog_name, prog in f.programmes.items():
        key_ = f"funding.programmes.{prog_name}"
        s, e = month_index(prog.start), month_index(prog.end)
        _check(e >= s, f"{key_}.end", prog.end, f"a month on or after start ({prog.start})")
        _check(
            prog.cmo_grant_eur == 0 or len(prog.cmo_grant_disbursements) >= 1,
            f"{key_}.cmo_grant_disbursements",
            list(prog.cmo_grant_disbursements),
            "at least one month when cmo_grant_eur > 0",
        )
        for j, d in enumerate(prog.cmo_grant_disbursements):
            _check(s <= month_index(d) <= e, f"{key_}.cmo_grant_disbursements[{j}]", d, "within the programme")
        for j, call in enumerate(prog.calls):
            _check(
                month_index(call.closes) >= month_index(call.opens),
                f"{key_}.calls[{j}].closes",
                call.closes,
                f"a month on or after opens ({call.opens})",
            )


def _check_behaviour(b: BehaviourConfig) -> None:
    _sums_to_one(list(b.cmo.action_plan.values()), "behaviour.cmo.action_plan")
    t, k = b.ties, b.calls
    _check(t.p_min <= t.p_max, "behaviour.ties.p_max", t.p_max, f">= p_min ({t.p_min})")
    _check(
        k.consortium_max >= k.consortium_min,
        "behaviour.calls.consortium_max",
        k.consortium_max,
        f">= consortium_min ({k.consortium_min})",
    )


def _check_sensitivity(cfg: Config) -> None:
    s = cfg.sensitivity
    if s.method == "none":
        return
    _check(len(s.parameters) >= 2, "sensitivity.parameters", len(s.parameters), "at least 2 parameters")
    seen: set[str] = set()
    for i, p in enumerate(s.parameters):
        where = f"sensitivity.parameters[{i}]"
        try:
            get_key(cfg, p.key)
        except (KeyError, TypeError) as exc:
            raise refused(f"{where}.key", p.key, f"a numeric key of the configuration ({exc})") from None
        _check(p.key not in seen, f"{where}.key", p.key, "a key not listed twice")
        seen.add(p.key)
        _check(p.high > p.low, f"{where}.high", p.high, f"a number > low ({p.low})")
        if p.scale == "log":
            _check(p.low > 0, f"{where}.low", p.low, "a number > 0 (log scale)")
        own = allowed_at(Config, p.key)
        if own is not None and own.kind in ("number", "integer"):
            for side in ("low", "high"):
                _check(
                    _within(getattr(p, side), own),
                    f"{where}.{side}",
                    getattr(p, side),
                    f"within {p.key}: {own.describe()}",
                )
    if s.method == "morris":
        _check(s.levels % 2 == 0, "sensitivity.levels", s.levels, "an even integer >= 2")
    else:
        n = s.base_samples
        _check(n & (n - 1) == 0, "sensitivity.base_samples", n, "a power of 2 (2, 4, 8, ...)")
    _check(len(s.outputs) >= 1, "sensitivity.outputs", list(s.outputs), "at least one KPI")
    size = design_size(s)
    _check(
        size <= MAX_DESIGN_ROWS,
        "sensitivity.parameters",
        len(s.parameters),
        f"a design of at most {MAX_DESIGN_ROWS:,} rows",
    )
    _check(s.sample < size, "sensitivity.sample", s.sample, f"an integer in [0, {size}) for this design")


def _within(value: float, allowed: Allowed) -> bool:
    assert allowed.lo is not None and allowed.hi is not None
    low_ok = value > allowed.lo if allowed.lo_open else value >= allowed.lo
    high_ok = value < allowed.hi if allowed.hi_open else value <= allowed.hi
    return low_ok and high_ok


def _check_task(cfg: Config) -> None:
    if cfg.task != "calibrate":
        return
    folder = os.path.join(config_dir(), "calibration")
    if not os.path.isfile(os.path.join(folder, f"{cfg.calibrate.spec}.yaml")):
        names = sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml"))
        _check(False, "calibrate.spec", cfg.calibrate.spec, f"one of {names} (conf/calibration/)")


def validate(cfg: Config) -> Config:
    """Check every field against what it allows, then the cross-field rules; return ``cfg`` or raise ConfigError."""
    check_tree(cfg)
    start, _ = _check_window(cfg)
    _check_region(cfg.region)
    _check_population(cfg.population)
    _check_clusters(cfg.clusters, list(cfg.region.domains), start)
    _check_funding(cfg.funding)
    _check_behaviour(cfg.behaviour)
    _check_comparison(cfg.comparison)
    _check_sensitivity(cfg)
    _check_task(cfg)
    return cfg


def _check_comparison(comp: ComparisonConfig) -> None:
    names = [c.name for c in comp.contrasts]
    for i, c in enumerate(comp.contrasts):
        where = f"comparison.contrasts[{i}]"
        _check(names.count(c.name) == 1, f"{where}.name", c.name, "a name used once")
        _check(c.treatment != c.baseline, f"{where}.treatment", c.treatment, f"an arm other than ({c.baseline})")


# ------------------------------------------------------------------- dotted keys
def get_key(cfg: Config, key_: str) -> float | int:
    """The numeric value of a dotted configuration key (``behaviour.membership.beta0``).

    Raises:
        KeyError: no such key. TypeError: the key is not a number.
    """
    *path, last = key_.split(".")
    node: Any = cfg
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif not isinstance(node, dict) and dataclasses.is_dataclass(node) and hasattr(node, part):
            node = getattr(node, part)
        else:
            raise KeyError(f"{key_}: no such key")
    if isinstance(node, dict):
        if last not in node:
            raise KeyError(f"{key_}: no such key")
        current = node[last]
    else:
        if not dataclasses.is_dataclass(node) or not hasattr(node, last):
            raise KeyError(f"{key_}: no such key")
        current = getattr(node, last)
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise TypeError(f"{key_}: not a number ({current!r})")
    return current


def set_key(cfg: Config, key_: str, value: float) -> None:
    """Set a dotted numeric key of a :class:`Config` in place, keeping integer keys integers."""
    current = get_key(cfg, key_)
    *path, last = key_.split(".")
    node: Any = cfg
    for part in path:
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    new: float | int = round(value) if isinstance(current, int) else float(value)
    if isinstance(node, dict):
        node[last] = new
    else:
        setattr(node, last, new)


# ---------------------------------------------------------------------- loading
def to_config(cfg: DictConfig | dict | Config) -> Config:
    """Turn a composed Hydra config (or a plain dict) into a validated :class:`Config`.

    A sensitivity design is checked, not applied: the job that runs a design row applies
    it (:func:`clustersim.runner.prepare`).
    """
    if isinstance(cfg, Config):
        return validate(cfg)
    _check_raw_flags(OmegaConf.to_container(cfg, resolve=False) if isinstance(cfg, DictConfig) else cfg)
    try:
        merged = OmegaConf.merge(_structured_schema(), cfg)
        obj = OmegaConf.to_object(merged)
    except Exception as exc:  # omegaconf raises several error types; name the key in one line
        raise _omegaconf_error(exc) from None
    assert isinstance(obj, Config)
    return validate(obj)


@functools.cache
def _structured_schema() -> DictConfig:
    """The schema as an OmegaConf node (built once; ``OmegaConf.merge`` copies it)."""
    return OmegaConf.structured(Config)


def _check_raw_flags(node: Any, where: str = "") -> None:
    """Refuse a number where a flag is expected (OmegaConf would read ``progress=2`` as true)."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        if isinstance(node, int | float) and not isinstance(node, bool):
            allowed = allowed_at(Config, where)
            if allowed is not None and allowed.kind == "flag":
                raise refused(where, node, allowed.describe())
        return
    for k, v in items:
        if where == "" and k == "hydra":
            continue
        _check_raw_flags(v, f"{where}.{k}" if where else str(k))


def _omegaconf_error(exc: Exception) -> ConfigError:
    where = str(getattr(exc, "full_key", "") or "config")
    msg = str(getattr(exc, "msg", None) or exc).strip().splitlines()
    first = msg[0] if msg else type(exc).__name__
    if type(exc).__name__ == "MissingMandatoryValue":
        allowed = allowed_at(Config, where.replace("[", ".").replace("]", ""))
        return ConfigError(where, f"missing; allowed: {allowed.describe() if allowed else 'a value (set it in conf/)'}")
    if "interpolation" in first.lower():
        return ConfigError(where, f"{first}; allowed: a plain value or an interpolation that resolves")
    return _typed_error(where, first)


def _typed_error(where: str, first: str) -> ConfigError:
    """``got <value> (<type>); allowed: <what the key allows>`` from an OmegaConf type error."""
    import re

    allowed = allowed_at(Config, where.replace("[", ".").replace("]", ""))
    words = allowed.describe() if allowed else "a value of the key's type"
    if "is not Optional" in first:
        return ConfigError(where, f"got null; allowed: {words}")
    conversion = re.match(r"Value '(.*)' of type '([\w.]+)' could not be converted", first)
    if conversion:
        return ConfigError(where, f"got {conversion.group(1)!r} (a {conversion.group(2)}); allowed: {words}")
    return ConfigError(where, f"{first}; allowed: {words}")


def load_config(overrides: list[str] | None = None) -> Config:
    """Compose the Hydra configuration with ``overrides`` and validate it.

    The overrides are checked first (:func:`clustersim.overrides.check`: syntax, known keys
    and options, no interpolation, no key set twice, no partial mapping). Example:
    ``load_config(["clusters=seven", "population=small", "seed=3"])``.
    """
    from clustersim.overrides import check, check_after_compose

    overrides = list(overrides or [])
    parsed = check(overrides, Config)
    cfg = compose(overrides)
    check_after_compose(parsed, cfg)
    try:
        return to_config(cfg)
    except ConfigError as err:
        raise _full_key(err, [p.key for p in parsed]) from None


def _full_key(err: ConfigError, keys: list[str]) -> ConfigError:
    """The error named by the whole key of the override it came from (OmegaConf may give only its tail)."""
    tail = err.key.replace("[", ".").replace("]", "")
    if allowed_at(Config, tail) is not None or tail.split(".")[0] in {f.name for f in dataclasses.fields(Config)}:
        return err
    for k in keys:
        if k == tail or k.endswith("." + tail):
            return ConfigError(k, str(err).split(": ", 2)[-1])
    return err


def compose(overrides: list[str]) -> DictConfig:
    """Compose the Hydra configuration (raises ConfigError in one line for any composition error).

    As Hydra does, the group choices (``clusters=seven``, ``experiment=...``) build the
    defaults tree and the other overrides are then applied to the result, in order; the
    composition of each set of group choices is cached, so that many configurations that
    differ in values only (a fuzz test, a calibration, the dashboard) compose fast.
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.types import OverrideType

    base_overrides, value_overrides = _split(overrides)
    cfg = copy.deepcopy(_compose_groups(tuple(base_overrides)))
    for o in value_overrides:
        _check_index(cfg, o.key_or_group)
        if o.type == OverrideType.ADD and OmegaConf.select(cfg, o.key_or_group, default=_ABSENT) is not _ABSENT:
            allowed = f"{o.key_or_group}=<value> (no '+': it exists)"
            raise ConfigError(o.key_or_group, f"got {o.input_line!r}: '+' adds a key; allowed: {allowed}")
        try:
            ConfigLoaderImpl._apply_overrides_to_config([o], cfg)
        except Exception as exc:  # Hydra and OmegaConf raise many kinds: one line naming the key
            err = composition_error(exc, [o.input_line])
            if not err.key.startswith(o.key_or_group.split(".", 1)[0]):
                err = ConfigError(o.key_or_group, str(err).split(": ", 2)[-1])
            raise err from None
    return cfg


def _split(overrides: list[str]) -> tuple[list[str], list[Any]]:
    """The group choices (and hydra.* settings) of ``overrides`` as text, and the other overrides parsed."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from clustersim.overrides import INTERNAL_GROUPS, USER_GROUPS

    groups = set(USER_GROUPS) | set(INTERNAL_GROUPS)
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except Exception as exc:
        raise composition_error(exc, overrides) from None
    base_overrides, value_overrides = [], []
    for line, o in zip(overrides, parsed, strict=True):
        key = o.key_or_group
        if key in groups or "/" in key or key == "hydra" or key.startswith("hydra.") or o.package is not None:
            base_overrides.append(line)
        else:
            value_overrides.append(o)
    return base_overrides, value_overrides


def check_groups(overrides: list[str]) -> None:
    """Compose the group choices of ``overrides`` (once per process for each set): ConfigError if they do not compose.

    What a sweep checks of each distinct set of group choices before it launches
    (``hydra_plugins.clustersim_sweeper``); the other values are checked by
    :func:`clustersim.overrides.check`, and each job composes its whole configuration.
    """
    base = tuple(_split(overrides)[0])
    if not _chosen_already(base):
        _compose_groups(base)


# the group choices each composition of this process made (hydra.runtime.choices), by its overrides
_CHOICES: dict[tuple[str, ...], dict[str, Any]] = {}


def _chosen_already(base: tuple[str, ...]) -> bool:
    """True if ``base`` is a composed set plus one ``group=option`` that set had chosen anyway.

    ``experiment=twelve_vs_seven clusters=twelve`` composes what ``experiment=twelve_vs_seven``
    did when that experiment's clusters are ``twelve``: choosing the option already chosen
    changes nothing in Hydra's defaults list. Settings of Hydra itself (``hydra.sweep.dir``,
    ``hydra/launcher``) are left out of the comparison: they compose the ``hydra`` node only,
    which the configuration drops; choices of different groups are compared as sets.
    """
    from clustersim.overrides import USER_GROUPS

    def own(overrides: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))))

    composed = {own(key): choices for key, choices in _CHOICES.items()}
    for i, line in enumerate(base):
        group, sep, option = line.partition("=")
        if not sep or group not in USER_GROUPS:
            continue
        choices = composed.get(own(base[:i] + base[i + 1 :]))
        if choices is not None and choices.get(group) == option:
            return True
    return False


def _check_index(cfg: DictConfig, dotted: str) -> None:
    """Refuse a list index beyond the list (``clusters.periods.5.start`` when there are 2 periods)."""
    from omegaconf import ListConfig

    node: Any = cfg
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if isinstance(node, ListConfig):
            if not part.isdigit() or int(part) >= len(node):
                where = ".".join(parts[: i + 1])
                raise ConfigError(
                    where, f"no such item; allowed: an index from 0 to {len(node) - 1} (the list has {len(node)})"
                )
            node = node[int(part)]
        elif isinstance(node, DictConfig) and part in node:
            node = node._get_node(part)
            if hasattr(node, "_is_missing") and not isinstance(node, DictConfig | ListConfig):
                return
        else:
            return


_ABSENT = object()


def _compose_groups(overrides: tuple[str, ...]) -> DictConfig:
    """Hydra's composition of the group choices (and hydra.* settings) in ``overrides`` (cached)."""
    return _compose_with_hydra(overrides)[0]


def launcher_settings(overrides: list[str]) -> dict[str, Any]:
    """The ``hydra.launcher`` settings the group choices of ``overrides`` compose (its ``_target_`` and arguments).

    Read from the same cached composition as :func:`compose`: a sweep's command line can
    start the launcher's workers before Hydra composes it again (``clustersim.cli``).
    """
    return copy.deepcopy(_compose_with_hydra(tuple(_split(overrides)[0]))[1])


@functools.lru_cache(maxsize=32)
def _compose_with_hydra(overrides: tuple[str, ...]) -> tuple[DictConfig, dict[str, Any]]:
    """The composition of ``overrides`` without its ``hydra`` node (as ``hydra.compose`` gives it), and its launcher."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.initialize import get_gh_backup, restore_gh_from_backup
    from omegaconf import open_dict

    register_configs()
    # inside a running Hydra app (e.g. `clustersim experiment=calibrate`) its global state is
    # put back afterwards, so that the app can finish normally
    backup = get_gh_backup()
    try:
        if GlobalHydra.instance().is_initialized():
            GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            try:
                cfg = hydra_compose(config_name="config", overrides=list(overrides), return_hydra_config=True)
            except Exception as exc:  # Hydra and OmegaConf raise many kinds: one line naming the key
                raise composition_error(exc, list(overrides)) from None
    finally:
        restore_gh_from_backup(backup)
    launcher: dict[str, Any] = {}
    if "hydra" in cfg:
        _CHOICES[overrides] = dict(cfg.hydra.runtime.get("choices") or {})
        node = cfg.hydra.get("launcher")
        if node is not None:
            launcher = OmegaConf.to_container(node, resolve=False)  # type: ignore[assignment]
        with open_dict(cfg):  # what hydra.compose does without return_hydra_config
            del cfg["hydra"]
    return cfg, launcher


def composition_error(exc: Exception, overrides: list[str]) -> ConfigError:
    """Turn a Hydra/OmegaConf composition error into one ConfigError naming the key."""
    import re

    from clustersim.overrides import suggest_key

    text = str(exc)
    missing = re.search(r"Could not find '(.+)/([^/']+)'", text)
    if missing:
        from clustersim.overrides import suggest

        group, option = missing.groups()
        listed = re.search(r"Available options in '[^']+':\n((?:\t\S+\n?)+)", text)
        options = [o.strip() for o in listed.group(1).split()] if listed else []
        options = [o for o in options if not o.endswith("_schema")]
        return ConfigError(group, f"got {option!r}; allowed: one of {options}{suggest(option, options)}")
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    detail = str(cause).strip()
    first = detail.splitlines()[0] if detail else text
    found = re.search(r"full_key: (\S+)", detail)
    if found and "not in" in first:
        return ConfigError(
            found.group(1), f"no such key; allowed: a key of the schema{suggest_key(found.group(1), Config)}"
        )
    if found:
        return _typed_error(found.group(1), first)
    bad = getattr(exc, "override", None)
    if isinstance(bad, str) and bad:
        name_ = bad.lstrip("+~").split("=", 1)[0]
        return ConfigError(name_, f"cannot read the override {bad!r}: {first}; allowed: Hydra's key=value syntax")
    for o in overrides:
        if o in text:
            name_ = o.lstrip("+~").split("=", 1)[0]
            return ConfigError(name_, f"cannot use the override {o!r}: {first}")
    return ConfigError("overrides", (text.splitlines()[0] if text else type(exc).__name__))
