"""The clustersim dashboard: a Solara page for regional officials.

Run it with ``clustersim-dashboard`` (or ``solara run`` on this file). Three named pages:

* **Compare two set-ups**: two cluster set-ups (e.g. keeping 12 clusters and merging into
  7) over several paired replications, run in the background with a progress bar and a
  Cancel button; the answer in words, the effects with their 95% intervals, the money of
  each set-up (its parts add up to the budget), the monthly paths with their bands, and a
  download of the results and configurations.
* **Watch one run**: one set-up month by month (a Mesa model): members per cluster,
  collaborations, R&D projects, where the public money is, the collaboration network.
* **Caveats and method**: what the model is known to get wrong and what decides the answer.

Every field is checked at once and every problem is shown under its field in plain words,
with the range allowed; the page's address holds the whole scenario, so a link reproduces
it. Labels come from the region's presentation file (``conf/report/<region>.yaml``).
"""

from __future__ import annotations

import argparse
import html
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import solara
import solara.lab
from matplotlib.figure import Figure

from clustersim.labels import fmt_number
from clustersim.viz import charts
from clustersim.viz.compare import ComparisonResult, comparison_view, comparison_zip, run_comparison, run_zip
from clustersim.viz.scenario import (
    MONEY_PARTS,
    PAGES,
    REPLICATIONS,
    DashboardModel,
    Scenario,
    amount,
    field_errors,
    field_label,
    from_query,
    group_options,
    notes,
    numeric_fields,
    to_query,
)

DEFAULT_PORT = 8765
PAGE_TITLES = {"compare": "Compare two set-ups", "explore": "Watch one run", "about": "Caveats and method"}
CHARTS: list[tuple[str, Callable[[DashboardModel], Figure]]] = [
    ("members", charts.members_figure),
    ("collaborations", charts.collaborations_figure),
    ("shares", charts.shares_figure),
    ("projects", charts.projects_figure),
    ("money", charts.money_figure),
    ("network", charts.network_figure),
]

progress_text = solara.reactive("")


@solara.lab.task(prefer_threaded=True)
def compare_task(scenario: Scenario) -> ComparisonResult | None:
    """Run a comparison in the background; stops when cancelled (or when another one starts)."""

    def progress(share: float, text: str) -> None:
        compare_task.progress = round(100 * share, 1)
        progress_text.value = f"{100 * share:.0f}% ({text})"

    progress_text.value = "starting"
    return run_comparison(scenario, progress, stop=lambda: not compare_task.is_current())


# ---------------------------------------------------------------------------- controls
@solara.component
def OptionSelect(name: str, group: str, value: str, error: str, on_change: Callable[[str, str], None]) -> None:
    """A list of a group's options by their human names; the id is what the scenario keeps."""
    n = notes()
    items = [{"text": n.option(group, o), "value": o} for o in n.order(group, group_options(group))]
    solara.v.Select(
        label=field_label(name),
        items=items,
        v_model=value,
        on_v_model=lambda v: on_change(name, v),
        error_messages=[error] if error else [],
        class_=f"cs-field-{name}",
        dense=True,
    )


@solara.component
def TextField(name: str, value: str, error: str, hint: str, on_change: Callable[[str, str], None]) -> None:
    """A typed field; its problem, if any, shows under it."""
    solara.InputText(
        field_label(name),
        value=value,
        on_value=lambda v: on_change(name, "" if v is None else str(v)),
        error=error or False,
        message=None if error else hint,
        placeholder="as the option sets",
        classes=[f"cs-field-{name}"],
    )


@solara.component
def ScenarioForm(draft: solara.Reactive[Scenario], errors: dict[str, str]) -> None:
    """Every choice of the scenario, each with its own message; a summary when something is wrong."""
    scenario = draft.value

    def on_change(name: str, value: str) -> None:
        draft.value = replace(draft.value, **{name: value})

    if errors:
        items = "".join(f"<li><b>{html.escape(field_label(k))}</b>: {html.escape(v)}</li>" for k, v in errors.items())
        solara.HTML(
            tag="div",
            unsafe_innerHTML=f"<p>{len(errors)} field(s) need a change before anything runs:</p><ul>{items}</ul>",
            classes=["cs-errors"],
            style={"color": "#b00020", "font-size": "0.85em"},
        )
    solara.Markdown("**Comparison**")
    OptionSelect("baseline", "clusters", scenario.baseline, errors.get("baseline", ""), on_change)
    OptionSelect("treatment", "clusters", scenario.treatment, errors.get("treatment", ""), on_change)
    reps = f"pairs of runs, {REPLICATIONS[0]} to {REPLICATIONS[1]}"
    TextField("replications", scenario.replications, errors.get("replications", ""), reps, on_change)
    solara.Markdown("**One run**")
    OptionSelect("clusters", "clusters", scenario.clusters, errors.get("clusters", ""), on_change)
    solara.Markdown("**Both pages**")
    for group in ("funding", "staffing", "population"):
        OptionSelect(group, group, getattr(scenario, group), errors.get(group, ""), on_change)
    for name, spec in numeric_fields().items():
        unit = str(spec.get("unit", ""))
        hint = f"{amount(float(spec['min']), unit)} to {amount(float(spec['max']), unit)}"
        TextField(name, getattr(scenario, name), errors.get(name, ""), f"blank: as the option sets; {hint}", on_change)
    TextField("seed", scenario.seed, errors.get("seed", ""), "any whole number: another random history", on_change)
    if errors.get("general"):
        solara.Error(errors["general"], classes=["cs-error-general"])


