"""The calibration's outputs: the table of targets, the calibrated ``behaviour`` option, the results folder."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from clustersim import atomic
from clustersim.calibration.search import CalibrationResult


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def calibration_table_markdown(result: CalibrationResult) -> str:
    """The table of targets and the best parameters, as Markdown.

    Args:
        result: a calibration result.

    Returns:
        Markdown text: the targets (observed, simulated mean with 95% CI, relative error)
        and the best parameter values with their ranges.
    """
    m = result.spec.method
    lines = [
        f"Objective {result.objective:.4g} at {m.replications} replication(s); "
        f"{result.final_objective:.4g} on the mean of {m.final_replications} replications "
        f"({result.n_evaluations} evaluations, {'reduced' if result.reduced else 'full'} method).",
        "",
        "| target | role | observed | simulated mean | 95% CI | relative error | tolerance |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for r in result.table.itertuples(index=False):
        ci = f"[{_fmt(r.ci95_low)}, {_fmt(r.ci95_high)}]" if math.isfinite(r.ci95_low) else "n/a"
        rel = f"{r.relative_error:+.1%}" if math.isfinite(r.relative_error) else "n/a"
        when = "" if r.date == "window" else f" ({r.date})"
        lines.append(
            f"| {r.target}{when} | {r.role} | {_fmt(r.observed)} | {_fmt(r.simulated_mean)} | {ci} | {rel} "
            f"| {r.tolerance:.0%} |"
        )
    lines += ["", "| parameter | best | range | scale |", "|---|---:|---|---|"]
    for p in result.spec.free:
        lines.append(f"| `{p.key}` | {result.params[p.key]:.4g} | [{p.low:g}, {p.high:g}] | {p.scale} |")
    return "\n".join(lines) + "\n"


def _nest(flat: Mapping[str, float], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.removeprefix(prefix).split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = float(value)
    return out


def calibrated_config_text(result: CalibrationResult) -> str:
    """The text of a Hydra ``behaviour`` group option holding the calibrated values."""
    header = [
        "# Calibrated behavioural parameters (clustersim-calibrate; docs/CALIBRATION.md).",
        f"# Specification: {result.spec.name}; objective {result.objective:.4g} "
        f"({result.spec.method.replications} replications), {result.final_objective:.4g} "
        f"({result.spec.method.final_replications} replications); "
        f"{'REDUCED method: a smoke test, not an estimate' if result.reduced else 'full method'}.",
        "# Every key not set here is that of conf/behaviour/default.yaml.",
    ]
    if result.population_params:
        header.append("# Population keys are not part of the behaviour group; set them with the population")
        header.append("# (conf/population/*.yaml) or on the command line:")
        header += [f"#   {k}={v!r}" for k, v in result.population_params.items()]
    body = {"defaults": ["default", "_self_"], "name": "calibrated", **_nest(result.behaviour_params, "behaviour.")}
    return "\n".join(header) + "\n" + yaml.safe_dump(body, sort_keys=False)


def write_calibrated_config(result: CalibrationResult, path: str | Path) -> dict[str, float]:
    """Write the calibrated behaviour keys as a Hydra ``behaviour`` group option.

    The file (e.g. ``conf/behaviour/calibrated.yaml``) starts with ``defaults: [default,
    _self_]``, so every key not calibrated keeps its value from ``default.yaml``; select it
    with ``behaviour=calibrated``. Keys under ``population.`` cannot live in the behaviour
    group: they are listed in the file's header and returned.

    Args:
        result: a calibration result.
        path: the file to write (atomically).

    Returns:
        The calibrated keys under ``population.`` (to be set in the population group).
    """
    atomic.write_text(path, calibrated_config_text(result))
    return dict(result.population_params)


def _best_record(result: CalibrationResult) -> dict[str, Any]:
    m = result.spec.method
    return {
        "spec": result.spec.path or result.spec.name,
        "reduced": result.reduced,
        "objective": float(result.objective),
        "final_objective": float(result.final_objective),
        "n_evaluations": int(result.n_evaluations),
        "seconds": round(float(result.seconds), 1),
        "method": {
            "seed": m.seed,
            "model_seed": m.model_seed,
            "n_lhs": m.n_lhs,
            "replications": m.replications,
            "n_local": m.n_local,
            "final_replications": m.final_replications,
            "overrides": list(m.overrides),
        },
        "params": {k: float(v) for k, v in result.params.items()},
        "overrides": result.overrides,
    }


def write_results(result: CalibrationResult, out: str | Path) -> Path:
    """Write a calibration's results into the folder ``out``, atomically.

    Files: ``history.parquet`` (every evaluation), ``table.csv`` and ``table.md`` (targets
    and best parameters), ``best.yaml`` (best values, objective, method) and
    ``calibrated.yaml`` (a ``behaviour`` group option, see :func:`write_calibrated_config`).
    Everything is written to a temporary sibling folder, which then replaces ``out``.

    Args:
        result: a calibration result.
        out: the results folder.

    Returns:
        The folder written.
    """
    out = Path(out)
    with atomic.folder(out, replace=True) as tmp:
        result.history.to_parquet(tmp / "history.parquet", index=False)
        result.table.to_csv(tmp / "table.csv", index=False)
        (tmp / "table.md").write_text(calibration_table_markdown(result))
        (tmp / "best.yaml").write_text(yaml.safe_dump(_best_record(result), sort_keys=False))
        write_calibrated_config(result, tmp / "calibrated.yaml")
    return out
