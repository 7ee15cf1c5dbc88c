"""R&D project calls: consortia, pre-screening, ranking and funding (after INFSO-SKIN).

At a call's closing month, lead firms form consortia by tiers (previous partners, their
partners, then sampled firms), add a research organisation with spare capacity, size the
project to the call's rules, and submit. The lead's CMO pre-screens members' proposals
(using staff hours): it lifts their quality and withdraws the weakest. The Region ranks
proposals by quality and funds them in rank order until the next one no longer fits in
the call's remaining euros. Grants are computed in integer cents at the aid intensity of
each partner's size class (aid as a price wedge: the firm bears 1 - s of its cost).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from clustersim.config import SIZE_CLASSES, CallConfig
from clustersim.money import Account, eur_to_cents, share_of
from clustersim.network import FIRM_FIRM, FIRM_RO, ORIGINS, nooteboom_value
from clustersim.population import LARGE, NO_CLUSTER

if TYPE_CHECKING:
    from clustersim.model import ClusterModel

PROJECT = ORIGINS.index("project")


@dataclass
class Proposal:
    """One proposal: partners, a research organisation, costs in cents and a quality."""

    call: str
    lead: int
    partners: list[int]
    ro: int
    duration: int
    firm_cost_cents: list[int]
    quality: float
    prescreened: bool = False
    grant_cents: int = 0

    @property
    def cost_cents(self) -> int:
        """Total eligible cost (research contracted to the organisation included)."""
        return sum(self.firm_cost_cents)


@dataclass
class Call:
    """A call's configuration, its account and its outcome."""

    cfg: CallConfig
    account: Account
    opens: int
    closes: int
    submitted: int = 0
    funded: int = 0
    withdrawn: int = 0
    proposals: list[Proposal] = field(default_factory=list)

    @property
    def line(self) -> str:
        """Who may apply: members, never_members or all."""
        return self.cfg.line


def eligible_mask(model: ClusterModel, call: Call) -> np.ndarray:
    """Firms allowed to apply to ``call`` by its line."""
    firms = model.firms
    if call.line == "members":
        return firms.member_of != NO_CLUSTER
    if call.line == "never_members":
        return ~firms.ever_member
    return np.ones(firms.n, dtype=bool)


def draw_leads(model: ClusterModel, call: Call, eligible: np.ndarray) -> np.ndarray:
    """Lead applicants: apply rate x aid wedge x (0.5 + knowledge), in random order.

    The aid wedge is ((1 - 0.5) / (1 - s))^elasticity: a higher aid intensity ``s`` lowers
    the firm's own cost share and draws more applicants.
    """
    p = model.cfg.behaviour.calls
    firms = model.firms
    idx = np.flatnonzero(eligible)
    if idx.size == 0:
        return idx
    intensity = np.array([call.cfg.aid_intensity[s] for s in SIZE_CLASSES])[firms.size_class[idx]]
    wedge = (0.5 / np.maximum(1.0 - intensity, 0.05)) ** p.aid_wedge_elasticity
    is_member = firms.member_of[idx] != NO_CLUSTER
    rate = np.where(is_member, p.apply_rate_members, p.apply_rate_non_members)
    prob = np.clip(rate * wedge * (0.5 + firms.knowledge[idx]), 0.0, 1.0)
    leads = idx[model.rng.random(idx.size) < prob]
    return model.rng.permutation(leads)


def form_consortium(model: ClusterModel, call: Call, lead: int, eligible: np.ndarray) -> list[int]:
    """Partners for ``lead`` by tiers: previous partners, their partners, then a sample."""
    p = model.cfg.behaviour.calls
    rng = model.rng
    firms = model.firms
    cap = call.cfg.max_proposals_per_firm
    size = int(rng.integers(p.consortium_min, p.consortium_max + 1))
    team = [lead]

    def ok(j: int) -> bool:
        return eligible[j] and firms.proposals_in_call[j] < cap and j not in team

    past = list(model.ledger.partners.get(lead, ()))
    rng.shuffle(past)
    for j in past:
        if len(team) >= size:
            break
        if ok(j):
            team.append(j)
    if len(team) < size:
        second = [k for j in past for k in model.ledger.partners.get(j, ()) if k != lead]
        rng.shuffle(second)
        for j in second:
            if len(team) >= size:
                break
            if ok(j):
                team.append(j)
    tries = 0
    pool = model.call_pool(call, lead, eligible)
    while len(team) < size and tries < 4 * size and pool.size:
        tries += 1
        cands = pool[rng.integers(0, pool.size, size=model.cfg.behaviour.ties.candidates_per_introduction)]
        d = 0.5 * np.abs(firms.profile[cands] - firms.profile[lead]).sum(axis=1)
        j = int(cands[int(np.argmax(nooteboom_value(d)))])
        if ok(j):
            team.append(j)
    return team if len(team) >= p.consortium_min else []


