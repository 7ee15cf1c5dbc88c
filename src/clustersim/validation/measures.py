"""The value of one validation measure in one run (:func:`measure`), and the turnover comparison run.

Measures read a :class:`~clustersim.study.RunRecord`: its tables (summary, monthly,
projects, proposals, calls) and its membership snapshots. Network and turnover measures
read statistics computed once per run (:func:`clustersim.validation.network.network_facts`,
:func:`turnover_run`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from clustersim.config import SIZE_CLASSES, Config
from clustersim.errors import SpecError
from clustersim.matched import matched_comparison
from clustersim.months import month_index
from clustersim.study import RunRecord
from clustersim.validation.spec import MEASURES, Measure, Turnover


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _call_stat(rec: RunRecord, stat: str, line: str = "", call: str | None = None) -> float:
    """A statistic of the calls of one line closing in the report window, or of one call by name."""
    calls = rec.tables["calls"]
    if call is not None:
        calls = calls[calls["call"] == call]
    else:
        closes = np.array([rec.month(str(c)) for c in calls["closes"]], dtype=np.int64)
        calls = calls[(closes >= rec.report_month) & (calls["line"] == line).to_numpy()]
    if stat == "firms_per_project":
        p = rec.tables["projects"]
        sel = p[p["call"] == call] if call is not None else p[p["in_report_window"].astype(bool) & (p["line"] == line)]
        return float(sel["n_firms"].mean()) if len(sel) else float("nan")
    if calls.empty:
        return float("nan")
    submitted, funded = float(calls["submitted"].sum()), float(calls["funded"].sum())
    budget = float(calls["budget_eur"].sum())
    if stat == "cross_cluster_share":
        props = rec.tables["proposals"]
        props = props[props["call"].isin(list(calls["call"])) & ~props["withdrawn"].astype(bool)]
        return _ratio(float((props["n_clusters"] >= 2).sum()), submitted)
    return {
        "proposals": submitted,
        "funded": funded,
        "success_rate": _ratio(funded, submitted),
        "grants_eur_m": float(calls["granted_eur"].sum()) / 1e6,
        "budget_eur_m": budget / 1e6,
        "admitted_share": _ratio(float(calls["admitted"].sum()), submitted),
        "oversubscription": _ratio(float(calls["requested_eur"].sum()), budget),
    }[stat]


def _project_rule(rec: RunRecord, rule: str, value: float) -> float:
    """The share of the report window's funded projects that keep a rule of the calls."""
    p = rec.tables["projects"]
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


def _snapshot_measure(rec: RunRecord, m: Measure) -> float:
    """Shares of members by size class, or SME members per cluster, at the end of ``m.date``."""
    snap = rec.snapshots.get(str(m.date))
    if snap is None:
        return float("nan")
    member_of = snap.member_of
    if m.type == "sme_members_per_cluster":
        sme = (member_of >= 0) & (rec.size_class != SIZE_CLASSES.index("large"))
        counts = np.bincount(member_of[sme].astype(np.int64), minlength=len(snap.keys))
        return float(counts.mean()) * m.scale if len(snap.keys) else float("nan")
    cluster = m.cluster or "all"
    if cluster == "all":
        members = member_of >= 0
    elif cluster in snap.keys:
        members = member_of == snap.keys.index(cluster)
    else:
        return float("nan")
    if not members.any():
        return float("nan")
    sizes = [SIZE_CLASSES.index(s) for s in m.sizes or ()]
    return float(np.isin(rec.size_class[members], sizes).mean())


def _cluster_rank(rec: RunRecord, m: Measure) -> float:
    mon = rec.tables["monthly"]
    sel = mon[(mon["kpi"] == "members") & (mon["cluster"] != "all") & (mon["month"] == rec.month(str(m.date)))]
    ranks = sel.set_index("cluster")["value"].rank(ascending=False, method="average")
    rank = float(ranks.get(str(m.cluster), float("nan")))
    if m.equals is not None and math.isfinite(rank):  # an indicator: its mean is a share of replications
        return float(rank == float(m.equals))
    return rank


