"""Collaboration ties: brokered introductions, plenary meetings and spontaneous ties.

Candidates are sampled, never scanned: an introduction looks at
``candidates_per_introduction`` firms, so the cost is O(introductions), not O(N^2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clustersim.network import FIRM_FIRM, FIRM_RO, ORIGINS, nooteboom_value
from clustersim.population import cognitive_distance

if TYPE_CHECKING:
    from clustersim.model import ClusterModel

BROKERED = ORIGINS.index("brokered")
PLENARY = ORIGINS.index("plenary")
SPONTANEOUS = ORIGINS.index("spontaneous")


def tie_probability(model: ClusterModel, distance: float, credit: float) -> float:
    """P = p_min + (p_max - p_min) * (w * 4d(1-d) + (1 - w) * credit)."""
    t = model.cfg.behaviour.ties
    score = t.distance_weight * nooteboom_value(distance) + (1.0 - t.distance_weight) * credit
    return t.p_min + (t.p_max - t.p_min) * score


def learn_from_tie(model: ClusterModel, i: int, j: int, distance: float) -> None:
    """Both partners move toward the frontier by a gain scaled by absorptive capacity."""
    firms = model.firms
    g = model.cfg.behaviour.dynamics.tie_knowledge_gain * nooteboom_value(distance)
    for f in (i, j):
        firms.knowledge[f] += g * firms.absorptive[f] * (1.0 - firms.knowledge[f])


def best_partner(model: ClusterModel, i: int, pool: np.ndarray) -> tuple[int, float, float]:
    """Pick a partner for firm ``i`` from a sample of ``pool``; return (j, distance, credit).

    Past partners are asked first (with probability ``past_partner_first``); otherwise
    ``candidates_per_introduction`` firms are drawn from ``pool`` and the one with the
    highest w * 4d(1-d) + (1 - w) * credit is chosen. Returns j = -1 if none.
    """
    t = model.cfg.behaviour.ties
    rng = model.rng
    month = model.month
    firms = model.firms
    ledger = model.ledger
    past = ledger.partners.get(i)
    if past and rng.random() < t.past_partner_first:
        cands = np.fromiter(past, dtype=np.int64, count=len(past))
    else:
        if pool.size == 0:
            return -1, 0.0, 0.0
        cands = pool[rng.integers(0, pool.size, size=t.candidates_per_introduction)]
    cands = cands[cands != i]
    if cands.size == 0:
        return -1, 0.0, 0.0
    d = cognitive_distance(firms.profile[cands], firms.profile[i])
    if i in ledger.partners:
        credit = np.array([ledger.credit(month, i, int(j)) for j in cands])
    else:  # no past partner: neither relational nor structural credit
        credit = np.zeros(cands.size)
    score = t.distance_weight * nooteboom_value(d) + (1.0 - t.distance_weight) * credit
    best = int(np.argmax(score))
    return int(cands[best]), float(d[best]), float(credit[best])


def form_firm_tie(model: ClusterModel, i: int, j: int, d: float, credit: float, origin: int) -> bool:
    """Try to turn an introduction of ``i`` and ``j`` into a lasting tie."""
    if model.rng.random() >= tie_probability(model, d, credit):
        return False
    firms = model.firms
    ci = int(model.cluster_of_firm[i])
    cj = int(model.cluster_of_firm[j])
    model.ledger.add(
        model.month,
        FIRM_FIRM,
        origin,
        i,
        j,
        model.cmos[ci].cluster_id,
        cross_domain=bool(firms.primary_domain[i] != firms.primary_domain[j]),
        cross_cluster=ci != cj,
    )
    learn_from_tie(model, i, j, d)
    gain = model.cfg.behaviour.membership.benefits["tie"]
    model.benefit[i] += gain
    model.benefit[j] += gain
    return True


def broker_introductions(model: ClusterModel) -> int:
    """CMOs spend business-opportunity hours on introductions; return ties formed.

    Each introduction takes ``hours_per_introduction``. A share ``ro_introduction_share``
    introduces a member to a research organisation; a share ``cross_cluster_share`` (CMO-CMO
    cooperation) looks for the partner among another cluster's members; the rest look
    inside the cluster.
    """
    t = model.cfg.behaviour.ties
    hours_each = model.cfg.behaviour.cmo.hours_per_introduction
    rng = model.rng
    benefits = model.cfg.behaviour.membership.benefits
    formed = 0
    for c, cmo in enumerate(model.cmos):
        members = model.members_by_cluster[c]
        if members.size == 0:
            continue
        n = cmo.use("business_opportunities", hours_each, wanted=members.size)
        cmo.totals["introductions"] += n
        others = model.members[model.firms.member_of[model.members] != c] if n else members
        for _ in range(n):
            i = int(members[rng.integers(0, members.size)])
            model.mark_nonfinancial(i)
            model.benefit[i] += benefits["introduction"]
            u = rng.random()
            if u < t.ro_introduction_share:
                formed += introduce_research_organisation(model, i, c, BROKERED)
                continue
            cross = u < t.ro_introduction_share + t.cross_cluster_share and others.size > 0
            pool = others if cross else members
            j, d, credit = best_partner(model, i, pool)
            if j >= 0 and form_firm_tie(model, i, j, d, credit, BROKERED):
                formed += 1
    return formed


def introduce_research_organisation(model: ClusterModel, i: int, c: int, origin: int) -> int:
    """Introduce firm ``i`` to a research organisation; return 1 if a tie forms.

    The chance rises with the firm's absorptive capacity and the organisation's fit to
    the firm's competence profile.
    """
    rng = model.rng
    ros = model.research_orgs
    firms = model.firms
    k = min(len(ros), model.cfg.behaviour.ties.candidates_per_introduction)
    picks = rng.choice(len(ros), size=k, replace=False)
    fit = np.minimum(model.ro_profiles[picks], firms.profile[i]).sum(axis=1)
    r = int(picks[int(np.argmax(fit))])
    t = model.cfg.behaviour.ties
    p = t.p_min + (t.p_max - t.p_min) * 0.5 * (float(firms.absorptive[i]) + float(fit.max()))
    if rng.random() >= p:
        return 0
    model.ledger.add(model.month, FIRM_RO, origin, i, r, model.cmos[c].cluster_id)
    ros[r].collaborations += 1
    model.benefit[i] += model.cfg.behaviour.membership.benefits["tie"]
    return 1


def plenary_introductions(model: ClusterModel) -> int:
    """At a plenary meeting each staffed CMO introduces members to other clusters' members."""
    per_cmo = model.cfg.behaviour.ties.plenary_introductions_per_cmo
    rng = model.rng
    formed = 0
    for c, cmo in enumerate(model.cmos):
        members = model.members_by_cluster[c]
        others = model.members[model.firms.member_of[model.members] != c]
        if members.size == 0 or others.size == 0 or cmo.hours_available <= 0:
            continue  # a CMO with no staff hours (no staff, or no money) brings nobody
        for _ in range(per_cmo):
            i = int(members[rng.integers(0, members.size)])
            model.mark_nonfinancial(i)
            j, d, credit = best_partner(model, i, others)
            if j >= 0 and form_firm_tie(model, i, j, d, credit, PLENARY):
                formed += 1
    return formed


