"""The clustersim dashboard: a Mesa SolaraViz page for policy makers.

Run it with ``clustersim-dashboard`` (or ``solara run`` on this file): pick the cluster
configuration, the budget, the staffing and the seed, step or run the model month by month,
and see members per cluster, collaborations by type, cross-domain and cross-cluster shares,
funded projects, money spent and left, the collaboration network, and (on Page 1) the paired
view of 12 vs 7 clusters from the same history.

Every choice is validated as the command line validates it: a bad value shows the
configuration's message beside its control, and the model keeps its last valid state.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import solara
from matplotlib.figure import Figure
from mesa.visualization import SolaraViz
from mesa.visualization.utils import force_update, update_counter

from clustersim.config import ConfigError
from clustersim.viz import charts
from clustersim.viz.scenario import NUMERIC_FIELDS, DashboardModel, Scenario, field_of, group_options

logging.getLogger("MESA").setLevel(logging.WARNING)

DEFAULT_PORT = 8765
GROUP_LABELS = {"funding": "Budget (funding option)", "staffing": "Staffing", "population": "Firm population"}
CLUSTER_LABELS = {"twelve": "12 clusters", "seven": "7 clusters", "reform": "12 → 7 (2016)"}


def chart(builder: Callable[[DashboardModel], Figure], name: str) -> Callable[[DashboardModel], object]:
    """A SolaraViz component (a function of the model) showing ``builder``'s figure.

    The figure is rebuilt only when the model or its month changes; the element carries the
    CSS class ``cs-chart-<name>`` and a caption with the month, for tests and screen readers.
    """

    def component(model: DashboardModel) -> object:
        months = model.months_done
        fig = solara.use_memo(lambda: builder(model), dependencies=[model, months])
        with solara.Column(classes=[f"cs-chart-{name}"], gap="0px") as column:
            solara.FigureMatplotlib(fig, dependencies=[model, months], format="png")
            solara.Text(f"{name}: month {months} ({model.month_label()})", classes=["cs-caption"])
        return column

    component.__name__ = f"chart_{name}"
    return component


COMPONENTS = [
    (chart(charts.members_figure, "members"), 0),
    (chart(charts.collaborations_figure, "collaborations"), 0),
    (chart(charts.shares_figure, "shares"), 0),
    (chart(charts.projects_figure, "projects"), 0),
    (chart(charts.money_figure, "money"), 0),
    (chart(charts.network_figure, "network"), 0),
    (chart(charts.paired_figure, "paired"), 1),
]


@solara.component
def ScenarioControls(
    draft: solara.Reactive[Scenario],
    errors: solara.Reactive[dict[str, str]],
    on_change: Callable[[str, str], None],
) -> None:
    """The scenario's controls, each with the validation message of its own value beside it."""
    scenario = draft.value
    err = errors.value
    solara.Text("Cluster configuration", style={"font-weight": "bold"})
    solara.ToggleButtonsSingle(
        value=scenario.clusters,
        values=group_options("clusters"),
        on_value=lambda v: on_change("clusters", v),
        mandatory=True,
        dense=True,
        classes=["cs-clusters"],
    )
    if err.get("clusters"):
        solara.Error(err["clusters"], classes=["cs-error-clusters"])
    for group, label in GROUP_LABELS.items():
        solara.Select(
            label,
            values=group_options(group),
            value=getattr(scenario, group),
            on_value=lambda v, g=group: on_change(g, v),
            classes=[f"cs-{group}"],
        )
        if err.get(group):
            solara.Error(err[group], classes=[f"cs-error-{group}"])
    solara.InputText(
        "Seed",
        value=scenario.seed,
        on_value=lambda v: on_change("seed", v),
        error=err.get("seed", False),
        classes=["cs-seed"],
    )
    for name, (_key, label) in NUMERIC_FIELDS.items():
        solara.InputText(
            label,
            value=getattr(scenario, name),
            on_value=lambda v, n=name: on_change(n, v),
            error=err.get(name, False),
            placeholder="as the option sets",
            classes=[f"cs-{name}"],
        )
    if err.get("general"):
        solara.Error(err["general"], classes=["cs-error-general"])


@solara.component
def RunStatus(model: solara.Reactive[DashboardModel]) -> None:
    """Where the run is, and buttons to run a year or to the end."""
    update_counter.get()
    current = model.value

    def run(months: int | None) -> None:
        target = current.n_months if months is None else current.months_done + months
        while current.running and current.months_done < target:
            current.step()
        force_update()

    choice = current.choices
    solara.Text(
        f"{CLUSTER_LABELS.get(choice.clusters, choice.clusters)}, {choice.funding}, {choice.staffing}, "
        f"seed {current.cfg.seed}: simulated {current.months_done} of {current.n_months} months "
        f"(to {current.month_label()})",
        classes=["cs-status"],
    )
    with solara.Row():
        solara.Button("Run 12 months", on_click=lambda: run(12), disabled=not current.running, classes=["cs-run-year"])
        solara.Button("Run to end", on_click=lambda: run(None), disabled=not current.running, classes=["cs-run-end"])


@solara.component
def Page() -> None:
    """The dashboard page: scenario controls, Mesa's controller and the charts."""
    initial = solara.use_memo(lambda: DashboardModel(**Scenario().as_params()), [])
    model = solara.use_reactive(initial)
    applied = solara.use_reactive(Scenario())
    draft = solara.use_reactive(Scenario())
    errors = solara.use_reactive({})

    def on_change(name: str, value: str) -> None:
        candidate = replace(draft.value, **{name: "" if value is None else str(value)})
        draft.value = candidate
        try:
            new_model = DashboardModel(**candidate.as_params())
        except ConfigError as exc:
            errors.value = {field_of(exc) or "general": str(exc)}
            return  # the model keeps its last valid state
        errors.value = {}
        applied.value = candidate
        model.value = new_model

    with solara.Sidebar(), solara.Card("Scenario", classes=["cs-scenario"]):
        ScenarioControls(draft, errors, on_change)
        solara.Text(
            "A valid change restarts the model from 2009. Page 1 shows 12 vs 7 clusters from the same history.",
            style={"font-size": "0.8em", "color": "grey"},
        )
        RunStatus(model)
    # Mesa's Reset rebuilds the model from these fixed parameters: the last valid scenario.
    SolaraViz(
        model,
        components=COMPONENTS,
        model_params=applied.value.as_params(),
        name="clustersim: innovation-cluster policy",
        play_interval=150,
    ).key(repr(applied.value))


def main(argv: list[str] | None = None) -> int:
    """Serve the dashboard on 127.0.0.1 with ``solara run`` (no browser is opened).

    Args:
        argv: command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status of the server.
    """
    parser = argparse.ArgumentParser(
        prog="clustersim-dashboard",
        description="Serve the clustersim dashboard on http://127.0.0.1:PORT (works offline).",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    args = parser.parse_args(argv)
    cmd = [
        *solara_command(),
        "run",
        str(Path(__file__).resolve()),
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
        "--no-open",
        "--no-check-version",  # no request to the package index: the dashboard works offline
    ]
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    print(f"clustersim dashboard: http://127.0.0.1:{args.port}/", flush=True)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 130


def solara_command() -> list[str]:
    """The ``solara`` command of this Python environment."""
    return [sys.executable, "-m", "solara"]
