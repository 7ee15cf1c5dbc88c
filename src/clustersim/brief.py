"""The decision brief at the top of a report: what the change does and does not do, in words.

Everything here is generated from the saved results and the region's notes file
(:func:`clustersim.labels.load_notes`): the size and certainty of each effect with its
interval in human units, the euros of each arm, the report window, the caveats that bear
on the effects shown and the inputs that decide the answer (with links to the docs), and
how the statistics were done. Nothing about a region or a scenario is written here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from clustersim import months
from clustersim.analysis import BETTER, POSSIBLY_BETTER, POSSIBLY_WORSE, UNCLEAR, WORSE
from clustersim.comparison import Contrast, Design
from clustersim.confdir import safe_load
from clustersim.figures import Span
from clustersim.labels import HEADLINE, MONEY, Notes, default_choices, doc_link, effect_phrase, fmt_number, kpi_label
from clustersim.stats import CORRECTIONS


@dataclass
class RunContext:
    """What the saved configurations of a sweep's runs say about its window and events."""

    region: str = field(default_factory=lambda: default_choices().get("region", ""))
    start: str = ""
    end: str = ""
    report_start: str = ""
    spans: dict[str, list[Span]] = field(default_factory=dict)  # arm -> shaded periods
    changes: dict[str, str] = field(default_factory=dict)  # arm -> month its configuration changes

    @property
    def window(self) -> str:
        """The report window in words."""
        return f"{self.report_start} to {self.end}" if self.report_start else "the report window"


def _add_months(date: str, count: int) -> str:
    return months.add_months(date, count)


def config_spans(cfg: dict[str, Any]) -> tuple[str | None, list[Span]]:
    """When a configuration changes its clusters, and the periods to shade after that (set-up, transition).

    Args:
        cfg: a resolved configuration as a plain mapping (a run's ``config.yaml``).

    Returns:
        The month the last change of configuration starts (None without one) and its spans.
    """
    periods = (cfg.get("clusters") or {}).get("periods") or []
    setup = int((cfg.get("staffing") or {}).get("setup_months") or 0)
    change, spans = None, []
    for p in periods[1:]:
        start = str(p.get("start"))
        change = start
        if setup:
            spans.append(
                Span(start, _add_months(start, setup), f"new cluster organisations on set-up staff ({setup} months)")
            )
        transition = int(p.get("transition_months") or 0)
        if transition:
            spans.append(
                Span(start, _add_months(start, transition), f"transition after the change ({transition} months)")
            )
    return change, spans


def run_context(sweep_dir: Path, runs: pd.DataFrame, arm: str) -> RunContext:
    """Read one complete run's ``config.yaml`` per arm: region, window, changes of configuration."""
    ctx = RunContext()
    if runs.empty or arm not in runs.columns:
        return ctx
    done = runs[runs["status"] == "complete"]
    for a, sub in done.groupby(arm, sort=False):
        path = Path(sweep_dir) / "runs" / str(sub["run"].iloc[0]) / "config.yaml"
        if not path.is_file():
            continue
        cfg = safe_load(path.read_text()) or {}
        ctx.region = str((cfg.get("region") or {}).get("name") or ctx.region)
        ctx.start, ctx.end = str(cfg.get("start", ctx.start)), str(cfg.get("end", ctx.end))
        ctx.report_start = str(cfg.get("report_start", ctx.report_start))
        change, spans = config_spans(cfg)
        if change:
            ctx.changes[str(a)] = change
        ctx.spans[str(a)] = spans
    return ctx


@dataclass
class Brief:
    """The decision brief: plain paragraphs, the money table, caveats and deciding inputs."""

    paragraphs: list[str]
    money: pd.DataFrame
    money_note: str
    window: str
    caveats: list[tuple[str, str, str]]
    deciding: list[tuple[str, str, str]]
    method: str


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def contrast_paragraph(c: Contrast, eff: pd.DataFrame, window: str, paired: bool, notes: Notes) -> str:
    """One paragraph on one contrast: gains, losses, the possible ones, and what does not change."""
    rows = eff[eff["kpi"].isin(HEADLINE) & (eff["duplicate_of"] == "")]
    rows = rows.set_index("kpi").reindex([k for k in HEADLINE if k in set(rows["kpi"])]).reset_index()
    n = int(rows["n_pairs"].max()) if len(rows) else 0
    unit = "paired replications" if paired else "replications per arm"
    head = f"**{c.description[:1].upper() + c.description[1:]}** ({n} {unit}, report window {window})"

    def phrases(verdicts: tuple[str, ...]) -> list[str]:
        sel = rows[rows["verdict"].isin(verdicts)]
        return [effect_phrase(r.kpi, r.difference, r.ci_low, r.ci_high) for r in sel.itertuples()]

    gains, losses = phrases((BETTER,)), phrases((WORSE,))
    maybe_good, maybe_bad = phrases((POSSIBLY_BETTER,)), phrases((POSSIBLY_WORSE,))
    none = [kpi_label(k).noun for k in rows.loc[rows["verdict"] == UNCLEAR, "kpi"]]
    parts = [head + ":"]
    if gains:
        parts.append(f"it brings {_join(gains)}.")
    if losses:
        parts.append(f"It costs {_join(losses)}.")
    if maybe_good or maybe_bad:
        parts.append(
            "Less certain (the interval excludes no change, but not once the number of indicators is"
            f" accounted for): {_join(maybe_good + maybe_bad)}."
        )
    if none:
        parts.append(f"It makes no clear difference to {_join(none)}.")
    if not (gains or losses or maybe_good or maybe_bad or none):
        parts.append("no indicator with a direction could be compared.")
    if n < 2:
        parts.append("With fewer than 2 replications there is no interval: run more replications before reading this.")
    return " ".join(parts)