def spontaneous_ties(model: ClusterModel) -> int:
    """Ties that form without any CMO, among all firms (vectorised).

    About ``spontaneous_tie_rate * N`` firms a month meet ``candidates_per_introduction``
    random firms each and try the best by 4d(1-d); trust plays no part in a first meeting.
    """
    t = model.cfg.behaviour.ties
    rng = model.rng
    firms = model.firms
    k = int(rng.poisson(t.spontaneous_tie_rate * firms.n))
    if k == 0:
        return 0
    i = rng.integers(0, firms.n, size=k)
    cands = rng.integers(0, firms.n, size=(k, t.candidates_per_introduction))
    d = 0.5 * np.abs(firms.profile[cands] - firms.profile[i][:, None, :]).sum(axis=-1)
    value = nooteboom_value(d)
    value[cands == i[:, None]] = -1.0
    best = np.argmax(value, axis=1)
    rows = np.arange(k)
    j = cands[rows, best]
    db = d[rows, best]
    p = t.p_min + (t.p_max - t.p_min) * t.distance_weight * nooteboom_value(db)
    ok = (rng.random(k) < p) & (j != i)
    ci = model.cluster_of_firm[i]
    cj = model.cluster_of_firm[j]
    for a, b, dist, ca, cb in zip(i[ok], j[ok], db[ok], ci[ok], cj[ok], strict=True):
        model.ledger.add(
            model.month,
            FIRM_FIRM,
            SPONTANEOUS,
            int(a),
            int(b),
            model.cmos[int(ca)].cluster_id,
            cross_domain=bool(firms.primary_domain[a] != firms.primary_domain[b]),
            cross_cluster=bool(ca != cb),
        )
        learn_from_tie(model, int(a), int(b), float(dist))
    return int(ok.sum())
