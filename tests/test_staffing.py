"""CMO staff planning (mechanisms.staffing) on a small state, and money that matches the hours."""

from __future__ import annotations

import numpy as np
import pytest

from clustersim.config import SERVICE_LINES
from clustersim.mechanisms.staffing import breadth_factor, merger_factor, plan_hours, plan_staff_time
from clustersim.model import ClusterModel
from conftest import small_config


@pytest.fixture
def model() -> ClusterModel:
    """The small population under 12 clusters, one month in (CMOs exist, accounts empty)."""
    m = ClusterModel(small_config("start=2016-01", "end=2016-12", "report_start=2016-01", "staffing.setup_months=0"))
    m.step()
    return m


def expected(state, cmo, fte: float, balance: int, domain_counts: np.ndarray) -> dict[str, float]:
    """The rule of docs/ODD.md 7.1.3, computed independently of the code."""
    cfg = state.cfg
    h = fte * cfg.region.hours_per_fte_month
    o = min(h, cfg.staffing.overhead_fte_per_cmo * cfg.region.hours_per_fte_month)
    staff_rate = cfg.region.staff_cost_eur_per_fte_month * 100 / cfg.region.hours_per_fte_month
    act_rate = cfg.region.activity_cost_eur_per_service_hour * 100
    cost = int(staff_rate * h + act_rate * (h - o))
    months = state.region.months_to_next_grant(state.month, state.n_months)
    paid = min(cost, balance // months)
    f = paid / cost if cost else 1.0
    b = breadth_factor(domain_counts, cfg.behaviour.cmo.breadth_penalty)
    m = (
        merger_factor(cmo.merged_from, cfg.behaviour.cmo.merger_efficiency_loss)
        if state.month < cmo.transition_until
        else 1
    )
    return {"paid": paid, "hours": h * f, "service": (h - o) * f * cfg.staffing.skill * b * m}


@pytest.mark.parametrize("balance_eur", [0, 500, 5_000, 1_000_000])
def test_plan_hours_pays_what_it_can_and_turns_it_into_service(model: ClusterModel, balance_eur: int) -> None:
    state = model.state
    cmo = state.cmos[0]
    cmo.account.allocate(balance_eur * 100 - cmo.account.balance)  # top up to the wanted balance
    start_balance = cmo.account.balance
    cmo.staff_fte = 1.75
    counts = np.zeros(state.n_domains)
    counts[cmo.domains[0]] = 30
    want = expected(state, cmo, 1.75, start_balance, counts)
    plan_hours(state, cmo, counts)
    assert start_balance - cmo.account.balance == want["paid"]
    assert cmo.hours_available == pytest.approx(want["hours"])
    assert cmo.hours_service == pytest.approx(want["service"])
    assert sum(cmo.hours.values()) == pytest.approx(cmo.hours_service)
    for line in SERVICE_LINES:
        assert cmo.hours[line] == pytest.approx(want["service"] * state.cfg.behaviour.cmo.action_plan[line])
    if balance_eur == 0:
        assert cmo.hours_service == 0.0


def test_a_cmo_in_set_up_only_communicates(model: ClusterModel) -> None:
    state = model.state
    cmo = state.cmos[1]
    cmo.account.allocate(10_000_000_000)
    cmo.setup_until = state.month + 3
    cmo.staff_fte = 2.0
    plan_hours(state, cmo, np.zeros(state.n_domains))
    assert cmo.hours["communication"] == pytest.approx(cmo.hours_service) and cmo.hours_service > 0
    assert all(cmo.hours[line] == 0.0 for line in SERVICE_LINES if line != "communication")


def test_a_merged_cmo_loses_effectiveness_only_in_its_transition(model: ClusterModel) -> None:
    state = model.state
    cmo = state.cmos[2]
    cmo.account.allocate(10_000_000_000)
    cmo.staff_fte = 2.0
    cmo.merged_from = 3
    counts = np.zeros(state.n_domains)
    cmo.transition_until = state.month + 1
    plan_hours(state, cmo, counts)
    during = cmo.hours_service
    cmo.transition_until = state.month
    plan_hours(state, cmo, counts)
    after = cmo.hours_service
    loss = state.cfg.behaviour.cmo.merger_efficiency_loss
    assert during == pytest.approx(after * (1 - loss * (1 - 1 / 3)))


def test_overhead_larger_than_the_staff_leaves_no_service(model: ClusterModel) -> None:
    state = model.state
    cmo = state.cmos[0]
    cmo.account.allocate(10_000_000_000)
    cmo.staff_fte = state.cfg.staffing.overhead_fte_per_cmo / 2
    plan_hours(state, cmo, np.zeros(state.n_domains))
    assert cmo.hours_available > 0 and cmo.hours_service == 0.0


def test_staff_is_shared_and_running_staff_replaces_set_up_staff(model: ClusterModel) -> None:
    state = model.state
    for c in state.cmos:
        c.account.allocate(10_000_000_000)
    plan_staff_time(state)
    total = sum(c.staff_fte for c in state.cmos)
    assert total == pytest.approx(state.cfg.staffing.run_fte)
    assert len({round(c.staff_fte, 12) for c in state.cmos}) == 1  # equal shares
    for c in state.cmos:
        c.setup_until = state.month + 1
    plan_staff_time(state)
    assert sum(c.staff_fte for c in state.cmos) == pytest.approx(state.cfg.staffing.setup_fte)


def test_cmo_spending_over_a_run_matches_the_staff_and_activity_costs_of_its_hours() -> None:
    """Money and hours are booked by different code paths; over a run they must agree."""
    m = ClusterModel(small_config("clusters=reform", "start=2015-01", "end=2018-12", "report_start=2016-01"))
    m.run()
    cfg = m.cfg
    staff_rate = cfg.region.staff_cost_eur_per_fte_month * 100 / cfg.region.hours_per_fte_month
    act_rate = cfg.region.activity_cost_eur_per_service_hour * 100
    cmos = m.state.cmos + m.state.retired_cmos
    months = m.n_months
    for c in cmos:
        hours, overhead = c.totals["hours_available"], c.totals["hours_overhead"]
        from_hours = staff_rate * hours + act_rate * (hours - overhead)
        # each month's payment is the cost truncated to a cent and scaled: at most a cent a month apart
        assert abs(c.account.spent - from_hours) <= months, c.key
    assert sum(c.account.spent for c in cmos) > 0
