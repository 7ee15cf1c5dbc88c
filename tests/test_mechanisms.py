"""Known limiting cases of each mechanism, on the real configuration shrunk (STYLE point 12).

Every test states a property that a wrong model would break: a mechanism switched off
gives nothing, money balances to the cent, calls fund in rank order, the reform moves
members and cash to the right new cluster, and the indicators are counted once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clustersim.config import month_index
from clustersim.mechanisms import calls, matching
from clustersim.mechanisms.calls import grant_for
from clustersim.mechanisms.staffing import breadth_factor, merger_factor
from clustersim.mechanisms.training import learn
from clustersim.metrics import accounts_table, summary
from clustersim.model import ClusterModel
from clustersim.money import eur_to_cents
from clustersim.network import nooteboom_value
from clustersim.population import NO_CLUSTER, cognitive_distance
from clustersim.state import Call, Proposal, State
from conftest import small_config

# 2015-06 to 2017-12: the end of the 12 poles, the 2016-09 reform, two ERDF calls and two
# CMO grant tranches (2016-10, 2017-07), with the report window opening in 2016-01.
WINDOW = ("start=2015-06", "end=2017-12", "report_start=2016-01")
ERDF = "funding.programmes.erdf_2014_2020"
N_DOMAINS = 12


@dataclass
class Run:
    """A finished model with the tables the runner would write."""

    model: ClusterModel
    accounts: pd.DataFrame
    kpi: dict[str, float]
    monthly: pd.DataFrame
    ties: pd.DataFrame

    def monthly_total(self, kpi: str) -> pd.Series:
        """The region-wide monthly series of ``kpi``, indexed by date."""
        rows = self.monthly[(self.monthly["kpi"] == kpi) & (self.monthly["cluster"] == "all")]
        return rows.set_index("date")["value"]


def run(*overrides: str) -> Run:
    """Compose the small configuration with ``overrides``, run it and collect its tables."""
    model = ClusterModel(small_config(*overrides))
    model.run()
    table = summary(model.state, model.recorder)
    kpi = table[table["cluster"] == "all"].set_index("kpi")["value"].to_dict()
    return Run(model, accounts_table(model.accounts()), kpi, model.recorder.monthly_table(), model.ledger.to_frame())


@pytest.fixture(scope="module")
def reform_run() -> Run:
    return run("clusters=reform", *WINDOW)


@pytest.fixture(scope="module")
def twelve_run() -> Run:
    return run("clusters=twelve", *WINDOW)


@pytest.fixture(scope="module")
def seven_run() -> Run:
    return run("clusters=seven", *WINDOW)


def profiles(n_domains: int = N_DOMAINS) -> st.SearchStrategy[np.ndarray]:
    """Competence profiles: non-negative shares summing to 1."""
    weights = st.lists(st.integers(0, 100), min_size=n_domains, max_size=n_domains).filter(lambda w: sum(w) > 0)
    return weights.map(lambda w: np.asarray(w, dtype=np.float64) / sum(w))


# ------------------------------------------------------------- cognitive distance
@given(profiles())
def test_identical_profiles_are_at_distance_zero(p: np.ndarray) -> None:
    assert cognitive_distance(p, p.copy()) == pytest.approx(0.0, abs=1e-12)


@given(st.integers(1, N_DOMAINS - 1), st.data())
def test_profiles_without_a_common_domain_are_at_distance_one(split: int, data: st.DataObject) -> None:
    a = np.zeros(N_DOMAINS)
    b = np.zeros(N_DOMAINS)
    a[:split] = data.draw(profiles(split))
    b[split:] = data.draw(profiles(N_DOMAINS - split))
    assert cognitive_distance(a, b) == pytest.approx(1.0, abs=1e-12)


@given(profiles(), profiles())
def test_distance_is_symmetric_and_between_zero_and_one(a: np.ndarray, b: np.ndarray) -> None:
    d = cognitive_distance(a, b)
    assert d == pytest.approx(cognitive_distance(b, a), abs=1e-12)
    assert -1e-12 <= d <= 1.0 + 1e-12


def test_distance_works_row_wise() -> None:
    a = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    b = np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(cognitive_distance(a, b), [0.0, 0.5, 1.0])


def test_nooteboom_value_peaks_at_moderate_distance() -> None:
    assert nooteboom_value(0.0) == 0.0
    assert nooteboom_value(1.0) == 0.0
    assert nooteboom_value(0.5) == 1.0
    grid = np.linspace(0.0, 1.0, 1001)
    values = nooteboom_value(grid)
    assert grid[int(np.argmax(values))] == pytest.approx(0.5)
    assert values.min() >= 0.0 and values.max() <= 1.0
    np.testing.assert_allclose(values, values[::-1], atol=1e-12)  # symmetric about 0.5
    assert np.all(np.diff(values[:501]) > 0) and np.all(np.diff(values[500:]) < 0)


# ------------------------------------------------------------ CMO effectiveness
@given(st.integers(0, N_DOMAINS - 1), st.integers(1, 10_000), st.floats(0.0, 5.0))
def test_single_domain_cluster_has_no_breadth_loss(domain: int, members: int, penalty: float) -> None:
    counts = np.zeros(N_DOMAINS)
    counts[domain] = members
    assert breadth_factor(counts, penalty) == pytest.approx(1.0)


def test_cluster_without_members_has_no_breadth_loss() -> None:
    assert breadth_factor(np.zeros(N_DOMAINS), 0.15) == 1.0


@pytest.mark.parametrize("penalty", [0.05, 0.15, 1.0])
def test_breadth_factor_falls_with_the_effective_number_of_domains(penalty: float) -> None:
    factors = []
    for k in range(1, N_DOMAINS + 1):
        counts = np.zeros(N_DOMAINS)
        counts[:k] = 40  # k equally populated domains: D_eff = k
        factors.append(breadth_factor(counts, penalty))
        assert factors[-1] == pytest.approx(1.0 / (1.0 + penalty * (k - 1)))
    assert all(a > b for a, b in itertools.pairwise(factors))
    # two domains, uneven (D_eff < 2) lose less than two domains of equal size (D_eff = 2)
    uneven = np.array([90.0, 10.0] + [0.0] * (N_DOMAINS - 2))
    assert factors[1] < breadth_factor(uneven, penalty) < 1.0


def test_breadth_penalty_zero_switches_the_loss_off() -> None:
    assert breadth_factor(np.full(N_DOMAINS, 7.0), 0.0) == 1.0


@pytest.mark.parametrize("loss", [0.1, 0.3, 1.0])
def test_merger_factor_falls_with_the_number_of_cmos_merged(loss: float) -> None:
    assert merger_factor(1, loss) == 1.0
    factors = [merger_factor(k, loss) for k in range(1, 13)]
    assert all(a > b for a, b in itertools.pairwise(factors))
    assert min(factors) > 1.0 - loss - 1e-12  # never below the full loss
    assert merger_factor(2, loss) == pytest.approx(1.0 - loss / 2)


def test_merger_without_efficiency_loss_costs_nothing() -> None:
    assert all(merger_factor(k, 0.0) == 1.0 for k in range(1, 13))


# ---------------------------------------------------------------------- training
ABSORPTIVE = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50)


@given(ABSORPTIVE, st.floats(0.5, 60.0), st.sampled_from([np.float32, np.float64]))
def test_training_moves_absorptive_capacity_toward_one_without_passing_it(
    a: list[float], half_life: float, dtype: type
) -> None:
    before = np.asarray(a, dtype=dtype)
    after = learn(before, half_life)
    assert np.all(after >= before)
    assert np.all(after <= 1.0)
    # a visible step wherever the gap is not already below rounding
    room = before <= 0.99
    assert np.all(after[room] > before[room])


def test_training_with_half_life_one_month_halves_the_gap_at_one_half() -> None:
    # h = h0 (1.5 - a) = 1 month at a = 0.5: one month of training closes half the gap
    assert learn(np.array([0.5]), 1.0)[0] == pytest.approx(0.75)
    assert learn(np.array([1.0]), 6.0)[0] == 1.0  # the frontier is a fixed point


def test_training_closes_a_larger_share_of_the_gap_the_more_a_firm_can_absorb() -> None:
    a = np.linspace(0.0, 0.99, 100)
    gap_closed = (learn(a, 6.0) - a) / (1.0 - a)
    assert np.all(np.diff(gap_closed) > 0)


def test_repeated_training_converges_to_the_frontier() -> None:
    a = np.array([0.0, 0.2, 0.6])
    for _ in range(600):
        nxt = learn(a, 6.0)
        assert np.all(nxt >= a) and np.all(nxt <= 1.0)
        a = nxt
    np.testing.assert_allclose(a, 1.0, atol=1e-6)


# ------------------------------------------------------------ no CMO staff at all
def test_without_cmo_staff_no_cmo_service_is_delivered_but_spontaneous_ties_form() -> None:
    r = run(
        "staffing.run_fte=0",
        "staffing.setup_fte=0",
        "behaviour.ties.spontaneous_tie_rate=0.01",
        "start=2016-06",
        "end=2017-12",
        "report_start=2016-06",
    )
    cmos = r.model.cmos + r.model.state.retired_cmos
    assert all(c.totals["hours_service"] == 0 for c in cmos)
    assert (r.ties["origin"] == "brokered").sum() == 0
    assert (r.ties["kind"] == "firm_international").sum() == 0
    assert r.monthly_total("training_agreements").sum() == 0
    assert r.monthly_total("members_trained").sum() == 0
    assert r.monthly_total("international_links").sum() == 0
    assert all(c.totals[k] == 0 for c in cmos for k in ("introductions", "prescreens", "agreements", "links"))
    assert all(not p["prescreened"] for p in r.model.state.projects)
    assert (r.ties["origin"] == "spontaneous").sum() > 0


# ------------------------------------------------------------------ zero budgets
def test_calls_with_zero_budget_fund_nothing() -> None:
    r = run(
        "start=2016-06",
        "end=2018-07",
        "report_start=2016-06",
        "behaviour.calls.apply_rate_members=0.2",
        "behaviour.calls.apply_rate_non_members=0.05",
        f"{ERDF}.calls.0.budget_eur=0",
        f"{ERDF}.calls.1.budget_eur=0",
        f"{ERDF}.calls.2.budget_eur=0",
    )
    calls = r.model.state.region.calls
    assert [c.cfg.name for c in calls] == ["line_a_2017", "line_b_2017"]
    assert sum(c.submitted for c in calls) > 0  # firms did apply: the budget stopped them
    for call in calls:
        assert call.funded == 0
        assert call.account.allocated == 0
        assert call.account.spent == 0
    rows = r.accounts[r.accounts["kind"] == "call"]
    assert (rows["spent_cents"] == 0).all() and (rows["allocated_cents"] == 0).all()
    assert r.model.state.projects == []
    assert r.kpi["projects_funded"] == 0 and r.kpi["CO02"] == 0
    # what the Region holds is then only the three CMO tranches of the window, EUR 1M each
    region = r.accounts.set_index("account").loc["region"]
    assert region["allocated_cents"] == 3 * eur_to_cents(1_000_000)


# ------------------------------------------------------------- money is conserved
def check_money(r: Run) -> None:
    """Every cent allocated is spent, transferred or left over, and flows add up."""
    acc = r.accounts
    money = ["allocated_cents", "spent_cents", "transferred_out_cents", "left_over_cents"]
    assert (acc[money] >= 0).all().all()
    assert (acc["allocated_cents"] == acc["spent_cents"] + acc["transferred_out_cents"] + acc["left_over_cents"]).all()
    assert acc["account"].is_unique
    state = r.model.state
    region = acc.set_index("account").loc["region"]
    calls = state.region.calls
    grants_paid = state.counters["cmo_grants_paid_cents"]
    fees = state.counters["fees_cents"]
    # The Region spends nothing itself: it passes CMO tranches and call budgets on, all of
    # them inside the window.
    assert region["spent_cents"] == 0
    assert region["transferred_out_cents"] == grants_paid + sum(c.account.allocated for c in calls)
    assert region["left_over_cents"] == 0
    for call in calls:
        topped = sum(eur_to_cents(t.budget_eur) for t in call.cfg.top_ups if t.month <= r.model.cfg.end)
        assert call.account.allocated == eur_to_cents(call.cfg.budget_eur) + topped
        assert call.account.spent == sum(p.grant_cents for p in state.proposals if p.call == call.cfg.name)
        assert call.account.transferred_out == 0
    assert sum(p["grant_cents"] for p in state.projects) == sum(c.account.spent for c in calls)
    # CMOs receive tranches, fees and their predecessors' cash, and nothing else
    cmo = acc[acc["kind"] == "cmo"]
    assert cmo["allocated_cents"].sum() == grants_paid + fees + cmo["transferred_out_cents"].sum()
    # Across all accounts: public money and fees in = spending + what is left
    inflow = region["allocated_cents"] + fees
    assert acc["allocated_cents"].sum() - acc["transferred_out_cents"].sum() == inflow
    assert acc["spent_cents"].sum() + acc["left_over_cents"].sum() == inflow


def test_money_is_conserved_through_the_reform(reform_run: Run) -> None:
    check_money(reform_run)
    # two ERDF tranches of EUR 1M and the two 2017 calls (EUR 35M + 15M) fall in the window
    region = reform_run.accounts.set_index("account").loc["region"]
    assert region["allocated_cents"] == eur_to_cents(2_000_000 + 35_000_000 + 15_000_000)
    assert reform_run.model.state.counters["cmo_grants_paid_cents"] == eur_to_cents(2_000_000)


@pytest.mark.parametrize(
    "overrides",
    [
        ("clusters=twelve", "start=2011-01", "end=2013-06", "report_start=2012-01"),
        ("clusters=seven", "staffing.allocation=by_members", "funding=erdf_half", *WINDOW),
        ("clusters=reform", "staffing=lean", "funding=erdf_double", "start=2016-01", "end=2018-12"),
    ],
    ids=["poles_calls", "seven_by_members", "reform_lean_double"],
)
def test_money_is_conserved_in_other_scenarios(overrides: tuple[str, ...]) -> None:
    check_money(run(*overrides))


# ------------------------------------------------------------ funding rank order
def test_calls_fund_proposals_in_rank_order_within_budget() -> None:
    r = run(
        "clusters=seven",
        "start=2016-06",
        "end=2017-07",
        "report_start=2016-06",
        "population.initial_awareness_share=1.0",
        "behaviour.membership.review_rate=0.5",
        "behaviour.calls.apply_rate_members=0.1",
        "behaviour.calls.apply_rate_non_members=0.05",
        f"{ERDF}.calls.0.budget_eur=3000000",
        f"{ERDF}.calls.1.budget_eur=2000000",
    )
    state = r.model.state
    assert len(state.region.calls) == 2
    for call in state.region.calls:
        submitted = [p for p in state.proposals if p.call == call.cfg.name and not p.withdrawn]
        funded = [p for p in submitted if p.funded]
        unfunded = [p for p in submitted if not p.funded]
        assert funded and unfunded, "a binding budget is needed for this test to mean anything"
        assert all(p.grant_cents > 0 for p in funded) and all(p.grant_cents == 0 for p in unfunded)
        assert call.funded == len(funded) and call.submitted == len(submitted)
        assert min(p.quality for p in funded) >= max(p.quality for p in unfunded)
        assert call.account.spent == sum(p.grant_cents for p in funded)
        assert call.account.spent <= call.account.allocated == eur_to_cents(call.cfg.budget_eur)
        # funding stopped because the best unfunded proposal no longer fit the euros left
        best_unfunded = max(unfunded, key=lambda p: p.quality)
        assert grant_for(state, call, best_unfunded) > call.account.balance


def run_call_one_by_one(state: State, call: Call) -> None:
    """The call's leads taken one at a time, each proposal worked out on its own (as the calls once were)."""
    firms = state.firms
    eligible = calls.eligible_mask(state, call)
    everyone = np.flatnonzero(eligible)
    firms.proposals_in_call[:] = 0
    proposals = []
    leads = calls.draw_leads(state, call, eligible)
    draws = calls.lead_draws(state, call, leads, everyone)
    needs_ro = call.cfg.min_ro_share > 0
    for row, lead in enumerate(leads.tolist()):
        if firms.proposals_in_call[lead] >= call.cfg.max_proposals_per_firm:
            continue
        team = calls.form_consortium(state, call, lead, eligible, everyone, draws, row)
        if not team:
            continue
        ro = calls.choose_research_org(state, team) if needs_ro else -1
        if needs_ro and ro < 0:
            continue
        u = draws.u_rows[row]
        duration, costs = calls.cost_plan(state, call, team, u)
        quality = calls.proposal_quality(state, team, u)
        prop = Proposal(call.cfg.name, call.line, state.month, lead, team, ro, duration, costs, quality)
        prop.requested_grant_cents = grant_for(state, call, prop)
        prop.n_clusters = len(set(state.cluster_of_firm[team].tolist()))
        firms.in_proposal[team] = True
        state.proposals.append(prop)
        if not calls.prescreen(state, prop):
            prop.withdrawn = True
            call.withdrawn += 1
            continue
        firms.proposals_in_call[team] += 1
        proposals.append(prop)
    call.submitted = len(proposals)
    threshold = max(call.cfg.min_quality, state.cfg.behaviour.calls.admission_quality)
    admitted = [p for p in proposals if p.quality >= threshold]
    for prop in admitted:
        prop.admitted = True
    call.admitted = len(admitted)
    call.ranking = sorted(admitted, key=lambda p: -p.quality)
    calls.fund_ranking(state, call)