def choose_research_org(model: ClusterModel, team: list[int]) -> int:
    """The organisation with spare capacity that best fits the team's competences."""
    if not model.research_orgs:
        return -1
    need = model.firms.profile[team].mean(axis=0)
    fit = np.minimum(model.ro_profiles, need).sum(axis=1)
    free = np.array([ro.has_capacity for ro in model.research_orgs])
    if not free.any():
        return -1
    fit[~free] = -np.inf
    return int(np.argmax(fit))


def cost_plan(model: ClusterModel, call: Call, team: list[int]) -> tuple[int, list[int]]:
    """Duration and each partner's eligible cost in cents (research contract included).

    Own cost = duration x monthly cost of the size class; the research share is
    ``min_ro_share`` plus a draw up to ``ro_share_extra_max``; the project is scaled up to
    the call's minimum cost when it falls short (partners design projects to qualify).
    """
    p = model.cfg.behaviour.calls
    rng = model.rng
    firms = model.firms
    rules = call.cfg
    duration = int(rng.integers(min(p.duration_months_min, rules.max_duration_months), rules.max_duration_months + 1))
    monthly = np.array([p.cost_eur_per_month[s] for s in SIZE_CLASSES])[firms.size_class[team]]
    own = monthly * duration
    ro_share = min(0.95, rules.min_ro_share + rng.random() * p.ro_share_extra_max)
    total = own.sum() / (1.0 - ro_share)
    has_large = bool((firms.size_class[team] == LARGE).any())
    minimum = rules.min_cost_with_large_eur if has_large else rules.min_cost_sme_eur
    if total < minimum:
        total = minimum * (1.0 + 0.5 * rng.random())
    weights = own / own.sum() if own.sum() > 0 else np.full(len(team), 1.0 / len(team))
    costs = [eur_to_cents(total * w) for w in weights]
    return duration, costs


def proposal_quality(model: ClusterModel, team: list[int]) -> float:
    """Quality in [0, 1]: knowledge, absorptive capacity, complementarity, noise."""
    firms = model.firms
    prof = firms.profile[team]
    d = 0.5 * np.abs(prof[:, None, :] - prof[None, :, :]).sum(axis=-1)
    n = len(team)
    mean_d = float(d.sum() / (n * (n - 1))) if n > 1 else 0.0
    q = (
        0.5 * float(firms.knowledge[team].mean())
        + 0.25 * float(firms.absorptive[team].mean())
        + 0.25 * float(nooteboom_value(mean_d))
        + model.rng.normal(0.0, model.cfg.behaviour.calls.quality_noise)
    )
    return float(np.clip(q, 0.0, 1.0))


def prescreen(model: ClusterModel, prop: Proposal) -> bool:
    """The lead's CMO screens a member proposal; return False if it advises withdrawal."""
    firms = model.firms
    c = int(firms.member_of[prop.lead])
    if c == NO_CLUSTER:
        return True
    cmo = model.cmos[c]
    p = model.cfg.behaviour.calls
    if cmo.use("innovation", model.cfg.behaviour.cmo.hours_per_prescreen, 1) == 0:
        return True
    cmo.totals["prescreens"] += 1
    prop.prescreened = True
    for f in prop.partners:
        model.mark_nonfinancial(f)
        model.benefit[f] += model.cfg.behaviour.membership.benefits["prescreen"]
    prop.quality = min(1.0, prop.quality + p.prescreen_quality_lift * (1.0 + cmo.alignment))
    return prop.quality >= p.prescreen_withdraw_below


