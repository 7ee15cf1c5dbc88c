"""What a sweep can be compared on, read from its saved runs: arms, contrasts, cells, pairs.

Any sweep gets a report. The design is read from the comparison spec the sweep saved
(``experiment.yaml``: the arm column, baseline and treatment, named contrasts, pairing,
the columns that make cells) *and* from what the runs actually vary:

* two or more arms: one or more contrasts ``treatment - baseline`` (the spec's named
  contrasts whose arms were run; else the spec's treatment against its baseline; else
  every other arm against the baseline, or against the first arm in the region's order);
* any other column the runs vary (funding, staffing, population, behaviour, a swept
  ``param.<key>``) makes cells, compared separately (a grid);
* one arm: a distribution report (each KPI's mean with its interval, and the range of
  the replications), per cell.

A comparison that cannot be formed (no complete run, no arm column, arms that share no
replication under a paired design) raises :class:`ReportError` with one line saying why
and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from clustersim.analysis import distribution, independent_effects, paired_effects
from clustersim.labels import Notes

#: Run columns that can vary within a sweep and make cells (besides swept ``param.*`` keys).
FACTORS = ("funding", "staffing", "population", "behaviour")
NOT_FACTORS = ("run", "seed", "replication", "status", "error", "region")


class ReportError(ValueError):
    """A sweep that cannot be reported as asked; the message is one line for the user."""


@dataclass(frozen=True)
class Contrast:
    """``treatment - baseline``, with a name and what it means in words."""

    name: str
    treatment: str
    baseline: str
    description: str = ""


@dataclass
class Design:
    """How a sweep's runs are compared."""

    arm: str
    arms: list[str]
    contrasts: list[Contrast]
    by: list[str]
    pairing: str
    pair_on: list[str]
    title: str
    correction: str = "holm"
    level: float = 0.95
    remarks: list[str] = field(default_factory=list)

    @property
    def is_comparison(self) -> bool:
        """True when there are contrasts (two arms or more), False for a one-arm distribution."""
        return bool(self.contrasts)


def _varying(wide: pd.DataFrame, arm: str) -> list[str]:
    cols = [c for c in wide.columns if c in FACTORS or str(c).startswith("param.")]
    return [c for c in cols if c != arm and wide[c].nunique(dropna=False) > 1]


def resolve_design(spec: dict[str, Any], wide: pd.DataFrame, notes: Notes, id_cols: Sequence[str]) -> Design:
    """The design of a sweep: its spec, reconciled with what the complete runs vary.

    Args:
        spec: the saved comparison spec (may be empty).
        wide: one row per complete run (:func:`clustersim.analysis.wide_summary`).
        notes: the region's presentation notes (labels, the order of options).
        id_cols: the id columns of ``wide``.

    Raises:
        ReportError: no complete run, or no column naming the arms.
    """
    if wide.empty:
        raise ReportError("no complete run to report on (see jobs/ for why the runs failed)")
    arm = str(spec.get("arm") or "clusters")
    if arm not in wide.columns:
        raise ReportError(f"the runs have no column {arm!r} to compare arms on; allowed: one of {list(id_cols)}")
    arms = notes.order(arm, [str(a) for a in wide[arm].dropna().unique()])
    by = [c for c in spec.get("by") or [] if c in wide.columns and c != arm]
    by += [c for c in _varying(wide, arm) if c not in by]
    pairing = str(spec.get("pairing") or "common")
    pair_on = [c for c in ("seed", "replication") if c in wide.columns] + by
    pair_on += [c for c in wide.columns if str(c).startswith("param.") and c not in pair_on]
    baseline = str(spec.get("baseline") or "")
    treatment = str(spec.get("treatment") or "")
    remarks: list[str] = []

    def label(a: str) -> str:
        return notes.option(arm, a)

    contrasts: list[Contrast] = []
    for c in spec.get("contrasts") or []:
        t, b = str(c.get("treatment")), str(c.get("baseline"))
        if t in arms and b in arms:
            contrasts.append(Contrast(str(c.get("name")), t, b, str(c.get("description") or "")))
        else:
            missing = ", ".join(a for a in (t, b) if a not in arms)
            remarks.append(f"contrast {c.get('name')!r} left out: arm {missing} was not run in this sweep")
    if not contrasts and len(arms) >= 2:
        if treatment in arms and baseline in arms:
            contrasts = [Contrast("effect", treatment, baseline)]
        else:
            base = baseline if baseline in arms else arms[0]
            contrasts = [Contrast("effect" if len(arms) == 2 else f"{a}_vs_{base}", a, base) for a in arms if a != base]
            if spec.get("title") and (baseline not in arms or treatment not in arms):
                remarks.append(
                    f"the experiment compares {label(treatment)} with {label(baseline)}; this sweep ran"
                    f" {', '.join(label(a) for a in arms)}, so the report compares each with {label(base)}"
                )
    contrasts = [
        c
        if c.description
        else Contrast(c.name, c.treatment, c.baseline, f"{label(c.treatment)} instead of {label(c.baseline)}")
        for c in contrasts
    ]
    title = str(spec.get("title") or "")
    if not title:
        if contrasts:
            title = "; ".join(f"{label(c.treatment)} vs {label(c.baseline)}" for c in contrasts)
        else:
            title = f"{label(arms[0])}: results over the replications"
    return Design(
        arm=arm,
        arms=arms,
        contrasts=contrasts,
        by=by,
        pairing=pairing,
        pair_on=pair_on,
        title=title,
        correction=str(spec.get("correction") or "holm"),
        level=float(spec.get("level") or 0.95),
        remarks=remarks,
    )


