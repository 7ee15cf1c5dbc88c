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
    lift = np.where(firms.innovation_boost_until >= month, 1.0 + boost, 1.0)
    p = d.innovation_rate_month * (0.5 + k) * lift
    innovators = np.flatnonzero(rng.random(firms.n) < p)
    if innovators.size:
        ntm = rng.random(innovators.size) < d.new_to_market_share * (0.5 + k[innovators])
        firms.turnover_eur[innovators] *= 1.0 + d.innovation_turnover_gain
        if model.in_report_window:
            firms.innovations[innovators] += 1
            supported = innovators[model.supported_mask(innovators)]
            ntm_s = ntm[model.supported_mask(innovators)]
            for arr, sel in (
                (firms.first_new_to_market_after_support, supported[ntm_s]),
                (firms.first_new_to_firm_after_support, supported[~ntm_s]),
            ):
                fresh = sel[arr[sel] < 0]
                arr[fresh] = month
    firms.turnover_eur *= np.exp(d.turnover_growth_month + d.turnover_growth_sd * rng.standard_normal(firms.n))
    in_members = int((firms.member_of[innovators] >= 0).sum()) if innovators.size else 0
    return int(innovators.size), in_members
