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

from clustersim.figures import OKABE_ITO
from clustersim.viz.scenario import (
    MONEY_PARTS,
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
ORIGINS = {
    "brokered": "introduced by a cluster manager",
    "project": "partners in an R&D project",
    "plenary": "met at a plenary meeting",
    "cmo_link": "through a cluster manager's link abroad",
    "spontaneous": "on their own",
}


def cluster_name(key: str) -> str:
    """A cluster's name for a legend: ``seven/green_chemistry_materials`` -> ``Green chemistry materials``."""
    name = key.partition("/")[2] or key
    if len(name) <= 4:
        return name.upper()  # an acronym: ICT
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


def palette(model: DashboardModel) -> dict[str, tuple[float, ...] | str]:
    """A stable colour per cluster key ``label/name``: Okabe-Ito up to 8 clusters, tab20 beyond."""
    many = [colormaps["tab20"](i) for i in (*range(0, 20, 2), *range(1, 20, 2))]
    colours: dict[str, tuple[float, ...] | str] = {}
    for period in model.sim.cfg.clusters.periods:
        names = list(period.mapping)
        for i, name in enumerate(names):
            key = f"{period.label}/{name}"
            colours[key] = OKABE_ITO[i] if len(names) <= len(OKABE_ITO) else many[i % len(many)]
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


def _mark_reform(ax: object, model: DashboardModel) -> None:
    """A dashed line where the run's cluster configuration changes, if it does."""
    month = model.reform_month()
    if month is not None:
        ax.axvline(month, color="grey", lw=0.8, ls="--")


def _empty(ax: object, text: str = "press a Run button to simulate") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def members_figure(model: DashboardModel) -> Figure:
    """Members per cluster over time (each configuration's clusters, before and after a change)."""
    fig, ax = _axes("Members per cluster")
    wide = members_by_cluster(model.sim)
    if wide.empty:
        _empty(ax)
    else:
        colours = palette(model)
        labels = {key.partition("/")[0] for key in wide.columns}
        for key in wide.columns:
            label, _, name = key.partition("/")
            name = cluster_name(key) if len(labels) == 1 else f"{cluster_name(key)} ({label})"
            ax.plot(wide.index, wide[key], color=colours.get(key, "black"), lw=1.4, label=name)
        ax.legend(fontsize=6, ncol=1, loc="center left", frameon=False, bbox_to_anchor=(1.0, 0.5))
        ax.set_ylabel("member firms", fontsize=9)
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
            colour = OKABE_ITO[i % len(OKABE_ITO)]
            ax.plot(ties.index, ties[origin], color=colour, lw=1.6, label=ORIGINS.get(str(origin), str(origin)))
        ax.legend(fontsize=7, loc="upper left", frameon=False)
        ax.set_ylabel("collaborations since the start", fontsize=9)
    _date_axis(ax, model.cfg.start, model.n_months)
    _mark_reform(ax, model)
    return fig


def shares_figure(model: DashboardModel) -> Figure:
    """Cross-domain and cross-cluster shares of firm-firm ties, over the last 12 months."""
    fig, ax = _axes("Collaborations across sectors and across clusters (last 12 months)")
    shares = cross_shares(model.sim)
    if shares.empty:
        _empty(ax)
    else:
        ax.plot(shares.index, shares["cross_domain"], color=OKABE_ITO[2], lw=1.6, label="across sectors")
        ax.plot(shares.index, shares["cross_cluster"], color=OKABE_ITO[4], lw=1.6, label="across clusters")
        ax.legend(fontsize=8, loc="upper left", frameon=False)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of new firm-firm collaborations", fontsize=9)
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
        ax.plot(rows.index, rows["proposals_submitted"].cumsum(), color=OKABE_ITO[4], lw=1.6, label="proposals")
        ax.plot(rows.index, rows["projects_funded"].cumsum(), color=OKABE_ITO[0], lw=1.8, label="funded projects")
        ax.legend(fontsize=8, loc="upper left", frameon=False)
        ax.set_ylabel("projects since the start", fontsize=9)
    _date_axis(ax, model.cfg.start, model.n_months)
    return fig


def money_figure(model: DashboardModel) -> Figure:
    """Where the run's public budget is, month by month: stacked parts that add up to the budget."""
    fig, ax = _axes("Where the public money is (EUR million)")
    frame = money(model)
    if frame.empty:
        _empty(ax)
    else:
        colours = [OKABE_ITO[2], OKABE_ITO[0], OKABE_ITO[4], "#bbbbbb"]
        ax.stackplot(
            frame.index,
            *[frame[p] / 1e6 for p in MONEY_PARTS],
            labels=[f"{p}: {frame[p].iloc[-1] / 1e6:,.1f}" for p in MONEY_PARTS],
            colors=colours,
            alpha=0.85,
        )
        total = frame["allocated"].iloc[-1] / 1e6
        ax.axhline(total, color="black", lw=0.8, ls="--")
        ax.text(
            0.99,
            0.97,
            f"budget of the run: EUR {total:,.1f}M",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7,
        )
        ax.legend(fontsize=6.5, loc="lower left", frameon=True, framealpha=0.85)
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
    handles = [Line2D([], [], ls="", marker="o", color=colours.get(k, "black"), label=cluster_name(k)) for k in keys]
    handles.append(Line2D([], [], ls="", marker="o", color=NO_CLUSTER_COLOUR, label="no cluster"))
    ax.legend(handles=handles, fontsize=6, loc="center left", frameon=False, bbox_to_anchor=(1.0, 0.5))
    return fig
