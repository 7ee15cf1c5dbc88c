"""Global sensitivity analysis of the 7-minus-12 effects: Morris, Sobol and scenario discovery.

A design (``conf/sensitivity/<method>.yaml``) lists free parameters with ranges. A sweep
(``clustersim -m experiment=sensitivity_morris``) runs one Hydra job per design row and
arm: each job recomputes the design from its configuration (a pure function of the
``sensitivity`` node, seeded) and sets its row's values with :func:`apply_sample`, so the
design runs on any launcher (joblib, Ray, SLURM) and every run folder holds the values it
used. All rows share the replication(s) (common random numbers), and both arms of a row
share the seed, so the effect of a row is a paired difference.

At the end of the sweep, :func:`build_sensitivity_report` reads the merged dataset, forms
the effect of each row (treatment minus baseline, mean over replications) for each output,
and writes to ``<sweep>/sensitivity/``: the indices (Morris mu*, mu, sigma with bootstrap
confidence intervals; or Sobol first and total order with confidence intervals), the
ranking of parameters, and a scenario-discovery table (PRIM, EMA Workbench's) of the
conditions under which the effect has the other sign. Method: docs/SENSITIVITY.md.
"""

from __future__ import annotations

import copy
import itertools
import math
import textwrap
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clustersim import atomic
from clustersim.confdir import safe_load
from clustersim.config import Config, SensitivityConfig, SensitivityParameter, design_size, set_key
from clustersim.kpis import KPI_BY_NAME, MAXIMIZE, MINIMIZE

OUT = "sensitivity"


# ------------------------------------------------------------------------------ design
def _spec_key(s: SensitivityConfig) -> tuple:
    params = tuple((p.key, float(p.low), float(p.high), p.scale) for p in s.parameters)
    return (s.method, int(s.seed), int(s.trajectories), int(s.levels), int(s.base_samples), params)


def problem(s: SensitivityConfig) -> dict[str, Any]:
    """SALib's problem: the parameters on the unit interval (values are mapped by :func:`to_values`)."""
    return {
        "num_vars": len(s.parameters),
        "names": [p.key for p in s.parameters],
        "bounds": [[0.0, 1.0]] * len(s.parameters),
    }


def unit_design(s: SensitivityConfig) -> np.ndarray:
    """The design in the unit cube, one row per run pair; a pure function of ``s`` (seeded)."""
    return _unit_design(_spec_key(s)).copy()


@lru_cache(maxsize=8)
def _unit_design(key: tuple) -> np.ndarray:
    method, seed, trajectories, levels, base_samples, params = key
    prob = {"num_vars": len(params), "names": [p[0] for p in params], "bounds": [[0.0, 1.0]] * len(params)}
    if method == "morris":
        from SALib.sample import morris

        x = morris.sample(prob, N=trajectories, num_levels=levels, seed=seed)
    elif method == "sobol":
        from SALib.sample import sobol

        x = sobol.sample(prob, base_samples, calc_second_order=False, scramble=True, seed=seed)
    else:
        raise ValueError(f"no design for sensitivity.method={method!r}")
    return np.asarray(x, dtype=float)


def to_value(p: SensitivityParameter, u: float) -> float:
    """Map ``u`` in [0, 1] to the parameter's range (uniform, or uniform in log space)."""
    if p.scale == "log":
        lo, hi = math.log(p.low), math.log(p.high)
        return float(math.exp(lo + u * (hi - lo)))
    return float(p.low + u * (p.high - p.low))


def to_values(s: SensitivityConfig, row: Sequence[float]) -> dict[str, float]:
    """The parameter values of one design row (unit cube) as ``{key: value}``."""
    return {p.key: to_value(p, float(u)) for p, u in zip(s.parameters, row, strict=True)}


def design_table(s: SensitivityConfig) -> pd.DataFrame:
    """The whole design in parameter values: one row per ``sample``, one column per key."""
    x = unit_design(s)
    df = pd.DataFrame([to_values(s, row) for row in x])
    df.insert(0, "sample", np.arange(len(df)))
    return df


def apply_sample(cfg: Config) -> Config:
    """A copy of ``cfg`` with the values of design row ``cfg.sensitivity.sample`` set."""
    s = cfg.sensitivity
    x = unit_design(s)
    if x.shape[0] != design_size(s):  # SALib's sizes are documented; a change would break the sweep ranges
        raise RuntimeError(f"design has {x.shape[0]} rows, expected {design_size(s)}")
    out = copy.deepcopy(cfg)
    for key, value in to_values(s, x[s.sample]).items():
        set_key(out, key, value)
    return out


