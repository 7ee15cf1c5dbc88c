"""Collaboration ties: brokered introductions, plenary meetings and spontaneous ties.

Candidates are sampled, never scanned: an introduction looks at
``candidates_per_introduction`` firms, so the cost is O(introductions), not O(N^2).

Brokerage follows the member's need, not the cluster boundary. A member looking for a
partner needs one of its own domain, of a related domain (the region's families of
domains, ``region.domain_families``: related variety, Frenken, Van Oort and Verburg 2007,
*Regional Studies* 41(5)), or of any other domain. A CMO that covers the needed domain
searches among its own members of that domain; otherwise it refers the member to the CMO
that covers it, which succeeds with probability ``referral_success`` (CMO-CMO
cooperation). So under any partition every tie is possible; the partition changes how far
a CMO's own brokerage reaches. Plenary meetings gather every cluster; their introductions
use the business-opportunity hours the CMOs' staff spend on them.
"""

from __future__ import annotations

import numpy as np

from clustersim.cmo import CMO
from clustersim.network import FIRM_FIRM, FIRM_RO, ORIGINS, nooteboom_value
from clustersim.population import cognitive_distance
from clustersim.state import State
from clustersim.streams import sample_without_replacement

BROKERED = ORIGINS.index("brokered")
PLENARY = ORIGINS.index("plenary")
SPONTANEOUS = ORIGINS.index("spontaneous")

# positions of the uniforms of one introduction (one row of the CMO's monthly block)
_MEMBER, _KIND, _NEED, _PAST, _REFERRAL, _SUCCESS, _CANDIDATES = range(7)


def tie_probability(state: State, distance: float, credit: float) -> float:
    """P = p_min + (p_max - p_min) * (w * 4d(1-d) + (1 - w) * credit)."""
    t = state.cfg.behaviour.ties
    score = t.distance_weight * nooteboom_value(distance) + (1.0 - t.distance_weight) * credit
    return t.p_min + (t.p_max - t.p_min) * score


def learn_from_tie(state: State, i: int, j: int, distance: float) -> None:
    """Both partners move toward the frontier by a gain scaled by absorptive capacity."""
    firms = state.firms
    g = state.cfg.behaviour.dynamics.tie_knowledge_gain * nooteboom_value(distance)
    for f in (i, j):
        firms.knowledge[f] += g * firms.absorptive[f] * (1.0 - firms.knowledge[f])


def needed_domain(state: State, i: int, u: float) -> int:
    """The domain firm ``i`` seeks a partner in, from one uniform ``u``.

    Own primary domain with probability ``need_own_domain_share``; otherwise a related
    domain (same family, uniformly) with probability ``need_related_share`` when its family
    has other domains, else any other domain, uniformly.
    """
    t = state.cfg.behaviour.ties
    own = int(state.firms.primary_domain[i])
    if u < t.need_own_domain_share:
        return own
    fam = state.taxonomy.families
    related = np.flatnonzero(fam == fam[own])
    related = related[related != own]
    low = t.need_own_domain_share
    if related.size:
        width = (1.0 - low) * t.need_related_share
        if u < low + width:
            return int(related[min(int((u - low) / width * related.size), related.size - 1)])
        low += width
    if low >= 1.0:
        return own
    others = [d for d in range(fam.size) if d != own]
    return others[min(int((u - low) / (1.0 - low) * len(others)), len(others) - 1)]


def best_partner(state: State, i: int, candidates: np.ndarray, past_first: bool) -> tuple[int, float, float]:
    """Pick a partner for firm ``i``; return (j, distance, credit), j = -1 if none.

    With ``past_first`` and past partners, they are the candidates (trust: past partners
    are asked first); otherwise ``candidates``. The chosen one maximises
    ``w * 4d(1-d) + (1 - w) * credit``.
    """
    t = state.cfg.behaviour.ties
    ledger = state.ledger
    past = ledger.partners.get(i)
    if past and past_first:
        cands = np.fromiter(sorted(past), dtype=np.int64, count=len(past))
    else:
        cands = candidates
    cands = cands[cands != i]
    if cands.size == 0:
        return -1, 0.0, 0.0
    d = cognitive_distance(state.firms.profile[cands], state.firms.profile[i])
    if i in ledger.partners:
        credit = np.array([ledger.credit(state.month, i, int(j)) for j in cands])
    else:  # no past partner: neither relational nor structural credit
        credit = np.zeros(cands.size)
    score = t.distance_weight * nooteboom_value(d) + (1.0 - t.distance_weight) * credit
    best = int(np.argmax(score))
    return int(cands[best]), float(d[best]), float(credit[best])


