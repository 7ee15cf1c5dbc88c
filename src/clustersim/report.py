"""The policy report of a sweep, built from its merged dataset only.

Every sweep gets one (:func:`build_report`): two arms or more (named contrasts), a grid
of cells, or a single arm (a distribution report). The report opens with a decision
brief in plain words (:mod:`clustersim.brief`): what the change does and does not do,
with the size and certainty of each effect in human units, the euros of each arm, the
report window, the caveats and the inputs that decide the answer, linked to the docs.
Then the detail: tables with human labels (each indicator once), figures (300 dpi PNG
and SVG in ``figures/``), the grid, failed runs, definitions and the method.

Written beside the sweep: ``report.md``, a self-contained ``report.html``, ``effects.csv``
(comparisons) or ``distribution.csv`` (one arm), and ``figures/``. ``clustersim-report``
rebuilds them from the saved runs and never shows a traceback.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from clustersim import atomic
from clustersim.analysis import BETTER, NEUTRAL, WORSE, wide_summary
from clustersim.brief import Brief, build_brief, run_context
from clustersim.comparison import (
    Design,
    ReportError,
    compute_distribution,
    compute_effects,
    headline_cell,
    resolve_design,
    select,
)
from clustersim.figures import (
    effect_caption,
    forest_figure,
    grid_caption,
    heatmap_figure,
    series_caption,
    series_figure,
)
from clustersim.kpis import KPI_BY_NAME
from clustersim.labels import (
    ERDF,
    HEADLINE,
    SERIES,
    Notes,
    default_choices,
    fmt_effect,
    fmt_interval,
    fmt_number,
    fmt_signed,
    kpi_label,
    load_notes,
)
from clustersim.saver import BackgroundSaver
from clustersim.stats import CORRECTIONS
from clustersim.store import experiment_spec, merge_sweep, read_monthly, read_sweep

logger = logging.getLogger(__name__)

__all__ = [
    "ERDF",
    "HEADLINE",
    "SERIES",
    "ReportError",
    "build_arm_report",
    "build_report",
]

#: KPIs drawn as heatmaps when a sweep varies two columns.
HEATMAP_KPIS = ("members", "ties_firm_firm", "research_collaborations", "international_collaborations")
EXIT_FAILED_RUNS = EXIT_NO_COMPARISON = 1  # the runs are saved; what was asked for could not be given
SHOWN_VERDICT = {NEUTRAL: "not rated (no better direction)"}


# --------------------------------------------------------------------------- tables
def _p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _titles(eff: pd.DataFrame, short: bool = False) -> dict[str, str]:
    """KPI -> its label, naming the indicators it repeats exactly ("CO02 ... = CO26 ...").

    ``short`` names a repeated indicator by its code ("CO02 Enterprises receiving grants (= CO26)").
    """
    out = {k: kpi_label(k).title for k in eff["kpi"]}
    for r in eff[eff["duplicate_of"] != ""].itertuples():
        if r.duplicate_of in out:
            out[r.duplicate_of] += f" (= {r.kpi})" if short else f" = {kpi_label(r.kpi).title}"
    return out


def effects_table(eff: pd.DataFrame, kpis: tuple[str, ...], notes: Notes, arm: str) -> pd.DataFrame:
    """One contrast's effects on ``kpis`` as a readable table (strings), each indicator once."""
    titles = _titles(eff[eff["kpi"].isin(kpis)])
    rows = eff[eff["kpi"].isin(kpis) & (eff["duplicate_of"] == "")]
    rows = rows.set_index("kpi").reindex([k for k in kpis if k in set(rows["kpi"])]).reset_index()
    if rows.empty:
        return pd.DataFrame()
    base, treat = str(rows["baseline"].iloc[0]), str(rows["treatment"].iloc[0])
    corr = CORRECTIONS.get(str(rows["correction"].iloc[0]), "")
    out = []
    for r in rows.itertuples():
        kind = kpi_label(r.kpi).kind
        out.append(
            {
                "Indicator": titles[r.kpi],
                notes.option(arm, base, short=True): fmt_number(r.baseline_mean, kind),
                notes.option(arm, treat, short=True): fmt_number(r.treatment_mean, kind),
                "Difference [95% interval]": fmt_effect(r.difference, r.ci_low, r.ci_high, kind),
                f"p ({corr})" if corr else "p": _p(r.p_adjusted),
                "Verdict": SHOWN_VERDICT.get(r.verdict, r.verdict),
            }
        )
    return pd.DataFrame(out)


