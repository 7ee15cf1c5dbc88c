"""Validation: outputs that were not calibration targets, side by side with public figures.

The calibrated model (the default configuration) is run under the scenarios of a
validation specification (``conf/validation/piedmont.yaml``, a plain data file). Each
*item* of the specification names a measure read from one run (a summary KPI, members of
a cluster at a date, the outcome of the calls of one line, a share of members by size
class, a network statistic, a turnover comparison) and, where one exists, the public
figure it is compared with. Replication ``r`` of every scenario is child ``r`` of
``SeedSequence(seed)`` (the model's own seeding, ``cfg.seed`` and ``cfg.replication``), as
in the calibration. Each measure is summarised by its mean over replications, the 95%
t-interval of that mean and the 2.5-97.5 percentiles of the replications (where one
history would fall); the verdict says whether the public figure is matched.

Also here: the stylised facts of the collaboration network against a random graph of
the same density, the turnover growth of cluster firms and of joining firms against
never-members matched exactly on size class and primary domain, and the number of
replications needed for a given width of the confidence interval.

Command line: ``clustersim-validate [--reduced] [--out DIR] [--replications N]`` (see
:func:`main`). Method and results: ``docs/VALIDATION.md``. Nothing here is tuned to the
public figures: the model's parameters are those of the configuration.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from clustersim import atomic
from clustersim.config import SIZE_CLASSES, Config, config_dir, load_config, month_index, validate

logger = logging.getLogger(__name__)

DEFAULT_SPEC = "validation/piedmont.yaml"  # relative to the packaged conf/ folder
PUBLIC_KINDS: tuple[str, ...] = ("point", "lower_bound", "upper_bound", "range")
MEASURES: dict[str, tuple[str, ...]] = {
    # measure type -> its required keys
    "summary": ("kpi",),
    "cluster_members": ("date", "cluster"),
    "cluster_rank": ("date", "cluster"),
    "member_share": ("date", "sizes"),
    "sme_members_per_cluster": ("date",),
    "call_line": ("line", "stat"),
    "call": ("call", "stat"),
    "grants_awarded": ("until",),
    "projects_until": ("until",),
    "project_rule": ("rule", "value"),
    "turnover": ("stat",),
    "network": ("stat",),
}
CALL_STATS = (
    "proposals",
    "funded",
    "success_rate",
    "grants_eur_m",
    "budget_eur_m",
    "firms_per_project",
    "admitted_share",
    "oversubscription",
    "cross_cluster_share",
)
PROJECT_RULES = ("min_cost_eur", "max_duration_months", "max_aid_share")
TURNOVER_STATS = (
    "share_above_members",
    "share_above_matched",
    "share_above_gap_pp",
    "share_above_ratio",
    "growth_members_pct",
    "growth_matched_pct",
    "growth_gap_pp",
    "share_above_joiners",
    "share_above_joiners_matched",
    "joiners_share_gap_pp",
    "joiners_growth_gap_pp",
    "n_members",
    "n_joiners",
    "n_never",
)
NETWORK_STATS = (
    "nodes",
    "edges",
    "mean_degree",
    "max_degree",
    "degree_cv",
    "degree_cv_random",
    "degree_cv_ratio",
    "power_law_alpha",
    "power_law_alpha_random",
    "random_lambda",
    "clustering",
    "clustering_random",
    "clustering_ratio",
    "giant_share",
    "giant_share_random",
    "assortativity",
)
VERDICTS = ("within", "model high", "model low", "no public figure", "no model value")


class SpecError(ValueError):
    """A validation specification or argument that cannot be used; the message names the key."""


# --------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class Public:
    """A public figure: a point, a bound or a range.

    Attributes:
        kind: ``point``, ``lower_bound``, ``upper_bound`` or ``range``.
        value: the figure (the bound for a bound; unused for a range).
        low: lower end of a range.
        high: upper end of a range.
    """

    kind: str
    value: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")

    @property
    def reference(self) -> float:
        """The number the gap is measured from (the midpoint of a range)."""
        return 0.5 * (self.low + self.high) if self.kind == "range" else self.value

    def text(self) -> str:
        """The figure in words, e.g. ``> 200`` or ``2-3.5``."""
        if self.kind == "lower_bound":
            return f">= {_fmt(self.value)}"
        if self.kind == "upper_bound":
            return f"<= {_fmt(self.value)}"
        if self.kind == "range":
            return f"{_fmt(self.low)} to {_fmt(self.high)}"
        return _fmt(self.value)


@dataclass(frozen=True)
class Item:
    """One validation output: a measure of the model and, maybe, a public figure.

    Attributes:
        name: identifier.
        group: the heading it is reported under.
        label: what it is, in words.
        measure: the measure's type and keys (see :data:`MEASURES`).
        public: the public figure, or None.
        mark: ``C`` (stated in the source) or ``I`` (inferred: an assumption).
        tolerance: relative gap still read as "within".
        robust: also computed under the robustness scenarios.
        source: where the public figure comes from.
        note: how it is read.
    """

    name: str
    group: str
    label: str
    measure: Mapping[str, Any]
    public: Public | None = None
    mark: str = ""
    tolerance: float = 0.2
    robust: bool = False
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class ValidationSpec:
    """Items, scenarios and sizes of one validation."""

    name: str
    items: dict[str, Item]
    scenarios: dict[str, tuple[str, ...]]
    scenario_descriptions: dict[str, str]
    primary_scenario: str
    robustness_scenarios: tuple[str, ...]
    seed: int = 0
    replications: int = 30
    reduced_replications: int = 3
    reduced_overrides: tuple[str, ...] = ()
    snapshot_dates: tuple[str, ...] = ()
    network_kinds: tuple[str, ...] = ("firm_firm",)
    tail_xmin: int = 3
    turnover: Mapping[str, Any] = field(default_factory=dict)
    study_kpis: tuple[str, ...] = ()
    study_half_widths: tuple[float, ...] = (0.05, 0.02)
    path: str = ""


def _public(node: Any, where: str) -> Public | None:
    if node is None:
        return None
    if not isinstance(node, Mapping) or node.get("kind") not in PUBLIC_KINDS:
        raise SpecError(f"{where}.kind: got {node!r}; allowed: one of {list(PUBLIC_KINDS)} or public: null")
    if node["kind"] == "range":
        low, high = float(node["low"]), float(node["high"])
        if not low < high:
            raise SpecError(f"{where}: got low {low}, high {high}; allowed: low < high")
        return Public("range", low=low, high=high)
    value = float(node["value"])
    if not math.isfinite(value):
        raise SpecError(f"{where}.value: got {value}; allowed: a finite number")
    return Public(str(node["kind"]), value=value)


def _measure(node: Any, where: str) -> dict[str, Any]:
    if not isinstance(node, Mapping) or node.get("type") not in MEASURES:
        raise SpecError(f"{where}.type: got {node!r}; allowed: one of {sorted(MEASURES)}")
    m = dict(node)
    for key in MEASURES[m["type"]]:
        if key not in m:
            raise SpecError(f"{where}.{key}: missing; the measure {m['type']!r} needs {list(MEASURES[m['type']])}")
    for key in ("date", "until"):
        if key in m:
            month_index(str(m[key]), f"{where}.{key}")  # raises ConfigError (a ValueError)
    allowed = {
        "call_line": ("stat", CALL_STATS),
        "call": ("stat", CALL_STATS),
        "project_rule": ("rule", PROJECT_RULES),
        "turnover": ("stat", TURNOVER_STATS),
        "network": ("stat", NETWORK_STATS),
    }
    if m["type"] in allowed:
        key, values = allowed[m["type"]]
        if m[key] not in values:
            raise SpecError(f"{where}.{key}: got {m[key]!r}; allowed: one of {list(values)}")
    if m["type"] == "member_share":
        bad = [s for s in m["sizes"] if s not in SIZE_CLASSES]
        if bad or not m["sizes"]:
            raise SpecError(f"{where}.sizes: got {m['sizes']!r}; allowed: a list of {list(SIZE_CLASSES)}")
    return m


def spec_from_dict(data: Mapping[str, Any], path: str = "") -> ValidationSpec:
    """Build and check a :class:`ValidationSpec` from its YAML data.

    Args:
        data: the parsed YAML (see ``conf/validation/piedmont.yaml``).
        path: where it was read from (for messages and the record).

    Returns:
        The specification.

    Raises:
        SpecError: a missing or inconsistent entry, naming it.
    """
    if not isinstance(data, Mapping):
        raise SpecError(f"{path or 'spec'}: not a mapping")
    scenarios: dict[str, tuple[str, ...]] = {}
    descriptions: dict[str, str] = {}
    for name, node in (data.get("scenarios") or {}).items():
        node = node or {}
        scenarios[name] = tuple(str(o) for o in (node.get("overrides") or ()))
        descriptions[name] = " ".join(str(node.get("description", "")).split())
    primary = str(data.get("primary_scenario", ""))
    if primary not in scenarios:
        raise SpecError(f"primary_scenario: got {primary!r}; allowed: one of {sorted(scenarios)}")
    robust = tuple(data.get("robustness_scenarios") or ())
    for s in robust:
        if s not in scenarios or s == primary:
            raise SpecError(f"robustness_scenarios: got {s!r}; allowed: scenarios other than {primary!r}")
    default_tol = float(data.get("default_tolerance", 0.2))
    items: dict[str, Item] = {}
    for name, node in (data.get("items") or {}).items():
        where = f"items.{name}"
        measure = _measure(node.get("measure"), f"{where}.measure")
        public = _public(node.get("public"), f"{where}.public")
        mark = str(node.get("mark", "")) if public is not None else ""
        if public is not None and mark not in ("C", "I"):
            raise SpecError(f"{where}.mark: got {mark!r}; allowed: 'C' (stated in the source) or 'I' (inferred)")
        tol = float(node.get("tolerance", default_tol))
        if not tol >= 0:
            raise SpecError(f"{where}.tolerance: got {tol}; allowed: a number >= 0")
        is_robust = bool(node.get("robust", False))
        if is_robust and measure["type"] in ("turnover", "network"):
            raise SpecError(f"{where}.robust: turnover and network measures are computed for the primary scenario only")
        items[name] = Item(
            name=name,
            group=str(node.get("group", "other")),
            label=str(node.get("label", name)),
            measure=measure,
            public=public,
            mark=mark,
            tolerance=tol,
            robust=is_robust,
            source=" ".join(str(node.get("source", "")).split()),
            note=" ".join(str(node.get("note", "")).split()),
        )
    if not items:
        raise SpecError(f"{path or 'spec'}: needs at least one item")
    reduced = data.get("reduced") or {}
    net = data.get("network") or {}
    study = data.get("replications_study") or {}
    turnover = dict(data.get("turnover") or {})
    for key in ("start", "end", "joiners_from", "joiners_to"):
        if key in turnover:
            month_index(str(turnover[key]), f"turnover.{key}")
    if any(i.measure["type"] == "turnover" for i in items.values()):
        for key in ("start", "end", "joiners_from", "joiners_to", "threshold"):
            if key not in turnover:
                raise SpecError(f"turnover.{key}: missing; the turnover items need it")
        if not month_index(turnover["start"]) < month_index(turnover["end"]):
            raise SpecError(f"turnover.end: got {turnover['end']!r}; allowed: a month after turnover.start")
    spec = ValidationSpec(
        name=str(data.get("name", "validation")),
        items=items,
        scenarios=scenarios,
        scenario_descriptions=descriptions,
        primary_scenario=primary,
        robustness_scenarios=robust,
        seed=int(data.get("seed", 0)),
        replications=int(data.get("replications", 30)),
        reduced_replications=int(reduced.get("replications", 3)),
        reduced_overrides=tuple(str(o) for o in (reduced.get("overrides") or ())),
        snapshot_dates=tuple(str(d) for d in (data.get("snapshot_dates") or ())),
        network_kinds=tuple(net.get("kinds") or ("firm_firm",)),
        tail_xmin=int(net.get("tail_xmin", 3)),
        turnover=turnover,
        study_kpis=tuple(study.get("kpis") or ()),
        study_half_widths=tuple(float(h) for h in (study.get("half_widths") or (0.05, 0.02))),
        path=path,
    )
    for key, value in (("replications", spec.replications), ("reduced.replications", spec.reduced_replications)):
        if value < 2:
            raise SpecError(f"{key}: got {value}; allowed: an integer >= 2 (a CI needs two replications)")
    if spec.seed < 0:
        raise SpecError(f"seed: got {spec.seed}; allowed: an integer >= 0")
    for d in spec.snapshot_dates:
        month_index(d, "snapshot_dates")
    snap_types = ("member_share", "sme_members_per_cluster")
    needed = {str(i.measure["date"]) for i in items.values() if i.measure["type"] in snap_types}
    missing = sorted(needed - set(spec.snapshot_dates))
    if missing:
        raise SpecError(f"snapshot_dates: missing {missing}; the {' and '.join(snap_types)} items need them")
    return spec


def load_spec(path: str | Path | None = None) -> ValidationSpec:
    """Read a validation specification (default: the packaged ``conf/validation/piedmont.yaml``)."""
    p = Path(path) if path is not None else Path(config_dir()) / DEFAULT_SPEC
    with open(p) as fh:
        data = yaml.safe_load(fh)
    return spec_from_dict(data, str(p))


# --------------------------------------------------------------------------- statistics
def ci95(values: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """Mean and two-sided 95% t interval of the mean over replications.

    Args:
        values: one value per replication (non-finite values are ignored).

    Returns:
        ``(mean, low, high)``; the interval is NaN with fewer than two finite values, the
        mean NaN with none.
    """
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half


def replication_range(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """The 2.5 and 97.5 percentiles of the replications (where one history would fall)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(v, [2.5, 97.5])
    return float(lo), float(hi)