def check_sweep_samples(s: SensitivityConfig, samples: Sequence[int]) -> str | None:
    """An error line if a sweep's ``sensitivity.sample`` values are not exactly the design's rows."""
    n = design_size(s)
    got = sorted(int(v) for v in samples)
    if got != list(range(n)):
        shown = f"{len(got)} values from {got[0]} to {got[-1]}" if got else "no values"
        return (
            f"sensitivity.sample: the sweep covers {shown}; allowed: exactly range(0,{n}), the rows of this "
            f"{s.method} design (k={len(s.parameters)} parameters)"
        )
    return None


# ----------------------------------------------------------------------------- effects
def row_effects(summary: pd.DataFrame, baseline: str, treatment: str, outputs: Sequence[str]) -> pd.DataFrame:
    """Effect of each design row on each output: treatment minus baseline, mean over replications.

    ``summary`` is a merged sweep summary with columns ``sample``, ``replication``, ``arm``,
    ``kpi``, ``cluster``, ``value``. Returns one row per sample (sorted) and one column per
    output, plus ``n_replications``.
    """
    df = summary[(summary["cluster"] == "all") & summary["kpi"].isin(list(outputs))]
    wide = df.pivot_table(index=["sample", "replication", "kpi"], columns="arm", values="value", aggfunc="first")
    for arm in (baseline, treatment):
        if arm not in wide.columns:
            raise ValueError(f"no complete runs of the arm {arm!r}")
    diff = (wide[treatment] - wide[baseline]).rename("effect").reset_index()
    per_rep = diff.pivot_table(index=["sample", "replication"], columns="kpi", values="effect", aggfunc="first")
    effects = per_rep.groupby(level="sample").mean()
    effects["n_replications"] = per_rep.groupby(level="sample").size()
    return effects.reset_index().sort_values("sample", ignore_index=True)


def favourable(kpi: str, effect: np.ndarray) -> np.ndarray:
    """Whether each effect is in the KPI's better direction (7 beats 12); INFO KPIs count increases."""
    direction = KPI_BY_NAME[kpi].direction if kpi in KPI_BY_NAME else MAXIMIZE
    return effect < 0 if direction == MINIMIZE else effect > 0


def share_better_by(effects: pd.DataFrame, outputs: Sequence[str], key: str, edges: Sequence[float]) -> pd.DataFrame:
    """The share of design rows in which 7 beats 12, per output, in bins of parameter ``key``.

    ``effects`` has one row per design row with the parameter values and the effects (as
    ``effects.parquet`` of a sensitivity report). Bins are ``[edges[i], edges[i+1])``, the
    last one closed.
    """
    values = effects[key].to_numpy(dtype=float)
    rows = []
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        last = i == len(edges) - 2
        inside = (values >= lo) & ((values <= hi) if last else (values < hi))
        row: dict[str, Any] = {key: f"{lo:g}-{hi:g}", "rows": int(inside.sum())}
        for kpi in outputs:
            eff = effects.loc[inside, kpi].to_numpy(dtype=float)
            row[kpi] = float(favourable(kpi, eff).mean()) if eff.size else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ indices
