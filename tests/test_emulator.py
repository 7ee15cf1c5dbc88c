"""The polynomial chaos emulator's Sobol indices (clustersim.emulator) on functions with known indices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clustersim.emulator import basis, emulator_indices, multi_indices

NAMES = ["a", "b", "c", "d", "e"]


def phi1(u: np.ndarray) -> np.ndarray:
    return np.sqrt(3.0) * (2.0 * u - 1.0)


def phi2(u: np.ndarray) -> np.ndarray:
    return np.sqrt(5.0) * (6.0 * u**2 - 6.0 * u + 1.0)


def test_the_basis_is_orthonormal_on_the_unit_cube() -> None:
    alphas = multi_indices(3, 3)
    assert len(alphas) == 19  # C(3 + 3, 3) - 1 terms of degree 1..3
    assert (alphas.sum(axis=1) >= 1).all() and (alphas.sum(axis=1) <= 3).all()
    # Gauss-Legendre quadrature on [0, 1]^3 integrates these polynomials exactly
    t, w = np.polynomial.legendre.leggauss(6)
    u, w = (t + 1) / 2, w / 2
    grid = np.array(np.meshgrid(u, u, u, indexing="ij")).reshape(3, -1).T
    weights = np.prod(np.array(np.meshgrid(w, w, w, indexing="ij")).reshape(3, -1).T, axis=1)
    psi = basis(grid, alphas)
    gram = psi.T @ (psi * weights[:, None])
    np.testing.assert_allclose(gram, np.eye(len(alphas)), atol=1e-10)
    np.testing.assert_allclose(weights @ psi, 0.0, atol=1e-10)  # every term has mean 0


def known(n: int, noise_ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], float]:
    """The function 1.0 phi1(a) + 0.7 phi2(b) + 0.5 phi1(a) phi1(c) + noise; d and e do nothing."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 5))
    f = 1.0 * phi1(x[:, 0]) + 0.7 * phi2(x[:, 1]) + 0.5 * phi1(x[:, 0]) * phi1(x[:, 2])
    var = 1.0 + 0.49 + 0.25
    y = f + rng.normal(0.0, np.sqrt(noise_ratio * var), n)
    truth = {"S1": np.array([1.0, 0.49, 0, 0, 0]) / var, "ST": np.array([1.25, 0.49, 0.25, 0, 0]) / var}
    return x, y, truth, 1.0 / (1.0 + noise_ratio)


def test_indices_of_a_known_function_without_noise_are_exact() -> None:
    x, y, truth, _ = known(400, 0.0, seed=1)
    e = emulator_indices(x, y, NAMES, seed=0, resamples=50)
    np.testing.assert_allclose(e.indices["S1"], truth["S1"], atol=1e-9)
    np.testing.assert_allclose(e.indices["ST"], truth["ST"], atol=1e-9)
    assert e.r2_cv == pytest.approx(1.0, abs=1e-9)
    assert e.degree == 2  # the smallest degree that holds the function (a tie goes to the lower degree)


def test_noise_three_times_the_signal_is_separated_not_attributed() -> None:
    """The Saltelli estimators would spread the noise over every ST; the emulator reports it as 1 - R^2."""
    x, y, truth, signal_share = known(1792, 3.0, seed=2)
    e = emulator_indices(x, y, NAMES, seed=0)
    d = e.indices
    assert e.r2_cv == pytest.approx(signal_share, abs=0.05)
    for col in ("S1", "ST"):
        assert np.abs(d[col] - truth[col]).max() < 0.08
        inside = (d[f"{col}_low"] - 0.02 <= truth[col]) & (truth[col] <= d[f"{col}_high"] + 0.02)
        assert inside.all(), (col, d)
        assert (d[f"{col}_high"] - d[f"{col}_low"]).max() < 0.25  # +-0.125 at most, on 1,792 rows
        assert ((d[f"{col}_low"] <= d[col]) & (d[col] <= d[f"{col}_high"])).all()  # around the estimate
    assert d["ST"].sum() < 1.3  # not inflated by the noise


