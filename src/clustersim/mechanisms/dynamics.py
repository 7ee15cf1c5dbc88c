"""Firm dynamics: knowledge depreciation, innovation and turnover (vectorised, O(N))."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


def firm_dynamics(model: ClusterModel) -> tuple[int, int]:
    """Depreciate knowledge, draw innovations, grow turnover; return (innovations, in members).

    Innovation probability per month: rate x (0.5 + knowledge) x (1 + boost while a
    finished project's boost lasts). An innovation is new to the market with probability
    ``new_to_market_share`` x (0.5 + knowledge), otherwise new to the firm, and lifts
    turnover by ``innovation_turnover_gain``. Turnover otherwise grows by a lognormal
    monthly factor exp(mu + sd * z).
    """
    d = model.cfg.behaviour.dynamics
    boost = model.cfg.behaviour.calls.innovation_boost
    rng = model.rng
    firms = model.firms
    month = model.month
    firms.knowledge *= np.float32(1.0 - d.knowledge_depreciation_month)
    k = firms.knowledge
    # float32 throughout: this is the hottest loop of the model (O(N) each month)
    p = np.float32(0.5) + k
    p *= np.float32(d.innovation_rate_month)
    boosted = firms.innovation_boost_until >= month
    p[boosted] *= np.float32(1.0 + boost)
    innovators = np.flatnonzero(rng.random(firms.n, dtype=np.float32) < p)
    if innovators.size:
        ntm = rng.random(innovators.size) < d.new_to_market_share * (0.5 + k[innovators])
        firms.turnover_eur[innovators] *= 1.0 + d.innovation_turnover_gain
        if model.in_report_window:
            firms.innovations[innovators] += 1
            supported = model.supported_mask(innovators)
            for arr, sel in (
                (firms.first_new_to_market_after_support, innovators[supported & ntm]),
                (firms.first_new_to_firm_after_support, innovators[supported & ~ntm]),
            ):
                fresh = sel[arr[sel] < 0]
                arr[fresh] = month
    growth = rng.standard_normal(firms.n, dtype=np.float32)
    growth *= np.float32(d.turnover_growth_sd)
    growth += np.float32(d.turnover_growth_month)
    np.exp(growth, out=growth)
    firms.turnover_eur *= growth
    in_members = int((firms.member_of[innovators] >= 0).sum()) if innovators.size else 0
    return int(innovators.size), in_members