def verdict(
    mean: float, range_low: float, range_high: float, public: Public | None, tolerance: float
) -> tuple[float, float, str]:
    """Gap of the model mean to a public figure and the verdict in plain words.

    Point figure: "within" when the figure lies in ``[range_low, range_high]`` (the
    model's replication range) or ``|mean - figure| <= tolerance * |figure|``; else "model
    high" or "model low". Lower (upper) bound: "within" when the mean is at least (at
    most) ``bound * (1 -+ tolerance)``. Range: "within" when the mean lies in it.

    Args:
        mean: the model's mean over replications.
        range_low: 2.5 percentile of the replications.
        range_high: 97.5 percentile of the replications.
        public: the public figure, or None.
        tolerance: the relative gap still read as "within".

    Returns:
        ``(absolute gap, relative gap, verdict)``; the gaps are measured from the figure
        (the midpoint of a range) and are NaN without a figure.
    """
    if public is None:
        return float("nan"), float("nan"), "no public figure"
    if not math.isfinite(mean):
        return float("nan"), float("nan"), "no model value"
    ref = public.reference
    gap = mean - ref
    rel = gap / abs(ref) if ref != 0 else float("nan")
    if public.kind == "point":
        inside = math.isfinite(range_low) and range_low <= ref <= range_high
        close = abs(gap) <= tolerance * abs(ref) + 1e-12
        word = "within" if inside or close else ("model high" if gap > 0 else "model low")
    elif public.kind == "lower_bound":
        word = "within" if mean >= ref - tolerance * abs(ref) else "model low"
    elif public.kind == "upper_bound":
        word = "within" if mean <= ref + tolerance * abs(ref) else "model high"
    else:
        word = "within" if public.low <= mean <= public.high else ("model high" if mean > public.high else "model low")
    return float(gap), float(rel), word