def morris_indices(s: SensitivityConfig, x_unit: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """Morris mu*, mu, sigma and the 95% bootstrap interval of mu* for one output."""
    from SALib.analyze import morris

    res = morris.analyze(problem(s), x_unit, y, num_resamples=1000, conf_level=0.95, num_levels=s.levels, seed=s.seed)
    return pd.DataFrame(
        {
            "parameter": list(res["names"]),
            "mu_star": np.asarray(res["mu_star"], dtype=float),
            "mu_star_conf": np.asarray(res["mu_star_conf"], dtype=float),
            "mu": np.asarray(res["mu"], dtype=float),
            "sigma": np.asarray(res["sigma"], dtype=float),
        }
    )


def sobol_indices(s: SensitivityConfig, y: np.ndarray) -> pd.DataFrame:
    """Sobol first-order (S1) and total-order (ST) indices with 95% bootstrap half-widths."""
    from SALib.analyze import sobol

    res = sobol.analyze(problem(s), y, calc_second_order=False, num_resamples=1000, conf_level=0.95, seed=s.seed)
    return pd.DataFrame(
        {
            "parameter": [p.key for p in s.parameters],
            "S1": np.asarray(res["S1"], dtype=float),
            "S1_conf": np.asarray(res["S1_conf"], dtype=float),
            "ST": np.asarray(res["ST"], dtype=float),
            "ST_conf": np.asarray(res["ST_conf"], dtype=float),
        }
    )


# -------------------------------------------------------------------------------- PRIM
@dataclass
class Box:
    """A box of the parameter space: ``limits[j] = (low, high)`` and its statistics."""

    limits: np.ndarray
    coverage: float  # share of all cases of interest inside the box
    density: float  # share of the cases inside the box that are of interest
    mass: float  # share of all samples inside the box
    n: int


def _inside(x: np.ndarray, limits: np.ndarray) -> np.ndarray:
    return np.all((x >= limits[:, 0]) & (x <= limits[:, 1]), axis=1)


def prim_box(
    x: np.ndarray, y: np.ndarray, min_coverage: float = 0.5, alpha: float = 0.05, min_mass: float = 0.05
) -> Box:
    """The Patient Rule Induction Method (Friedman and Fisher 1999), as EMA Workbench implements it.

    EMA Workbench's :class:`ema_workbench.analysis.prim.Prim` peels (``alpha``) and pastes
    the box of the cases of interest (``y`` true) down to ``min_mass`` of the samples; of
    its trajectory, the densest box that still covers ``min_coverage`` of the cases of
    interest is returned (the whole space when none does).

    Args:
        x: the samples, one row each (the unit cube of the design).
        y: whether each sample is a case of interest.
        min_coverage: the least share of the cases of interest the box must hold.
        alpha: the share of the box peeled or pasted at a step.
        min_mass: the least share of the samples the box must hold.
    """
    try:
        with warnings.catch_warnings():  # ema_workbench warns on import about optional parallel back-ends
            warnings.simplefilter("ignore")
            from ema_workbench.analysis import prim
    except ImportError as err:
        hint = "scenario discovery (PRIM) needs EMA Workbench: pip install 'clustersim[sensitivity]'"
        raise ImportError(f"{hint} ({err})") from None

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=bool)
    whole = np.column_stack([x.min(axis=0), x.max(axis=0)])
    if not y.any():
        return _box_stats(x, y, whole)
    names = [f"x{j}" for j in range(x.shape[1])]
    finder = prim.Prim(pd.DataFrame(x, columns=names), y, peel_alpha=alpha, paste_alpha=alpha, mass_min=min_mass)
    found = finder.find_box()
    if found is None:
        return _box_stats(x, y, whole)
    trajectory = found.peeling_trajectory
    eligible = trajectory[trajectory["coverage"] >= min_coverage]
    if eligible.empty:
        eligible = trajectory.iloc[:1]
    best = eligible.sort_values(["density", "coverage"], kind="stable").index[-1]
    limits = found.box_lims[int(best)][names].to_numpy(dtype=float).T
    return _box_stats(x, y, limits)


def _box_stats(x: np.ndarray, y: np.ndarray, limits: np.ndarray) -> Box:
    """The box ``limits`` with its coverage, density and mass on the samples."""
    y = np.asarray(y, dtype=bool)
    inside = _inside(x, limits)
    m = int(inside.sum())
    hits = int(y[inside].sum())
    return Box(limits, hits / max(int(y.sum()), 1), hits / m if m else 0.0, m / len(x), m)


