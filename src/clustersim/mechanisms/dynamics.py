"""Firm dynamics: knowledge depreciation, innovation and turnover (vectorised, O(N))."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from clustersim.state import State


def bernoulli_thinned(
    rng: np.random.Generator, p_max: float, n: int, prob_of: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``i`` drawn independently with probability ``p_i <= p_max``, by thinning.

    ``Binomial(n, p_max)`` candidates are drawn uniformly without replacement (so each
    firm is a candidate with probability ``p_max``, independently) and each is kept with
    probability ``p_i / p_max``: exactly an independent Bernoulli(``p_i``) draw per firm,
    in O(n p_max) instead of O(n). ``prob_of(candidates)`` computes ``p_i`` for the
    candidates only. The layout of the draws depends only on ``n`` and ``p_max``, so with
    a keyed generator the same firm gets the same candidacy and uniform in every arm.
    Returns the kept indices and, for them, one more uniform each (for a second
    decision), drawn for every candidate.
    """
    if n == 0 or p_max <= 0.0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    p_max = min(p_max, 1.0)
    k = int(rng.binomial(n, p_max))
    if k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    cand = rng.choice(n, size=k, replace=False)
    cand.sort()  # in place (np.sort would copy the fresh array)
    uniforms = rng.random(2 * k)  # the same numbers as rng.random(k) twice, in one call
    accept, second = uniforms[:k], uniforms[k:]
    kept = accept * p_max < prob_of(cand)
    return cand[kept], second[kept]


def book_turnover(state: State, months: int, booking: int) -> None:
    """Book ``months`` months of turnover growth for every firm (annual accounts).

    Each month's growth is an independent lognormal factor exp(mu + sd z); the
    ``months`` months since the last booking are one draw exp(m mu + sqrt(m) sd z), which
    has exactly the distribution of their product. One normal per firm, in firm order,
    from the stream of booking number ``booking``: the same in every arm, and reading
    turnover never draws. A member grows by ``member_growth_premium_month`` more for each
    of those months it was a member (the market-access channel of membership).
    """
    if months <= 0:
        return
    d = state.cfg.behaviour.dynamics
    firms = state.firms
    z = state.streams.draws("turnover", booking).standard_normal(firms.n, dtype=np.float32)
    z *= np.float32(np.sqrt(months) * d.turnover_growth_sd)
    z += np.float32(months * d.turnover_growth_month)
    if d.member_growth_premium_month:
        z += np.float32(d.member_growth_premium_month) * firms.member_months
    firms.member_months.fill(0)
    firms.turnover_eur *= np.exp(z, out=z)


def firm_dynamics(state: State) -> tuple[int, int]:
    """Depreciate knowledge, draw innovations; return (innovations, innovations of members).

    Innovation probability per firm and month: ``innovation_rate_month`` x (0.5 +
    knowledge), times (1 + ``innovation_boost``) while a finished project's boost lasts,
    times (1 + ``member_innovation_lift``) for members (the membership channel: access to
    the cluster's partners, events and information; Falck, Heblich and Kipar 2010 find
    cluster firms 4.6-5.7 points likelier to innovate),
    drawn by thinning (:func:`bernoulli_thinned`) from the month's innovation stream. An
    innovation is new to the market with probability ``new_to_market_share`` x (0.5 +
    knowledge), otherwise new to the firm, and lifts turnover by
    ``innovation_turnover_gain``.
    """
    d = state.cfg.behaviour.dynamics
    boost = state.cfg.behaviour.calls.innovation_boost
    firms = state.firms
    month = state.month
    firms.knowledge *= np.float32(1.0 - d.knowledge_depreciation_month)
    k = firms.knowledge

    def prob(cand: np.ndarray) -> np.ndarray:
        lift = np.where(firms.innovation_boost_until[cand] >= month, 1.0 + boost, 1.0)
        member = np.where(firms.member_of[cand] >= 0, 1.0 + d.member_innovation_lift, 1.0)
        return d.innovation_rate_month * (0.5 + k[cand]) * lift * member

    p_max = d.innovation_rate_month * 1.5 * (1.0 + boost) * (1.0 + d.member_innovation_lift)
    rng = state.streams.draws("innovation", month)
    innovators, u_novelty = bernoulli_thinned(rng, p_max, firms.n, prob)
    if innovators.size:
        firms.turnover_eur[innovators] *= 1.0 + d.innovation_turnover_gain
        firms.innovations_total[innovators] += 1
        if state.in_report_window:  # novelty is only recorded there (its uniform is drawn anyway)
            ntm = u_novelty < d.new_to_market_share * (0.5 + k[innovators])
            firms.innovations[innovators] += 1
            supported = state.supported_mask(innovators)
            for arr, sel in (
                (firms.first_new_to_market_after_support, innovators[supported & ntm]),
                (firms.first_new_to_firm_after_support, innovators[supported & ~ntm]),
            ):
                arr[sel[arr[sel] < 0]] = month
    in_members = int(np.count_nonzero(firms.member_of[innovators] >= 0)) if innovators.size else 0
    return int(innovators.size), in_members