def distribution_table(dist: pd.DataFrame, kpis: tuple[str, ...], columns: list[str]) -> pd.DataFrame:
    """One arm's (or cell's) KPIs: mean [95% interval] and the range of 95% of the replications."""
    rows = dist[dist["kpi"].isin(kpis) & (dist["duplicate_of"] == "")]
    out = []
    for k in [k for k in kpis if k in set(rows["kpi"])]:
        r = rows[rows["kpi"] == k].iloc[0]
        kind = kpi_label(k).kind
        entry = {"Indicator": kpi_label(k).title}
        for c in columns:
            entry[c] = str(r.get(c, ""))
        entry["Mean [95% interval]"] = (
            f"{fmt_number(r['mean'], kind)} [{fmt_interval(r['ci_low'], r['ci_high'], kind)}]"
        )
        entry["95% of replications"] = fmt_interval(r["range_low"], r["range_high"], kind)
        out.append(entry)
    return pd.DataFrame(out)


def grid_table(effects: pd.DataFrame, design: Design, contrast: str, notes: Notes) -> pd.DataFrame:
    """Every cell of a grid: the headline effects with intervals, one row per cell."""
    e = effects[effects["contrast"] == contrast]
    kpis = [k for k in HEATMAP_KPIS if k in set(e["kpi"])]
    out = []
    for _, sub in e.groupby(design.by, sort=False):
        first = sub.iloc[0]
        row = {c: notes.option(c, str(first[c]), short=True) for c in design.by}
        for k in kpis:
            r = sub[sub["kpi"] == k].iloc[0]
            kind = kpi_label(k).kind
            mark = {BETTER: " (better)", WORSE: " (worse)"}.get(r["verdict"], "")
            row[kpi_label(k).title] = (
                f"{fmt_signed(r['difference'], kind)} [{fmt_interval(r['ci_low'], r['ci_high'], kind)}]{mark}"
            )
        row["pairs"] = str(int(sub["n_pairs"].max()))
        out.append(row)
    return pd.DataFrame(out)