def form_firm_tie(state: State, i: int, j: int, d: float, credit: float, origin: int, u: float) -> bool:
    """Turn an introduction of ``i`` and ``j`` into a lasting tie if ``u`` < its chance."""
    if u >= tie_probability(state, d, credit):
        return False
    add_firm_tie(state, i, j, origin, d)
    gain = state.cfg.behaviour.membership.benefits["tie"]
    state.benefit[i] += gain
    state.benefit[j] += gain
    return True


def add_firm_tie(state: State, i: int, j: int, origin: int, distance: float) -> None:
    """Record a firm-firm tie (credited to ``i``'s cluster) and let both partners learn."""
    firms = state.firms
    ci = int(state.cluster_of_firm[i])
    cj = int(state.cluster_of_firm[j])
    state.ledger.add(
        state.month,
        FIRM_FIRM,
        origin,
        i,
        j,
        state.cmos[ci].cluster_id,
        cross_domain=bool(firms.primary_domain[i] != firms.primary_domain[j]),
        cross_cluster=ci != cj,
        members_both=bool(firms.member_of[i] >= 0 and firms.member_of[j] >= 0),
    )
    learn_from_tie(state, i, j, distance)


def _pick(pool: np.ndarray, us: list[float]) -> np.ndarray:
    return pool[np.minimum((np.asarray(us) * pool.size).astype(np.int64), pool.size - 1)]


def broker_introductions(state: State) -> int:
    """CMOs spend business-opportunity hours on introductions; return ties formed.

    Each introduction takes ``hours_per_introduction`` and has one row of uniforms of the
    CMO's monthly stream (keyed by the CMO's domains), so the k-th introduction of a CMO
    draws the same numbers in every arm. A share ``ro_introduction_share`` introduces the
    member to a research organisation; the others look for a firm in the needed domain
    (:func:`needed_domain`), in-house or by referral.
    """
    t = state.cfg.behaviour.ties
    hours_each = state.cfg.behaviour.cmo.hours_per_introduction
    benefits = state.cfg.behaviour.membership.benefits
    c_n = t.candidates_per_introduction
    width = _CANDIDATES + max(c_n, 1)
    formed = 0
    for c, cmo in enumerate(state.cmos):
        members = state.members_by_cluster[c]
        if members.size == 0:
            continue
        n = cmo.use("business_opportunities", hours_each, wanted=members.size)
        cmo.totals["introductions"] += n
        if n == 0:
            continue
        rows = state.streams.stream("broker", state.month, cmo.stream_id).uniforms(n * width).reshape(n, width)
        for u in rows.tolist():
            i = int(members[min(int(u[_MEMBER] * members.size), members.size - 1)])
            state.mark_nonfinancial(i)
            state.benefit[i] += benefits["introduction"]
            if u[_KIND] < t.ro_introduction_share:
                formed += introduce_research_organisation(state, i, cmo, BROKERED, u)
                continue
            need = needed_domain(state, i, u[_NEED])
            if need not in cmo.domains and u[_REFERRAL] >= t.referral_success:
                continue  # the referral to the CMO of that domain came to nothing
            pool = state.members_by_domain[need]
            cands = _pick(pool, u[_CANDIDATES : _CANDIDATES + c_n]) if pool.size else pool
            j, d, credit = best_partner(state, i, cands, u[_PAST] < t.past_partner_first)
            if j >= 0 and form_firm_tie(state, i, j, d, credit, BROKERED, u[_SUCCESS]):
                formed += 1
    return formed