def simplify_box(x: np.ndarray, y: np.ndarray, box: Box, tolerance: float = 0.05, max_restrictions: int = 3) -> Box:
    """Drop the restrictions of ``box`` that matter least, for a box a person can read.

    Peeling leaves small slices cut off many dimensions. Repeatedly, the restriction whose
    removal lowers the density least is removed, as long as the density stays within
    ``tolerance`` (relative) of the peeled box's, and in any case until at most
    ``max_restrictions`` remain. The statistics reported are those of the simplified box.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=bool)
    full = np.column_stack([x.min(axis=0), x.max(axis=0)])
    limits = box.limits.copy()
    floor = box.density * (1 - tolerance)

    while True:
        restricted = [j for j in range(x.shape[1]) if not np.allclose(limits[j], full[j])]
        best: tuple[float, int] | None = None
        for j in restricted:
            trial = limits.copy()
            trial[j] = full[j]
            dens = _box_stats(x, y, trial).density
            if (dens >= floor or len(restricted) > max_restrictions) and (best is None or dens > best[0]):
                best = (dens, j)
        if best is None:
            break
        limits[best[1]] = full[best[1]]
    return _box_stats(x, y, limits)


def describe_box(box: Box, s: SensitivityConfig, full: np.ndarray) -> list[dict[str, Any]]:
    """The restricted dimensions of ``box`` in parameter values (``full``: limits of the whole space)."""
    rows = []
    for j, p in enumerate(s.parameters):
        lo, hi = box.limits[j]
        f_lo, f_hi = full[j]
        if lo <= f_lo + 1e-12 and hi >= f_hi - 1e-12:
            continue
        rows.append(
            {
                "parameter": p.key,
                "low": to_value(p, lo) if lo > f_lo + 1e-12 else None,
                "high": to_value(p, hi) if hi < f_hi - 1e-12 else None,
                "range": f"[{_num(p.low)}, {_num(p.high)}]",
            }
        )
    return rows


def discovery(s: SensitivityConfig, x_unit: np.ndarray, effects: pd.DataFrame) -> pd.DataFrame:
    """For each output: how often 7 beats 12 over the sampled space, and a PRIM box for the exceptions.

    The cases of interest are the rarer outcome (7 not better when 7 usually wins, and
    conversely), so the box reads "the effect flips sign when ...".
    """
    rows = []
    full = np.column_stack([x_unit.min(axis=0), x_unit.max(axis=0)])
    for kpi in s.outputs:
        eff = effects[kpi].to_numpy(dtype=float)
        win = favourable(kpi, eff)
        share = float(win.mean())
        base = {"output": kpi, "samples": len(eff), "share_7_better": share}
        if share in (0.0, 1.0):
            rows.append(
                {**base, "cases": "none: the sign never flips", "conditions": "", "coverage": np.nan, "density": np.nan}
            )
            continue
        interest = ~win if share >= 0.5 else win
        what = "7 not better than 12" if share >= 0.5 else "7 better than 12"
        box = simplify_box(x_unit, interest, prim_box(x_unit, interest))
        conds = describe_box(box, s, full)
        base_rate = float(interest.mean())
        if not conds or box.density < 1.25 * base_rate:
            text = f"no condition found: the densest box holds {box.density:.0%} such cases vs {base_rate:.0%} overall"
        else:
            text = " and ".join(_condition(c) for c in conds)
        rows.append(
            {
                **base,
                "cases": f"{what}: {int(interest.sum())} of {len(eff)}",
                "conditions": text,
                "coverage": box.coverage,
                "density": box.density,
            }
        )
    return pd.DataFrame(rows)


def _num(v: float) -> str:
    return f"{v:.3g}"


def _condition(c: dict[str, Any]) -> str:
    name = c["parameter"]
    if c["low"] is not None and c["high"] is not None:
        return f"{_num(c['low'])} <= {name} <= {_num(c['high'])}"
    if c["low"] is not None:
        return f"{name} >= {_num(c['low'])}"
    return f"{name} <= {_num(c['high'])}"


# ------------------------------------------------------------------------------ report
def _config_of_sweep(sweep_dir: Path) -> dict[str, Any]:
    spec = safe_load((sweep_dir / "experiment.yaml").read_text())
    if not isinstance(spec, dict) or "sensitivity" not in spec:
        raise ValueError(f"{sweep_dir}: experiment.yaml names no sensitivity design")
    return spec


def sensitivity_spec(data: dict[str, Any]) -> SensitivityConfig:
    """A :class:`SensitivityConfig` from its plain-data form (as saved in ``experiment.yaml``)."""
    params = [SensitivityParameter(**p) for p in data.get("parameters", [])]
    fields = {k: v for k, v in data.items() if k != "parameters"}
    return SensitivityConfig(**fields, parameters=params)


def _markdown_table(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append("n/a" if math.isnan(v) else format(v, floatfmt))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: A Sobol output is "resolved" when its total-order indices sum to at most this (a
#: deterministic model's sum to about 1; much more is noise read as interaction) ...
RESOLVED_SUM_ST = 1.5
#: ... and no total-order index has a 95% half-width above this.
RESOLVED_ST_CONF = 0.5


def resolved(indices: pd.DataFrame) -> pd.Series:
    """Per output of a Sobol analysis: are its indices resolved (not swamped by noise)?"""
    g = indices.groupby("output")
    return (g["ST"].sum() <= RESOLVED_SUM_ST) & (g["ST_conf"].max() <= RESOLVED_ST_CONF)


def indices_figure(method: str, outputs: Sequence[str], indices: pd.DataFrame):
    """Morris mu*-sigma or Sobol S1/ST bars per output, with human labels and 95% intervals.

    A Sobol output whose indices are not resolved (see :func:`resolved`) is drawn in grey,
    its title says so, and its bars are not ranked: only resolved outputs rank parameters.
    """
    from matplotlib.figure import Figure

    from clustersim.figures import OKABE_ITO
    from clustersim.labels import kpi_label, parameter_label

    outputs = list(outputs)
    ok = resolved(indices) if method != "morris" else pd.Series(dtype=bool)
    outputs = sorted(outputs, key=lambda k: not bool(ok.get(k, method == "morris")))  # resolved first
    fig = Figure(figsize=(3.4 * len(outputs) + 2.6, 4.6), layout="constrained")
    axes = fig.subplots(1, len(outputs), squeeze=False, sharey=method != "morris")[0]
    first = indices[indices["output"] == outputs[0]]
    order = list(first.sort_values("ST")["parameter"]) if method != "morris" else None
    for ax, kpi in zip(axes, outputs, strict=True):
        d = indices[indices["output"] == kpi]
        title = "\n".join(textwrap.wrap(f"7 minus 12: {kpi_label(kpi).title}", 32))
        if method == "morris":
            ax.errorbar(d["mu_star"], d["sigma"], xerr=d["mu_star_conf"], fmt="o", ms=4, color=OKABE_ITO[0], lw=0.8)
            for _, r in d.nlargest(3, "mu_star").iterrows():
                ax.annotate(parameter_label(r["parameter"]), (r["mu_star"], r["sigma"]), fontsize=6)
            unit = "share, 0-1" if kpi_label(kpi).kind == "share" else kpi_label(kpi).axis
            ax.set_xlabel(f"mu*: mean |effect of the parameter| ({unit})", fontsize=7)
            ax.set_ylabel(f"sigma: spread of that effect ({unit})", fontsize=7)
        else:
            d = d.set_index("parameter").reindex(order)
            good = bool(ok.get(kpi, False))
            pos = np.arange(len(d))
            c1, c2 = (OKABE_ITO[5], OKABE_ITO[0]) if good else ("#cccccc", "#888888")
            ax.barh(pos - 0.2, d["S1"], 0.4, xerr=d["S1_conf"], color=c1, label="first order S1", error_kw={"lw": 0.7})
            ax.barh(pos + 0.2, d["ST"], 0.4, xerr=d["ST_conf"], color=c2, label="total order ST", error_kw={"lw": 0.7})
            ax.set_yticks(pos, [parameter_label(p) for p in d.index], fontsize=7)
            ax.axvline(0, color="black", lw=0.6)
            ax.axvline(1, color="black", lw=0.6, ls=":")
            ax.set_xlabel("share of the effect's variance (95% interval)", fontsize=7)
            if not good:
                title += f"\nUNRESOLVED: ST sum to {d['ST'].sum():.1f} (noise)"
            ax.legend(fontsize=6, loc="lower right")
        ax.set_title(title, fontsize=8, color="black" if method == "morris" or bool(ok.get(kpi, False)) else "#777777")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, lw=0.5)
    if method != "morris":
        fig.suptitle(
            f"Sobol indices of the reform's effects. Resolved: total-order indices sum to at most {RESOLVED_SUM_ST}"
            f" and none has a 95% half-width above {RESOLVED_ST_CONF}; unresolved panels (grey) do not rank"
            " the parameters.",
            fontsize=7.5,
        )
    return fig


def _figure(s: SensitivityConfig, indices: pd.DataFrame, path: Path) -> None:
    save_figure(indices_figure(s.method, s.outputs, indices), path.with_suffix(""))


def save_figure(fig: Any, stem: Path) -> None:
    """Write ``fig`` as ``stem``.png and ``stem``.svg (clustersim.figures.save)."""
    from clustersim.figures import save

    save(fig, stem)


def build_sensitivity_report(sweep_dir: Path, merge: bool = True) -> dict[str, Any]:
    """Merge a sensitivity sweep and write its indices, ranking and discovery tables.

    Returns ``{"text", "indices", "discovery", "effects", "failed", "folder"}``. Writes
    ``<sweep>/sensitivity/`` atomically (a temporary folder renamed into place).
    """
    from clustersim.store import failed_runs, merge_sweep, read_sweep

    sweep_dir = Path(sweep_dir)
    spec = _config_of_sweep(sweep_dir)
    s = sensitivity_spec(spec["sensitivity"])
    data = merge_sweep(sweep_dir) if merge else read_sweep(sweep_dir)
    runs, summary = data["runs"], data["summary"]
    failed = failed_runs(runs)
    n = design_size(s)
    if summary.empty:
        raise ValueError(f"{sweep_dir}: no complete runs to analyse")
    summary = summary.rename(columns={"param.sensitivity.sample": "sample"})
    if "sample" not in summary.columns:
        raise ValueError(f"{sweep_dir}: the runs carry no sensitivity.sample (was it swept?)")
    summary["sample"] = summary["sample"].astype(int)
    summary = summary.rename(columns={"clusters": "arm"})
    effects = row_effects(summary, spec["baseline"], spec["treatment"], s.outputs)
    missing = sorted(set(range(n)) - set(effects["sample"]))
    if missing:
        raise ValueError(
            f"{sweep_dir}: {len(missing)} of {n} design rows have no complete pair of runs "
            f"(first: {missing[:5]}); rerun the sweep to complete them (finished runs are kept)"
        )
    x_unit = unit_design(s)
    frames = []
    for kpi in s.outputs:
        y = effects[kpi].to_numpy(dtype=float)
        idx = morris_indices(s, x_unit, y) if s.method == "morris" else sobol_indices(s, y)
        idx.insert(0, "output", kpi)
        frames.append(idx)
    indices = pd.concat(frames, ignore_index=True)
    key = "mu_star" if s.method == "morris" else "ST"
    indices["rank"] = indices.groupby("output")[key].rank(ascending=False, method="first").astype(int)
    emulated = emulated_indices(s, x_unit, effects) if s.method == "sobol" else None
    disc = discovery(s, x_unit, effects)
    values = design_table(s)
    effects_out = values.merge(effects, on="sample")

    final = sweep_dir / OUT
    text = report_text(s, spec, indices, disc, effects, emulated)
    with atomic.folder(final, replace=True) as tmp:
        indices.to_csv(tmp / "indices.csv", index=False)
        disc.to_csv(tmp / "discovery.csv", index=False)
        effects_out.to_parquet(tmp / "effects.parquet", index=False)
        _figure(s, indices, tmp / "indices.png")
        if emulated is not None:
            emulated.to_csv(tmp / "emulator.csv", index=False)
            save_figure(emulator_figure(s.outputs, emulated), tmp / "emulator")
        (tmp / "report.md").write_text(text + "\n")
    return {
        "text": text,
        "indices": indices,
        "emulator": emulated,
        "discovery": disc,
        "effects": effects,
        "failed": failed,
        "folder": final,
    }


#: an emulator's indices are resolved when no 95% interval is wider than +-this
EMULATOR_HALF_WIDTH = 0.1


def emulated_indices(s: SensitivityConfig, x_unit: np.ndarray, effects: pd.DataFrame) -> pd.DataFrame | None:
    """Sobol indices of each output's systematic part, E[effect | parameters] (clustersim.emulator).

    One row per output and parameter: S1 and ST with their 95% bootstrap intervals, the
    emulator's degree, its cross-validated R^2 (the share of the effect's variance the
    parameters explain; the rest is replication noise) and ``resolved`` (every interval of
    the output within +-EMULATOR_HALF_WIDTH). None when the design has too few rows for
    an emulator (:func:`clustersim.emulator.min_rows`; the report says so).
    """
    from clustersim.emulator import emulator_indices, min_rows

    if len(effects) < min_rows(len(s.parameters)):
        return None

    x = x_unit[effects["sample"].to_numpy(dtype=int)]
    reps = float(effects["n_replications"].mean()) if "n_replications" in effects.columns else 1.0
    frames = []
    for kpi in s.outputs:
        e = emulator_indices(
            x, effects[kpi].to_numpy(dtype=float), [p.key for p in s.parameters], seed=s.seed, replications=reps
        )
        d = e.indices
        d.insert(0, "output", kpi)
        d["degree"] = e.degree
        d["r2_cv"] = e.r2_cv
        d["resolved"] = _resolved(d, "")
        d["seed_share"], d["seed_share_low"], d["seed_share_high"] = e.seed_share, e.seed_share_low, e.seed_share_high
        d["resolved_run"] = _resolved(d, "_run")
        frames.append(d)
    return pd.concat(frames, ignore_index=True)


def _resolved(d: pd.DataFrame, suffix: str) -> bool:
    """Every 95% interval of S1 and ST (columns with ``suffix``) within +-EMULATOR_HALF_WIDTH of its estimate."""
    half = np.maximum.reduce(
        [
            d[f"S1{suffix}"] - d[f"S1{suffix}_low"],
            d[f"S1{suffix}_high"] - d[f"S1{suffix}"],
            d[f"ST{suffix}"] - d[f"ST{suffix}_low"],
            d[f"ST{suffix}_high"] - d[f"ST{suffix}"],
        ]
    )
    return bool((half <= EMULATOR_HALF_WIDTH).all())


def emulator_figure(outputs: Sequence[str], emulated: pd.DataFrame):
    """S1 and ST of each output's systematic part, with 95% intervals and the noise share in the title."""
    from matplotlib.figure import Figure

    from clustersim.figures import OKABE_ITO
    from clustersim.labels import kpi_label, parameter_label

    outputs = list(outputs)
    ncol = min(4, len(outputs))
    nrow = math.ceil(len(outputs) / ncol)
    fig = Figure(figsize=(2.9 * ncol + 3.2, 2.9 * nrow + 0.8), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False, sharex=True, sharey=True).ravel()
    order = list(emulated[emulated["output"] == outputs[0]].sort_values("ST")["parameter"])
    for ax, kpi in zip(axes, outputs, strict=False):
        d = emulated[emulated["output"] == kpi].set_index("parameter").reindex(order)
        pos = np.arange(len(d))
        for off, col, color, label in (
            (-0.2, "S1", OKABE_ITO[5], "first order S1"),
            (0.2, "ST", OKABE_ITO[0], "total order ST"),
        ):
            err = np.vstack([d[col] - d[f"{col}_low"], d[f"{col}_high"] - d[col]]).clip(min=0)
            ax.barh(pos + off, d[col], 0.4, xerr=err, color=color, label=label, error_kw={"lw": 0.7})
        ax.set_yticks(pos, ["\n".join(textwrap.wrap(parameter_label(p), 30)) for p in d.index], fontsize=7)
        ax.axvline(0, color="black", lw=0.6)
        r2 = float(d["r2_cv"].iloc[0])
        title = "\n".join(textwrap.wrap(f"7 minus 12: {kpi_label(kpi).title}", 32))
        ax.set_title(f"{title}\nparameters explain {r2:.0%} of its variance", fontsize=8)
        ax.set_xlim(-0.05, 1.05)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, lw=0.5)
    for ax in axes[len(outputs) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=6, loc="lower right")
    fig.supxlabel("share of the systematic part's variance (95% wild-bootstrap interval)", fontsize=8)
    fig.suptitle(
        "Sobol indices of E[effect | parameters] (polynomial chaos emulator;"
        " the rest of the variance is replication noise)",
        fontsize=8,
    )
    return fig


