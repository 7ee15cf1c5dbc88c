"""The ``clustersim`` command: one simulation from the Hydra configuration.

Examples::

    clustersim                                   # Piedmont 2009-2020, 12 clusters
    clustersim clusters=seven funding=erdf_5m seed=3
    clustersim clusters=reform staffing=lean population=small

Bad input (an unknown key or option, a wrong type, a value out of range) ends the command
with one message naming the key and what is allowed, exit status 2, and nothing written.
"""

from __future__ import annotations

import logging
import math
import sys

import hydra
import pandas as pd
from omegaconf import DictConfig

from clustersim.config import ConfigError, config_dir, register_configs, to_config
from clustersim.metrics import KPI_BY_NAME
from clustersim.runner import run_and_save

logger = logging.getLogger("clustersim")

EXIT_BAD_CONFIG = 2


def format_value(value: float, unit: str) -> str:
    """A KPI value for the terminal: integers with separators, shares as percentages."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "share":
        return f"{100 * value:.1f}%"
    if unit == "EUR":
        return f"EUR {value:,.0f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}"


def kpi_table(summary: pd.DataFrame) -> str:
    """The end-of-run KPIs (whole region) as an aligned text table."""
    rows = summary[summary["cluster"] == "all"]
    arrow = {"max": "higher", "min": "lower", "info": ""}
    lines = [f"{'KPI':<30} {'value':>18}  {'unit':<18} better"]
    lines.append("-" * len(lines[0]))
    for r in rows.itertuples(index=False):
        kpi = KPI_BY_NAME.get(r.kpi)
        unit = kpi.unit if kpi else r.unit
        lines.append(f"{r.kpi:<30} {format_value(r.value, unit):>18}  {unit:<18} {arrow.get(r.direction, '')}")
    return "\n".join(lines)


def run(cfg: DictConfig) -> int:
    """Validate, run (unless already complete), write and print; return the exit status."""
    try:
        config = to_config(cfg)
    except ConfigError as err:
        print(f"clustersim: error: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if config.task == "calibrate":
        return calibrate(config)
    result = run_and_save(config, progress=config.progress)
    if result.written:
        logger.info("results written to %s", result.folder)
    else:
        logger.info("already complete, nothing overwritten: %s", result.folder)
    print(kpi_table(result.tables["summary"]))
    print(f"\nresults: {result.folder}")
    return 0


def calibrate(config) -> int:
    """``task: calibrate``: the simulated-method-of-moments calibration (docs/CALIBRATION.md)."""
    from pathlib import Path

    from clustersim import calibration

    c = config.calibrate
    argv = ["--spec", str(Path(config_dir()) / "calibration" / f"{c.spec}.yaml"), "--jobs", str(c.jobs)]
    if c.reduced:
        argv.append("--reduced")
    if c.out:
        argv += ["--out", c.out]
    if not c.progress:
        argv.append("--quiet")
    return calibration.main(argv)


register_configs()


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def _hydra_entry(cfg: DictConfig) -> None:
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN:
        from clustersim.sweep import run_job

        status = run_job(cfg, Path(hc.sweep.dir), list(hc.overrides.task))
        logger.info("%s: %s", status["status"], status["run"])
        return
    status = run(cfg)
    if status:
        sys.exit(status)


def check_overrides(overrides: list[str]) -> str | None:
    """Compose the configuration with ``overrides``; return an error line, or None if valid."""
    from clustersim.config import load_config

    try:
        load_config(overrides)
    except ConfigError as err:
        return str(err)
    return None


def main() -> None:
    """Console entry point (``clustersim``).

    A single run's overrides are checked first, so that bad input gives one line and
    exit status 2 before Hydra starts; Hydra's own flags (``--help``, ``-m``...) pass
    through untouched.
    """
    args = sys.argv[1:]
    if not any(a.startswith("-") for a in args):
        error = check_overrides(args)
        if error:
            print(f"clustersim: error: {error}", file=sys.stderr)
            sys.exit(EXIT_BAD_CONFIG)
    _hydra_entry()


if __name__ == "__main__":
    main()
