"""Configurations around the valid ranges either run, with money conserved, or are refused.

The contract (STYLE point 5): a configuration is validated on entry, and a bad value is
refused with :class:`~clustersim.config.ConfigError` naming the key and what is allowed;
any configuration that passes runs without error. No other exception, ever.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from clustersim.config import Config, ConfigError, month_index, validate
from clustersim.runner import simulate
from conftest import small_config

ERDF = "funding.programmes.erdf_2014_2020"
POLES = "funding.programmes.poles_2007_2013"
FIRST_PERIOD = month_index("2009-01")  # every clusters option starts its first period here


def ym(index: int) -> str:
    """``YYYY-MM`` of a month index (months since year 0)."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# ------------------------------------------------------------ generated configs
@dataclass(frozen=True)
class Param:
    """One override: its values, whether a value is allowed, and the keys that may be blamed."""

    key: str
    values: st.SearchStrategy[Any]
    allowed: Callable[[Any], bool]
    blamed: tuple[str, ...] = ()

    @property
    def error_keys(self) -> tuple[str, ...]:
        """Keys a ConfigError may name when the value is not allowed."""
        return self.blamed or (self.key,)


def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def share(key: str) -> Param:
    return Param(key, floats(-0.5, 1.5), lambda v: 0.0 <= v <= 1.0)


def non_negative(key: str, lo: float, hi: float) -> Param:
    return Param(key, floats(lo, hi), lambda v: v >= 0.0)


PARAMS: tuple[Param, ...] = (
    non_negative("staffing.run_fte", -5.0, 50.0),
    non_negative("staffing.setup_fte", -5.0, 50.0),
    non_negative("staffing.overhead_fte_per_cmo", -1.0, 5.0),
    Param("staffing.setup_months", st.integers(-3, 12), lambda v: v >= 0),
    Param("staffing.skill", floats(-1.0, 6.0), lambda v: 0.0 < v <= 5.0),
    Param("staffing.allocation", st.sampled_from(["equal", "by_members", "shared"]), lambda v: v != "shared"),
    Param("population.n_smes", st.integers(0, 3000), lambda v: v >= 10),
    Param("population.n_large_firms", st.integers(-5, 60), lambda v: v >= 0),
    share("population.initial_awareness_share"),
    share("behaviour.membership.review_rate"),
    share("behaviour.membership.satisfaction_memory"),
    non_negative("behaviour.membership.awareness_per_comm_hour", -0.01, 0.05),
    non_negative("behaviour.membership.beta_fee", -2.0, 5.0),
    share("behaviour.ties.spontaneous_tie_rate"),
    share("behaviour.ties.referral_success"),
    share("behaviour.ties.ro_introduction_share"),
    share("behaviour.ties.past_partner_first"),
    Param(
        "behaviour.ties.p_min",
        floats(-0.5, 1.5),
        lambda v: 0.0 <= v <= 0.6,  # p_max is 0.6
        ("behaviour.ties.p_min", "behaviour.ties.p_max"),
    ),
    Param("behaviour.ties.candidates_per_introduction", st.integers(-2, 20), lambda v: v >= 1),
    share("behaviour.calls.apply_rate_members"),
    share("behaviour.calls.apply_rate_non_members"),
    share("behaviour.calls.quality_noise"),
    Param("behaviour.calls.consortium_max", st.integers(0, 8), lambda v: v >= 2),  # consortium_min is 2
    share("behaviour.cmo.merger_efficiency_loss"),
    non_negative("behaviour.cmo.breadth_penalty", -1.0, 3.0),
    Param("behaviour.training.half_life_months", floats(-2.0, 24.0), lambda v: v > 0.0),
    non_negative("behaviour.international.ties_per_link_month", -0.5, 2.0),
    share("behaviour.dynamics.innovation_rate_month"),
    Param("behaviour.dynamics.turnover_growth_month", floats(-0.2, 0.2), lambda v: -0.1 <= v <= 0.1),
    non_negative(f"{ERDF}.cmo_grant_eur", -1e6, 2e7),
    *(
        Param(f"{ERDF}.calls.{i}.budget_eur", floats(-1e6, 5e7), lambda v: v >= 0.0, (f"{ERDF}.calls[{i}].budget_eur",))
        for i in range(3)
    ),
    Param(f"{POLES}.calls.0.budget_eur", floats(-1e6, 5e7), lambda v: v >= 0.0, (f"{POLES}.calls[0].budget_eur",)),
    Param("seed", st.integers(-3, 2**31), lambda v: v >= 0),
)
PARAM_BY_KEY = {p.key: p for p in PARAMS}