def test_shares_of_one_runs_variance_count_the_seed_as_an_input() -> None:
    """Rows averaging r runs: the _run indices are each part's share of one run's variance, the seed's too."""
    reps, noise_ratio = 2, 3.0  # one run's noise variance is 3 times the signal's
    x, f, truth, _ = known(1792, 0.0, seed=4)  # without noise: f is the function itself
    rng = np.random.default_rng(9)
    signal = 1.0 + 0.49 + 0.25
    y = f + rng.normal(0.0, np.sqrt(noise_ratio * signal), (reps, len(x))).mean(axis=0)  # the mean of r runs
    e = emulator_indices(x, y, NAMES, seed=0, replications=reps)
    d = e.indices
    one_run = signal * (1.0 + noise_ratio)
    assert e.seed_share == pytest.approx(noise_ratio / (1.0 + noise_ratio), abs=0.03)
    assert e.seed_share_low <= e.seed_share <= e.seed_share_high
    for col in ("S1", "ST"):
        want = truth[col] * signal / one_run
        assert np.abs(d[f"{col}_run"] - want).max() < 0.03
        assert (d[f"{col}_run_high"] - d[f"{col}_run_low"]).max() < 0.1
        # the same variances, so the two conventions differ by the systematic share only
        np.testing.assert_allclose(d[f"{col}_run"], d[col] * (1.0 - e.seed_share), atol=1e-12)
    assert "S1_run" not in emulator_indices(x, y, NAMES, seed=0, resamples=20).indices.columns


def test_same_seed_same_indices_and_bad_shapes_are_refused() -> None:
    x, y, _, _ = known(300, 1.0, seed=3)
    a = emulator_indices(x, y, NAMES, seed=7, resamples=40)
    b = emulator_indices(x, y, NAMES, seed=7, resamples=40)
    assert a.indices.equals(b.indices) and a.degree == b.degree
    with pytest.raises(ValueError, match="one name per column"):
        emulator_indices(x, y, NAMES[:4], seed=0)
    with pytest.raises(ValueError, match="too few rows"):
        emulator_indices(x[:5], y[:5], NAMES, seed=0)


def test_the_sobol_report_carries_the_emulators_indices() -> None:
    """emulated_indices on the committed Sobol design, effects made of a known function of the rows."""
    from clustersim.config import load_config
    from clustersim.sensitivity import EMULATOR_HALF_WIDTH, _emulator_text, emulated_indices, unit_design

    s = load_config(["sensitivity=sobol", "population=small"]).sensitivity
    x = unit_design(s)
    rng = np.random.default_rng(5)
    effects = pd.DataFrame({"sample": np.arange(len(x))})
    for j, kpi in enumerate(s.outputs):  # each output driven by one parameter, plus noise
        effects[kpi] = 3.0 * phi1(x[:, j % x.shape[1]]) + rng.normal(0.0, 1.0, len(x))
    emulated = emulated_indices(s, x, effects)
    assert emulated is not None
    assert set(emulated["output"]) == set(s.outputs) and len(emulated) == len(s.outputs) * len(s.parameters)
    for j, kpi in enumerate(s.outputs):
        d = emulated[emulated["output"] == kpi].reset_index(drop=True)
        assert d["ST"].idxmax() == j % x.shape[1] and d["ST"].max() > 0.95
        assert d["r2_cv"].iloc[0] == pytest.approx(9.0 / 10.0, abs=0.03)  # signal variance 9, noise 1
        assert bool(d["resolved"].iloc[0])  # every interval within +-EMULATOR_HALF_WIDTH
        assert bool(d["resolved_run"].iloc[0]) and d["seed_share"].iloc[0] == pytest.approx(0.1, abs=0.03)
    text = "\n".join(_emulator_text(emulated))
    assert "E[effect | parameters]" in text and f"+-{EMULATOR_HALF_WIDTH}" in text
    assert "shares of one run's variance" in text