def screen(indices: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` parameters of a Morris screening that matter most across all outputs.

    Each output's mu* is divided by its largest mu* (so that outputs in different units
    weigh alike); parameters are ranked by the mean of these shares over the outputs.
    This is the rule that chose the parameters of ``conf/sensitivity/sobol.yaml``.
    """
    d = indices.assign(share=indices["mu_star"] / indices.groupby("output")["mu_star"].transform("max"))
    score = d.groupby("parameter")["share"].mean().sort_values(ascending=False, kind="stable")
    return score.head(n).rename("mean_relative_mu_star").reset_index()


def ranking(s: SensitivityConfig, indices: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The ``top`` parameters of each output, with their index (mu* or ST), as a wide table."""
    key = "mu_star" if s.method == "morris" else "ST"
    rows = []
    for kpi in s.outputs:
        d = indices[indices["output"] == kpi].nsmallest(top, "rank")
        rows.append(
            {
                "output": kpi,
                **{
                    f"#{i + 1}": f"{p.split('.', 1)[-1]} ({v:.3g})"
                    for i, (p, v) in enumerate(zip(d["parameter"], d[key], strict=True))
                },
            }
        )
    return pd.DataFrame(rows)


def report_text(
    s: SensitivityConfig,
    spec: dict[str, Any],
    indices: pd.DataFrame,
    disc: pd.DataFrame,
    effects: pd.DataFrame,
    emulated: pd.DataFrame | None = None,
) -> str:
    """The Markdown report of a sensitivity sweep."""
    name = "Morris elementary effects" if s.method == "morris" else "Sobol indices (Saltelli design)"
    size = (
        f"r = {s.trajectories} trajectories, p = {s.levels} levels"
        if s.method == "morris"
        else f"N = {s.base_samples} base samples"
    )
    reps = int(effects["n_replications"].min())
    lines = [
        f"# Sensitivity: {spec.get('title') or spec.get('name')}",
        "",
        f"{name} over {len(s.parameters)} parameters ({size}; {design_size(s)} design rows, "
        f"{reps} replication(s) a row, design seed {s.seed}). Each row's effect is "
        f"{spec['treatment']} minus {spec['baseline']} on the same seed, over the report window.",
        "",
        "## Which parameters matter most",
        "",
        (
            "Index: mu*, the mean absolute elementary effect of moving a parameter across its whole range "
            "(in the output's unit)."
            if s.method == "morris"
            else "Index: ST, the share of the effect's variance due to the parameter with all its interactions."
        ),
        "",
        _markdown_table(ranking(s, indices)),
        "",
        *(
            [
                "Across the outputs (each output's mu* divided by its largest, then averaged), the five that "
                "matter most, the candidates for a Sobol analysis:",
                "",
                _markdown_table(screen(indices)),
                "",
            ]
            if s.method == "morris"
            else []
        ),
        *(_emulator_text(emulated) if emulated is not None else _no_emulator_text(s, effects)),
        "## When does the effect change sign? (scenario discovery, PRIM)",
        "",
        _markdown_table(disc, ".2f"),
        "",
        "## All indices",
        "",
        _markdown_table(indices.drop(columns=["rank"])),
    ]
    return "\n".join(lines)


def _emulator_text(emulated: pd.DataFrame) -> list[str]:
    per = emulated.groupby("output", sort=False).agg(
        degree=("degree", "first"), r2_cv=("r2_cv", "first"), resolved=("resolved", "first")
    )
    rows = []
    for kpi, g in emulated.groupby("output", sort=False):
        top = g.nlargest(3, "ST")
        rows.append(
            {
                "output": kpi,
                "parameters explain (CV R^2)": f"{per.loc[kpi, 'r2_cv']:.0%}",
                "degree": int(per.loc[kpi, "degree"]),
                f"resolved (+-{EMULATOR_HALF_WIDTH})": "yes" if per.loc[kpi, "resolved"] else "no",
                **{
                    f"#{i + 1} (ST [95%])": f"{p.split('.', 1)[-1]} {st:.2f} [{lo:.2f}, {hi:.2f}]"
                    for i, (p, st, lo, hi) in enumerate(
                        zip(top["parameter"], top["ST"], top["ST_low"], top["ST_high"], strict=True)
                    )
                },
            }
        )
    run_cols = [c for c in emulated.columns if "_run" in c or c.startswith("seed_share")]
    table = emulated.drop(columns=["degree", "r2_cv", "resolved", *run_cols])
    out = [
        "## The systematic part: Sobol indices of E[effect | parameters]",
        "",
        "One run is one random history, so a row's effect is the parameters' effect plus replication "
        "noise, which Saltelli's estimators above attribute to every parameter. Here a polynomial chaos "
        "emulator (orthonormal Legendre terms, degree by 5-fold cross-validation; clustersim.emulator) "
        "separates the two: its cross-validated R^2 is the share of the effect's variance the parameters "
        "explain, and its indices (with 95% wild-bootstrap intervals) decompose that share.",
        "",
        _markdown_table(pd.DataFrame(rows)),
        "",
        _markdown_table(table, ".3f"),
        "",
    ]
    if "S1_run" not in emulated.columns:
        return out
    seed = emulated.groupby("output", sort=False).agg(
        seed_share=("seed_share", "first"),
        seed_low=("seed_share_low", "first"),
        seed_high=("seed_share_high", "first"),
        resolved=("resolved_run", "first"),
    )
    seed_rows = [
        {
            "output": kpi,
            "one run's variance due to the seed [95%]": f"{r.seed_share:.2f} [{r.seed_low:.2f}, {r.seed_high:.2f}]",
            f"resolved (+-{EMULATOR_HALF_WIDTH})": "yes" if r.resolved else "no",
        }
        for kpi, r in seed.iterrows()
    ]
    run_table = emulated[["output", "parameter", *[c for c in run_cols if c.startswith(("S1_run", "ST_run"))]]]
    return [
        *out,
        "## The same variances as shares of one run's variance (the seed as one more input)",
        "",
        "For a stochastic model the random seed can be counted as one more input (Hart, Alexanderian and "
        "Gremaud 2017): one run's variance is the parameters' part plus the seed's. S1_run is then the "
        "stochastic model's first-order index Var(E[effect | X_i]) / Var(effect of one run); ST_run counts "
        "X_i's interactions with the other parameters but not with the seed (those are in the seed's "
        "share), a lower bound of its total index. An output the parameters hardly move (innovations) has "
        "small, well-determined indices here, where the decomposition of its small systematic part above "
        "is uncertain.",
        "",
        _markdown_table(pd.DataFrame(seed_rows)),
        "",
        _markdown_table(run_table, ".3f"),
        "",
    ]


def _no_emulator_text(s: SensitivityConfig, effects: pd.DataFrame) -> list[str]:
    from clustersim.emulator import min_rows

    if s.method != "sobol":
        return []
    need = min_rows(len(s.parameters))
    return [
        "## The systematic part",
        "",
        f"Not estimated: {len(effects)} design rows are too few for the emulator that separates the "
        f"parameters' effect from replication noise (at least {need}; raise sensitivity.base_samples).",
        "",
    ]