MONEY_TITLES = {
    "public_eur_allocated": "Allocated",
    "public_eur_spent": "Spent",
    "public_eur_left": "Left",
    "public_eur_spent_window": "Spent in window",
    "cost_per_collaboration_eur": "Per collaboration",
    "cost_per_funded_project_eur": "Per funded project",
}


def money_table(design: Design, wide: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Public euros per arm (means over the replications) and a note on what they cover.

    Returns:
        The table (strings; one row per arm) and a sentence saying whether the money adds up
        (allocated = spent + left in every run) and whether the arms had the same money.
    """
    present = [k for k in MONEY if k in wide.columns]
    rows, adds_up = [], True
    allocated: dict[str, float] = {}
    for a in design.arms:
        sub = wide[wide[design.arm] == a]
        row: dict[str, Any] = {"Arm": a}
        for k in present:
            row[MONEY_TITLES.get(k, kpi_label(k).title)] = fmt_number(float(sub[k].mean()), "eur")
        if {"public_eur_allocated", "public_eur_spent", "public_eur_left"} <= set(present):
            gap = sub["public_eur_allocated"] - sub["public_eur_spent"] - sub["public_eur_left"]
            adds_up &= bool((gap.abs() < 0.01).all())
            allocated[a] = float(sub["public_eur_allocated"].mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    same = len({round(v, 2) for v in allocated.values()}) <= 1
    note = "Allocated = spent + left in every run, to the cent." if adds_up else "WARNING: allocated != spent + left."
    if allocated:
        note += " Every arm had the same public money." if same else " The arms had different public money."
    note += (
        f" Means over {len(wide) // max(len(design.arms), 1)} runs per arm. Allocated, spent and left cover the"
        " whole run (grants to the cluster organisations and R&D calls); the costs per collaboration and per"
        " funded project divide what was spent in the report window (their intervals are in the tables below)."
    )
    return table, note


def build_brief(
    design: Design,
    effects: pd.DataFrame | None,
    wide: pd.DataFrame,
    ctx: RunContext,
    notes: Notes,
    report_dir: Path,
    distribution: pd.DataFrame | None = None,
) -> Brief:
    """The brief of a report, from the headline cell's effects (or one arm's distribution)."""
    paired = design.pairing != "independent"
    window = ctx.window
    paragraphs: list[str] = []
    shown: list[str] = list(HEADLINE)
    if effects is not None and not effects.empty:
        for c in design.contrasts:
            eff = effects[effects["contrast"] == c.name]
            if len(eff):
                paragraphs.append(contrast_paragraph(c, eff, window, paired, notes))
        clear = effects[effects["verdict"].isin([BETTER, WORSE, POSSIBLY_BETTER, POSSIBLY_WORSE])]["kpi"].tolist()
        shown = list(dict.fromkeys(clear + list(HEADLINE)))
    elif distribution is not None and not distribution.empty:
        for a in design.arms:
            d = distribution[distribution[design.arm] == a].set_index("kpi")
            items = []
            for k in ("members", "ties_firm_firm", "research_collaborations", "international_collaborations"):
                if k in d.index:
                    r = d.loc[k]
                    lab = kpi_label(k)
                    ci = (
                        f"{fmt_number(r['ci_low'], lab.kind)} to {fmt_number(r['ci_high'], lab.kind)}"
                        if math.isfinite(r["ci_low"])
                        else "no interval"
                    )
                    items.append(
                        f"{fmt_number(r['mean'], lab.kind)} {lab.noun} (mean {ci}; one history falls within"
                        f" {fmt_number(r['range_low'], lab.kind)} to {fmt_number(r['range_high'], lab.kind)})"
                    )
            n = int(d["n_runs"].max()) if len(d) else 0
            paragraphs.append(
                f"**{notes.option(design.arm, a)}** ({n} replications, report window {window}): "
                + ("; ".join(items) + "." if items else "no headline indicator.")
                + " One scenario only: nothing is compared; add an arm to see what a change does."
            )
    money, money_note = money_table(design, wide)
    if len(money):
        money["Arm"] = [notes.option(design.arm, a) for a in money["Arm"]]
    caveats, deciding = notes.relevant(shown)

    def linked(items: list) -> list[tuple[str, str, str]]:
        return [(n.title, n.text, doc_link(n.link, report_dir) if n.link else "") for n in items]

    test = "paired t-test" if paired else "Welch t-test"
    corr = CORRECTIONS.get(design.correction, design.correction)
    if design.is_comparison:
        method = (
            f"Each effect is treatment minus baseline over the report window, the mean of the"
            f" {'paired differences (both arms share every random draw up to the change)' if paired else 'runs'},"
            f" with its {design.level:.0%} interval from the {test}. Verdicts use the same test and each"
            f" indicator's direction: 'better' or 'worse' when the p-value, corrected for the number of"
            f" indicators tested together ({corr} method), is below {1 - design.level:.2f}; 'possibly' when only"
            " the uncorrected one is; otherwise 'no clear difference'. Indicators that count exactly the same"
            " firms in this model are shown once."
        )
    else:
        method = (
            f"Each value is the mean over the replications with its {design.level:.0%} interval (t), and the"
            f" range that holds {design.level:.0%} of the replications (where one history falls)."
        )
    return Brief(paragraphs, money, money_note, window, linked(caveats), linked(deciding), method)
