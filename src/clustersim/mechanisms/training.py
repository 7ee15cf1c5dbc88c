"""Training agreements with training agencies and the absorptive capacity they build.

Learning follows the half-life rule of Eurace@Unibi (Dawid et al.): one month of training
moves absorptive capacity ``a`` toward the frontier 1 by (1 - a)(1 - 0.5^(1/h)), with a
half-life ``h = h0 * (1.5 - a)`` that falls as skills grow.
"""

from __future__ import annotations

import numpy as np

from clustersim.state import State
from clustersim.streams import poisson, uniforms_at


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
    signed = trained = 0
    draws = []  # (members, trainees, stream) of the CMOs that train this month
    month_stream = state.streams.stream("training", state.month)
    for c, cmo in enumerate(state.cmos):
        members = state.members_by_cluster[c]
        if members.size == 0:
            continue
        stream = month_stream.child(cmo.stream_id)  # the CMO's stream this month
        new = cmo.accumulate("competences", hours_each)
        if new:
            agencies = (stream.child("agency").uniforms(new) * state.n_training_agencies).astype(np.int64)
            for agency in np.minimum(agencies, state.n_training_agencies - 1).tolist():
                state.agency_agreements[agency] += 1
                cmo.agreements.append((agency, state.month + p.agreement_months))
            cmo.totals["agreements"] += new
            signed += new
        active = cmo.active_agreements(state.month)
        if active == 0:
            continue
        k = poisson(stream.uniform(0), active * p.trainees_per_agreement_month)
        if k:
            draws.append((members, k, stream.child("trainee").key))
    if not draws:
        return signed, 0
    # the CMOs' members are disjoint: every CMO's trainees are trained in one pass
    u = uniforms_at(np.array([key for _, _, key in draws], dtype=np.uint64), np.arange(max(k for _, k, _ in draws)))
    picked, at = [], 0  # positions in the concatenation of the training CMOs' members
    for row, (members, k, _) in zip(u.tolist(), draws, strict=True):
        size = members.size
        picked += [at + min(int(x * size), size - 1) for x in row[:k]]
        at += size
    chosen = np.concatenate([members for members, _, _ in draws])[picked].tolist()
    trainees, first = [], 0
    for _, k, _ in draws:
        trainees += sorted(set(chosen[first : first + k]))  # a CMO's trainees, each once, in firm order
        first += k
    who = np.asarray(trainees, dtype=np.int64)
    firms.absorptive[who] = learn(firms.absorptive[who], p.half_life_months).astype(np.float32)
    state.benefit[who] += state.cfg.behaviour.membership.benefits["training"]
    state.mark_nonfinancial(who)
    trained = int(who.size)
    return signed, trained