def half_width_curve(values: Sequence[float] | np.ndarray) -> pd.DataFrame:
    """Half-width of the 95% CI of the mean with the first n replications, n = 2..N.

    Args:
        values: one value per replication, in replication order.

    Returns:
        Columns ``n``, ``mean``, ``half_width``, ``relative_half_width`` (half-width over
        the absolute mean; NaN when the mean is 0).
    """
    from scipy import stats

    v = np.asarray(values, dtype=float)
    rows = []
    for n in range(2, v.size + 1):
        x = v[:n]
        x = x[np.isfinite(x)]
        if x.size < 2:
            rows.append((n, float("nan"), float("nan"), float("nan")))
            continue
        mean = float(x.mean())
        half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
        rel = half / abs(mean) if mean != 0 else float("nan")
        rows.append((n, mean, half, rel))
    return pd.DataFrame(rows, columns=["n", "mean", "half_width", "relative_half_width"])


def replications_needed(values: Sequence[float] | np.ndarray, target: float, n_max: int = 100_000) -> dict[str, float]:
    """Replications for a 95% CI half-width of at most ``target`` times the mean.

    Args:
        values: one value per replication, in replication order.
        target: the relative half-width wanted (e.g. 0.05).
        n_max: give up (return inf) beyond this many replications.

    Returns:
        ``observed``: the first n from which the running relative half-width stays at or
        below ``target`` up to the N replications run (NaN if it is not reached);
        ``projected``: the smallest n with ``t(0.975, n-1) * s / (sqrt(n) |mean|) <= target``
        using the standard deviation and mean of all N replications (inf beyond
        ``n_max``; 2 when the values do not vary; NaN when the mean is 0 or unknown).
    """
    from scipy import stats

    curve = half_width_curve(values)
    rel = curve["relative_half_width"].to_numpy()
    ok = np.isfinite(rel) & (rel <= target)
    observed = float("nan")
    if ok.size and ok[-1]:
        bad = np.flatnonzero(~ok)
        first = 0 if bad.size == 0 else int(bad[-1]) + 1
        observed = float(curve["n"].iloc[first])
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    projected = float("nan")
    if v.size >= 2 and v.mean() != 0:
        ratio = v.std(ddof=1) / abs(v.mean())
        if ratio == 0:
            projected = 2.0
        else:
            n = max(2, math.ceil((1.959964 * ratio / target) ** 2))
            while n <= n_max and stats.t.ppf(0.975, n - 1) * ratio / math.sqrt(n) > target:
                n += 1
            projected = float(n) if n <= n_max else float("inf")
    return {"observed": observed, "projected": projected}


def matched_comparison(
    outcome: np.ndarray, treated: np.ndarray, control: np.ndarray, cells: np.ndarray, threshold: float
) -> dict[str, float]:
    """Treated firms against control firms matched exactly on a cell (e.g. size x domain).

    Controls are reweighted to the treated firms' distribution over the cells they share
    (the effect on the treated): in each cell the control mean counts as many times as
    there are treated firms. Treated firms in cells without a control are left out.

    Args:
        outcome: the outcome per firm (e.g. growth, 0.1 for +10%).
        treated: boolean mask of treated firms.
        control: boolean mask of control firms.
        cells: integer cell per firm.
        threshold: the level for the shares "outcome > threshold".

    Returns:
        ``n_treated``, ``n_control``, ``n_treated_matched`` (treated in shared cells),
        ``mean_treated``, ``mean_control`` (matched), ``share_treated``, ``share_control``
        (matched shares above ``threshold``); NaN means when no cell is shared.
    """
    outcome = np.asarray(outcome, dtype=float)
    ok = np.isfinite(outcome)
    t = np.asarray(treated, dtype=bool) & ok
    c = np.asarray(control, dtype=bool) & ok
    cells = np.asarray(cells, dtype=np.int64)
    k = int(cells.max()) + 1 if cells.size else 1
    nt = np.bincount(cells[t], minlength=k)
    nc = np.bincount(cells[c], minlength=k)
    above = (outcome > threshold).astype(float)
    st = np.bincount(cells[t], weights=outcome[t], minlength=k)
    sc = np.bincount(cells[c], weights=outcome[c], minlength=k)
    at = np.bincount(cells[t], weights=above[t], minlength=k)
    ac = np.bincount(cells[c], weights=above[c], minlength=k)
    both = (nt > 0) & (nc > 0)
    out = {"n_treated": float(t.sum()), "n_control": float(c.sum()), "n_treated_matched": float(nt[both].sum())}
    if not both.any():
        out.update(mean_treated=np.nan, mean_control=np.nan, share_treated=np.nan, share_control=np.nan)
        return out
    w = nt[both].astype(float)
    out["mean_treated"] = float(st[both].sum() / w.sum())
    out["share_treated"] = float(at[both].sum() / w.sum())
    out["mean_control"] = float(np.average(sc[both] / nc[both], weights=w))
    out["share_control"] = float(np.average(ac[both] / nc[both], weights=w))
    return out


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


def _poisson_tail_alpha(lam: float, xmin: int) -> float:
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
    out["power_law_alpha_random"] = _poisson_tail_alpha(lam, tail_xmin)
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


# ------------------------------------------------------------------------- the model runs
@dataclass
class RunRecord:
    """What one run leaves for the measures: its tables, its calls and membership snapshots.

    Attributes:
        summary: the end-of-run summary table.
        monthly: the monthly table.
        projects: one row per funded project.
        ties: the tie ledger.
        calls: one row per call in the run: ``name``, ``line``, ``closes`` (model month),
            ``submitted``, ``admitted``, ``funded``, ``budget_eur``, ``grants_eur``,
            ``requested_eur`` (grants asked by the submitted proposals), ``cross_cluster``
            (submitted proposals whose partners come from two or more clusters).
        snapshots: per ``YYYY-MM``: ``member_of`` (cluster index per firm at the end of
            that month) and ``keys`` (the keys of the clusters in force then).
        size_class: size class per firm (fixed).
        start_index: months since year 0 of the run's first month.
        report_month: the model month the report window opens.
    """

    summary: pd.DataFrame
    monthly: pd.DataFrame
    projects: pd.DataFrame
    ties: pd.DataFrame
    calls: pd.DataFrame
    snapshots: dict[str, dict[str, Any]]
    size_class: np.ndarray
    start_index: int
    report_month: int

    def month(self, date: str) -> int:
        """Model month of ``YYYY-MM``."""
        return month_index(date) - self.start_index


