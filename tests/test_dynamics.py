"""Distribution tests behind the "exact in distribution" claims of docs/ODD.md (4.9, 7.1.4, 7.1.9)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from clustersim.mechanisms.dynamics import bernoulli_thinned, book_turnover
from clustersim.population import AwarenessClock
from clustersim.streams import Streams, seed_sequence


def test_thinning_draws_each_firm_with_its_own_probability_independently() -> None:
    n, reps = 40, 20_000
    p = np.linspace(0.0, 0.2, n)
    hits = np.zeros(n)
    pairs = 0  # firms 10 and 30 drawn together, for independence
    streams = Streams(seed_sequence(3, 0))
    for r in range(reps):
        kept, second = bernoulli_thinned(streams.generator("t", r), 0.25, n, lambda c: p[c])
        hits[kept] += 1
        pairs += (10 in kept) and (30 in kept)
        assert second.shape == kept.shape and np.all((second >= 0) & (second < 1))
    # every firm's frequency is its probability (binomial 99.9% bands)
    se = np.sqrt(p * (1 - p) / reps)
    assert np.all(np.abs(hits / reps - p) <= 3.3 * se + 1e-12)
    assert hits[0] == 0
    expected_pair = p[10] * p[30]
    assert abs(pairs / reps - expected_pair) <= 3.3 * np.sqrt(expected_pair / reps)


def test_thinning_with_a_fixed_bound_keeps_arms_in_step() -> None:
    """The candidates and their uniforms depend only on n and p_max.

    So a change of one firm's probability changes only that firm's draw.
    """
    streams = Streams(seed_sequence(4, 0))
    p = np.full(500, 0.1)
    q = p.copy()
    q[7] = 0.0
    a, _ = bernoulli_thinned(streams.generator("t", 1), 0.2, 500, lambda c: p[c])
    b, _ = bernoulli_thinned(streams.generator("t", 1), 0.2, 500, lambda c: q[c])
    assert set(a.tolist()) - {7} == set(b.tolist())


def test_the_awareness_clock_is_the_monthly_bernoulli_process() -> None:
    n, share, hazard = 200_000, 0.2, 0.3
    rng = np.random.default_rng(5)
    domain = rng.integers(0, 3, size=n).astype(np.int8)
    clock = AwarenessClock(rng.standard_exponential(n), domain, 3, share)
    aware = np.zeros(n, dtype=bool)
    aware[clock.advance(np.zeros(3))] = True
    assert aware.mean() == pytest.approx(share, abs=0.005)
    # one month of hazard h in domain 0 only: a share 1 - exp(-h) of the unaware there become aware
    before = ~aware & (domain == 0)
    newly = clock.advance(np.array([hazard, 0.0, 0.0]))
    assert set(domain[newly].tolist()) == {0}
    assert len(newly) / before.sum() == pytest.approx(1 - np.exp(-hazard), abs=0.01)
    assert not aware[newly].any()  # nobody twice
    # hazards add up: after two more months the survival is exp(-(h1 + h2 + h3))
    aware[newly] = True
    clock.advance(np.array([0.1, 0.0, 0.0]))
    clock.advance(np.array([0.2, 0.0, 0.0]))
    remaining = clock.bounds[1] - clock.pointer[0]
    assert remaining / (domain == 0).sum() == pytest.approx((1 - share) * np.exp(-0.6), abs=0.01)


def test_booking_m_months_of_growth_at_once_has_the_distribution_of_m_monthly_factors() -> None:
    n, mu, sd, months = 200_000, 0.001, 0.02, 12
    dynamics = SimpleNamespace(turnover_growth_month=mu, turnover_growth_sd=sd, member_growth_premium_month=0.0)
    state = SimpleNamespace(
        cfg=SimpleNamespace(behaviour=SimpleNamespace(dynamics=dynamics)),
        streams=Streams(seed_sequence(6, 0)),
        firms=SimpleNamespace(n=n, turnover_eur=np.ones(n), member_months=np.zeros(n, dtype=np.int16)),
    )
    book_turnover(state, months, booking=0)
    log_growth = np.log(state.firms.turnover_eur)
    assert log_growth.mean() == pytest.approx(months * mu, abs=4 * sd * np.sqrt(months / n))
    assert log_growth.std() == pytest.approx(sd * np.sqrt(months), rel=0.01)
    assert stats.normaltest(log_growth[:5000]).pvalue > 1e-3
    # the same booking number gives the same numbers: reading turnover in between draws nothing
    fresh = SimpleNamespace(n=n, turnover_eur=np.ones(n), member_months=np.zeros(n, dtype=np.int16))
    again = SimpleNamespace(**{**vars(state), "firms": fresh})
    book_turnover(again, months, booking=0)
    np.testing.assert_array_equal(again.firms.turnover_eur, state.firms.turnover_eur)
