"""CMO staff time: how staffing, money, breadth and mergers become service hours.

Each month the Region's staffing (set-up or running head count, ``staffing``) is shared
among the CMOs in force; each CMO pays its staff and activity costs from its account, at
most its balance spread over the months to the next grant tranche (money binds as a
lower, steady level of activity); a fixed management overhead comes off first, and the
rest is scaled by skill, by the thematic breadth of its members and, during a merger's
transition, by the merger loss. During set-up only communication is delivered.
"""

from __future__ import annotations

import numpy as np

from clustersim.cmo import CMO
from clustersim.config import SERVICE_LINES
from clustersim.state import State


def breadth_factor(domain_counts: np.ndarray, penalty: float) -> float:
    """Effectiveness lost to thematic breadth: 1 / (1 + penalty * (D_eff - 1)).

    ``D_eff`` is the effective number of domains among the members (inverse Simpson
    index of their primary domains); a single-domain cluster has ``D_eff = 1``.
    """
    total = domain_counts.sum()
    if total <= 0:
        return 1.0
    shares = domain_counts / total
    d_eff = 1.0 / float((shares * shares).sum())
    return 1.0 / (1.0 + penalty * (d_eff - 1.0))


def breadth_factors(domain_counts: np.ndarray, penalty: float) -> list[float]:
    """:func:`breadth_factor` of each row of ``domain_counts`` (clusters x domains), in one pass.

    Each row's shares and sum of squared shares are computed as for one row (the same
    element-wise operations and the same reduction along the row), so each factor is
    the one :func:`breadth_factor` returns.
    """
    factors = [1.0] * domain_counts.shape[0]
    # a row with members of one domain only (or none) has D_eff = 1 exactly (its one share
    # is 1.0), so its factor is 1.0: only rows with two domains or more are worked out
    broad = np.count_nonzero(domain_counts, axis=1) > 1
    if not broad.any():
        return factors
    totals = domain_counts.sum(axis=1)
    if broad.all():
        rows = range(len(factors))
        shares = domain_counts / totals[:, None]
    else:
        rows = np.flatnonzero(broad).tolist()
        shares = domain_counts[broad] / totals[broad, None]
    simpson = (shares * shares).sum(axis=1)
    for row, s in zip(rows, simpson.tolist(), strict=True):
        factors[row] = 1.0 / (1.0 + penalty * (1.0 / s - 1.0))
    return factors


def merger_factor(merged_from: int, loss: float) -> float:
    """Effectiveness during a merger's transition: 1 - loss * (1 - 1/k) for k merged CMOs."""
    if merged_from <= 1:
        return 1.0
    return 1.0 - loss * (1.0 - 1.0 / merged_from)


def staff_shares(state: State) -> tuple[float, list[float]]:
    """The staffing in force (FTE) and each CMO's share of it.

    The whole scheme runs on set-up staffing while every CMO in force is in set-up, on
    running staffing otherwise; it is shared equally, or by members + 1
    (``staffing.allocation``). The weights are whole numbers, so their sum is exact in
    any order (as NumPy's was) and each share is one division.
    """
    st = state.cfg.staffing
    cmos = state.cmos
    month = state.month
    total = st.setup_fte
    for c in cmos:  # all(c.in_setup(month) for c in cmos), without a generator and a call per CMO
        if not month < c.setup_until:
            total = st.run_fte
            break
    if st.allocation == "by_members":
        weights = [c.n_members + 1 for c in cmos]
        weight_sum = float(sum(weights))
        return total, [w / weight_sum for w in weights]
    share = 1 / float(len(cmos)) if cmos else 0.0  # equal weights 1: each share 1 / (their sum)
    return total, [share] * len(cmos)


def _rates(state: State) -> tuple:
    """The constants of :func:`plan_hours` for the month, looked up once for all CMOs.

    Hours per FTE, overhead FTE per organisation, staff and activity cost per hour,
    skill, merger loss and the action plan's (line, share) pairs.
    """
    cfg = state.cfg
    beh = cfg.behaviour.cmo
    return (
        cfg.region.hours_per_fte_month,
        cfg.staffing.overhead_fte_per_cmo,
        state.staff_cost_cents_per_hour,
        state.activity_cost_cents_per_hour,
        cfg.staffing.skill,
        beh.merger_efficiency_loss,
        [(line, beh.action_plan[line]) for line in SERVICE_LINES],
    )


