"""Matplotlib figures of the dashboard, each a pure function of a :class:`DashboardModel`.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state), so several
sessions can draw at once.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from clustersim.model import ClusterModel
from clustersim.viz.scenario import (
    DashboardModel,
    cross_shares,
    members_by_cluster,
    money,
    month_label,
    ties_by_origin,
    totals,
)

FIGSIZE = (6.4, 3.6)
NO_CLUSTER_COLOUR = "#c8c8c8"
ARM_STYLE = {"twelve": ("12 clusters", "#1f77b4"), "reform": ("12 → 7 in 2016", "#d62728")}


def palette(model: DashboardModel) -> dict[str, tuple[float, float, float, float]]:
    """A stable colour per cluster key ``label/name``: tab20 for the 12 clusters, Dark2 for the 7."""
    twelve = [colormaps["tab20"](i) for i in (*range(0, 20, 2), 1, 3, 5, 7, 9)]
    colours: dict[str, tuple[float, float, float, float]] = {}
    sims = [model.sim, *model.pair.values()]
    for sim in sims:
        for period in sim.cfg.clusters.periods:
            names = list(period.mapping)
            for i, name in enumerate(names):
                key = f"{period.label}/{name}"
                if period.label == "twelve":
                    colours[key] = twelve[i % len(twelve)]
                elif period.label == "seven":
                    colours[key] = colormaps["Dark2"](i % 8)
                else:
                    colours[key] = colormaps["tab10"](i % 10)
    return colours


def _axes(title: str, figsize: tuple[float, float] = FIGSIZE) -> tuple[Figure, object]:
    fig = Figure(figsize=figsize, dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    return fig, ax


def _date_axis(ax: object, start: str, n_months: int) -> None:
    """Label the x axis with years; keep the whole run's extent so growth is visible."""
    ticks = list(range(0, n_months, 24))
    ax.set_xlim(0, max(n_months - 1, 1))
    ax.set_xticks(ticks, [month_label(start, t)[:4] for t in ticks])
    ax.tick_params(labelsize=8)


def _mark_reform(ax: object, model: DashboardModel, paired: bool = False) -> None:
    """A dashed line at the reform, where the chosen scenario (or the paired view) has one."""
    if not paired and len(model.cfg.clusters.periods) < 2:
        return
    month = model.reform_month()
    if month is not None:
        ax.axvline(month, color="grey", lw=0.8, ls="--")


def _empty(ax: object, text: str = "press Step or ▶ to simulate") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def members_figure(model: DashboardModel) -> Figure:
    """Members per cluster over time (12 clusters, 7 clusters, or both around the reform)."""
    fig, ax = _axes("Members per cluster")
    wide = members_by_cluster(model.sim)
    if wide.empty:
        _empty(ax)
    else:
        colours = palette(model)
        labels = {key.partition("/")[0] for key in wide.columns}
        for key in wide.columns:
            label, _, name = key.partition("/")
            name = name if len(labels) == 1 else f"{name} ({ {'twelve': '12', 'seven': '7'}.get(label, label) })"
            ax.plot(wide.index, wide[key], color=colours.get(key, "black"), lw=1.4, label=name)
        ax.legend(fontsize=6, ncol=1, loc="center left", frameon=False, bbox_to_anchor=(1.0, 0.5))
        ax.set_ylabel("firms", fontsize=9)
    _date_axis(ax, model.cfg.start, model.n_months)
    _mark_reform(ax, model)
    return fig


def collaborations_figure(model: DashboardModel) -> Figure:
    """Collaborations by type (origin of the tie), cumulative."""
    fig, ax = _axes("Collaborations by type (cumulative)")
    ties = ties_by_origin(model.sim)
    if ties.empty or ties.columns.empty:
        _empty(ax)
    else:
        for i, origin in enumerate(ties.columns):
            ax.plot(ties.index, ties[origin], color=colormaps["tab10"](i), lw=1.6, label=str(origin))
        ax.legend(fontsize=8, loc="upper left", frameon=False)
        ax.set_ylabel("ties", fontsize=9)
    _date_axis(ax, model.cfg.start, model.n_months)
    _mark_reform(ax, model)
    return fig


def shares_figure(model: DashboardModel) -> Figure:
    """Cross-domain and cross-cluster shares of firm-firm ties, over the last 12 months."""
    fig, ax = _axes("Cross-domain and cross-cluster shares (12-month window)")
    shares = cross_shares(model.sim)
    if shares.empty:
        _empty(ax)
    else:
        ax.plot(shares.index, shares["cross_domain"], color="#2ca02c", lw=1.6, label="cross-domain")
        ax.plot(shares.index, shares["cross_cluster"], color="#9467bd", lw=1.6, label="cross-cluster")
        ax.legend(fontsize=8, loc="upper left", frameon=False)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of firm-firm ties", fontsize=9)
    _date_axis(ax, model.cfg.start, model.n_months)
    _mark_reform(ax, model)
    return fig


def projects_figure(model: DashboardModel) -> Figure:
    """Proposals submitted and projects funded, cumulative."""
    fig, ax = _axes("R&D projects (cumulative)")
    rows = totals(model.sim)
    if rows.empty:
        _empty(ax)
    else:
        ax.plot(rows.index, rows["proposals_submitted"].cumsum(), color="#ff7f0e", lw=1.6, label="proposals")
        ax.plot(rows.index, rows["projects_funded"].cumsum(), color="#1f77b4", lw=1.8, label="funded projects")
        ax.legend(fontsize=8, loc="upper left", frameon=False)
        ax.set_ylabel("projects", fontsize=9)
    _date_axis(ax, model.cfg.start, model.n_months)
    return fig