def grant_for(call: Call, prop: Proposal, model: ClusterModel) -> int:
    """Grant in cents: each partner's cost times its size class's aid intensity."""
    firms = model.firms
    return sum(
        share_of(cost, call.cfg.aid_intensity[SIZE_CLASSES[int(firms.size_class[f])]])
        for f, cost in zip(prop.partners, prop.firm_cost_cents, strict=True)
    )


def run_call(model: ClusterModel, call: Call) -> None:
    """Close ``call``: collect proposals, pre-screen, rank, fund in order, start projects."""
    firms = model.firms
    eligible = eligible_mask(model, call)
    firms.proposals_in_call[:] = 0
    proposals: list[Proposal] = []
    for lead in draw_leads(model, call, eligible):
        lead = int(lead)
        if firms.proposals_in_call[lead] >= call.cfg.max_proposals_per_firm:
            continue
        team = form_consortium(model, call, lead, eligible)
        if not team:
            continue
        needs_ro = call.cfg.min_ro_share > 0
        ro = choose_research_org(model, team) if needs_ro else -1
        if needs_ro and ro < 0:
            continue
        duration, costs = cost_plan(model, call, team)
        prop = Proposal(call.cfg.name, lead, team, ro, duration, costs, proposal_quality(model, team))
        if not prescreen(model, prop):
            call.withdrawn += 1
            continue
        firms.proposals_in_call[team] += 1
        proposals.append(prop)
    call.submitted = len(proposals)
    # Rank by quality (ties broken by submission order, which is random).
    ranked = sorted(range(len(proposals)), key=lambda k: -proposals[k].quality)
    for k in ranked:
        prop = proposals[k]
        if prop.quality < call.cfg.min_quality:
            break
        grant = grant_for(call, prop, model)
        if grant > call.account.balance:
            break
        if prop.ro >= 0 and not model.research_orgs[prop.ro].has_capacity:
            # the organisation filled up with better-ranked projects: find another
            prop.ro = choose_research_org(model, prop.partners)
            if prop.ro < 0:
                continue
        call.account.spend(grant)
        prop.grant_cents = grant
        call.funded += 1
        start_project(model, call, prop)
    call.proposals = proposals


def start_project(model: ClusterModel, call: Call, prop: Proposal) -> None:
    """A funded project starts: ties, indicators, capacity, and its end is scheduled."""
    firms = model.firms
    month = model.month
    lead = prop.lead
    cluster_idx = int(model.cluster_of_firm[lead])
    cluster_id = model.cmos[cluster_idx].cluster_id
    for f in prop.partners:
        if firms.first_grant[f] < 0:
            firms.first_grant[f] = month
        model.benefit[f] += model.cfg.behaviour.membership.benefits["funded_project"]
        if prop.ro >= 0:
            if firms.first_ro_cooperation[f] < 0:
                firms.first_ro_cooperation[f] = month
            model.ledger.add(month, FIRM_RO, PROJECT, f, prop.ro, cluster_id)
    for f in prop.partners[1:]:
        cf = int(model.cluster_of_firm[f])
        model.ledger.add(
            month,
            FIRM_FIRM,
            PROJECT,
            lead,
            f,
            cluster_id,
            cross_domain=bool(firms.primary_domain[lead] != firms.primary_domain[f]),
            cross_cluster=cf != cluster_idx,
        )
    if prop.ro >= 0:
        ro = model.research_orgs[prop.ro]
        ro.active_projects += 1
        ro.collaborations += len(prop.partners)
    model.record_project(call, prop)
    model.schedule_month(month + prop.duration, finish_project, model, prop)


def finish_project(model: ClusterModel, prop: Proposal) -> None:
    """A project ends: partners learn and innovate more for a while; trust is stored."""
    firms = model.firms
    p = model.cfg.behaviour.calls
    team = np.asarray(prop.partners)
    gain = p.knowledge_gain * firms.absorptive[team] * (1.0 - firms.knowledge[team])
    firms.knowledge[team] += gain.astype(np.float32)
    # the boost covers this month and the next innovation_boost_months - 1
    firms.innovation_boost_until[team] = model.month + p.innovation_boost_months - 1
    for a in range(len(prop.partners)):
        for b in range(a + 1, len(prop.partners)):
            model.ledger.remember(model.month, prop.partners[a], prop.partners[b], 1.0)
    if prop.ro >= 0:
        model.research_orgs[prop.ro].active_projects -= 1