def as_override(key: str, value: Any) -> str:
    return f"{key}={value!r}" if isinstance(value, float) else f"{key}={value}"


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[str], set[str]]:
    """Overrides for a short run, and the keys a ConfigError may blame (empty: all valid)."""
    bad: set[str] = set()
    # a window of up to 12 months around the ERDF years, sometimes before the first period,
    # sometimes ending before it starts, and a report month sometimes outside it
    start = draw(st.integers(FIRST_PERIOD - 1, month_index("2017-12")))
    end = start + draw(st.integers(-1, 11))
    report = start + draw(st.integers(-1, max(end - start, 0) + 1))
    overrides = [f"start={ym(start)}", f"end={ym(end)}", f"report_start={ym(report)}"]
    if start < FIRST_PERIOD:
        bad.add("clusters.periods[0].start")
    if end < start:
        bad.add("end")
    if not start <= report <= end:
        bad.add("report_start")
    overrides.append("clusters=" + draw(st.sampled_from(["twelve", "seven", "reform"])))
    for key in draw(st.sets(st.sampled_from(sorted(PARAM_BY_KEY)), max_size=4)):
        param = PARAM_BY_KEY[key]
        value = draw(param.values)
        overrides.append(as_override(key, value))
        if not param.allowed(value):
            bad.update(param.error_keys)
    return overrides, bad


def assert_money_conserved(accounts: pd.DataFrame) -> None:
    money = ["allocated_cents", "spent_cents", "transferred_out_cents", "left_over_cents"]
    assert (accounts[money] >= 0).all().all()
    total = accounts["spent_cents"] + accounts["transferred_out_cents"] + accounts["left_over_cents"]
    assert (accounts["allocated_cents"] == total).all()
    region = accounts.set_index("account").loc["region"]
    assert region["spent_cents"] == 0 and region["left_over_cents"] == 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_a_generated_configuration_runs_or_is_refused_naming_its_key(scenario: tuple[list[str], set[str]]) -> None:
    overrides, bad = scenario
    try:
        cfg = small_config("progress=false", *overrides)
    except ConfigError as err:
        event("refused")
        assert bad, f"a valid configuration was refused: {err}"
        assert err.key in bad, f"{err.key!r} blamed, expected one of {sorted(bad)}"
        assert err.key in str(err) and "allowed" in str(err)
        return
    event("ran")
    assert not bad, f"accepted although {sorted(bad)} are out of range"
    tables = simulate(cfg)
    assert_money_conserved(tables["accounts"])
    months = tables["monthly"]["month"]
    assert months.min() == 0 and months.max() == month_index(cfg.end) - month_index(cfg.start)


# ---------------------------------------------- every validation branch, by hand
@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("start=2016-13", "start"),
        ("end=2008-12", "end"),
        ("population.n_smes=5", "population.n_smes"),
        ("population.sme_size_shares=[0.5,0.5,0.5]", "population.sme_size_shares"),
        (f"{ERDF}.cmo_grant_disbursements=[2030-01]", f"{ERDF}.cmo_grant_disbursements[0]"),
        ("behaviour.cmo.action_plan.innovation=0.9", "behaviour.cmo.action_plan"),
    ],
)
def test_load_config_refuses_bad_overrides_naming_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        small_config(override)
    assert info.value.key == key
    assert key in str(info.value) and "allowed" in str(info.value)


@pytest.fixture(scope="module")
def base_config() -> Config:
    """The small reform configuration (two cluster periods), composed once."""
    return small_config("clusters=reform")


def with_value(cfg: Config, path: str, value: Any) -> Config:
    """A copy of ``cfg`` with the field at dotted ``path`` (list indices as numbers) set."""
    out = copy.deepcopy(cfg)
    *parents, last = path.split(".")
    node: Any = out
    for part in parents:
        node = (
            node[int(part)] if isinstance(node, list) else node[part] if isinstance(node, dict) else getattr(node, part)
        )
    if isinstance(node, list):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        setattr(node, last, value)
    return out


