"""Internationalisation: CMO links abroad and the ties their members gain through them."""

from __future__ import annotations

import numpy as np

from clustersim.network import FIRM_INTERNATIONAL, ORIGINS
from clustersim.state import State
from clustersim.streams import poisson

CMO_LINK = ORIGINS.index("cmo_link")
_TIES_AHEAD = 4  # uniforms of ties abroad drawn ahead per CMO and month (more: drawn when needed)


def build_links_and_ties(state: State) -> tuple[int, int]:
    """CMOs turn internationalisation hours into links; links yield members' ties abroad.

    A link with an external partner costs ``hours_per_international_link``; the partner is
    drawn uniformly among those the CMO has no link with yet (rejection sampling, keyed by
    the CMO's stream). A link is a relationship: a merged CMO keeps every link of its
    predecessors, two of them with the same partner included. Each month a CMO's members
    gain Poisson(links x ``ties_per_link_month``) ties abroad, each through a random one
    of its links, members with more knowledge being likelier (weight 0.5 + knowledge).
    Returns (links made, ties formed).
    """
    p = state.cfg.behaviour.international
    hours_each = state.cfg.behaviour.cmo.hours_per_international_link
    firms = state.firms
    n_partners = state.partners.n
    new_links = ties = 0
    reached = []  # the members who gained ties, CMO by CMO (the CMOs' members are disjoint)
    month = state.month
    add_tie = state.ledger.add
    firm_ties = state.partners.firm_ties
    cmos = state.cmos
    # the CMOs' streams this month, worked out ahead (keys, position 0, the first members' and links' uniforms)
    index, ahead = state.streams.entities_ahead(
        "international", month, [cmo.stream_id for cmo in cmos], state.n_months, ("member", "link"), _TIES_AHEAD
    )
    first = ahead.first
    for c, cmo in enumerate(cmos):
        members = state.members_by_cluster[c]
        if members.size == 0:
            continue
        b = index[cmo.stream_id]  # the CMO's stream this month
        made = cmo.accumulate("internationalisation", hours_each)
        if made:
            linked = set(cmo.links)
            pick = ahead.child_stream(b, "partner")
            position = 0
            for _ in range(made):
                if len(linked) >= n_partners:
                    break
                while True:  # uniform among partners not linked yet (expected tries <= 2 while half are free)
                    e = min(int(pick.uniform(position) * n_partners), n_partners - 1)
                    position += 1
                    if e not in linked:
                        break
                linked.add(e)
                cmo.links.append(e)
                state.partners.cmo_links[e] += 1
                cmo.totals["links"] += 1
                new_links += 1
        if not cmo.links:
            continue
        k = poisson(first[b], len(cmo.links) * p.ties_per_link_month)
        if k == 0:
            continue
        # members by weight 0.5 + knowledge: the first cumulative weight above u x total
        cumulative = np.add(firms.knowledge[members], 0.5, dtype=np.float64).cumsum()  # the method: np.cumsum calls it
        total, last = float(cumulative[-1]), members.size - 1
        picked = [
            min(int(cumulative.searchsorted(u * total, side="right")), last) for u in ahead.child_uniforms(b, 0, k)
        ]
        who = [members.item(i) for i in picked]  # a few members: one by one, cheaper than a list index
        links = cmo.links
        for f, v in zip(who, ahead.child_uniforms(b, 1, k), strict=True):
            e = links[min(int(v * len(links)), len(links) - 1)]
            add_tie(month, FIRM_INTERNATIONAL, CMO_LINK, f, e, cmo.cluster_id)
            firm_ties[e] += 1
            ties += 1
        reached += who
    if reached:
        # each member reached gains the benefit once, however many ties it formed
        who = np.asarray(sorted(set(reached)), dtype=np.int64)
        firms.international[who] = True
        state.benefit[who] += state.cfg.behaviour.membership.benefits["international_tie"]
        state.mark_nonfinancial(who)
    return new_links, ties
