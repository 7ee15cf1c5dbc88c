"""The collaboration network of a run against a random graph of the same mean degree.

The stylised facts of inter-firm collaboration networks (skewed degrees, clustering, a
giant component) are read on the tie ledger's graph (:func:`tie_graph`) and set beside
their values on a random graph with the same mean degree (:func:`network_facts`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from clustersim.validation.spec import NETWORK_STATS


def power_law_alpha(degrees: np.ndarray, xmin: int) -> float:
    """Discrete maximum-likelihood tail exponent (Clauset, Shalizi and Newman 2009, eq. 3.7).

    ``alpha = 1 + n / sum(ln(k / (xmin - 1/2)))`` over the degrees ``k >= xmin``; NaN with
    fewer than 10 such degrees.
    """
    k = np.asarray(degrees, dtype=float)
    k = k[k >= xmin]
    if k.size < 10:
        return float("nan")
    return float(1.0 + k.size / np.log(k / (xmin - 0.5)).sum())


def truncated_poisson_lambda(mean_degree: float) -> float:
    """The Poisson rate whose zero-truncated mean is ``mean_degree`` (``lam / (1 - exp(-lam))``).

    The degrees of a random graph seen only on its nodes with at least one edge are
    zero-truncated Poisson; 0 when ``mean_degree <= 1``.
    """
    from scipy.optimize import brentq

    if not mean_degree > 1.0:
        return 0.0
    return float(brentq(lambda lam: lam / -math.expm1(-lam) - mean_degree, 1e-9, mean_degree + 50.0))


def poisson_tail_alpha(lam: float, xmin: int) -> float:
    """The limit of :func:`power_law_alpha` on Poisson(lam) degrees (an exponential-type tail)."""
    from scipy import stats

    k = np.arange(xmin, xmin + 200)
    w = stats.poisson.pmf(k, lam)
    if lam <= 0 or w.sum() <= 0:
        return float("nan")
    return float(1.0 + 1.0 / np.average(np.log(k / (xmin - 0.5)), weights=w))


def network_facts(graph: Any, tail_xmin: int = 3) -> dict[str, float]:
    """Stylised facts of a network against a random graph of the same density.

    The network is read on its nodes with at least one edge (isolated nodes are dropped),
    and so is the random reference: a random graph with Poisson(lam) degrees seen on its
    non-isolated nodes, with ``lam`` such that the mean degree is the same
    (:func:`truncated_poisson_lambda`). Its degree coefficient of variation is
    ``sqrt(<k> (1 + lam - <k>)) / <k>``; its giant component holds ``S / (1 - exp(-lam))``
    of those nodes, ``S`` solving ``S = 1 - exp(-lam S)``; its clustering is the density
    ``p = 2m / (n (n - 1))``; its assortativity 0; its tail exponent estimate
    ``power_law_alpha_random`` is what :func:`power_law_alpha` gives on Poisson degrees.

    Args:
        graph: a ``networkx.Graph``.
        tail_xmin: smallest degree of the tail for :func:`power_law_alpha`.

    Returns:
        The statistics of :data:`NETWORK_STATS` (NaN where undefined).
    """
    import networkx as nx
    from scipy.optimize import brentq

    nan = float("nan")
    graph = graph.subgraph([v for v, d in graph.degree() if d > 0])
    n, m = graph.number_of_nodes(), graph.number_of_edges()
    out = dict.fromkeys(NETWORK_STATS, nan)
    out["nodes"], out["edges"] = float(n), float(m)
    if n < 2 or m == 0:
        return out
    deg = np.array([d for _, d in graph.degree()], dtype=float)
    mean = float(deg.mean())
    p = 2.0 * m / (n * (n - 1.0))
    lam = truncated_poisson_lambda(mean)
    out["mean_degree"] = mean
    out["max_degree"] = float(deg.max())
    out["random_lambda"] = lam
    out["degree_cv"] = float(deg.std() / mean)
    cv_random = math.sqrt(max(mean * (1.0 + lam - mean), 0.0)) / mean
    out["degree_cv_random"] = cv_random
    out["degree_cv_ratio"] = out["degree_cv"] / cv_random if cv_random > 0 else nan
    out["power_law_alpha"] = power_law_alpha(deg, tail_xmin)
    out["power_law_alpha_random"] = poisson_tail_alpha(lam, tail_xmin)
    out["clustering"] = float(nx.average_clustering(graph))
    out["clustering_random"] = p
    out["clustering_ratio"] = out["clustering"] / p
    out["giant_share"] = max(len(c) for c in nx.connected_components(graph)) / n
    giant = float(brentq(lambda s: s - 1.0 + math.exp(-lam * s), 1e-12, 1.0)) if lam > 1 else 0.0
    out["giant_share_random"] = giant / -math.expm1(-lam) if lam > 0 else 0.0
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = float(nx.degree_assortativity_coefficient(graph))
        out["assortativity"] = r if math.isfinite(r) else nan
    except (ValueError, ZeroDivisionError):  # a regular graph has no degree variance
        out["assortativity"] = nan
    return out


def tie_graph(ties: pd.DataFrame, kinds: Sequence[str] = ("firm_firm",)) -> Any:
    """The simple undirected graph of the ties of ``kinds`` (repeated ties collapse into one edge)."""
    import networkx as nx

    sel = ties[ties["kind"].astype(str).isin(list(kinds))]
    g = nx.Graph()
    g.add_edges_from(
        (int(a), int(b)) for a, b in zip(sel["source"].to_numpy(), sel["target"].to_numpy(), strict=True) if a != b
    )
    return g


def random_degree_counts(n: int, lam: float, size: int) -> np.ndarray:
    """Expected nodes by degree of the random reference: ``n`` zero-truncated Poisson(lam) degrees."""
    from scipy import stats

    if n < 1 or not lam > 0:
        return np.zeros(size)
    pmf = stats.poisson.pmf(np.arange(size), lam) / -math.expm1(-lam)
    pmf[0] = 0.0
    return n * pmf
