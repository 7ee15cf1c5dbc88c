"""The validation's outputs: Markdown tables, the report page and the results folder (written atomically)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from clustersim import atomic
from clustersim.validation.figures import write_figures
from clustersim.validation.run import ValidationResult


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
    for sc, scenario in spec.scenarios.items():
        role = "primary" if sc == spec.primary_scenario else ("robustness" if sc in spec.robustness_scenarios else "")
        ov = [*scenario.overrides, *(spec.reduced.overrides if result.reduced else [])]
        lines.append(f"- `{sc}` ({role}): `{' '.join(ov) or '(none)'}`: {scenario.description}")
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
        hs = spec.replications_study.half_widths
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
