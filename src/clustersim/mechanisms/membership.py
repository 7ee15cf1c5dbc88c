"""Awareness, the membership choice (a logit with inertia and a switching cost) and fees."""

from __future__ import annotations

import numpy as np

from clustersim.population import LARGE, NO_CLUSTER
from clustersim.state import State


def unique_ints(x: np.ndarray, upper: int | None = None) -> np.ndarray:
    """Sorted unique values of an integer array (a sort, cheaper than np.unique's hash).

    With ``upper`` (every value lies in ``0 .. upper - 1``) and ``x`` not much smaller
    than that, the values are marked in a boolean array of ``upper`` elements and read
    back in order instead: the same values (as ``intp``), without sorting.
    """
    if x.size < 2:
        return x
    if upper is not None and upper <= 64 * x.size:
        seen = np.zeros(upper, dtype=bool)
        seen[x] = True
        return seen.nonzero()[0]  # np.flatnonzero without its dispatch (the array is 1-D)
    x = np.sort(x)
    keep = np.empty(x.size, dtype=bool)
    keep[0] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def logistic(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-x))."""
    z = np.exp(-x)
    z += 1.0
    return np.divide(1.0, z, out=z)


def spread_awareness(state: State) -> int:
    """Communication and marketing hours make firms of a CMO's domains aware of it.

    A firm not yet aware, whose primary domain a CMO covers, becomes aware this month
    with probability ``1 - exp(-a h)``, where ``h`` is the CMO's communication hours per
    thousand firms of its domains and ``a`` is ``awareness_per_comm_hour``: the hazard
    ``a h`` is added to the exposure of each of its domains, and firms whose fixed
    threshold is passed become aware (:class:`clustersim.population.AwarenessClock`).
    Returns the number of firms that became aware.
    """
    a = state.cfg.behaviour.membership.awareness_per_comm_hour
    hours = []
    for c in state.cmos:
        h = c.hours["communication"]
        hours.append(h)
        c.hours_used += h
        c.hours["communication"] = 0.0
    # a * h / max(firms, 1) * 1000 per cluster, in Python floats (NumPy's float64 operations),
    # then each domain's (a handful of numbers: no array calls)
    firms_per_cluster = state.firms_per_cluster.tolist()
    hazard = [a * h / (f if f >= 1.0 else 1.0) * 1000.0 for h, f in zip(hours, firms_per_cluster, strict=True)]
    newly = state.awareness.advance(np.array([hazard[c] for c in state.cluster_of_domain.tolist()]))
    if newly.size == 0:
        return 0
    newly = newly[~state.firms.aware[newly]]
    state.firms.aware[newly] = True
    return int(newly.size)


def membership_utility(state: State, idx: np.ndarray) -> np.ndarray:
    """Utility of membership for firms ``idx`` in the cluster of their primary domain.

    U = beta0 + beta_service * log(1 + s_c / s_ref) - beta_fee * fee_i / (f_ref * turnover_i)
        + beta_call * [a members-only call is open] + beta_large * [a large firm]
    where ``s_c`` is the service hours per member that cluster ``c``'s CMO plans this month
    and ``turnover_i`` the firm's last booked turnover. ``beta_large`` is the anchor premium:
    CMOs were selected on their "capacity to aggregate a large number of firms" and courted
    the large firms of their domains, which were about a fifth of the members.
    """
    p = state.cfg.behaviour.membership
    firms = state.firms
    service = np.array([c.service_per_member for c in state.cmos])
    # beta0 + beta_service * log1p(s_c / s_ref) once per cluster, then for each firm that of its cluster
    cluster_term = p.beta0 + p.beta_service * np.log1p(service / p.service_reference_hours)
    size = firms.size_class[idx]
    # look-ups in the small per-size and per-cluster tables with ``take`` (the same values as
    # indexing, cheaper with int8 / int16 indices)
    relative_fee = state.fee_eur_per_year.take(size) / (p.fee_reference_share * firms.turnover_eur[idx])
    u = cluster_term.take(state.cluster_of_firm.take(idx)) - p.beta_fee * relative_fee
    if state.members_call_open:  # (adding beta_call x 0 when none is open changes no utility)
        u += p.beta_call * 1.0
    # beta_large x [a large firm], looked up by size class: the products beta_large x 1.0 and x 0.0
    u += np.array([p.beta_large * (c == LARGE) for c in range(len(state.fee_eur_per_year))]).take(size)
    return u


def choose_membership(state: State) -> tuple[int, int]:
    """A random share of firms review their membership; return (joined, left).

    Each month about ``review_rate * N`` firms, drawn with replacement (duplicates
    dropped), reconsider, each with one uniform ``u`` (all from the month's membership
    stream, whose layout depends only on N). An aware non-member joins the cluster of its
    primary domain if ``u < logistic(U - switching_cost)``; a member stays if
    ``u < logistic(U + beta_satisfaction * satisfaction + switching_cost)``.
    """
    p = state.cfg.behaviour.membership
    firms = state.firms
    rng = state.streams.draws("membership", state.month)
    k = int(rng.binomial(firms.n, p.review_rate))
    if k == 0:
        return 0, 0
    idx = unique_ints(rng.integers(0, firms.n, size=k), firms.n)
    draw = rng.random(idx.size)
    member = firms.member_of[idx] != NO_CLUSTER
    # every reviewing firm's threshold is worked out (fewer passes than picking out first those
    # with a choice); only members (stay or leave) and aware non-members (join or not) have one
    u = membership_utility(state, idx)
    # one threshold per firm: logistic(U + beta_satisfaction * s + switching_cost) for members
    # (stay), logistic(U - switching_cost) for non-members (join), element by element
    stay = u + p.beta_satisfaction * firms.satisfaction[idx]
    stay += p.switching_cost
    threshold = logistic(np.where(member, stay, u - p.switching_cost))
    joiners = idx[(~member) & firms.aware[idx] & (draw < threshold)]
    leavers = idx[member & (draw >= threshold)]
    firms.member_of[joiners] = state.cluster_of_firm[joiners]
    firms.member_since[joiners] = state.month
    firms.ever_member[joiners] = True
    firms.satisfaction[joiners] = 0.0
    firms.member_of[leavers] = NO_CLUSTER
    firms.member_since[leavers] = -1
    return int(joiners.size), int(leavers.size)


def update_satisfaction(state: State) -> None:
    """Members remember benefits received: s <- memory * s + benefit of the month.

    Worked out for every firm in two passes (cheaper than gathering and scattering the
    members'): a non-member's satisfaction is never read (a firm that joins starts from 0).
    """
    sat = state.firms.satisfaction  # float32, as memory * s + benefit element by element
    sat *= state.cfg.behaviour.membership.satisfaction_memory
    sat += state.benefit
    state.benefit.fill(0.0)


def collect_fees(state: State) -> int:
    """Each member pays one twelfth of its annual fee to its CMO (integer cents); return cents."""
    firms = state.firms
    key = state.members_cluster.astype(np.int64) * 4 + firms.size_class[state.members]
    counts = np.bincount(key, minlength=len(state.cmos) * 4).reshape(len(state.cmos), 4)
    total = 0
    for cmo, cents in zip(state.cmos, (counts @ state.fee_cents_per_month).tolist(), strict=True):
        if cents:
            cmo.account.allocate(cents)
            total += cents
    state.counters["fees_cents"] += total
    return total
