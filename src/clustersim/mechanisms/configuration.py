"""Putting a cluster configuration in force: the launch, a reform, a re-tender.

A configuration period is a partition of the domains into clusters. When it comes into
force, each of its clusters gets a CMO:

* with ``relaunch: true`` (a call for CMOs, as in 2009 and 2016) every CMO is tendered
  anew: it starts a set-up phase of ``staffing.setup_months`` (set-up staffing,
  communication only), and work in progress (efforts towards training agreements and
  links abroad) and the alignment from coordination meetings are lost;
* with ``relaunch: false`` a cluster whose domains are unchanged keeps its CMO as it is,
  and a new cluster's CMO starts without a set-up phase.

A CMO whose cluster joins the domains of k > 1 former CMOs is a merger: it works with
the merger loss for the period's ``transition_months``. Former CMOs hand their cash,
their links abroad (every relationship, none lost) and their running training agreements
to the new CMO of their first domain; their members follow their domain. A period that
repeats the partition in force without a re-launch changes nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from clustersim.cmo import CMO
from clustersim.config import ClusterPeriod
from clustersim.population import NO_CLUSTER
from clustersim.state import State


def partition(state: State, period: ClusterPeriod) -> list[tuple[str, tuple[int, ...]]]:
    """The period's clusters in canonical order: (name, sorted domain indices)."""
    tax = state.taxonomy
    return sorted((name, tuple(sorted(tax.index(d) for d in domains))) for name, domains in period.mapping.items())


def apply(state: State, period_index: int, period: ClusterPeriod, start: int, make_cmo: Callable[..., CMO]) -> None:
    """Put ``period`` in force at month ``start`` (see the module docstring)."""
    old = state.cmos
    clusters = partition(state, period)
    old_sets = {tuple(c.domains): c for c in old}
    if old and not period.relaunch and all(doms in old_sets for _, doms in clusters):
        return  # the same partition, no re-launch: nothing changes
    old_cluster_of_domain = state.cluster_of_domain.copy()
    new_of_domain = np.zeros(state.n_domains, dtype=np.int16)
    next_id = max((c.cluster_id for c in state.retired_cmos + old), default=-1) + 1
    new_cmos: list[CMO] = []
    kept: set[int] = set()
    for rank, (name, doms) in enumerate(clusters):
        new_of_domain[list(doms)] = rank
        if not period.relaunch and doms in old_sets:
            cmo = old_sets[doms]
            kept.add(id(cmo))
            new_cmos.append(cmo)
            continue
        merged = len({int(old_cluster_of_domain[d]) for d in doms}) if old else 1
        cmo = make_cmo(
            cluster_id=next_id,
            name=name,
            label=period.label,
            domains=list(doms),
            domain_names=[state.taxonomy.names[d] for d in doms],
            period=period_index,
            merged_from=merged,
            transition_until=start + period.transition_months,
            setup_until=start + state.cfg.staffing.setup_months if period.relaunch else start,
            organisations=period.managing_organisations.get(name, 1),
        )
        next_id += 1
        new_cmos.append(cmo)
    for cmo in old:
        if id(cmo) in kept:
            continue
        heir = new_cmos[int(new_of_domain[cmo.domains[0]])]
        cmo.account.transfer_to(heir.account)
        # the same organisations run the new CMO: partnerships carry over
        heir.links.extend(cmo.links)
        heir.agreements.extend(a for a in cmo.agreements if a[1] > state.month)
        state.retired_cmos.append(cmo)
        cmo.remove()
    firms = state.firms
    m = firms.member_of != NO_CLUSTER
    firms.member_of[m] = new_of_domain[firms.primary_domain[m]]
    state.cmos = new_cmos
    state.cluster_of_domain = new_of_domain
    state.cluster_of_firm = new_of_domain[firms.primary_domain]
    state.firms_per_cluster = np.bincount(state.cluster_of_firm, minlength=len(new_cmos)).astype(np.float64)
    state.refresh_members()