def plan_hours(
    state: State,
    cmo: CMO,
    domain_counts: np.ndarray | None,
    *,
    breadth: float | None = None,
    months_left: int | None = None,
    rates: tuple | None = None,
) -> None:
    """Turn this month's affordable staff time of ``cmo`` into service hours per line.

    Staff cost and activity cost are paid from the CMO's account, at most its balance
    divided by the months until the Region's next grant tranche (or until the end of the
    run when none is due); if that does not pay for all its staff, the hours shrink in
    proportion. The management overhead (``staffing.overhead_fte_per_cmo`` for each of the
    organisations that manage the cluster: a CMO run by a temporary association of k
    organisations bears k overheads) comes off first; the rest is scaled by skill,
    thematic breadth and, in a merger's transition, the merger loss.

    ``breadth`` (the :func:`breadth_factor` of ``domain_counts``, which is then not
    read), ``months_left`` (to the next tranche) and ``rates`` (:func:`_rates`) may be
    passed when already known for the month.
    """
    month = state.month
    if rates is None:
        rates = _rates(state)
    per_fte, overhead_per_org, staff_rate, activity_rate, skill, merger_loss, plan = rates
    hours = cmo.staff_fte * per_fte
    overhead_fte = overhead_per_org * cmo.organisations
    overhead = min(hours, overhead_fte * per_fte)
    cost = staff_rate * hours + activity_rate * (hours - overhead)
    cost_cents = int(cost)
    if months_left is None:
        months_left = state.region.months_to_next_grant(month, state.n_months)
    if breadth is None:
        breadth = breadth_factor(domain_counts, state.cfg.behaviour.cmo.breadth_penalty)
    account = cmo.account
    paid = account.spend(min(cost_cents, account.balance // months_left))
    affordable = 1.0 if cost_cents == 0 else paid / cost_cents
    hours *= affordable
    overhead *= affordable
    service = (hours - overhead) * skill * breadth
    if month < cmo.transition_until:
        service *= merger_factor(cmo.merged_from, merger_loss)
    cmo.hours_available = hours
    cmo.hours_service = service
    cmo.hours_used = 0.0
    if month < cmo.setup_until:  # cmo.in_setup(month)
        cmo.hours = dict.fromkeys(SERVICE_LINES, 0.0)
        cmo.hours["communication"] = service
    else:
        cmo.hours = {line: service * share for line, share in plan}
    totals = cmo.totals
    totals["hours_available"] += hours
    totals["hours_service"] += service
    totals["hours_overhead"] += overhead


def plan_staff_time(state: State) -> None:
    """Share the staffing among the CMOs in force and let each plan its service hours.

    The shares are Python floats: a CMO's hours are worked out in plain float
    arithmetic, not on NumPy scalars. Each CMO's plan is :func:`plan_hours`'s, written out
    in the loop (the same operations in the same order, the month's constants looked up
    once for all CMOs).
    """
    total, shares = staff_shares(state)
    if state.one_domain_clusters:  # every cluster's members are of one domain: each factor is 1.0
        breadth = [1.0] * len(state.cmos)
    else:
        breadth = breadth_factors(state.domain_counts_by_cluster(), state.cfg.behaviour.cmo.breadth_penalty)
    month = state.month
    months_left = state.region.months_to_next_grant(month, state.n_months)
    per_fte, overhead_per_org, staff_rate, activity_rate, skill, merger_loss, plan = _rates(state)
    for cmo, share, b in zip(state.cmos, shares, breadth, strict=True):
        cmo.staff_fte = fte = total * share
        hours = fte * per_fte
        overhead = overhead_per_org * cmo.organisations * per_fte
        if not overhead < hours:  # min(hours, overhead), as the builtin picks it
            overhead = hours
        cost_cents = int(staff_rate * hours + activity_rate * (hours - overhead))
        account = cmo.account
        paid = account.spend(min(cost_cents, account.balance // months_left))
        if cost_cents != 0:  # (else all is affordable: x 1.0 changes no float)
            affordable = paid / cost_cents
            hours *= affordable
            overhead *= affordable
        service = (hours - overhead) * skill * b
        if month < cmo.transition_until:
            service *= merger_factor(cmo.merged_from, merger_loss)
        cmo.hours_available = hours
        cmo.hours_service = service
        cmo.hours_used = 0.0
        if month < cmo.setup_until:  # cmo.in_setup(month)
            cmo.hours = dict.fromkeys(SERVICE_LINES, 0.0)
            cmo.hours["communication"] = service
        else:
            cmo.hours = {line: service * x for line, x in plan}
        totals = cmo.totals
        totals["hours_available"] += hours
        totals["hours_service"] += service
        totals["hours_overhead"] += overhead
        n = cmo.n_members
        cmo.service_per_member = service / (n if n > 1 else 1)  # max(n_members, 1)