def text_table(df: pd.DataFrame) -> str:
    """Aligned plain-text table."""
    if df.empty:
        return "(nothing to show)"
    cols = list(df.columns)
    widths = [max(len(str(c)), *(len(str(v)) for v in df[c])) for c in cols]
    line = "  ".join(str(c).ljust(w) for c, w in zip(cols, widths, strict=True))
    rows = [line, "-" * len(line)]
    for _, r in df.iterrows():
        rows.append("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths, strict=True)))
    return "\n".join(rows)


def markdown_table(df: pd.DataFrame) -> str:
    """GitHub-flavoured Markdown table."""
    if df.empty:
        return "(nothing to show)"
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(r[c]).replace("|", "/") for c in df.columns) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- report
class _Doc:
    """A report written once as blocks, rendered to Markdown, HTML and terminal text."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, Any]] = []

    def add(self, kind: str, value: Any) -> None:
        self.blocks.append((kind, value))

    def markdown(self) -> str:
        out = []
        for kind, v in self.blocks:
            if kind == "h1":
                out += [f"# {v}", ""]
            elif kind == "h2":
                out += [f"## {v}", ""]
            elif kind == "h3":
                out += [f"### {v}", ""]
            elif kind == "p":
                out += [v, ""]
            elif kind == "list":
                out += [f"- {item}" for item in v] + [""]
            elif kind == "table":
                out += [markdown_table(v), ""]
            elif kind == "figure":
                path, alt, caption = v
                out += [f"![{alt}](figures/{path.name})", "", f"*{caption}*", ""]
        return "\n".join(out)

    def html(self, title: str) -> str:
        style = (
            "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;"
            "line-height:1.45}table{border-collapse:collapse;font-size:14px;margin:.5em 0 1em}"
            "td,th{border:1px solid #ccc;padding:4px 8px}td:nth-child(n+2){text-align:right}"
            "th{background:#f3f3f3}img{max-width:100%}figure{margin:1em 0}figcaption{font-size:13px;color:#444}"
            ".brief{background:#f6f9fc;border-left:4px solid #0072B2;padding:.5em 1em}"
            ".better{color:#00704f;font-weight:600}.worse{color:#b54300;font-weight:600}"
            ".possibly{font-style:italic}"
        )
        parts = [
            f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
            f"<style>{style}</style></head><body>",
        ]
        in_brief = False
        for kind, v in self.blocks:
            if kind == "brief-start":
                parts.append("<section class='brief'>")
                in_brief = True
            elif kind == "brief-end" and in_brief:
                parts.append("</section>")
                in_brief = False
            elif kind in ("h1", "h2", "h3"):
                parts.append(f"<{kind}>{html.escape(v)}</{kind}>")
            elif kind == "p":
                parts.append(f"<p>{_inline(v)}</p>")
            elif kind == "list":
                parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in v) + "</ul>")
            elif kind == "table":
                parts.append(_html_table(v))
            elif kind == "figure":
                path, alt, caption = v
                data = base64.b64encode(path.with_suffix(".svg").read_bytes()).decode()
                parts.append(
                    f"<figure><img alt='{html.escape(alt)}' src='data:image/svg+xml;base64,{data}'>"
                    f"<figcaption>{_inline(caption)}</figcaption></figure>"
                )
        parts.append("</body></html>")
        return "\n".join(parts)


def _inline(text: str) -> str:
    """Markdown's **bold** and [links](target) in HTML, the rest escaped."""
    import re

    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"<a href='\2'>\1</a>", out)