SHARES = [
    "population.initial_awareness_share",
    "population.secondary_same_family_share",
    "region.inter_regional_partner_share",
    "behaviour.membership.review_rate",
    "behaviour.membership.satisfaction_memory",
    "behaviour.cmo.merger_efficiency_loss",
    "behaviour.cmo.meeting_alignment_boost",
    *(
        f"behaviour.ties.{k}"
        for k in (
            "p_min",
            "p_max",
            "trust_decay",
            "distance_weight",
            "past_partner_first",
            "spontaneous_tie_rate",
            "need_own_domain_share",
            "referral_success",
            "ro_introduction_share",
        )
    ),
    *(
        f"behaviour.calls.{k}"
        for k in (
            "apply_rate_members",
            "apply_rate_non_members",
            "ro_share_extra_max",
            "prescreen_quality_lift",
            "prescreen_withdraw_below",
            "quality_noise",
            "knowledge_gain",
        )
    ),
    *(
        f"behaviour.dynamics.{k}"
        for k in (
            "knowledge_depreciation_month",
            "innovation_rate_month",
            "new_to_market_share",
            "tie_knowledge_gain",
            "innovation_turnover_gain",
        )
    ),
]
NON_NEGATIVE = [
    "region.staff_cost_eur_per_fte_month",
    "region.activity_cost_eur_per_service_hour",
    "staffing.setup_fte",
    "staffing.run_fte",
    "staffing.overhead_fte_per_cmo",
    *(
        f"behaviour.membership.{k}"
        for k in (
            "beta_service",
            "beta_fee",
            "beta_satisfaction",
            "beta_call",
            "switching_cost",
            "awareness_per_comm_hour",
            "fee_reference_share",
        )
    ),
    "behaviour.cmo.breadth_penalty",
    "behaviour.calls.aid_wedge_elasticity",
    "behaviour.calls.innovation_boost",
    "behaviour.training.trainees_per_agreement_month",
    "behaviour.international.ties_per_link_month",
    f"{ERDF}.cmo_grant_eur",
]
CALL = f"{ERDF}.calls[0]"
PERIOD = "clusters.periods[1]"
EXPLICIT: list[tuple[str, Any, str]] = [
    ("start", "2016-1", "start"),
    ("end", "20x6-01", "end"),
    ("end", "2008-12", "end"),
    ("end", "2200-01", "end"),
    ("report_start", "2008-12", "report_start"),
    ("seed", -1, "seed"),
    ("output_dir", "", "output_dir"),
    ("region.domains", ["only_one"], "region.domains"),
    ("region.domains", ["agrifood"] * 12, "region.domains"),
    ("region.domain_firm_shares", [1.0 / 12] * 11, "region.domain_firm_shares"),
    ("region.domain_firm_shares", [-0.1] + [1.1 / 11] * 11, "region.domain_firm_shares[0]"),
    ("region.domain_firm_shares", [0.0] * 12, "region.domain_firm_shares"),
    ("region.domain_families", [0, 1], "region.domain_families"),
    ("region.research_organisations.count", 0, "region.research_organisations.count"),
    ("region.research_organisations.concurrent_projects", 0, "region.research_organisations.concurrent_projects"),
    ("region.research_organisations.domains_per_org", 13, "region.research_organisations.domains_per_org"),
    ("region.n_training_agencies", 0, "region.n_training_agencies"),
    ("region.n_external_partners", 0, "region.n_external_partners"),
    ("region.hours_per_fte_month", 0.0, "region.hours_per_fte_month"),
    ("region.hours_per_fte_month", 745.0, "region.hours_per_fte_month"),
    ("region.member_fee_eur_per_year", {"micro": 1.0}, "region.member_fee_eur_per_year"),
    ("region.member_fee_eur_per_year.large", -1.0, "region.member_fee_eur_per_year.large"),
    ("population.n_smes", 9, "population.n_smes"),
    ("population.n_smes", 5_000_001, "population.n_smes"),
    ("population.n_large_firms", -1, "population.n_large_firms"),
    ("population.sme_size_shares", [0.5, 0.5], "population.sme_size_shares"),
    ("population.sme_size_shares", [0.5, 0.2, 0.2], "population.sme_size_shares"),
    ("population.employees_min", [1, 2, 3], "population.employees_min"),
    ("population.employees_max", [9, 5, 249, 5000], "population.employees_max[1]"),
    ("population.turnover_eur_per_employee", 0.0, "population.turnover_eur_per_employee"),
    ("clusters.periods", [], "clusters.periods"),
    ("clusters.periods.0.start", "2009-1", "clusters.periods[0].start"),
    ("clusters.periods.0.start", "2010-01", "clusters.periods[0].start"),
    ("clusters.periods.1.start", "2008-06", f"{PERIOD}.start"),
    ("clusters.periods.1.mapping", {}, f"{PERIOD}.mapping"),
    ("clusters.periods.1.mapping.ict", ["ict", "robotics"], f"{PERIOD}.mapping.ict"),
    ("clusters.periods.1.mapping.ict", ["ict", "digital_creativity", "agrifood"], f"{PERIOD}.mapping.ict"),
    ("clusters.periods.1.mapping.ict", ["ict"], f"{PERIOD}.mapping"),
    ("clusters.periods.1.transition_months", -1, f"{PERIOD}.transition_months"),
    ("clusters.periods.1.cluster_meetings", ["March 2018"], f"{PERIOD}.cluster_meetings[0]"),
    ("clusters.periods.1.plenary_meetings", ["2019-03", "2019"], f"{PERIOD}.plenary_meetings[1]"),
    (f"{ERDF}.start", "2016", f"{ERDF}.start"),
    (f"{ERDF}.end", "2015-12", f"{ERDF}.end"),
    (f"{ERDF}.cmo_grant_disbursements", [], f"{ERDF}.cmo_grant_disbursements"),
    (f"{ERDF}.cmo_grant_disbursements", ["2016-10", "2021-01"], f"{ERDF}.cmo_grant_disbursements[1]"),
    (f"{ERDF}.cmo_grant_disbursements", ["2016-10", "x"], f"{ERDF}.cmo_grant_disbursements[1]"),
    (f"{ERDF}.calls.0.opens", "2016-12-01", f"{CALL}.opens"),
    (f"{ERDF}.calls.0.closes", "2016-11", f"{CALL}.closes"),
    (f"{ERDF}.calls.0.budget_eur", -0.01, f"{CALL}.budget_eur"),
    (f"{ERDF}.calls.0.line", "everyone", f"{CALL}.line"),
    (f"{ERDF}.calls.0.aid_intensity", {"micro": 0.5}, f"{CALL}.aid_intensity"),
    (f"{ERDF}.calls.0.aid_intensity.medium", 1.2, f"{CALL}.aid_intensity.medium"),
    (f"{ERDF}.calls.0.min_cost_sme_eur", -1.0, f"{CALL}.min_cost_sme_eur"),
    (f"{ERDF}.calls.0.min_cost_with_large_eur", -1.0, f"{CALL}.min_cost_with_large_eur"),
    (f"{ERDF}.calls.0.min_ro_share", 1.5, f"{CALL}.min_ro_share"),
    (f"{ERDF}.calls.0.max_duration_months", 0, f"{CALL}.max_duration_months"),
    (f"{ERDF}.calls.0.max_proposals_per_firm", 0, f"{CALL}.max_proposals_per_firm"),
    (f"{ERDF}.calls.0.min_quality", -0.1, f"{CALL}.min_quality"),
    ("staffing.setup_months", -1, "staffing.setup_months"),
    ("staffing.allocation", "by_size", "staffing.allocation"),
    ("staffing.skill", 0.0, "staffing.skill"),
    ("staffing.skill", 5.5, "staffing.skill"),
    ("behaviour.membership.service_reference_hours", 0.0, "behaviour.membership.service_reference_hours"),
    ("behaviour.membership.benefits", {"tie": 1.0}, "behaviour.membership.benefits"),
    ("behaviour.membership.benefits.training", -0.5, "behaviour.membership.benefits.training"),
    ("behaviour.cmo.action_plan", {"innovation": 1.0}, "behaviour.cmo.action_plan"),
    ("behaviour.cmo.action_plan.communication", 0.5, "behaviour.cmo.action_plan"),
    ("behaviour.cmo.hours_per_introduction", 0.0, "behaviour.cmo.hours_per_introduction"),
    ("behaviour.cmo.hours_per_prescreen", -1.0, "behaviour.cmo.hours_per_prescreen"),
    ("behaviour.cmo.hours_per_training_agreement", 0.0, "behaviour.cmo.hours_per_training_agreement"),
    ("behaviour.cmo.hours_per_international_link", 0.0, "behaviour.cmo.hours_per_international_link"),
    ("behaviour.cmo.hours_per_consortium_support", 0.0, "behaviour.cmo.hours_per_consortium_support"),
    ("behaviour.ties.candidates_per_introduction", 0, "behaviour.ties.candidates_per_introduction"),
    ("behaviour.ties.p_max", 0.01, "behaviour.ties.p_max"),
    ("behaviour.ties.plenary_hours_per_fte", -1.0, "behaviour.ties.plenary_hours_per_fte"),
    ("behaviour.calls.consortium_min", 0, "behaviour.calls.consortium_min"),
    ("behaviour.calls.consortium_max", 1, "behaviour.calls.consortium_max"),
    ("behaviour.calls.duration_months_min", 0, "behaviour.calls.duration_months_min"),
    ("behaviour.calls.innovation_boost_months", 0, "behaviour.calls.innovation_boost_months"),
    ("behaviour.calls.cost_eur_per_month", {"micro": 1.0}, "behaviour.calls.cost_eur_per_month"),
    ("behaviour.calls.cost_eur_per_month.small", -1.0, "behaviour.calls.cost_eur_per_month.small"),
    ("behaviour.training.agreement_months", 0, "behaviour.training.agreement_months"),
    ("behaviour.training.half_life_months", 0.0, "behaviour.training.half_life_months"),
    ("behaviour.dynamics.turnover_growth_month", 0.11, "behaviour.dynamics.turnover_growth_month"),
    ("behaviour.dynamics.turnover_growth_sd", -0.01, "behaviour.dynamics.turnover_growth_sd"),
    ("behaviour.dynamics.turnover_growth_sd", 0.6, "behaviour.dynamics.turnover_growth_sd"),
]
CASES = (
    EXPLICIT
    + [(k, v, k) for k in SHARES for v in (-0.01, 1.01, math.nan)]
    + [(k, v, k) for k in NON_NEGATIVE for v in (-1e-9, math.nan)]
)


