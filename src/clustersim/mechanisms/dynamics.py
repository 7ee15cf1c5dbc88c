"""Firm dynamics: knowledge depreciation, innovation and turnover (vectorised, O(N))."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


def bernoulli_thinned(rng: np.random.Generator, p: np.ndarray | None, p_max: float, n: int, prob_of=None) -> np.ndarray:
    """Indices ``i`` drawn independently with probability ``p_i <= p_max``, by thinning.

    ``Binomial(n, p_max)`` candidates are drawn uniformly without replacement (so each
    firm is a candidate with probability ``p_max``, independently) and each is kept with
    probability ``p_i / p_max``. Exact in distribution, and O(n p_max) instead of O(n).
    ``prob_of(candidates)`` may compute ``p_i`` for the candidates only.
    """
    if n == 0 or p_max <= 0.0:
        return np.zeros(0, dtype=np.int64)
    p_max = min(p_max, 1.0)
    k = int(rng.binomial(n, p_max))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    cand = np.sort(rng.choice(n, size=k, replace=False))
    pc = prob_of(cand) if prob_of is not None else p[cand]
    return cand[rng.random(k) * p_max < pc]


def catch_up_turnover(model: ClusterModel, idx: np.ndarray | None = None) -> None:
    """Apply the monthly turnover growth that firms ``idx`` (default: all) have pending.

    Turnover grows by an independent lognormal factor exp(mu + sd z) each month. It is
    applied lazily, when turnover is read: m pending months are one draw of
    exp(m mu + sqrt(m) sd z), which has exactly the distribution of m monthly factors.
    Growth is due through the month before the current one while processes 1-7 run, and
    through the current month once firm dynamics (process 8) have run.
    """
    d = model.cfg.behaviour.dynamics
    firms = model.firms
    through = model.month if model.dynamics_done else model.month - 1
    last = firms.turnover_month if idx is None else firms.turnover_month[idx]
    pending = (through - last).astype(np.float64)
    due = pending > 0
    if not due.any():
        return
    sel = np.flatnonzero(due) if idx is None else np.asarray(idx)[due]
    m = pending[due]
    z = model.rng.standard_normal(sel.size)
    firms.turnover_eur[sel] *= np.exp(m * d.turnover_growth_month + np.sqrt(m) * d.turnover_growth_sd * z)
    firms.turnover_month[sel] = through


def firm_dynamics(model: ClusterModel) -> tuple[int, int]:
    """Depreciate knowledge, draw innovations; return (innovations, innovations of members).

    Innovation probability per month: rate x (0.5 + knowledge) x (1 + boost while a
    finished project's boost lasts), drawn by thinning (:func:`bernoulli_thinned`). An
    innovation is new to the market with probability ``new_to_market_share`` x
    (0.5 + knowledge), otherwise new to the firm, and lifts turnover by
    ``innovation_turnover_gain`` (a factor, so it commutes with the lazily applied monthly
    growth of :func:`catch_up_turnover`).
    """
    d = model.cfg.behaviour.dynamics
    boost = model.cfg.behaviour.calls.innovation_boost
    rng = model.rng
    firms = model.firms
    month = model.month
    firms.knowledge *= np.float32(1.0 - d.knowledge_depreciation_month)
    k = firms.knowledge

    def prob(cand: np.ndarray) -> np.ndarray:
        lift = np.where(firms.innovation_boost_until[cand] >= month, 1.0 + boost, 1.0)
        return d.innovation_rate_month * (0.5 + k[cand]) * lift

    p_max = d.innovation_rate_month * 1.5 * (1.0 + boost)
    innovators = bernoulli_thinned(rng, None, p_max, firms.n, prob)
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
    model.dynamics_done = True
    in_members = int((firms.member_of[innovators] >= 0).sum()) if innovators.size else 0
    return int(innovators.size), in_members