def introduce_research_organisation(state: State, i: int, cmo: CMO, origin: int, u: list[float]) -> int:
    """Introduce firm ``i`` to a research organisation; return 1 if a tie forms.

    ``candidates_per_introduction`` organisations are sampled; the one that best fits the
    firm's profile is proposed, and the tie forms with a chance rising with the firm's
    absorptive capacity and the fit.
    """
    ros = state.ros
    firms = state.firms
    t = state.cfg.behaviour.ties
    k = min(ros.n, t.candidates_per_introduction)
    picks = np.asarray(sample_without_replacement(u[_CANDIDATES : _CANDIDATES + k], ros.n), dtype=np.int64)
    fit = np.minimum(ros.profiles[picks], firms.profile[i]).sum(axis=1)
    r = int(picks[int(np.argmax(fit))])
    p = t.p_min + (t.p_max - t.p_min) * 0.5 * (float(firms.absorptive[i]) + float(fit.max()))
    if u[_SUCCESS] >= p:
        return 0
    state.ledger.add(state.month, FIRM_RO, origin, i, r, cmo.cluster_id)
    ros.collaborations[r] += 1
    state.benefit[i] += state.cfg.behaviour.membership.benefits["tie"]
    return 1


def plenary_introductions(state: State) -> int:
    """At a plenary the CMOs' staff introduce members to members of the other clusters.

    Each CMO spends ``plenary_hours_per_fte`` hours per FTE of its staff (at most its
    business-opportunity hours of the month) on introductions of ``hours_per_introduction``
    each, so the plenary's reach follows the staff time spent on it, not the number of
    CMOs. Partners are sampled among all members of the other clusters.
    """
    t = state.cfg.behaviour.ties
    hours_each = state.cfg.behaviour.cmo.hours_per_introduction
    c_n = t.candidates_per_introduction
    width = 2 + max(c_n, 1)
    formed = 0
    for c, cmo in enumerate(state.cmos):
        members = state.members_by_cluster[c]
        others = state.members[state.firms.member_of[state.members] != c]
        if members.size == 0 or others.size == 0:
            continue
        wanted = int(t.plenary_hours_per_fte * cmo.staff_fte * (cmo.hours_available > 0) // hours_each)
        n = cmo.use("business_opportunities", hours_each, wanted)
        if n == 0:
            continue
        rows = state.streams.stream("plenary", state.month, cmo.stream_id).uniforms(n * width).reshape(n, width)
        for u in rows.tolist():
            i = int(members[min(int(u[0] * members.size), members.size - 1)])
            state.mark_nonfinancial(i)
            j, d, credit = best_partner(state, i, _pick(others, u[2 : 2 + c_n]), past_first=False)
            if j >= 0 and form_firm_tie(state, i, j, d, credit, PLENARY, u[1]):
                formed += 1
    return formed


def spontaneous_ties(state: State) -> int:
    """Ties that form without any CMO, among all firms (vectorised).

    About ``spontaneous_tie_rate * N`` firms a month meet ``candidates_per_introduction``
    random firms each and try the best by 4d(1-d); trust plays no part in a first meeting.
    All numbers come from the month's stream in a layout that depends only on N.
    """
    t = state.cfg.behaviour.ties
    rng = state.streams.generator("spontaneous", state.month)
    firms = state.firms
    k = int(rng.poisson(t.spontaneous_tie_rate * firms.n))
    if k == 0:
        return 0
    i = rng.integers(0, firms.n, size=k)
    cands = rng.integers(0, firms.n, size=(k, t.candidates_per_introduction))
    u = rng.random(k)
    d = 0.5 * np.abs(firms.profile[cands] - firms.profile[i][:, None, :]).sum(axis=-1)
    value = nooteboom_value(d)
    value[cands == i[:, None]] = -1.0
    best = np.argmax(value, axis=1)
    rows = np.arange(k)
    j = cands[rows, best]
    db = d[rows, best]
    p = t.p_min + (t.p_max - t.p_min) * t.distance_weight * nooteboom_value(db)
    ok = (u < p) & (j != i)
    for a, b, dist in zip(i[ok].tolist(), j[ok].tolist(), db[ok].tolist(), strict=True):
        add_firm_tie(state, a, b, SPONTANEOUS, dist)
    return int(ok.sum())