@pytest.mark.parametrize(("path", "value", "key"), CASES, ids=[f"{p}={v!r}" for p, v, _ in CASES])
def test_every_validation_branch_names_its_key(base_config: Config, path: str, value: Any, key: str) -> None:
    validate(copy.deepcopy(base_config))  # the base itself is valid
    with pytest.raises(ConfigError) as info:
        validate(with_value(base_config, path, value))
    assert info.value.key == key
    assert str(info.value).startswith(f"invalid configuration: {key}: got ")
    assert "allowed" in str(info.value)


# ------------------------------------- holes found in review, fixed; kept as regressions
@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("population.n_smes=abc", "population.n_smes"),
        ("population.n_smes=1.5", "population.n_smes"),
        ("staffing.head_count=3", "staffing.head_count"),
        ("start=[", "start"),
    ],
)
def test_load_config_refuses_wrong_types_and_unknown_keys_with_config_error(override: str, key: str) -> None:
    try:
        small_config(override)
    except ConfigError as err:
        assert key in str(err)
        return
    except Exception as err:  # which exception escapes is the point of this test
        pytest.fail(f"{type(err).__name__} instead of ConfigError: {str(err).splitlines()[0]}")
    pytest.fail("accepted")


NON_FINITE = [
    ("staffing.run_fte", math.inf),
    ("region.staff_cost_eur_per_fte_month", math.inf),
    (f"{ERDF}.cmo_grant_eur", math.inf),
    (f"{ERDF}.calls.0.budget_eur", math.inf),
    ("behaviour.calls.cost_eur_per_month.micro", math.inf),
    ("behaviour.cmo.breadth_penalty", math.inf),
    ("behaviour.international.ties_per_link_month", math.inf),
    ("behaviour.training.half_life_months", math.inf),
    ("behaviour.membership.beta0", math.nan),
    ("behaviour.membership.beta0", -math.inf),
]


