"""The dashboard's comparison: two cluster set-ups over several paired replications.

:func:`run_comparison` runs replication r of both set-ups on the same seed (one history up
to the change, common random numbers), month by month, reporting its progress and
stopping as soon as it is asked to (so it runs in the background and can be cancelled).
:func:`comparison_view` turns the result into what the page shows, with the report's
own pieces (paired effects with Holm-corrected verdicts, the brief's paragraph, the money
per arm, the monthly paths with their bands); :func:`comparison_zip` packs the results
and the configurations for download.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from clustersim.analysis import wide_summary
from clustersim.brief import config_spans, contrast_paragraph, money_table
from clustersim.comparison import Contrast, Design, compute_effects
from clustersim.confdir import safe_load
from clustersim.figures import Span, series_figure
from clustersim.labels import HEADLINE, SERIES, Notes
from clustersim.model import ClusterModel
from clustersim.results import config_yaml
from clustersim.viz.scenario import (
    MONEY_PARTS,
    Scenario,
    compose,
    money_breakdown,
    months_between,
    run_summary,
    to_query,
)


@dataclass
class ComparisonResult:
    """The runs of a comparison: one row per run, the monthly paths, the money, the configurations."""

    scenario: Scenario
    arms: list[str]
    wide: pd.DataFrame
    monthly: pd.DataFrame
    money: pd.DataFrame
    configs: dict[str, str]
    window: str
    spans: list[Span] = field(default_factory=list)


def run_comparison(
    scenario: Scenario,
    progress: Callable[[float, str], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> ComparisonResult | None:
    """Run ``scenario.replications`` pairs of the baseline and treatment set-ups.

    Args:
        scenario: a checked scenario (see :func:`clustersim.viz.scenario.field_errors`).
        progress: called with the share done (0-1) and a sentence, about every month run.
        stop: asked between months; when it returns True the comparison stops.

    Returns:
        The result, or None when stopped.
    """
    arms = [scenario.baseline, scenario.treatment]
    reps = scenario.n_replications
    cfgs = {(a, r): compose(scenario.overrides(a, r)) for r in range(reps) for a in arms}
    total = sum(months_between(c.start, c.end) + 1 for c in cfgs.values())
    done = 0
    summaries, monthlies, money_rows = [], [], []
    for r in range(reps):
        for i, a in enumerate(arms):
            cfg = cfgs[(a, r)]
            model = ClusterModel(cfg)
            for _ in range(model.n_months):
                if stop is not None and stop():
                    return None
                model.step()
                done += 1
                if progress is not None and done % 6 == 0:
                    progress(done / total, f"replication {r + 1} of {reps}, set-up {i + 1} of 2")
            ids = {"run": f"{a}-rep{r}", "clusters": a, "seed": cfg.seed, "replication": r}
            s = run_summary(model)
            m = model.recorder.monthly_table()
            m = m[m["cluster"] == "all"]
            for col, val in ids.items():
                s.insert(0, col, val)
                m.insert(0, col, val)
            summaries.append(s)
            monthlies.append(m)
            money_rows.append({**ids, **money_breakdown(model)})
    if progress is not None:
        progress(1.0, "done")
    first = cfgs[(scenario.treatment, 0)]
    _change, spans = config_spans(safe_load(config_yaml(first)))
    table = pd.concat(summaries, ignore_index=True)
    return ComparisonResult(
        scenario=scenario,
        arms=arms,
        wide=wide_summary(table, ["run", "clusters", "seed", "replication"]),
        monthly=pd.concat(monthlies, ignore_index=True),
        money=pd.DataFrame(money_rows),
        configs={a: config_yaml(cfgs[(a, 0)]) for a in arms},
        window=f"{first.report_start} to {first.end}",
        spans=spans,
    )


def design_of(result: ComparisonResult, notes: Notes) -> Design:
    """The two-arm paired design of a dashboard comparison."""
    base, treat = result.arms
    description = f"{notes.option('clusters', treat)} instead of {notes.option('clusters', base)}"
    return Design(
        arm="clusters",
        arms=list(result.arms),
        contrasts=[Contrast("effect", treat, base, description)],
        by=[],
        pairing="common",
        pair_on=["seed", "replication"],
        title=description,
    )


def comparison_view(result: ComparisonResult, notes: Notes) -> dict[str, Any]:
    """What the comparison page shows: the paragraph, the effects table, the money, the figure."""
    from clustersim.report import effects_table

    design = design_of(result, notes)
    effects = compute_effects(design, result.wide)
    contrast = design.contrasts[0]
    money, note = money_table(design, result.wide)
    money["Arm"] = [notes.option("clusters", a) for a in money["Arm"]]
    where = result.money.groupby("clusters")[[*MONEY_PARTS, "allocated"]].mean()
    where = where.reindex(result.arms)
    where.index = [notes.option("clusters", a) for a in where.index]
    return {
        "design": design,
        "effects": effects,
        "paragraph": contrast_paragraph(contrast, effects, result.window, True, notes),
        "table": effects_table(effects, HEADLINE, notes, "clusters"),
        "money": money,
        "money_note": note,
        "where": where,
        "figure": series_figure(result.monthly, "clusters", result.arms, notes, SERIES, result.spans),
    }


def comparison_zip(result: ComparisonResult, view: dict[str, Any]) -> bytes:
    """The comparison's results and configurations as a ZIP archive (CSV, YAML, a README)."""
    s = result.scenario
    command = (
        f"clustersim -m clusters={','.join(result.arms)} funding={s.funding} staffing={s.staffing}"
        f" population={s.population} seed={s.seed} 'replication=range(0,{s.n_replications})'"
        + "".join(f" {o}" for o in s.overrides()[7:])
    )
    readme = (
        f"clustersim dashboard comparison: {view['design'].title}\n"
        f"report window {result.window}; {s.n_replications} paired replications, seed {s.seed}\n\n"
        f"Link (append to the dashboard's address): ?{to_query(s)}\n"
        f"The same runs from the command line:\n  {command}\n\n"
        "effects.csv: paired effects (treatment minus reference) with 95% intervals, Holm-corrected verdicts\n"
        "summary.csv: every KPI of every run; monthly.csv: the monthly paths; money.csv: where the public\n"
        "money is at the end of each run (the parts add up to 'allocated'); config_<set-up>.yaml: the\n"
        "resolved configuration of replication 0 of each set-up (replication r differs only by 'replication').\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("README.txt", readme)
        z.writestr("scenario.json", json.dumps({k: str(v) for k, v in vars(s).items()}, indent=2))
        z.writestr("effects.csv", view["effects"].to_csv(index=False))
        z.writestr("summary.csv", result.wide.to_csv(index=False))
        z.writestr("monthly.csv", result.monthly.to_csv(index=False))
        z.writestr("money.csv", result.money.to_csv(index=False))
        for arm, text in result.configs.items():
            z.writestr(f"config_{arm}.yaml", text)
    return buffer.getvalue()


def run_zip(scenario: Scenario, sim: ClusterModel, money: pd.DataFrame) -> bytes:
    """One run's results so far and its configuration, as a ZIP archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("README.txt", f"clustersim dashboard run, link: ?{to_query(scenario)}\n")
        z.writestr("config.yaml", config_yaml(sim.cfg))
        z.writestr("monthly.csv", sim.recorder.monthly_table().to_csv(index=False) if sim.recorder.rows else "")
        z.writestr("money.csv", money.to_csv(index=False))
        if not sim.running:
            z.writestr("summary.csv", run_summary(sim).to_csv(index=False))
    return buffer.getvalue()
