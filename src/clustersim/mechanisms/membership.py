"""Awareness and the membership choice (a logit with inertia and a switching cost)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clustersim.mechanisms.dynamics import bernoulli_thinned, catch_up_turnover
from clustersim.population import NO_CLUSTER

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


def unique_ints(x: np.ndarray) -> np.ndarray:
    """Sorted unique values of an integer array (a sort, cheaper than np.unique's hash)."""
    if x.size < 2:
        return x
    x = np.sort(x)
    keep = np.empty(x.size, dtype=bool)
    keep[0] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def logistic(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-x))."""
    return 1.0 / (1.0 + np.exp(-x))


def spread_awareness(model: ClusterModel) -> int:
    """Communication and marketing hours make firms of a CMO's domains aware of it.

    A firm not yet aware, whose primary domain a CMO covers, becomes aware this month
    (drawn by thinning) with probability 1 - exp(-a * h), where ``h`` is the CMO's communication hours per
    thousand firms of its domains and ``a`` is ``awareness_per_comm_hour``.
    Returns the number of firms that became aware.
    """
    firms = model.firms
    a = model.cfg.behaviour.membership.awareness_per_comm_hour
    hours = np.array([c.hours["communication"] for c in model.cmos])
    for c in model.cmos:
        c.hours_used += c.hours["communication"]
        c.hours["communication"] = 0.0
    per_thousand = hours / np.maximum(model.firms_per_cluster, 1) * 1000.0
    p_cluster = 1.0 - np.exp(-a * per_thousand)
    cand = bernoulli_thinned(
        model.rng, None, float(p_cluster.max(initial=0.0)), firms.n, lambda c: p_cluster[model.cluster_of_firm[c]]
    )
    newly = cand[~firms.aware[cand]]
    firms.aware[newly] = True
    return int(newly.size)


def membership_utility(model: ClusterModel, idx: np.ndarray) -> np.ndarray:
    """Utility of membership for firms ``idx`` in the cluster of their primary domain.

    U = beta0 + beta_service * log(1 + s_c / s_ref) - beta_fee * fee_i / (f_ref * turnover_i)
        + beta_call * [a members-only call is open]
    where ``s_c`` is the service hours per member that cluster ``c``'s CMO plans this month
    (its service hours over its members at the start of the month).
    """
    p = model.cfg.behaviour.membership
    firms = model.firms
    cluster = model.cluster_of_firm[idx]
    service = np.array([c.service_per_member for c in model.cmos])[cluster]
    fee = model.fee_eur_per_year[firms.size_class[idx]]
    relative_fee = fee / (p.fee_reference_share * firms.turnover_eur[idx])
    call = 1.0 if model.members_call_open else 0.0
    return (
        p.beta0
        + p.beta_service * np.log1p(service / p.service_reference_hours)
        - p.beta_fee * relative_fee
        + p.beta_call * call
    )


def choose_membership(model: ClusterModel) -> tuple[int, int]:
    """A random share of firms review their membership; return (joined, left).

    Each month about ``review_rate * N`` firms, drawn with replacement (duplicates
    dropped), reconsider. An aware non-member joins the cluster of its primary domain with
    probability logistic(U - switching_cost); a member stays with probability
    logistic(U + beta_satisfaction * satisfaction + switching_cost).
    """
    p = model.cfg.behaviour.membership
    firms = model.firms
    rng = model.rng
    k = int(rng.binomial(firms.n, p.review_rate))
    if k == 0:
        return 0, 0
    idx = unique_ints(rng.integers(0, firms.n, size=k))
    draw = rng.random(idx.size)
    member = firms.member_of[idx] != NO_CLUSTER
    # only members (stay or leave) and aware non-members (join or not) have a choice
    deciding = member | firms.aware[idx]
    idx, draw, member = idx[deciding], draw[deciding], member[deciding]
    catch_up_turnover(model, idx)
    u = membership_utility(model, idx)
    stay = logistic(u + p.beta_satisfaction * firms.satisfaction[idx] + p.switching_cost)
    join = logistic(u - p.switching_cost)
    joiners = idx[(~member) & (draw < join)]
    leavers = idx[member & (draw >= stay)]
    month = model.month
    firms.member_of[joiners] = model.cluster_of_firm[joiners]
    firms.member_since[joiners] = month
    firms.ever_member[joiners] = True
    firms.satisfaction[joiners] = 0.0
    firms.member_of[leavers] = NO_CLUSTER
    firms.member_since[leavers] = -1
    return int(joiners.size), int(leavers.size)


def update_satisfaction(model: ClusterModel) -> None:
    """Members remember benefits received: s <- memory * s + benefit of the month."""
    firms = model.firms
    m = model.members
    memory = model.cfg.behaviour.membership.satisfaction_memory
    firms.satisfaction[m] = memory * firms.satisfaction[m] + model.benefit[m]
    model.benefit[m] = 0.0