@pytest.mark.parametrize(
    "overrides",
    [
        ("clusters=twelve", "start=2009-01", "end=2011-12", "report_start=2010-01"),
        (  # many withdrawals and a tight cap: guessed teams formed again, some different
            "clusters=reform",
            *WINDOW,
            "population.initial_awareness_share=1.0",
            "behaviour.membership.review_rate=0.5",
            "behaviour.calls.apply_rate_members=0.5",
            "behaviour.calls.prescreen_withdraw_below=0.6",
            "behaviour.calls.consortium_max=9",
            f"{ERDF}.calls.0.max_proposals_per_firm=1",
            f"{ERDF}.calls.1.max_proposals_per_firm=2",
        ),
    ],
    ids=["poles", "withdrawals_and_cap"],
)
def test_calls_planned_together_match_one_by_one(overrides: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = run(*overrides)
    monkeypatch.setattr("clustersim.region.run_call", run_call_one_by_one)
    slow = run(*overrides)
    a, b = fast.model.state, slow.model.state
    assert len(a.proposals) > 100 and any(p.withdrawn for p in a.proposals)
    assert a.proposals == b.proposals and a.projects == b.projects
    for name in ("knowledge", "proposals_in_call", "in_proposal", "first_nonfinancial"):
        assert np.array_equal(getattr(a.firms, name), getattr(b.firms, name)), name
    pd.testing.assert_frame_equal(fast.monthly, slow.monthly)


# ---------------------------------------------------------------------- membership
def test_nobody_joins_if_nobody_reviews_membership() -> None:
    r = run("behaviour.membership.review_rate=0", "start=2015-06", "end=2016-12", "report_start=2016-01")
    assert (r.monthly_total("members") == 0).all()
    assert r.monthly_total("joined").sum() == 0
    assert not r.model.firms.ever_member.any()


def test_no_sme_joins_a_scheme_it_never_hears_of() -> None:
    overrides = (
        "population.initial_awareness_share=0",
        "behaviour.membership.awareness_per_comm_hour=0",
        "behaviour.membership.review_rate=0.5",
        "start=2015-06",
        "end=2016-12",
        "report_start=2016-01",
    )
    r = run(*overrides)
    firms = r.model.firms
    n_large = r.model.cfg.population.n_large_firms
    assert not firms.aware[: firms.n_smes].any()
    assert (r.monthly_total("aware_firms") == n_large).all()
    assert not firms.ever_member[: firms.n_smes].any()
    # large firms know the scheme by construction and do join: the mechanism is live
    assert firms.ever_member[firms.n_smes :].any()
    # with no large firms in the pool, nobody at all joins
    r = run(*overrides, "population.n_large_firms=0")
    assert (r.monthly_total("members") == 0).all()
    assert not r.model.firms.ever_member.any()


# ------------------------------------------------------------------------- reform
def test_reform_replaces_twelve_clusters_by_seven_in_2016_09(reform_run: Run) -> None:
    in_force = reform_run.monthly_total("clusters_in_force")
    assert (in_force[in_force.index < "2016-09"] == 12).all()
    assert (in_force[in_force.index >= "2016-09"] == 7).all()
    assert in_force.index.min() == "2015-06" and in_force.index.max() == "2017-12"


def test_reform_moves_members_to_the_cluster_of_their_domain_and_cash_to_the_heir() -> None:
    # from 2009, so that the 12 poles have members to hand over whatever the behaviour
    cfg = small_config("clusters=reform", "start=2009-01", "end=2017-12", "report_start=2016-01")
    model = ClusterModel(cfg)
    reform = month_index("2016-09") - month_index(cfg.start)
    for _ in range(reform):
        model.step()
    state = model.state
    assert len(model.cmos) == 12
    members_before = set(state.members.tolist())
    old = list(model.cmos)
    balances = [c.account.balance for c in old]
    out_before = [c.account.transferred_out for c in old]
    fees_before = state.counters["fees_cents"]
    assert len(members_before) > 0 and sum(balances) > 0

    model.step()  # the reform month: the new configuration, then the month's processes

    assert len(model.cmos) == 7 and state.retired_cmos == old
    members_after = set(state.members.tolist())
    month = model.recorder.rows[-1]
    assert len(members_before - members_after) == month["left"]
    assert len(members_after - members_before) == month["joined"]
    domains = state.taxonomy.names
    firms = model.firms
    for c, cmo in enumerate(model.cmos):
        mine = np.flatnonzero(firms.member_of == c)
        assert {domains[d] for d in firms.primary_domain[mine]} <= set(cfg.clusters.periods[1].mapping[cmo.name])
        assert cmo.n_members == mine.size
    # every old CMO handed over its whole balance; the heirs hold it plus this month's fees
    for cmo, bal, out in zip(old, balances, out_before, strict=True):
        assert cmo.account.balance == 0
        assert cmo.account.transferred_out - out == bal
    fees = state.counters["fees_cents"] - fees_before
    assert sum(c.account.allocated for c in model.cmos) == sum(balances) + fees


def test_membership_always_follows_the_mapping_in_force(reform_run: Run) -> None:
    model = reform_run.model
    firms = model.firms
    m = firms.member_of != NO_CLUSTER
    np.testing.assert_array_equal(firms.member_of[m], model.state.cluster_of_domain[firms.primary_domain[m]])


def test_old_cmos_end_with_nothing_left(reform_run: Run) -> None:
    acc = reform_run.accounts
    old = acc[acc["account"].str.startswith("cmo:twelve/")]
    new = acc[acc["account"].str.startswith("cmo:seven/")]
    assert len(old) == 12 and len(new) == 7
    assert (old["left_over_cents"] == 0).all()
    assert (new["transferred_out_cents"] == 0).all()


# --------------------------------------------------------- cross-cluster ties
def test_cross_cluster_ties_are_cross_domain_under_seven(seven_run: Run) -> None:
    ff = seven_run.ties[seven_run.ties["kind"] == "firm_firm"]
    assert not (ff["cross_cluster"] & ~ff["cross_domain"]).any()
    # merged clusters hold several domains: some ties cross domains inside one cluster
    assert (ff["cross_domain"] & ~ff["cross_cluster"]).any()
    kpi = seven_run.kpi
    assert kpi["cross_cluster_share"] < kpi["cross_domain_share"]


def test_cross_cluster_and_cross_domain_coincide_under_twelve(twelve_run: Run) -> None:
    ff = twelve_run.ties[twelve_run.ties["kind"] == "firm_firm"]
    assert len(ff) > 0
    assert (ff["cross_cluster"] == ff["cross_domain"]).all()
    kpi = twelve_run.kpi
    assert kpi["cross_cluster_share"] == kpi["cross_domain_share"]


# ----------------------------------------------------------------- ERDF indicators
def test_erdf_indicators_count_each_enterprise_once(reform_run: Run) -> None:
    state, kpi = reform_run.model.state, reform_run.kpi
    firms = state.firms
    funded = [p for p in state.proposals if p.funded and p.month >= state.report_month]
    granted = {f for p in funded for f in p.partners}
    with_research = {f for p in funded if p.ro >= 0 for f in p.partners}
    assert kpi["CO02"] == len(granted) > 0
    assert kpi["CO26"] == len(with_research) <= kpi["CO02"]
    assert kpi["CO04"] > 0
    union = (firms.first_grant >= 0) | (firms.first_nonfinancial >= 0)
    assert kpi["CO01"] == union.sum()
    assert max(kpi["CO02"], kpi["CO04"]) <= kpi["CO01"] <= kpi["CO02"] + kpi["CO04"]
    in_window = [p for p in state.projects if p["month"] >= state.report_month]
    assert kpi["CO27_eur"] == pytest.approx(sum(p["cost_cents"] - p["grant_cents"] for p in in_window) / 100)
    for new, old in (("RCO01", "CO01"), ("RCO02", "CO02"), ("RCO04", "CO04"), ("RCO10", "CO26")):
        assert kpi[new] == kpi[old]


# ----------------------------------------------------------------- no O(N^2) step
def test_spontaneous_ties_sample_candidates_instead_of_scanning_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not a timing test: count the pair evaluations (the tie-value calls) in one month of
    # spontaneous ties among 200,000 firms. Scanning pairs would need about N^2 = 4e10.
    model = ClusterModel(small_config("population.n_smes=200000", "start=2016-01", "end=2016-03"))
    model.step()
    evaluated: list[int] = []

    def counting(distance: np.ndarray | float) -> np.ndarray | float:
        evaluated.append(int(np.size(distance)))
        return nooteboom_value(distance)

    monkeypatch.setattr(matching, "nooteboom_value", counting)
    t = model.cfg.behaviour.ties
    expected_pairs = t.spontaneous_tie_rate * model.firms.n * t.candidates_per_introduction
    matching.spontaneous_ties(model.state)
    assert 0 < sum(evaluated) <= 3 * expected_pairs + 50


@pytest.mark.parametrize("meetings_ahead", [1, 100])
def test_spontaneous_ties_do_not_depend_on_how_many_months_are_drawn_at_once(
    monkeypatch: pytest.MonkeyPatch, meetings_ahead: int
) -> None:
    # The meetings of several months are worked out together, at most _MEETINGS_AHEAD expected
    # at once (the whole run for Piedmont, a few batches for the region): one month at a time
    # (1) or a few months (100) gives the same ties, in the same order, as the default.
    ties = []
    for ahead in (matching._MEETINGS_AHEAD, meetings_ahead):
        monkeypatch.setattr(matching, "_MEETINGS_AHEAD", ahead)
        ties.append(run("behaviour.ties.spontaneous_tie_rate=0.01", "start=2015-01", "end=2016-12").ties)
    assert (ties[0]["origin"] == "spontaneous").sum() > 30
    pd.testing.assert_frame_equal(ties[0], ties[1])


def _monthly_by_definition(model: ClusterModel) -> pd.DataFrame:
    """The monthly table as its docstring defines it: every record, sorted by (month, kpi, cluster)."""
    from clustersim.metrics import month_label

    rec = model.recorder
    kpis = list(dict.fromkeys(k for row in rec.rows for k in row if k != "month"))
    records = [(row["month"], k, "all", row.get(k, float("nan"))) for k in kpis for row in rec.rows]
    for month, keys, members, staff, service, balances in rec.cluster_rows:
        for key, n, fte, hours, cents in zip(keys, members, staff, service, balances, strict=True):
            records += [
                (month, "members", key, float(n)),
                (month, "staff_fte", key, float(fte)),
                (month, "service_hours", key, float(hours)),
                (month, "balance_eur", key, cents / 100.0),
            ]
    records.sort(key=lambda r: (r[0], r[1], r[2]))
    return pd.DataFrame(
        {
            "month": np.array([r[0] for r in records], dtype=np.int32),
            "date": [month_label(model.state.start_index, r[0]) for r in records],
            "kpi": [r[1] for r in records],
            "cluster": [r[2] for r in records],
            "value": np.array([r[3] for r in records], dtype=np.float64),
        }
    )


@pytest.mark.parametrize("which", ["reform", "twelve"])
def test_monthly_table_holds_every_record_in_order(which: str, reform_run: Run, twelve_run: Run) -> None:
    """The vectorised monthly table equals its definition to the bit, across the reform's change of clusters."""
    r = reform_run if which == "reform" else twelve_run
    expected = _monthly_by_definition(r.model)
    pd.testing.assert_frame_equal(r.monthly, expected, check_exact=True)
    assert set(r.monthly["cluster"]) > {"all"}
    assert r.monthly["month"].is_monotonic_increasing


@given(
    st.lists(st.lists(st.integers(0, 12), min_size=0, max_size=6), min_size=1, max_size=8),
    st.integers(0, 30),
)
def test_remember_team_is_remember_of_each_pair_in_order(teams: list[list[int]], month: int) -> None:
    from clustersim.network import TieLedger

    pairwise, by_team = TieLedger(0.9), TieLedger(0.9)
    for t, team in enumerate(teams):
        for a in range(len(team)):
            for b in range(a + 1, len(team)):
                pairwise.remember(month + t, team[a], team[b], 1.0)
        by_team.remember_team(month + t, team, 1.0)
    # the same memory and partner sets, made in the same order (dicts and sets compared as listed)
    assert list(by_team._last.items()) == list(pairwise._last.items())
    assert [(i, list(p)) for i, p in by_team.partners.items()] == [(i, list(p)) for i, p in pairwise.partners.items()]