@pytest.mark.parametrize(("path", "value"), NON_FINITE, ids=[f"{p}={v!r}" for p, v in NON_FINITE])
def test_validation_refuses_non_finite_numbers(base_config: Config, path: str, value: float) -> None:
    key = path.replace(f"{ERDF}.calls.0", f"{ERDF}.calls[0]")
    with pytest.raises(ConfigError) as info:
        validate(with_value(base_config, path, value))
    assert key in str(info.value)


@pytest.mark.parametrize("override", ["staffing.run_fte=inf", f"{ERDF}.calls.0.budget_eur=inf"])
def test_an_infinite_amount_is_refused_before_the_run_starts(override: str) -> None:
    try:
        cfg = small_config("start=2016-06", "end=2017-06", "report_start=2016-06", override)
    except ConfigError as err:
        assert override.split("=")[0].split(".")[-1] in str(err)
        return
    simulate(cfg)


@pytest.mark.parametrize("start", ["2009-04", "2016-10"])
def test_a_run_may_start_in_the_month_of_a_cmo_tranche(start: str) -> None:
    # regression: the tranche of the first month used to be paid before any CMO existed
    tables = simulate(small_config(f"start={start}", "end=2017-12", f"report_start={start}"))
    assert_money_conserved(tables["accounts"])