def cells(design: Design, wide: pd.DataFrame) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """The cells of the design: ``({column: value}, runs of the cell)``, one with no key when ``by`` is empty."""
    if not design.by:
        return [({}, wide)]
    out = []
    for key, sub in wide.groupby(design.by, sort=False, dropna=False):
        values = key if isinstance(key, tuple) else (key,)
        out.append((dict(zip(design.by, values, strict=True)), sub))
    return out


def compute_effects(design: Design, wide: pd.DataFrame, kpis: Sequence[str] | None = None) -> pd.DataFrame:
    """Every contrast in every cell: one row per contrast, cell and KPI.

    Raises:
        ReportError: no contrast has a single pair (paired design) or a run in each arm.
    """
    frames = []
    for cell, sub in cells(design, wide):
        for c in design.contrasts:
            if design.pairing == "independent":
                eff = independent_effects(
                    sub, design.arm, c.baseline, c.treatment, kpis, design.level, design.correction
                )
            else:
                try:
                    eff = paired_effects(
                        sub, design.arm, c.baseline, c.treatment, design.pair_on, kpis, design.level, design.correction
                    )
                except ValueError as err:
                    raise ReportError(str(err)) from None
            if eff.empty:
                continue
            for i, (col, val) in enumerate(cell.items()):
                eff.insert(i, col, val)
            eff.insert(0, "baseline", c.baseline)
            eff.insert(0, "treatment", c.treatment)
            eff.insert(0, "contrast", c.name)
            frames.append(eff)
    effects = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if effects.empty or not (effects["n_pairs"] > 0).any():
        what = "pairs (the same seed and replication in both arms)" if design.pairing != "independent" else "runs"
        arms = ", ".join(design.arms)
        raise ReportError(
            f"no comparison can be formed: the arms {arms} have no {what} in common;"
            " run every arm with the same seed and replications"
        )
    return effects


def compute_distribution(design: Design, wide: pd.DataFrame, kpis: Sequence[str] | None = None) -> pd.DataFrame:
    """Each arm (and cell): every KPI's mean with its interval and the replications' range."""
    frames = []
    for cell, sub in cells(design, wide):
        for a in design.arms:
            d = distribution(sub[sub[design.arm] == a], kpis, design.level)
            if d.empty:
                continue
            for i, (col, val) in enumerate(cell.items()):
                d.insert(i, col, val)
            d.insert(0, design.arm, a)
            frames.append(d)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def headline_cell(design: Design, wide: pd.DataFrame, reference: dict[str, str]) -> dict[str, Any]:
    """The cell a report's headline reads: the one with the default options, else the first."""
    all_cells = [c for c, _ in cells(design, wide)]
    for cell in all_cells:
        if (
            cell
            and all(str(cell[k]) == str(reference[k]) for k in cell if k in reference)
            and any(k in reference for k in cell)
        ):
            return cell
    return all_cells[0] if all_cells else {}


def select(df: pd.DataFrame, cell: dict[str, Any]) -> pd.DataFrame:
    """The rows of ``df`` in ``cell``."""
    mask = pd.Series(True, index=df.index)
    for k, v in cell.items():
        if k in df.columns:
            mask &= df[k].astype(str) == str(v)
    return df[mask]
