"""Internationalisation: CMO links abroad and the ties their members gain through them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clustersim.network import FIRM_INTERNATIONAL, ORIGINS

if TYPE_CHECKING:
    from clustersim.model import ClusterModel

CMO_LINK = ORIGINS.index("cmo_link")


def build_links_and_ties(model: ClusterModel) -> tuple[int, int]:
    """CMOs turn internationalisation hours into links; links yield members' ties abroad.

    A link with an external partner costs ``hours_per_international_link``. Each month a
    CMO's members gain Poisson(links x ``ties_per_link_month``) ties abroad, through a
    random one of its links, members with more knowledge being likelier
    (weight 0.5 + knowledge). Returns (links made, ties formed).
    """
    p = model.cfg.behaviour.international
    hours_each = model.cfg.behaviour.cmo.hours_per_international_link
    rng = model.rng
    firms = model.firms
    n_partners = len(model.external_partners)
    new_links = ties = 0
    for c, cmo in enumerate(model.cmos):
        members = model.members_by_cluster[c]
        if members.size == 0:
            continue
        for _ in range(cmo.accumulate("internationalisation", hours_each)):
            free = [e for e in range(n_partners) if e not in cmo.links]
            if not free:
                break
            e = free[int(rng.integers(0, len(free)))]
            cmo.links.add(e)
            model.external_partners[e].cmo_links += 1
            cmo.totals["links"] += 1
            new_links += 1
        if not cmo.links:
            continue
        k = int(rng.poisson(len(cmo.links) * p.ties_per_link_month))
        if k == 0:
            continue
        w = 0.5 + firms.knowledge[members].astype(np.float64)
        who = members[rng.choice(members.size, size=k, p=w / w.sum())]
        links = sorted(cmo.links)
        for f in who:
            e = links[int(rng.integers(0, len(links)))]
            model.ledger.add(model.month, FIRM_INTERNATIONAL, CMO_LINK, int(f), e, cmo.cluster_id)
            model.external_partners[e].firm_ties += 1
            ties += 1
        firms.international[who] = True
        model.benefit[who] += model.cfg.behaviour.membership.benefits["international_tie"]
        model.mark_nonfinancial(who)
    return new_links, ties