def run_record(cfg: Config, snapshot_dates: Sequence[str] = ()) -> RunRecord:
    """Run the model once (as :func:`clustersim.runner.simulate` does) and keep what the measures need.

    Membership snapshots only read state, so the run's random stream and tables are those
    of ``simulate(cfg)``.

    Args:
        cfg: the run's configuration.
        snapshot_dates: months (``YYYY-MM``) at whose end membership is recorded.

    Returns:
        The :class:`RunRecord`.
    """
    from clustersim.metrics import summary
    from clustersim.model import ClusterModel
    from clustersim.runner import mark_undefined

    model = ClusterModel(cfg)
    state = model.state
    wanted = {month_index(d) - state.start_index: d for d in snapshot_dates}
    snapshots: dict[str, dict[str, Any]] = {}
    for _ in range(state.n_months):
        model.step()
        if state.month in wanted:
            snapshots[wanted[state.month]] = {
                "member_of": state.firms.member_of.copy(),
                "keys": [c.key for c in state.cmos],
            }
    for account in model.accounts():
        account.check()
    projects = pd.DataFrame(state.projects)
    if projects.empty:
        cols = ("call", "line", "month", "n_firms", "duration_months", "cost_cents", "grant_cents", "in_report_window")
        projects = pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    rows = []
    for c in state.region.calls:
        submitted = [p for p in state.proposals if p.call == c.cfg.name and not p.withdrawn]
        rows.append(
            {
                "name": c.cfg.name,
                "line": c.line,
                "closes": c.closes,
                "submitted": c.submitted,
                "admitted": c.admitted,
                "funded": c.funded,
                "budget_eur": c.account.allocated / 100.0,
                "grants_eur": c.account.spent / 100.0,
                "requested_eur": sum(p.requested_grant_cents for p in submitted) / 100.0,
                "cross_cluster": sum(p.n_clusters >= 2 for p in submitted),
            }
        )
    columns = ["name", "line", "closes", "submitted", "admitted", "funded", "budget_eur", "grants_eur"]
    calls = pd.DataFrame(rows, columns=[*columns, "requested_eur", "cross_cluster"])
    return RunRecord(
        summary=mark_undefined(summary(state, model.recorder)),
        monthly=model.recorder.monthly_table(),
        projects=projects,
        ties=state.ledger.to_frame(),
        calls=calls,
        snapshots=snapshots,
        size_class=state.firms.size_class.copy(),
        start_index=state.start_index,
        report_month=state.report_month,
    )


def turnover_run(cfg: Config, turnover: Mapping[str, Any]) -> dict[str, float]:
    """Turnover growth of cluster firms and joiners against matched never-members (one run).

    The model is run month by month; at the end of ``turnover.start`` and ``turnover.end``
    every firm's booked turnover is read (turnover is booked at each year's end, so these
    months should be Decembers; reading draws nothing).
    Groups: *members* are members at the end of ``start``; *joiners* first joined after
    ``joiners_from`` and by the end of ``joiners_to``; the controls are firms never members
    up to ``end``, matched exactly on size class x primary domain
    (:func:`matched_comparison`).

    Args:
        cfg: the run's configuration.
        turnover: the specification's ``turnover`` block.

    Returns:
        The statistics of :data:`TURNOVER_STATS` (growth in percent, gaps in points).
    """
    from clustersim.model import ClusterModel

    model = ClusterModel(cfg)
    state = model.state
    f = state.firms
    at = {k: month_index(str(turnover[k])) - state.start_index for k in ("start", "end", "joiners_from", "joiners_to")}
    if at["end"] >= state.n_months or min(at.values()) < 0:
        raise SpecError(f"turnover: dates {dict(turnover)} fall outside the run ({cfg.start}..{cfg.end})")
    seen: dict[str, Any] = {}
    for _ in range(state.n_months):
        model.step()
        mo = state.month
        if mo == at["joiners_from"]:
            seen["ever_from"] = f.ever_member.copy()
        if mo == at["joiners_to"]:
            seen["ever_to"] = f.ever_member.copy()
        if mo == at["start"]:
            seen["t0"] = f.turnover_eur.copy()
            seen["member_start"] = f.member_of >= 0
        if mo == at["end"]:
            seen["t1"] = f.turnover_eur.copy()
            seen["ever_end"] = f.ever_member.copy()
            break
    growth = seen["t1"] / seen["t0"] - 1.0
    cells = f.size_class.astype(np.int64) * state.n_domains + f.primary_domain
    never = ~seen["ever_end"]
    joiners = ~seen["ever_from"] & seen["ever_to"]
    thr = float(turnover["threshold"])
    mem = matched_comparison(growth, seen["member_start"], never, cells, thr)
    joi = matched_comparison(growth, joiners, never, cells, thr)
    ratio = mem["share_treated"] / mem["share_control"] if mem["share_control"] else float("nan")
    return {
        "share_above_members": mem["share_treated"],
        "share_above_matched": mem["share_control"],
        "share_above_gap_pp": 100.0 * (mem["share_treated"] - mem["share_control"]),
        "share_above_ratio": ratio,
        "growth_members_pct": 100.0 * mem["mean_treated"],
        "growth_matched_pct": 100.0 * mem["mean_control"],
        "growth_gap_pp": 100.0 * (mem["mean_treated"] - mem["mean_control"]),
        "share_above_joiners": joi["share_treated"],
        "share_above_joiners_matched": joi["share_control"],
        "joiners_share_gap_pp": 100.0 * (joi["share_treated"] - joi["share_control"]),
        "joiners_growth_gap_pp": 100.0 * (joi["mean_treated"] - joi["mean_control"]),
        "n_members": mem["n_treated"],
        "n_joiners": joi["n_treated"],
        "n_never": mem["n_control"],
    }


# ----------------------------------------------------------------------------- measures
def _monthly_value(rec: RunRecord, kpi: str, cluster: str, date: str) -> float:
    mon = rec.monthly
    sel = mon[(mon["kpi"] == kpi) & (mon["cluster"] == cluster) & (mon["month"] == rec.month(date))]
    return float(sel["value"].iloc[-1]) if len(sel) else float("nan")


def _call_stat(rec: RunRecord, line: str, stat: str, call: str | None = None) -> float:
    if call is not None:
        calls = rec.calls[rec.calls["name"] == call]
    else:
        calls = rec.calls[(rec.calls["closes"] >= rec.report_month) & (rec.calls["line"] == line)]
    if stat == "firms_per_project":
        p = rec.projects
        sel = p[p["call"] == call] if call is not None else p[p["in_report_window"].astype(bool) & (p["line"] == line)]
        return float(sel["n_firms"].mean()) if len(sel) else float("nan")
    if calls.empty:
        return float("nan")
    submitted, funded = float(calls["submitted"].sum()), float(calls["funded"].sum())
    budget = float(calls["budget_eur"].sum())

    def ratio(a: float, b: float) -> float:
        return a / b if b else float("nan")

    return {
        "proposals": submitted,
        "funded": funded,
        "success_rate": ratio(funded, submitted),
        "grants_eur_m": float(calls["grants_eur"].sum()) / 1e6,
        "budget_eur_m": budget / 1e6,
        "admitted_share": ratio(float(calls["admitted"].sum()), submitted),
        "oversubscription": ratio(float(calls["requested_eur"].sum()), budget),
        "cross_cluster_share": ratio(float(calls["cross_cluster"].sum()), submitted),
    }[stat]


