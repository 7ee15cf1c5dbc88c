"""Sobol indices of a stochastic model's systematic part, from a polynomial chaos emulator.

One run of clustersim is one random history: the effect of a design row is its
parameters' effect plus replication noise. Saltelli's estimators (SALib) attribute that
noise to every parameter as "interaction", so with a few thousand runs their total-order
indices sum to well over 1 and their intervals are wide. The standard remedy for
stochastic simulators is to decompose the *conditional mean* of the output given the
parameters, E[Y | X], and to report the noise share beside it (Marrel, Iooss, Da Veiga and
Ribatet 2012, "Global sensitivity analysis of stochastic computer models with joint
metamodels", Statistics and Computing 22; the indices of a polynomial chaos expansion:
Sudret 2008, "Global sensitivity analysis using polynomial chaos expansions", Reliability
Engineering and System Safety 93).

Method. The parameters are uniform on the unit cube (a log-scaled parameter is uniform in
log space, so its unit coordinate is uniform too). The emulator is a least-squares fit of
the effect on the orthonormal shifted Legendre polynomials of total degree at most p
(``phi_n(u) = sqrt(2n + 1) P_n(2u - 1)``, so every basis term has mean 0 and variance 1 and
distinct terms are uncorrelated). Its variance is the sum of its squared coefficients, so
the indices are read off the coefficients (each square corrected for the noise its
estimate absorbed, :func:`_fit_squares`): S1_i sums the terms in u_i alone, ST_i every
term containing u_i. The degree is the lowest whose K-fold cross-validated R^2 is within
``PARSIMONY`` of the best (at most ``max_degree``, with at least ``min_rows_per_term`` rows
per term); the
cross-validated R^2 is the share of the effect's variance that the parameters explain,
``1 - R^2`` the share that is replication noise (or structure the polynomial misses).
95% intervals: the 2.5 and 97.5 percentiles of a wild bootstrap (the fitted values plus
the residuals with random signs, refitted at the chosen degree: the design is fixed, and
the noise may differ across the parameter space), taken as deviations from the
resamples' mean and placed around the estimate, clipped to [0, 1].
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.polynomial import legendre

#: the K of the cross-validation that picks the degree
FOLDS = 5
#: the lowest degree whose cross-validated R^2 is within this of the best is chosen
PARSIMONY = 0.002


def multi_indices(k: int, degree: int) -> np.ndarray:
    """Every multi-index of ``k`` variables with total degree 1..``degree`` (the constant left out)."""
    rows = [a for a in itertools.product(range(degree + 1), repeat=k) if 0 < sum(a) <= degree]
    rows.sort(key=lambda a: (sum(a), tuple(-x for x in a)))
    return np.asarray(rows, dtype=int).reshape(-1, k)


def basis(x_unit: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """The orthonormal shifted Legendre terms ``prod_i phi_{alpha_i}(u_i)`` at each row of ``x_unit``."""
    x = np.asarray(x_unit, dtype=float)
    top = int(alphas.max()) if alphas.size else 0
    t = 2.0 * x - 1.0
    # phi[n][:, i] = sqrt(2n + 1) P_n(t_i)
    phi = [np.sqrt(2 * n + 1) * legendre.legval(t, np.eye(top + 1)[n]) for n in range(top + 1)]
    out = np.ones((x.shape[0], len(alphas)))
    for j, a in enumerate(alphas):
        for i, n in enumerate(a):
            if n:
                out[:, j] *= phi[n][:, i]
    return out


class _Fit:
    """Least squares on a fixed design: ``[1, design]``, its pseudo-inverse computed once."""

    def __init__(self, design: np.ndarray) -> None:
        self.a = np.column_stack([np.ones(len(design)), design])
        self.pinv = np.linalg.pinv(self.a)
        self.dof = max(self.a.shape[0] - self.a.shape[1], 1)
        self.inv_diag = np.einsum("ij,ij->i", self.pinv, self.pinv)  # diag((A'A)^-1)

    def coef(self, y: np.ndarray) -> np.ndarray:
        return self.pinv @ y

    def squares(self, y: np.ndarray) -> np.ndarray:
        """Unbiased estimates of the squared coefficients of the non-constant terms.

        A least-squares coefficient fitted on noisy data has E[c_hat^2] = c^2 + Var(c_hat),
        so the squares of the fitted coefficients overstate each term's variance by the
        noise it absorbed (more so with more terms and noisier outputs).
        ``c_hat^2 - s^2 [(A'A)^-1]_jj`` removes that part (s^2 the residual variance),
        floored at 0.
        """
        return self.squares_and_noise(y)[0]

    def squares_and_noise(self, y: np.ndarray) -> tuple[np.ndarray, float]:
        """:meth:`squares` and the residual variance s^2 (the variance of y around the emulator)."""
        c = self.coef(y)
        resid = y - self.a @ c
        s2 = float(resid @ resid) / self.dof
        return np.maximum(c[1:] ** 2 - s2 * self.inv_diag[1:], 0.0), s2


def _indices(c2: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """S1 and ST from the (estimated) squared coefficients of the non-constant terms."""
    var = c2.sum()
    k = alphas.shape[1]
    if var <= 0:
        return np.zeros(k), np.zeros(k)
    has = alphas > 0
    alone = has & (has.sum(axis=1, keepdims=True) == 1)
    s1 = (c2[:, None] * alone).sum(axis=0) / var
    st = (c2[:, None] * has).sum(axis=0) / var
    return s1, st


def _run_indices(
    c2: np.ndarray, s2: float, replications: float, alphas: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """S1, ST of the mean part and the seed's share, as shares of the variance of one run's output.

    ``s2`` is the variance of a row's output (a mean over ``replications`` runs) around the
    emulator, so one run's noise variance is ``replications * s2``.
    """
    noise = replications * s2
    total = c2.sum() + noise
    k = alphas.shape[1]
    if total <= 0:
        return np.zeros(k), np.zeros(k), 0.0
    has = alphas > 0
    alone = has & (has.sum(axis=1, keepdims=True) == 1)
    return (c2[:, None] * alone).sum(axis=0) / total, (c2[:, None] * has).sum(axis=0) / total, noise / total


def cv_r2(x_unit: np.ndarray, y: np.ndarray, degree: int, seed: int) -> float:
    """K-fold cross-validated R^2 of the degree-``degree`` emulator (folds drawn from ``seed``)."""
    alphas = multi_indices(x_unit.shape[1], degree)
    psi = basis(x_unit, alphas)
    folds = np.random.default_rng(seed).permutation(len(y)) % FOLDS
    press = 0.0
    for f in range(FOLDS):
        test = folds == f
        coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(int((~test).sum())), psi[~test]]), y[~test], rcond=None)
        pred = coef[0] + psi[test] @ coef[1:]
        press += float(((y[test] - pred) ** 2).sum())
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - press / total if total > 0 else float("nan")


def min_rows(k: int, min_rows_per_term: int = 10) -> int:
    """The fewest rows an emulator of ``k`` parameters is fitted on (degree 1)."""
    return (len(multi_indices(k, 1)) + 1) * min_rows_per_term


@dataclass(frozen=True)
class Emulated:
    """The emulator's indices of one output.

    ``indices`` has, per parameter, S1 and ST of the systematic part E[y | x] with their
    95% intervals and, when the number of replications per row was given, the same
    variances as shares of one run's variance (``S1_run``, ``ST_run``, with intervals):
    the convention for stochastic simulators that counts the random seed as one more
    input (Hart, Alexanderian and Gremaud 2017, "Efficient computation of Sobol' indices
    for stochastic models", SIAM/ASA Journal on Uncertainty Quantification 5). ``S1_run``
    is the stochastic model's first-order index Var(E[Y | X_i]) / Var(Y); ``ST_run`` counts
    X_i's interactions with the other parameters but not with the seed (those are in
    ``seed_share``, with the noise itself), so it is a lower bound of X_i's total index.
    """

    degree: int
    r2_cv: float  # share of the effect's variance explained by the parameters (cross-validated)
    indices: pd.DataFrame  # parameter, S1, S1_low, S1_high, ST, ST_low, ST_high (+ the _run columns)
    seed_share: float = float("nan")  # one run's variance due to the seed (replication noise), 0..1
    seed_share_low: float = float("nan")
    seed_share_high: float = float("nan")


def emulator_indices(
    x_unit: np.ndarray,
    y: np.ndarray,
    names: list[str],
    seed: int,
    max_degree: int = 4,
    min_rows_per_term: int = 10,
    resamples: int = 500,
    replications: float | None = None,
) -> Emulated:
    """First- and total-order Sobol indices of E[y | x] from a polynomial chaos emulator.

    Args:
        x_unit: the design rows in the unit cube (one row per observation of ``y``).
        y: the output at each row (for clustersim, a row's effect: mean over replications).
        names: the parameters' names, one per column of ``x_unit``.
        seed: seeds the cross-validation folds and the bootstrap (the same seed, the same result).
        max_degree: the largest total degree tried.
        min_rows_per_term: a degree is tried only with at least this many rows per basis term.
        resamples: bootstrap resamples for the 95% intervals.
        replications: runs averaged in each row's ``y``; given, the indices are also given as
            shares of one run's variance (the ``_run`` columns and the seed's share).
    """
    x = np.asarray(x_unit, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[1] != len(names):
        raise ValueError("x_unit must be (rows, parameters), with one value of y per row and one name per column")
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    k = x.shape[1]
    degrees = [d for d in range(1, max_degree + 1) if len(multi_indices(k, d)) + 1 <= len(y) / min_rows_per_term]
    if not degrees:
        raise ValueError(f"too few rows ({len(y)}) for an emulator of {k} parameters")
    scores = {d: cv_r2(x, y, d, seed) for d in degrees}
    best = max(scores.values())
    degree = min(d for d in degrees if scores[d] >= best - PARSIMONY)
    alphas = multi_indices(k, degree)
    fit = _Fit(basis(x, alphas))
    c2, s2 = fit.squares_and_noise(y)
    s1, st = _indices(c2, alphas)
    r = float(replications) if replications else 0.0
    r1, rT, noise_share = _run_indices(c2, s2, r, alphas)
    # wild bootstrap (Rademacher signs on the residuals): the design is fixed by construction
    # (Saltelli's rows), and the noise may differ across the parameter space
    fitted = fit.a @ fit.coef(y)
    resid = (y - fitted) * np.sqrt(len(y) / fit.dof)
    rng = np.random.default_rng([seed, 1])
    boot1, bootT = np.empty((resamples, k)), np.empty((resamples, k))
    run1, runT, runS = np.empty((resamples, k)), np.empty((resamples, k)), np.empty(resamples)
    for b in range(resamples):
        signs = rng.integers(0, 2, len(y)) * 2 - 1
        c2b, s2b = fit.squares_and_noise(fitted + signs * resid)
        boot1[b], bootT[b] = _indices(c2b, alphas)
        run1[b], runT[b], runS[b] = _run_indices(c2b, s2b, r, alphas)

    def interval(estimate: np.ndarray, boot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # the spread of the bootstrap around its own mean, placed around the estimate: fitted
        # values already hold the noise their terms absorbed, so a resample's indices are
        # shifted up for small indices (a bias, not a spread)
        lo, hi = (estimate + np.percentile(boot - boot.mean(axis=0), [2.5, 97.5], axis=0)).clip(0.0, 1.0)
        return lo, hi

    lo1, hi1 = interval(s1, boot1)
    loT, hiT = interval(st, bootT)
    table = pd.DataFrame(
        {"parameter": names, "S1": s1, "S1_low": lo1, "S1_high": hi1, "ST": st, "ST_low": loT, "ST_high": hiT}
    )
    if not r:
        return Emulated(degree=degree, r2_cv=float(scores[degree]), indices=table)
    (lr1, hr1), (lrT, hrT), (ls, hs) = interval(r1, run1), interval(rT, runT), interval(np.array(noise_share), runS)
    table = table.assign(S1_run=r1, S1_run_low=lr1, S1_run_high=hr1, ST_run=rT, ST_run_low=lrT, ST_run_high=hrT)
    return Emulated(
        degree=degree,
        r2_cv=float(scores[degree]),
        indices=table,
        seed_share=float(noise_share),
        seed_share_low=float(ls),
        seed_share_high=float(hs),
    )
