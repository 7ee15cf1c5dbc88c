"""Training agreements with training agencies and the absorptive capacity they build.

Learning follows the half-life rule of Eurace@Unibi (Dawid et al.): one month of training
moves absorptive capacity ``a`` toward the frontier 1 by (1 - a)(1 - 0.5^(1/h)), with a
half-life ``h = h0 * (1.5 - a)`` that falls as skills grow.
"""

from __future__ import annotations

import numpy as np

from clustersim.state import State
from clustersim.streams import poisson

_TRAINEES_AHEAD = 8  # trainees' uniforms drawn ahead per CMO and month (more: drawn when needed)


def learn(absorptive: np.ndarray, half_life_months: float) -> np.ndarray:
    """One month of training: a <- a + (1 - a)(1 - 0.5^(1/h)), h = h0 (1.5 - a)."""
    h = half_life_months * (1.5 - absorptive)
    return absorptive + (1.0 - absorptive) * (1.0 - np.power(0.5, 1.0 / h))


def sign_and_train(state: State) -> tuple[int, int]:
    """CMOs sign agreements with competences hours; agreements train members.

    Each CMO's month has its own stream (keyed by its domains): position 0 draws the
    number of trainees (Poisson(active agreements x ``trainees_per_agreement_month``), by
    inversion), the child ``agency`` the agencies of new agreements, the child
    ``trainee`` the members trained (with replacement, duplicates trained once).
    Returns (agreements signed, members trained) this month.
    """
    p = state.cfg.behaviour.training
    hours_each = state.cfg.behaviour.cmo.hours_per_training_agreement
    firms = state.firms
    signed = 0
    trainees = []  # the training CMOs' trainees, CMO by CMO, each once and in firm order
    month = state.month
    n_agencies = state.n_training_agencies
    agency_agreements = state.agency_agreements
    until = month + p.agreement_months
    per_agreement = p.trainees_per_agreement_month
    members_by_cluster = state.members_by_cluster
    cmos = state.cmos
    # the CMOs' streams this month, worked out ahead (keys, position 0, the first trainees' uniforms)
    index, ahead = state.streams.entities_ahead(
        "training", month, [cmo.stream_id for cmo in cmos], state.n_months, ("trainee",), _TRAINEES_AHEAD
    )
    first = ahead.first
    for c, cmo in enumerate(cmos):
        members = members_by_cluster[c]
        size = members.size
        if size == 0:
            continue
        b = index[cmo.stream_id]  # the CMO's stream this month
        new = cmo.accumulate("competences", hours_each)
        if new:
            for u in ahead.child_stream(b, "agency").uniform_list(new):
                agency = min(int(u * n_agencies), n_agencies - 1)
                agency_agreements[agency] += 1
                cmo.agreements.append((agency, until))
            cmo.totals["agreements"] += new
            signed += new
        active = len([u for _, u in cmo.agreements if u > month])  # cmo.active_agreements(month), without the call
        if active == 0:
            continue
        k = poisson(first[b], active * per_agreement)
        if k:  # a few trainees: read one by one (item), cheaper than indexing with a list
            us = ahead.child_uniforms(b, 0, k)
            # min(int(u * size), size - 1), without the call; duplicates trained once
            trainees += sorted({members.item(x if (x := int(u * size)) < size else size - 1) for u in us})
    if not trainees:
        return signed, 0
    who = np.asarray(trainees, dtype=np.int64)
    firms.absorptive[who] = learn(firms.absorptive[who], p.half_life_months).astype(np.float32, copy=False)
    state.benefit[who] += state.cfg.behaviour.membership.benefits["training"]
    state.mark_nonfinancial(who)
    trained = int(who.size)
    return signed, trained