def _html_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p>(nothing to show)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            v = str(r[c])
            cls = ""
            if c == "Verdict":
                cls = {"better": "better", "worse": "worse"}.get(v, "possibly" if v.startswith("possibly") else "")
            cells.append(f"<td class='{cls}'>{html.escape(v)}</td>" if cls else f"<td>{html.escape(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _brief_blocks(doc: _Doc, brief: Brief) -> None:
    doc.add("brief-start", None)
    doc.add("h2", "In brief")
    for p in brief.paragraphs:
        doc.add("p", p)
    doc.add("p", f"**Money per arm** (mean over the replications). {brief.money_note}")
    doc.add("table", brief.money)
    doc.add(
        "p",
        f"**Report window:** {brief.window}. Effects count what happens in these months; stocks such"
        " as members are read in the last month.",
    )
    if brief.caveats:
        doc.add("p", "**Caveats that matter** (what the model is known to get wrong):")
        doc.add("list", [f"**{t}.** {x}" + (f" [more]({link})" if link else "") for t, x, link in brief.caveats])
    if brief.deciding:
        doc.add("p", "**What decides the answer** (inputs the result is sensitive to):")
        doc.add("list", [f"**{t}.** {x}" + (f" [more]({link})" if link else "") for t, x, link in brief.deciding])
    doc.add("brief-end", None)


def build_report(sweep_dir: Path | str, merge: bool = False) -> dict[str, Any]:
    """Write the report of a sweep (``report.md``, ``report.html``, a CSV, ``figures/``); return its parts.

    Raises:
        ReportError: when no report can be formed (no complete run, no pairs); one line.
    """
    sweep_dir = Path(sweep_dir)
    merged = merge or not (sweep_dir / "summary.parquet").is_file()
    data = merge_sweep(sweep_dir) if merged else read_sweep(sweep_dir)
    spec = _spec(sweep_dir)
    runs = data["runs"]
    failed = runs[runs["status"] != "complete"] if not runs.empty else runs
    summary = data["summary"]
    if summary.empty:
        raise ReportError(f"no complete run in {sweep_dir} (see {sweep_dir / 'jobs'} for why)")
    id_cols = [c for c in summary.columns if c not in ("kpi", "cluster", "value", "unit", "direction", "note")]
    wide = wide_summary(summary, id_cols)
    arm = str(spec.get("arm") or "clusters")
    ctx = run_context(sweep_dir, runs, arm)
    notes = load_notes(ctx.region)
    design = resolve_design(spec, wide, notes, id_cols)
    figures = sweep_dir / "figures"
    figures.mkdir(exist_ok=True)
    saver = BackgroundSaver()  # figures are written by a second process while the tables are made
    out: dict[str, Any] = {"failed": failed, "design": design, "context": ctx, "effects": None, "distribution": None}
    cell = headline_cell(design, wide, default_choices())
    scope = ", ".join(f"{notes.option(c, str(v))}" for c, v in cell.items())
    head_wide = select(wide, cell)
    if design.is_comparison:
        effects = compute_effects(design, wide)
        _write_csv(effects, sweep_dir / "effects.csv")
        out["effects"] = effects
        head = select(effects, cell)
        brief = build_brief(design, head, head_wide, ctx, notes, sweep_dir)
    else:
        dist = compute_distribution(design, wide)
        _write_csv(dist, sweep_dir / "distribution.csv")
        out["distribution"] = dist
        head = select(dist, cell)
        brief = build_brief(design, None, head_wide, ctx, notes, sweep_dir, distribution=head)
    if scope and design.by:
        brief.paragraphs.insert(0, f"For {scope} (every cell of the grid is in the section 'Every cell of the grid'):")
    out["brief"] = brief

    doc = _Doc()
    doc.add("h1", design.title)
    for remark in design.remarks:
        doc.add("p", f"Note: {remark}.")
    _brief_blocks(doc, brief)
    doc.add("h2", "Detail")
    if scope and design.by:
        doc.add(
            "p",
            f"Tables and figures below are for the cell {scope}; every cell is in the grid section"
            " and in " + ("effects.csv." if design.is_comparison else "distribution.csv."),
        )
    tables: dict[str, pd.DataFrame] = {}
    if design.is_comparison:
        for c in design.contrasts:
            eff = head[head["contrast"] == c.name]
            if eff.empty:
                continue
            doc.add("h3", f"{c.description[:1].upper() + c.description[1:]}: headline indicators")
            t = effects_table(eff, HEADLINE, notes, design.arm)
            tables[c.name] = t
            doc.add("table", t)
            doc.add("h3", f"{c.description[:1].upper() + c.description[1:]}: ERDF common indicators")
            doc.add("table", effects_table(eff, ERDF, notes, design.arm))
            rated = eff[eff["kpi"].isin(HEADLINE + ERDF) & (eff["duplicate_of"] == "")]
            rated = rated.set_index("kpi").reindex([k for k in HEADLINE + ERDF if k in set(rated["kpi"])]).reset_index()
            rated["title"] = rated["kpi"].map(_titles(eff[eff["kpi"].isin(HEADLINE + ERDF)], short=True))
            stem = figures / (f"forest_{c.name}" if len(design.contrasts) > 1 else "forest")
            title = f"{c.description} (treatment minus baseline, report window {ctx.window})"
            saver(forest_figure(rated, title), stem)
            doc.add("figure", (stem.with_suffix(".png"), f"effects: {c.description}", effect_caption(rated)))
        out["table"] = next(iter(tables.values())) if tables else pd.DataFrame()
        # the series figure goes to the saving process before the firm pairing is worked out here
        series = _series(saver, sweep_dir, design, cell, ctx, notes, figures)
        _pairing_section(doc, sweep_dir, data["runs"], design, ctx, out)
    else:
        for a in design.arms:
            d = head[head[design.arm] == a]
            doc.add("h3", f"{notes.option(design.arm, a)}: headline indicators")
            t = distribution_table(d, HEADLINE + ERDF, [])
            tables[a] = t
            doc.add("table", t)
        out["table"] = next(iter(tables.values())) if tables else pd.DataFrame()
        series = _series(saver, sweep_dir, design, cell, ctx, notes, figures)
    if series is not None:
        doc.add("figure", series)
    if design.is_comparison and design.by:
        doc.add("h2", "Every cell of the grid")
        for c in design.contrasts:
            doc.add("h3", c.description[:1].upper() + c.description[1:])
            doc.add("table", grid_table(out["effects"], design, c.name, notes))
            if len(design.by) == 2:
                for kpi in HEATMAP_KPIS:
                    stem = figures / (f"heatmap_{kpi}" + (f"_{c.name}" if len(design.contrasts) > 1 else ""))
                    e = out["effects"][out["effects"]["contrast"] == c.name]
                    saver(heatmap_figure(e, kpi, design.by[0], design.by[1], notes, c.description), stem)
                    caption = grid_caption(e, kpi, design.by[0], design.by[1], notes)
                    doc.add("figure", (stem.with_suffix(".png"), f"{kpi_label(kpi).title} over the grid", caption))
    if len(failed):
        doc.add("h2", "Failed runs")
        doc.add("table", failed[["run", "error"]].astype(str))
    doc.add("h2", "How this was computed")
    doc.add("p", brief.method)
    doc.add("h2", "What the indicators measure")
    doc.add(
        "list",
        [f"**{kpi_label(k).title}**: {KPI_BY_NAME[k].definition} ({KPI_BY_NAME[k].unit})" for k in HEADLINE + ERDF],
    )
    doc.add("p", "Full definitions: docs/ODD.md, section 7.3.")
    saver.wait()  # report.html embeds the figures
    _write_text(sweep_dir / "report.md", doc.markdown())
    _write_text(sweep_dir / "report.html", doc.html(design.title))
    out["markdown"] = doc.markdown()
    out["text"] = terminal_text(design, brief, tables, failed)
    return out


def _series(
    saver: BackgroundSaver, sweep_dir: Path, design: Design, cell: dict[str, Any], ctx: Any, notes: Notes, figures: Path
) -> tuple[Path, str, str] | None:
    """Queue the figure of the monthly series; return its report entry (path, alt text, caption), None if no series."""
    # only the series drawn, and the columns they need: a large sweep's monthly table stays on disk
    wanted = ["run", "month", "date", "kpi", "value", design.arm, *design.by, *cell]
    monthly = read_monthly(sweep_dir, kpis=SERIES, columns=list(dict.fromkeys(wanted)))
    if monthly.empty:
        return None
    m = select(monthly, cell)
    spans = []
    for a in design.arms:
        spans += [s for s in ctx.spans.get(a, []) if s not in spans]
    saver(series_figure(m, design.arm, design.arms, notes, SERIES, spans, design.level), figures / "series")
    caption = (
        f"Monthly paths of each arm ({m['run'].nunique() // max(len(design.arms), 1)} runs each): line the mean,"
        " dark band its 95% interval,"
        " light band where 95% of the replications fall. "
    ) + series_caption(m, design.arm, design.arms, notes, spans, SERIES)
    return figures / "series.png", "monthly paths per arm", caption


def _pairing_section(
    doc: _Doc, sweep_dir: Path, runs: pd.DataFrame, design: Design, ctx: Any, out: dict[str, Any]
) -> None:
    """How well the arms stay in step, firm by firm (from the runs' firm microdata): pairing.csv and a table."""
    from clustersim.pairing import sweep_pairing

    if not ctx.report_start or not (sweep_dir / "runs").is_dir():
        return
    contrasts = [(c.name, c.treatment, c.baseline) for c in design.contrasts]
    try:
        pairing = sweep_pairing(sweep_dir, runs, design.arm, contrasts, design.pair_on, int(ctx.report_start[:4]))
    except (OSError, KeyError, ValueError):  # runs written before the microdata existed: no section
        return
    if pairing.empty:
        return
    _write_csv(pairing, sweep_dir / "pairing.csv")
    out["pairing"] = pairing
    doc.add("h3", "How well the arms stay in step, firm by firm")
    doc.add(
        "p",
        "Each random decision draws numbers named by what it decides, so a firm's life differs between two"
        " arms only through the policy. For each pair of runs (same seed and replication) the table gives"
        " the correlation between the arms of each firm's outcome over the report window, and the share of"
        " firms whose outcome is identical, averaged over the pairs. Firms that no policy instrument reaches"
        " in either arm (never aware, never a member, in no proposal, tied to no member) must be identical;"
        " firms outside clusters in both arms differ only through the calls open to them (Line B projects,"
        " whose partners depend on who has been a member) and their partners' knowledge.",
    )
    t = pairing.copy()
    t["correlation"] = t["correlation"].map(lambda v: "n/a" if pd.isna(v) else f"{v:.3f}")
    t["identical_share"] = t["identical_share"].map(lambda v: "n/a" if pd.isna(v) else f"{100 * v:.1f}%")
    t["firms"] = t["firms"].map(lambda v: f"{v:,.0f}")
    outcome_names = {"innovations": "innovations", "ties": "new ties", "turnover_growth": "turnover growth"}
    t["outcome"] = t["outcome"].map(lambda o: outcome_names.get(o, o))
    t.columns = ["contrast", "firms", "outcome", "pairs", "firms (mean)", "correlation", "identical"]
    doc.add("table", t)


def build_arm_report(sweep_dir: Path | str, merge: bool = False) -> dict[str, Any]:
    """The report of a sweep of one arm: :func:`build_report` gives it (a distribution report).

    Kept under this name for callers that choose the report by the number of arms; the
    returned ``distribution`` holds each KPI's mean, interval and range of replications.
    """
    return build_report(sweep_dir, merge=merge)


def _spec(sweep_dir: Path) -> dict[str, Any]:
    """The sweep's comparison spec; a damaged file is a :class:`ReportError` naming it."""
    try:
        spec = experiment_spec(sweep_dir)
    except yaml.YAMLError as err:
        raise ReportError(f"{sweep_dir / 'experiment.yaml'} is not valid YAML ({_first_line(err)})") from None
    if not isinstance(spec, dict):
        raise ReportError(f"{sweep_dir / 'experiment.yaml'}: allowed: a mapping of comparison keys") from None
    return spec


def _first_line(err: BaseException) -> str:
    text = " ".join(str(err).split("\n")[0].split())
    return text or type(err).__name__


def terminal_text(design: Design, brief: Brief, tables: dict[str, pd.DataFrame], failed: pd.DataFrame) -> str:
    """The brief and the headline table(s) for the terminal, wrapped to 100 columns."""

    def plain(text: str) -> str:
        return text.replace("**", "")

    lines = [design.title, "=" * min(len(design.title), 100), ""]
    for p in brief.paragraphs:
        lines += [*textwrap.wrap(plain(p), 100), ""]
    lines += ["Money per arm:", text_table(brief.money), *textwrap.wrap(brief.money_note, 100), ""]
    lines.append(f"Report window: {brief.window}.")
    if brief.caveats or brief.deciding:
        names = "; ".join(t for t, _, _ in brief.caveats + brief.deciding)
        lines += textwrap.wrap(f"Caveats and deciding inputs (in the report): {names}.", 100)
    for name, t in tables.items():
        lines += ["", f"{name}:" if len(tables) > 1 else "", text_table(t)]
    if len(failed):
        lines += ["", f"{len(failed)} run(s) failed: " + ", ".join(map(str, failed["run"]))]
    return "\n".join(line for line in lines if line is not None)


def _write_text(path: Path, text: str) -> None:
    atomic.write_text(path, text)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    atomic.write_with(path, lambda tmp: df.to_csv(tmp, index=False))