# ------------------------------------------------------------------------------- pages
def _table_html(df, classes: str = "cs-table") -> str:
    return df.to_html(index=False, escape=True, border=0, classes=classes)


TABLE_STYLE = (
    "<style>.cs-table{border-collapse:collapse;font-size:13px;margin:.5em 0}"
    ".cs-table td,.cs-table th{border:1px solid #ccc;padding:3px 7px}.cs-table td{text-align:right}"
    ".cs-table td:first-child{text-align:left}</style>"
)


@solara.component
def ComparePage(scenario: Scenario, valid: bool) -> None:
    """Two set-ups side by side over several replications, in the background."""
    n = notes()
    result = compare_task.latest if compare_task.finished or compare_task.pending else compare_task.value
    view = solara.use_memo(lambda: comparison_view(result, n) if result is not None else None, [result])
    with solara.Row():
        solara.Button(
            "Run comparison",
            on_click=lambda: compare_task(scenario),
            disabled=not valid or compare_task.pending,
            color="primary",
            classes=["cs-compare-run"],
        )
        if compare_task.pending:
            solara.Button("Cancel", on_click=compare_task.cancel, classes=["cs-compare-cancel"])
    if compare_task.pending:
        solara.ProgressLinear(compare_task.progress or True)
        solara.Text(f"Running: {progress_text.value}", classes=["cs-progress"])
    elif compare_task.cancelled:
        solara.Text("Cancelled: nothing was kept. Press Run comparison to start again.", classes=["cs-progress"])
    elif compare_task.error:
        solara.Error(f"The comparison failed: {compare_task.exception}", classes=["cs-progress"])
    elif compare_task.not_called:
        solara.Markdown(
            f"Press **Run comparison** to run {scenario.replications} pairs of"
            f" *{n.option('clusters', scenario.baseline)}* and *{n.option('clusters', scenario.treatment)}*"
            " (each pair lives the same history until the set-ups differ)."
        )
    if view is None or result is None:
        return
    if replace(result.scenario, page=scenario.page, clusters=scenario.clusters) != scenario:
        solara.Warning("These results are for an earlier choice of the fields: press Run comparison to update them.")
    with solara.Column(classes=["cs-compare-result"]):
        solara.Markdown(view["paragraph"])
        solara.Markdown(f"**Public money of each set-up** (mean over the replications). {view['money_note']}")
        where = view["where"].copy()
        where["Total"] = where[list(MONEY_PARTS)].sum(axis=1)
        shown = where.map(lambda v: fmt_number(v, "eur")).reset_index(names="Set-up")
        shown = shown.rename(columns={"allocated": "Budget of the run"})
        solara.HTML(tag="div", unsafe_innerHTML=TABLE_STYLE + _table_html(shown), classes=["cs-money"])
        solara.Markdown(
            "The four parts (awarded to projects, paid to cluster organisations, still in calls, still with"
            " the Region) add up to the budget in every run."
        )
        solara.HTML(tag="div", unsafe_innerHTML=TABLE_STYLE + _table_html(view["table"]), classes=["cs-effects"])
        with solara.Column(classes=["cs-chart-compare"]):
            solara.FigureMatplotlib(view["figure"], format="png")
        solara.FileDownload(
            lambda: comparison_zip(result, view),
            filename="clustersim-comparison.zip",
            label="Download the results and configurations (ZIP)",
        )


@solara.component
def ChartView(model: DashboardModel, name: str, builder: Callable[[DashboardModel], Figure], months: int) -> None:
    """One chart of the one-run page, redrawn when the month changes; its caption names the month."""
    fig = solara.use_memo(lambda: builder(model), dependencies=[model, months])
    with solara.Column(classes=[f"cs-chart-{name}"], gap="0px", style={"min-width": "440px", "flex": "1 1 45%"}):
        solara.FigureMatplotlib(fig, dependencies=[model, months], format="png")
        solara.Text(f"{name}: month {months} ({model.month_label()})", classes=["cs-caption"])


