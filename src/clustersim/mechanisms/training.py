"""Training agreements with training agencies and the absorptive capacity they build.

Learning follows the half-life rule of Eurace@Unibi (Dawid et al.): one month of training
moves absorptive capacity ``a`` toward the frontier 1 by (1 - a)(1 - 0.5^(1/h)), with a
half-life ``h = h0 * (1.5 - a)`` that falls as skills grow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clustersim.mechanisms.membership import unique_ints

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


def learn(absorptive: np.ndarray, half_life_months: float) -> np.ndarray:
    """One month of training: a <- a + (1 - a)(1 - 0.5^(1/h)), h = h0 (1.5 - a)."""
    h = half_life_months * (1.5 - absorptive)
    return absorptive + (1.0 - absorptive) * (1.0 - np.power(0.5, 1.0 / h))


def sign_and_train(model: ClusterModel) -> tuple[int, int]:
    """CMOs sign agreements with competences hours; agreements train members.

    Returns (agreements signed, members trained) this month.
    """
    p = model.cfg.behaviour.training
    hours_each = model.cfg.behaviour.cmo.hours_per_training_agreement
    rng = model.rng
    firms = model.firms
    signed = trained = 0
    for c, cmo in enumerate(model.cmos):
        members = model.members_by_cluster[c]
        if members.size == 0:
            continue
        for _ in range(cmo.accumulate("competences", hours_each)):
            agency = int(rng.integers(0, len(model.training_agencies)))
            model.training_agencies[agency].agreements += 1
            cmo.agreements.append((agency, model.month + p.agreement_months))
            cmo.totals["agreements"] += 1
            signed += 1
        active = cmo.active_agreements(model.month)
        if active == 0:
            continue
        k = int(rng.poisson(active * p.trainees_per_agreement_month))
        if k == 0:
            continue
        who = unique_ints(members[rng.integers(0, members.size, size=k)])
        firms.absorptive[who] = learn(firms.absorptive[who], p.half_life_months).astype(np.float32)
        model.benefit[who] += model.cfg.behaviour.membership.benefits["training"]
        model.mark_nonfinancial(who)
        trained += int(who.size)
    return signed, trained