def _project_rule(rec: RunRecord, rule: str, value: float) -> float:
    p = rec.projects
    p = p[p["in_report_window"].astype(bool)]
    if p.empty:
        return float("nan")
    cost = p["cost_cents"].to_numpy(dtype=float)
    if rule == "min_cost_eur":
        ok = cost / 100.0 >= value
    elif rule == "max_duration_months":
        ok = p["duration_months"].to_numpy(dtype=float) <= value
    else:
        ok = p["grant_cents"].to_numpy(dtype=float) <= value * cost + 1e-6
    return float(np.mean(ok))


def measure(
    rec: RunRecord,
    spec_measure: Mapping[str, Any],
    network: Mapping[str, float] | None = None,
    turnover: Mapping[str, float] | None = None,
) -> float:
    """The value of one measure in one run (NaN when the run has nothing to measure).

    Args:
        rec: the run.
        spec_measure: the item's ``measure`` mapping (type and keys, see :data:`MEASURES`).
        network: the run's :func:`network_facts` (for ``network`` measures).
        turnover: the run's :func:`turnover_run` statistics (for ``turnover`` measures).

    Returns:
        The value.
    """
    m = spec_measure
    kind = m["type"]
    scale = float(m.get("scale", 1.0))
    if kind == "summary":
        s = rec.summary
        sel = s[(s["kpi"] == m["kpi"]) & (s["cluster"] == str(m.get("cluster", "all")))]
        return float(sel["value"].iloc[-1]) * scale if len(sel) else float("nan")
    if kind == "cluster_members":
        return _monthly_value(rec, "members", str(m["cluster"]), str(m["date"])) * scale
    if kind == "cluster_rank":
        mon = rec.monthly
        sel = mon[(mon["kpi"] == "members") & (mon["cluster"] != "all") & (mon["month"] == rec.month(str(m["date"])))]
        ranks = sel.set_index("cluster")["value"].rank(ascending=False, method="average")
        rank = float(ranks.get(str(m["cluster"]), float("nan")))
        if "equals" in m and math.isfinite(rank):  # an indicator: its mean is a share of replications
            return float(rank == float(m["equals"]))
        return rank
    if kind in ("member_share", "sme_members_per_cluster"):
        snap = rec.snapshots.get(str(m["date"]))
        if snap is None:
            return float("nan")
        member_of = snap["member_of"]
        if kind == "sme_members_per_cluster":
            sme = (member_of >= 0) & (rec.size_class != SIZE_CLASSES.index("large"))
            counts = np.bincount(member_of[sme].astype(np.int64), minlength=len(snap["keys"]))
            return float(counts.mean()) * scale if len(snap["keys"]) else float("nan")
        cluster = str(m.get("cluster", "all"))
        if cluster == "all":
            members = member_of >= 0
        elif cluster in snap["keys"]:
            members = member_of == snap["keys"].index(cluster)
        else:
            return float("nan")
        if not members.any():
            return float("nan")
        sizes = [SIZE_CLASSES.index(s) for s in m["sizes"]]
        return float(np.isin(rec.size_class[members], sizes).mean())
    if kind == "call_line":
        return _call_stat(rec, str(m["line"]), str(m["stat"])) * scale
    if kind == "call":
        return _call_stat(rec, "", str(m["stat"]), call=str(m["call"])) * scale
    if kind == "projects_until":
        p = rec.projects
        return float((p["month"] <= rec.month(str(m["until"]))).sum()) * scale
    if kind == "grants_awarded":
        p = rec.projects
        sel = p[p["month"] <= rec.month(str(m["until"]))]
        return float(sel["grant_cents"].sum()) / 1e8 * scale  # EUR M
    if kind == "project_rule":
        return _project_rule(rec, str(m["rule"]), float(m["value"]))
    if kind == "network":
        return float((network or {}).get(str(m["stat"]), float("nan"))) * scale
    if kind == "turnover":
        return float((turnover or {}).get(str(m["stat"]), float("nan"))) * scale
    raise SpecError(f"measure.type: got {kind!r}; allowed: one of {sorted(MEASURES)}")


# --------------------------------------------------------------------------- validation
@dataclass
class ValidationResult:
    """What a validation found.

    Attributes:
        spec: the specification used.
        reduced: whether the reduced sizes were used.
        replications: replications per scenario.
        per_replication: long table ``scenario, replication, item, value``.
        table: the side-by-side comparison (primary scenario).
        robustness: the robust items under every scenario (mean and 95% CI).
        network: the network statistics with their random-graph references.
        turnover: the turnover comparison.
        study_curve: relative CI half-width against the number of replications, per KPI.
        study_needed: replications needed for each target half-width, per KPI.
        degree_counts: firms by degree, summed over the primary scenario's replications.
        random_degree_counts: the same for the random references (expected counts).
        cluster_sizes: members per cluster at the snapshot dates, one row per replication.
        seconds: wall time.
    """

    spec: ValidationSpec
    reduced: bool
    replications: int
    per_replication: pd.DataFrame
    table: pd.DataFrame
    robustness: pd.DataFrame
    network: pd.DataFrame
    turnover: pd.DataFrame
    study_curve: pd.DataFrame
    study_needed: pd.DataFrame
    degree_counts: np.ndarray
    random_degree_counts: np.ndarray
    cluster_sizes: pd.DataFrame
    seconds: float


def scenario_config(overrides: Sequence[str], seed: int, replication: int) -> Config:
    """The validated configuration of one run of a scenario."""
    cfg = copy.deepcopy(_base_config(tuple(overrides)))
    cfg.seed = int(seed)
    cfg.replication = int(replication)
    cfg.progress = False
    return validate(cfg)


_BASE: dict[tuple[str, ...], Config] = {}


def _base_config(overrides: tuple[str, ...]) -> Config:
    """Compose a scenario's configuration once (Hydra composition is the slow part)."""
    if overrides not in _BASE:
        _BASE[overrides] = load_config(list(overrides))
    return _BASE[overrides]


def comparison_table(spec: ValidationSpec, values: pd.DataFrame) -> pd.DataFrame:
    """The side-by-side table: public figure, model mean with its CI and range, gap and verdict.

    Args:
        spec: the specification (items in order).
        values: one row per replication, one column per item.

    Returns:
        One row per item of ``values``.
    """
    rows = []
    for name, item in spec.items.items():
        if name not in values:
            continue
        col = values[name].to_numpy(dtype=float)
        mean, lo, hi = ci95(col)
        rlo, rhi = replication_range(col)
        gap, rel, word = verdict(mean, rlo, rhi, item.public, item.tolerance)
        rows.append(
            {
                "item": name,
                "group": item.group,
                "label": item.label,
                "public": item.public.text() if item.public else "",
                "public_value": item.public.reference if item.public else float("nan"),
                "mark": item.mark,
                "model_mean": mean,
                "ci95_low": lo,
                "ci95_high": hi,
                "range95_low": rlo,
                "range95_high": rhi,
                "gap": gap,
                "relative_gap": rel,
                "tolerance": item.tolerance if item.public else float("nan"),
                "verdict": word,
                "replications": int(np.isfinite(col).sum()),
                "source": item.source,
                "note": item.note,
            }
        )
    return pd.DataFrame(rows)