def measure(
    rec: RunRecord,
    spec_measure: Measure | Mapping[str, Any],
    network: Mapping[str, float] | None = None,
    turnover: Mapping[str, float] | None = None,
) -> float:
    """The value of one measure in one run (NaN when the run has nothing to measure).

    Args:
        rec: the run.
        spec_measure: the item's measure (a :class:`Measure`, or its keys as a mapping).
        network: the run's :func:`~clustersim.validation.network.network_facts` (``network`` measures).
        turnover: the run's :func:`turnover_run` statistics (``turnover`` measures).

    Returns:
        The value.
    """
    m = spec_measure if isinstance(spec_measure, Measure) else Measure(**spec_measure)
    kind, scale = m.type, float(m.scale)
    if kind == "summary":
        return rec.summary_value(str(m.kpi), m.cluster or "all") * scale
    if kind == "cluster_members":
        return rec.monthly_value("members", str(m.cluster), str(m.date)) * scale
    if kind == "cluster_rank":
        return _cluster_rank(rec, m)
    if kind in ("member_share", "sme_members_per_cluster"):
        return _snapshot_measure(rec, m)
    if kind == "call_line":
        return _call_stat(rec, str(m.stat), line=str(m.line)) * scale
    if kind == "call":
        return _call_stat(rec, str(m.stat), call=str(m.call)) * scale
    p = rec.tables["projects"]
    if kind == "projects_until":
        return float((p["month"] <= rec.month(str(m.until))).sum()) * scale
    if kind == "grants_awarded":
        sel = p[p["month"] <= rec.month(str(m.until))]
        return float(sel["grant_cents"].sum()) / 1e8 * scale  # EUR M
    if kind == "project_rule":
        return _project_rule(rec, str(m.rule), float(m.value or 0.0))
    if kind == "network":
        return float((network or {}).get(str(m.stat), float("nan"))) * scale
    if kind == "turnover":
        return float((turnover or {}).get(str(m.stat), float("nan"))) * scale
    raise SpecError("measure.type", f"got {kind!r}; allowed: one of {sorted(MEASURES)}")


def turnover_run(cfg: Config, turnover: Turnover) -> dict[str, float]:
    """Turnover growth of cluster firms and joiners against matched never-members (one run).

    The model is run month by month; at the end of ``turnover.start`` and ``turnover.end``
    every firm's booked turnover is read (turnover is booked at each year's end, so these
    months should be Decembers; reading draws nothing). Groups: *members* are members at
    the end of ``start``; *joiners* first joined after ``joiners_from`` and by the end of
    ``joiners_to``; the controls are firms never members up to ``end``, matched exactly on
    size class x primary domain (:func:`clustersim.matched.matched_comparison`).

    Args:
        cfg: the run's configuration.
        turnover: the specification's ``turnover`` block.

    Returns:
        The statistics of :data:`~clustersim.validation.spec.TURNOVER_STATS` (growth in
        percent, gaps in points).
    """
    from clustersim.model import ClusterModel

    model = ClusterModel(cfg)
    state = model.state
    f = state.firms
    at = {k: month_index(v) - state.start_index for k, v in turnover.months().items()}
    if at["end"] >= state.n_months or min(at.values()) < 0:
        raise SpecError("turnover", f"dates {turnover.months()} fall outside the run ({cfg.start}..{cfg.end})")
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
    thr = float(turnover.threshold or 0.0)
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


def cluster_sizes(rec: RunRecord, dates: list[str]) -> list[tuple[str, str, float]]:
    """Members per cluster at the end of each date: ``(date, cluster, members)`` rows."""
    mon = rec.tables["monthly"]
    per_cluster = mon[(mon["kpi"] == "members") & (mon["cluster"] != "all")]
    rows = []
    for d in dates:
        sel = per_cluster[per_cluster["month"] == rec.month(d)]
        rows += [(d, str(cl), float(v)) for cl, v in zip(sel["cluster"], sel["value"], strict=True)]
    return rows