@solara.component
def ExplorePage(scenario: Scenario, valid: bool) -> None:
    """One run, month by month."""
    n = notes()
    key = replace(scenario, page="explore", baseline="", treatment="", replications="")
    model = solara.use_memo(lambda: DashboardModel(**scenario.as_params()) if valid else None, [key, valid])
    tick, set_tick = solara.use_state(0)
    if model is None:
        solara.Warning("Fix the fields marked in red to run.")
        return

    def run(months: int | None) -> None:
        target = model.n_months if months is None else model.months_done + months
        while model.running and model.months_done < target:
            model.step()
        set_tick(tick + 1)

    solara.Text(
        f"{n.option('clusters', scenario.clusters)}, {n.option('funding', scenario.funding)},"
        f" {n.option('staffing', scenario.staffing)}, seed {model.cfg.seed}: simulated {model.months_done} of"
        f" {model.n_months} months (to {model.month_label()})",
        classes=["cs-status"],
    )
    with solara.Row():
        solara.Button("One month", on_click=lambda: run(1), disabled=not model.running, classes=["cs-step"])
        solara.Button("Run 12 months", on_click=lambda: run(12), disabled=not model.running, classes=["cs-run-year"])
        solara.Button("Run to the end", on_click=lambda: run(None), disabled=not model.running, classes=["cs-run-end"])
        solara.FileDownload(
            lambda: run_zip(scenario, model.sim, charts.money(model)),
            filename="clustersim-run.zip",
            label="Download this run (ZIP)",
        )
    with solara.Row(style={"flex-wrap": "wrap"}):
        for name, builder in CHARTS:
            ChartView(model, name, builder, model.months_done)


@solara.component
def AboutPage() -> None:
    """The caveats and the inputs that decide the answer, from the region's notes."""
    n = notes()
    lines = ["### What the model is known to get wrong", ""]
    lines += [f"- **{c.title}.** {c.text} (see {c.link})" for c in n.caveats]
    lines += ["", "### What decides the answer", ""]
    lines += [f"- **{c.title}.** {c.text} (see {c.link})" for c in n.deciding_inputs]
    lines += [
        "",
        "### How the comparison is computed",
        "",
        "Replication r of both set-ups runs on the same seed: the two live the same history, draw for draw,"
        " until the set-ups differ, so each pair's difference is the change's doing. Each effect is the mean"
        " of the pairs' differences with its 95% interval (paired t); 'better' or 'worse' when the difference"
        " stays clear once the number of indicators tested is accounted for (Holm), 'possibly' when only the"
        " indicator's own interval excludes no change. Money is counted to the cent.",
    ]
    solara.Markdown("\n".join(lines))


@solara.component
def Page() -> None:
    """The dashboard: the scenario in the sidebar (and in the address), three named pages."""
    router = solara.use_router()
    initial = solara.use_memo(lambda: from_query(router.search or ""), [])
    draft = solara.use_reactive(initial)
    scenario = draft.value
    errors = solara.use_memo(lambda: field_errors(scenario), [scenario])
    valid = not errors

    def sync_address() -> None:
        query = to_query(scenario)
        if (router.search or "") != query:
            router.push(f"{router.path}?{query}" if query else router.path)

    solara.use_effect(sync_address, [scenario])
    solara.Title("clustersim: innovation-cluster policy")
    with solara.Sidebar(), solara.Card("Scenario", classes=["cs-scenario"]):
        ScenarioForm(draft, errors)
    page = scenario.page if scenario.page in PAGES else "compare"
    with solara.lab.Tabs(value=PAGES.index(page), on_value=lambda i: draft.set(replace(draft.value, page=PAGES[i]))):
        with solara.lab.Tab(PAGE_TITLES["compare"]):
            ComparePage(scenario, valid)
        with solara.lab.Tab(PAGE_TITLES["explore"]):
            if page == "explore":
                ExplorePage(scenario, valid)
        with solara.lab.Tab(PAGE_TITLES["about"]):
            AboutPage()


# --------------------------------------------------------------------------- command
def main(argv: list[str] | None = None) -> int:
    """Serve the dashboard on 127.0.0.1 with ``solara run`` (no browser is opened).

    The command becomes the server (``exec``): stopping it (Ctrl-C, SIGTERM) stops the
    server, with nothing left listening.

    Args:
        argv: command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        Only if the server could not be started: its exit status.
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
    env = {
        **os.environ,
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
        "SOLARA_THEME_SHOW_BANNER": "False",  # no fixed footer over the charts
        "SOLARA_THEME_TITLE": "clustersim",
    }
    print(f"clustersim dashboard: http://127.0.0.1:{args.port}/", flush=True)
    os.execvpe(cmd[0], cmd, env)
    return 1  # pragma: no cover


def solara_command() -> list[str]:
    """The ``solara`` command of this Python environment."""
    return [sys.executable, "-m", "solara"]