def _network_table(per_rep: list[dict[str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(per_rep)
    pairs = (
        ("nodes", None, "firms with at least one tie"),
        ("edges", None, "distinct partner pairs"),
        ("mean_degree", None, "partners per connected firm"),
        ("max_degree", None, "most partners of one firm"),
        ("degree_cv", "degree_cv_random", "coefficient of variation of degree"),
        ("power_law_alpha", "power_law_alpha_random", "tail exponent estimate (degree >= xmin)"),
        ("clustering", "clustering_random", "average clustering coefficient"),
        ("giant_share", "giant_share_random", "share of connected firms in the giant component"),
        ("assortativity", None, "degree assortativity (random graph: 0)"),
    )
    rows = []
    for stat, ref, what in pairs:
        if stat not in frame:
            continue
        mean, lo, hi = ci95(frame[stat])
        rmean = ci95(frame[ref])[0] if ref and ref in frame else (0.0 if stat == "assortativity" else float("nan"))
        rows.append(
            {"statistic": stat, "meaning": what, "model_mean": mean, "ci95_low": lo, "ci95_high": hi, "random": rmean}
        )
    return pd.DataFrame(rows)


def _turnover_table(per_rep: list[dict[str, float]], spec: ValidationSpec) -> pd.DataFrame:
    frame = pd.DataFrame(per_rep)
    public = {
        i.measure["stat"]: i.public.reference
        for i in spec.items.values()
        if i.measure["type"] == "turnover" and i.public is not None
    }
    rows = []
    for stat in TURNOVER_STATS:
        if stat not in frame:
            continue
        mean, lo, hi = ci95(frame[stat])
        pub = public.get(stat)
        rows.append({"statistic": stat, "model_mean": mean, "ci95_low": lo, "ci95_high": hi, "public": pub})
    return pd.DataFrame(rows)


def _study(spec: ValidationSpec, kpi_values: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    curves, needed = [], []
    for kpi in kpi_values.columns:
        v = kpi_values[kpi].to_numpy(dtype=float)
        c = half_width_curve(v)
        c.insert(0, "kpi", kpi)
        curves.append(c)
        mean, _, _ = ci95(v)
        row: dict[str, Any] = {"kpi": kpi, "mean": mean, "sd": float(np.nanstd(v, ddof=1)) if v.size > 1 else np.nan}
        row["relative_half_width_at_N"] = float(c["relative_half_width"].iloc[-1]) if len(c) else float("nan")
        for h in spec.study_half_widths:
            r = replications_needed(v, h)
            row[f"observed_n_{h:g}"] = r["observed"]
            row[f"projected_n_{h:g}"] = r["projected"]
        needed.append(row)
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    return curve, pd.DataFrame(needed)


def _random_degree_counts(n: int, lam: float, size: int) -> np.ndarray:
    """Expected nodes by degree of the random reference: ``n`` zero-truncated Poisson(lam) degrees."""
    from scipy import stats

    if n < 1 or not lam > 0:
        return np.zeros(size)
    pmf = stats.poisson.pmf(np.arange(size), lam) / -math.expm1(-lam)
    pmf[0] = 0.0
    return n * pmf


def validate_model(
    spec: ValidationSpec, reduced: bool = False, replications: int | None = None, progress: bool = True
) -> ValidationResult:
    """Run the validation: every scenario's replications, the measures and the tables.

    Runs are serial (one process). The primary scenario's runs give every item, the network
    facts, the turnover comparison (one extra run per replication) and the replications
    study; the robustness scenarios' runs give the items marked ``robust``.

    Args:
        spec: the specification (:func:`load_spec`).
        reduced: use the reduced sizes and overrides (a quick end-to-end run).
        replications: replications per scenario (default: the specification's).
        progress: show a progress bar on stderr.

    Returns:
        The :class:`ValidationResult`.
    """
    t0 = time.perf_counter()
    n_rep = int(replications or (spec.reduced_replications if reduced else spec.replications))
    if n_rep < 2:
        raise SpecError(f"replications: got {n_rep}; allowed: an integer >= 2")
    extra = spec.reduced_overrides if reduced else ()
    scenarios = [spec.primary_scenario, *spec.robustness_scenarios]
    needs_turnover = any(i.measure["type"] == "turnover" for i in spec.items.values())
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_rep * len(scenarios), desc="validation", unit="run")
    rows: list[tuple[str, int, str, float]] = []
    net_rows: list[dict[str, float]] = []
    turn_rows: list[dict[str, float]] = []
    kpi_rows: list[dict[str, float]] = []
    size_rows: list[dict[str, Any]] = []
    degree_counts = np.zeros(1)
    random_counts = np.zeros(1)
    try:
        for scenario in scenarios:
            primary = scenario == spec.primary_scenario
            overrides = (*spec.scenarios[scenario], *extra)
            items = [i for i in spec.items.values() if primary or i.robust]
            for r in range(n_rep):
                cfg = scenario_config(overrides, spec.seed, r)
                rec = run_record(cfg, spec.snapshot_dates)
                net: dict[str, float] | None = None
                turn: dict[str, float] | None = None
                if primary:
                    g = tie_graph(rec.ties, spec.network_kinds)
                    net = network_facts(g, spec.tail_xmin)
                    net_rows.append(net)
                    deg = np.bincount(np.array([d for _, d in g.degree()], dtype=np.int64), minlength=1)
                    size = max(deg.size, degree_counts.size)
                    degree_counts = np.pad(degree_counts, (0, size - degree_counts.size)) + np.pad(
                        deg, (0, size - deg.size)
                    )
                    rnd = _random_degree_counts(int(net["nodes"]), float(net["random_lambda"]), size)
                    random_counts = np.pad(random_counts, (0, size - random_counts.size)) + rnd
                    if needs_turnover:
                        turn = turnover_run(cfg, spec.turnover)
                        turn_rows.append(turn)
                    s = rec.summary[rec.summary["cluster"] == "all"].set_index("kpi")["value"]
                    kpi_rows.append({k: float(s.get(k, np.nan)) for k in spec.study_kpis})
                    mon = rec.monthly
                    per_cluster = mon[(mon["kpi"] == "members") & (mon["cluster"] != "all")]
                    for d in spec.snapshot_dates:
                        sel = per_cluster[per_cluster["month"] == rec.month(d)]
                        for cl, v in zip(sel["cluster"], sel["value"], strict=True):
                            size_rows.append({"replication": r, "date": d, "cluster": cl, "members": float(v)})
                for item in items:
                    rows.append((scenario, r, item.name, measure(rec, item.measure, net, turn)))
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    per_rep = pd.DataFrame(rows, columns=["scenario", "replication", "item", "value"])
    wide = per_rep.pivot_table(index=["scenario", "replication"], columns="item", values="value", dropna=False)
    prim = wide.loc[spec.primary_scenario]
    table = comparison_table(spec, prim)
    rob_rows = []
    for name, item in spec.items.items():
        if not item.robust:
            continue
        row: dict[str, Any] = {"item": name, "label": item.label}
        for sc in scenarios:
            mean, lo, hi = ci95(wide.loc[sc][name]) if name in wide.columns else (np.nan, np.nan, np.nan)
            row[f"{sc}_mean"], row[f"{sc}_ci95_low"], row[f"{sc}_ci95_high"] = mean, lo, hi
        rob_rows.append(row)
    curve, needed = _study(spec, pd.DataFrame(kpi_rows, columns=list(spec.study_kpis)))
    return ValidationResult(
        spec=spec,
        reduced=reduced,
        replications=n_rep,
        per_replication=per_rep,
        table=table,
        robustness=pd.DataFrame(rob_rows),
        network=_network_table(net_rows),
        turnover=_turnover_table(turn_rows, spec),
        study_curve=curve,
        study_needed=needed,
        degree_counts=degree_counts,
        random_degree_counts=random_counts,
        cluster_sizes=pd.DataFrame(size_rows, columns=["replication", "date", "cluster", "members"]),
        seconds=time.perf_counter() - t0,
    )


# -------------------------------------------------------------------------- outputs
def _fmt(x: Any) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    x = float(x)
    if not math.isfinite(x):
        return "n/a" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if x == int(x):
        return f"{int(x)}"
    return f"{x:.3g}"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> list[str]:
    align = align or "|" + "---|" * len(header)
    out = ["| " + " | ".join(header) + " |", align]
    out += ["| " + " | ".join(_fmt(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return out


def comparison_markdown(table: pd.DataFrame) -> str:
    """The side-by-side table as Markdown, one section per group."""
    lines: list[str] = []
    for group, part in table.groupby("group", sort=False):
        lines += ["", f"**{group}**", ""]
        rows = []
        for r in part.itertuples(index=False):
            ci = f"[{_fmt(r.ci95_low)}, {_fmt(r.ci95_high)}]"
            rng = f"[{_fmt(r.range95_low)}, {_fmt(r.range95_high)}]"
            pub = f"{r.public} ({r.mark})" if r.public else "no public figure"
            gap = f"{r.relative_gap:+.0%}" if math.isfinite(r.relative_gap) else ""
            rows.append([r.label, pub, _fmt(r.model_mean), ci, rng, gap, r.verdict])
        lines += _md_table(
            ["output", "public figure", "model mean", "95% CI of mean", "95% of replications", "gap", "verdict"],
            rows,
            "|---|---:|---:|---|---|---:|---|",
        )
    return "\n".join(lines).strip() + "\n"


def _shown_path(path: str) -> str:
    """A path relative to the working directory when it lies under it (for the written report)."""
    if not path:
        return ""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def report_markdown(result: ValidationResult) -> str:
    """Every table of a validation as one Markdown page (``validation.md`` in the results)."""
    spec = result.spec
    lines = [
        f"# Validation results: {spec.name}",
        "",
        ("REDUCED run (small population): not comparable with the public figures. " if result.reduced else "")
        + f"{result.replications} replications per scenario (children 0..{result.replications - 1} of "
        f"SeedSequence({spec.seed})), {result.seconds:.0f} s, specification `{_shown_path(spec.path) or spec.name}`.",
        "",
        "Scenarios (Hydra overrides on the default, calibrated configuration):",
        "",
    ]
    for sc, ov in spec.scenarios.items():
        role = "primary" if sc == spec.primary_scenario else ("robustness" if sc in spec.robustness_scenarios else "")
        extra = list(spec.reduced_overrides) if result.reduced else []
        lines.append(f"- `{sc}` ({role}): `{' '.join([*ov, *extra]) or '(none)'}`: {spec.scenario_descriptions[sc]}")
    lines += ["", "## Side by side (primary scenario)", "", comparison_markdown(result.table)]
    if not result.robustness.empty:
        scen = [spec.primary_scenario, *spec.robustness_scenarios]
        rows = []
        for r in result.robustness.to_dict("records"):
            rows.append(
                [r["label"]]
                + [f"{_fmt(r[f'{s}_mean'])} [{_fmt(r[f'{s}_ci95_low'])}, {_fmt(r[f'{s}_ci95_high'])}]" for s in scen]
            )
        lines += ["## Robustness: the same outputs under other scenarios (mean [95% CI])", ""]
        lines += [*_md_table(["output", *scen], rows), ""]
    if not result.network.empty:
        lines += ["## Collaboration network against a random graph with the same mean degree", ""]
        rows = [
            [r.statistic, r.meaning, _fmt(r.model_mean), f"[{_fmt(r.ci95_low)}, {_fmt(r.ci95_high)}]", _fmt(r.random)]
            for r in result.network.itertuples(index=False)
        ]
        lines += [*_md_table(["statistic", "meaning", "model mean", "95% CI", "random graph"], rows), ""]
    if not result.turnover.empty:
        lines += ["## Turnover growth: cluster firms and joiners vs never-members (size x domain matched)", ""]
        rows = [
            [r.statistic, _fmt(r.model_mean), f"[{_fmt(r.ci95_low)}, {_fmt(r.ci95_high)}]", _fmt(r.public)]
            for r in result.turnover.itertuples(index=False)
        ]
        lines += [*_md_table(["statistic", "model mean", "95% CI", "public"], rows), ""]
    if not result.study_needed.empty:
        hs = spec.study_half_widths
        lines += [
            "## Replications needed for a 95% CI half-width of 5% and 2% of the mean",
            "",
            "projected: from the standard deviation of all replications; observed: first n from which "
            "the running half-width stays under the target (n/a: not reached).",
            "",
        ]
        header = ["KPI", "mean", "half-width at N"]
        for h in hs:
            header += [f"n for {h:.0%} (projected)", f"n for {h:.0%} (observed)"]
        rows = []
        for r in result.study_needed.to_dict("records"):
            row = [r["kpi"], _fmt(r["mean"]), f"{r['relative_half_width_at_N']:.1%}"]
            for h in hs:
                row += [_fmt(r[f"projected_n_{h:g}"]), _fmt(r[f"observed_n_{h:g}"])]
            rows.append(row)
        lines += [*_md_table(header, rows), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_figures(result: ValidationResult, folder: str | Path) -> list[Path]:
    """The validation's PNG figures: gaps, degree distribution, turnover, replications, sizes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        written.append(folder / name)

    t = result.table[result.table["public"] != ""].reset_index(drop=True)
    t = t[np.isfinite(t["relative_gap"])]
    if not t.empty:
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(t) + 1.2))
        y = np.arange(len(t))[::-1]
        ref = t["public_value"].abs().to_numpy()
        lo = (t["range95_low"] - t["public_value"]).to_numpy() / ref
        hi = (t["range95_high"] - t["public_value"]).to_numpy() / ref
        colours = ["tab:green" if v == "within" else "tab:red" for v in t["verdict"]]
        ax.hlines(y, lo, hi, color="0.6", lw=3, label="95% of replications")
        ax.scatter(t["relative_gap"], y, c=colours, zorder=3, label="model mean (green: within)")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(y, [f"{lbl} ({m})" for lbl, m in zip(t["label"], t["mark"], strict=True)], fontsize=7)
        ax.set_xlabel("model relative to the public figure (0 = equal; -1 = zero)")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title("Model against public figures")
        save(fig, "comparison.png")
    if result.degree_counts.sum() > 0:
        fig, ax = plt.subplots(figsize=(5.5, 4))
        k = np.arange(result.degree_counts.size)
        for counts, label, style in (
            (result.degree_counts, "model (all replications)", "o-"),
            (result.random_degree_counts, "random graph, same mean degree", "--"),
        ):
            ccdf = counts[::-1].cumsum()[::-1] / max(counts.sum(), 1e-12)
            keep = (k >= 1) & (ccdf > 1e-6)
            ax.loglog(k[keep], ccdf[keep], style, ms=3, label=label)
        ax.set_xlabel("degree k (distinct partners)")
        ax.set_ylabel("share of connected firms with degree >= k")
        ax.legend()
        ax.set_title("Degree distribution of the firm network")
        save(fig, "degree_ccdf.png")
    if not result.study_curve.empty:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for kpi, part in result.study_curve.groupby("kpi", sort=False):
            ax.plot(part["n"], part["relative_half_width"], label=kpi, lw=1)
        for h in result.spec.study_half_widths:
            ax.axhline(h, color="k", ls=":", lw=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("replications n")
        ax.set_ylabel("95% CI half-width / |mean|")
        ax.legend(fontsize=6, ncol=2)
        ax.set_title("Width of the confidence interval against replications")
        save(fig, "replications.png")
    tt = result.turnover.set_index("statistic") if not result.turnover.empty else None
    if tt is not None and {"share_above_members", "share_above_matched"} <= set(tt.index):
        fig, ax = plt.subplots(figsize=(6, 4))
        groups = ["members", "matched never-members", "joiners", "never-members matched to joiners"]
        keys = ["share_above_members", "share_above_matched", "share_above_joiners", "share_above_joiners_matched"]
        vals = [tt.loc[k, "model_mean"] if k in tt.index else np.nan for k in keys]
        errs = [(tt.loc[k, "ci95_high"] - tt.loc[k, "model_mean"]) if k in tt.index else np.nan for k in keys]
        ax.bar(np.arange(4), vals, yerr=errs, color=["tab:blue", "tab:gray", "tab:cyan", "tab:gray"], label="model")
        pub = [tt.loc[k, "public"] if k in tt.index else None for k in keys[:2]]
        for i, p in enumerate(pub):
            if p is not None and math.isfinite(float(p)):
                ax.scatter([i], [p], color="tab:red", marker="D", zorder=3, label="public figure" if i == 0 else None)
        ax.set_xticks(np.arange(4), groups, fontsize=7, rotation=15)
        ax.set_ylabel("share growing by more than the threshold")
        ax.legend(fontsize=7)
        ax.set_title("Growth of cluster firms vs comparable non-members")
        save(fig, "turnover.png")
    if not result.cluster_sizes.empty:
        dates = list(dict.fromkeys(result.cluster_sizes["date"]))
        fig, axes = plt.subplots(1, len(dates), figsize=(4.2 * len(dates), 4), squeeze=False)
        publics = {
            str(i.measure["cluster"]): i.public
            for i in result.spec.items.values()
            if i.measure["type"] == "cluster_members" and i.public is not None
        }
        for ax, d in zip(axes[0], dates, strict=True):
            part = result.cluster_sizes[result.cluster_sizes["date"] == d]
            stats_ = part.groupby("cluster", sort=False)["members"].agg(["mean", "min", "max"])
            x = np.arange(len(stats_))
            ax.bar(x, stats_["mean"], color="tab:blue")
            ax.errorbar(
                x,
                stats_["mean"],
                yerr=[stats_["mean"] - stats_["min"], stats_["max"] - stats_["mean"]],
                fmt="none",
                color="k",
                lw=0.8,
            )
            for i, cl in enumerate(stats_.index):
                p = publics.get(cl)
                if p is not None and publics[cl].kind in ("point", "lower_bound"):
                    ax.scatter([i], [p.value], color="tab:red", marker="D" if p.kind == "point" else "^", zorder=3)
            ax.set_xticks(x, [c.split("/")[-1] for c in stats_.index], rotation=70, fontsize=7)
            ax.set_title(f"members per cluster, end of {d}", fontsize=9)
        axes[0][0].set_ylabel("member firms")
        fig.suptitle("bars: mean over replications; lines: min-max; red: public (triangle: lower bound)", fontsize=8)
        save(fig, "cluster_sizes.png")
    return written


def write_results(result: ValidationResult, out: str | Path) -> Path:
    """Write a validation's tables (CSV and Markdown) and figures (PNG) into ``out``, atomically.

    Files: ``comparison.csv``/``.md`` (side by side), ``robustness.csv``, ``network.csv``,
    ``turnover.csv``, ``replications_needed.csv``, ``replications_curve.csv``,
    ``per_replication.csv``, ``cluster_sizes.csv``, ``validation.md`` (every table) and
    the PNG figures. Everything is written to a temporary sibling folder, which then
    replaces ``out``.

    Args:
        result: a validation result.
        out: the results folder.

    Returns:
        The folder written.
    """
    out = Path(out)
    with atomic.folder(out, replace=True) as tmp:
        result.table.to_csv(tmp / "comparison.csv", index=False)
        (tmp / "comparison.md").write_text(comparison_markdown(result.table))
        result.robustness.to_csv(tmp / "robustness.csv", index=False)
        result.network.to_csv(tmp / "network.csv", index=False)
        result.turnover.to_csv(tmp / "turnover.csv", index=False)
        result.study_needed.to_csv(tmp / "replications_needed.csv", index=False)
        result.study_curve.to_csv(tmp / "replications_curve.csv", index=False)
        result.per_replication.to_csv(tmp / "per_replication.csv", index=False)
        result.cluster_sizes.to_csv(tmp / "cluster_sizes.csv", index=False)
        (tmp / "validation.md").write_text(report_markdown(result))
        write_figures(result, tmp)
    return out


# ------------------------------------------------------------------------------ the CLI
class _UsageError(Exception):
    """A bad command-line argument (reported in one line, exit status 2)."""


def _parser() -> Any:
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> Any:  # one line, no usage block
            raise _UsageError(message)

    p = Parser(prog="clustersim-validate", description="Validate the calibrated model against public figures.")
    p.add_argument("--reduced", action="store_true", help="the reduced sizes (small population, few replications)")
    p.add_argument("--out", type=Path, default=None, help="results folder (default results/validation, or ...-reduced)")
    p.add_argument("--replications", type=str, default=None, help="replications per scenario (>= 2)")
    p.add_argument("--spec", type=Path, default=None, help="validation file (default conf/validation/piedmont.yaml)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """``clustersim-validate [--reduced] [--out DIR] [--replications N] [--quiet]``.

    Runs the validation and writes its results; exit status 0 on success, 2 (one line on
    stderr naming the argument, nothing written) on bad input.
    """
    import sys

    def fail(message: str) -> int:
        print(f"clustersim-validate: error: {message}", file=sys.stderr)
        return 2

    try:
        args = _parser().parse_args(argv)
    except _UsageError as err:
        return fail(str(err))
    replications = None
    if args.replications is not None:
        try:
            replications = int(args.replications)
        except ValueError:
            replications = -1
        if replications < 2:
            return fail(f"--replications: got {args.replications!r}; allowed: an integer >= 2")
    out = args.out or Path("results") / ("validation-reduced" if args.reduced else "validation")
    if out.exists() and not out.is_dir():
        return fail(f"--out: got {str(out)!r}, which is a file; allowed: a folder (created if missing)")
    try:
        spec = load_spec(args.spec)
    except FileNotFoundError as err:
        return fail(f"--spec: {err.strerror}: {err.filename}")
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as err:
        return fail(f"--spec: {err}")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    result = validate_model(spec, reduced=args.reduced, replications=replications, progress=not args.quiet)
    folder = write_results(result, out)
    if not args.quiet:
        print(comparison_markdown(result.table))
    print(f"validation: {result.replications} replications per scenario in {result.seconds:.0f} s; results: {folder}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