def money_figure(model: DashboardModel) -> Figure:
    """Money spent (cumulative grants paid) and left (balances of the Region and the CMOs)."""
    fig, ax = _axes("Money spent and left (EUR million)")
    frame = money(model.sim)
    if frame.empty:
        _empty(ax)
    else:
        styles = ["-", "-", "--", "--"]
        for i, col in enumerate(frame.columns):
            ax.plot(frame.index, frame[col] / 1e6, ls=styles[i], color=colormaps["tab10"](i), lw=1.6, label=col)
        ax.legend(fontsize=8, loc="upper left", frameon=False)
        ax.set_ylabel("EUR million", fontsize=9)
    _date_axis(ax, model.cfg.start, model.n_months)
    return fig


def network_figure(model: DashboardModel, window: int = 36, max_edges: int = 1500) -> Figure:
    """Firm-firm collaborations of the last ``window`` months; firms coloured by their cluster now.

    Each cluster's firms sit around one point of a circle (firms in no cluster in the middle),
    so ties within a cluster stay short and ties across clusters cross the picture.
    """
    sim = model.sim
    fig = Figure(figsize=(6.4, 5.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal")
    now = len(sim.recorder.rows)
    ties = sim.ledger.to_frame()
    ties = ties[(ties["kind"] == "firm_firm") & (ties["month"] > now - 1 - window)].tail(max_edges)
    ax.set_title(
        f"Collaboration network, {len(ties)} ties in the {window} months to {model.month_label()}", fontsize=10
    )
    if ties.empty:
        _empty(ax)
        return fig
    graph = nx.Graph()
    graph.add_edges_from(zip(ties["source"].tolist(), ties["target"].tolist(), strict=True))
    nodes = np.fromiter(graph.nodes, dtype=np.int64)
    member_of = np.asarray(sim.firms.member_of)
    cluster = np.where((nodes >= 0) & (nodes < len(member_of)), member_of[np.clip(nodes, 0, len(member_of) - 1)], -1)
    keys = [cmo.key for cmo in sim.cmos]
    cluster = np.where(cluster < len(keys), cluster, -1)
    angle = 2 * np.pi * cluster / max(len(keys), 1)
    centre = np.where(cluster[:, None] >= 0, np.column_stack([np.cos(angle), np.sin(angle)]), 0.0)
    jitter = np.random.default_rng(0).normal(size=(len(nodes), 2))  # same draws every frame
    radius = np.where(cluster >= 0, 0.22, 0.3)[:, None]
    xy = centre + radius * jitter / np.maximum(1.0, np.abs(jitter).max(axis=1, keepdims=True) / 1.5)
    pos = {int(n): xy[i] for i, n in enumerate(nodes)}
    colours = palette(model)
    node_colours = [colours.get(keys[c], NO_CLUSTER_COLOUR) if c >= 0 else NO_CLUSTER_COLOUR for c in cluster]
    nx.draw_networkx_edges(graph, pos, ax=ax, width=0.3, alpha=0.25, edge_color="#444444")
    nx.draw_networkx_nodes(
        graph, pos, ax=ax, nodelist=nodes.tolist(), node_color=node_colours, node_size=10, linewidths=0
    )
    handles = [
        Line2D([], [], ls="", marker="o", color=colours.get(k, "black"), label=k.partition("/")[2]) for k in keys
    ]
    handles.append(Line2D([], [], ls="", marker="o", color=NO_CLUSTER_COLOUR, label="no cluster"))
    ax.legend(handles=handles, fontsize=6, loc="center left", frameon=False, bbox_to_anchor=(1.0, 0.5))
    return fig


def paired_figure(model: DashboardModel) -> Figure:
    """The paired view: the same history under 12 clusters and under the 2016 merger into 7."""
    fig = Figure(figsize=(12.8, 6.0), dpi=100, layout="constrained")
    axes = fig.subplots(2, 2)
    fig.suptitle(
        f"12 vs 7 clusters from the same history (seed {model.cfg.seed}, same budget and staffing)", fontsize=12
    )
    panels = [
        ("Members", lambda sim: totals(sim)["members"]),
        ("Collaborations (cumulative)", lambda sim: ties_by_origin(sim).sum(axis=1)),
        ("Funded projects (cumulative)", lambda sim: totals(sim)["projects_funded"].cumsum()),
        ("Public money left (EUR million)", _money_left),
    ]
    for ax, (title, series) in zip(axes.flat, panels, strict=True):
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        for arm in ("twelve", "reform"):
            sim = model.pair.get(arm)
            if sim is None or not sim.recorder.rows:
                continue
            label, colour = ARM_STYLE[arm]
            values = series(sim)
            ax.plot(values.index, values.to_numpy(), color=colour, lw=1.6, label=label)
        if not model.months_done:
            _empty(ax)
        else:
            ax.legend(fontsize=8, loc="upper left", frameon=False)
        _date_axis(ax, model.cfg.start, model.n_months)
        _mark_reform(ax, model, paired=True)
    return fig


def _money_left(sim: ClusterModel) -> object:
    rows = totals(sim)
    return (rows["region_balance_eur"] + rows["cmo_balance_eur"]) / 1e6
