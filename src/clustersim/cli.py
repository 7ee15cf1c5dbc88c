"""The ``clustersim`` command: one simulation, or a sweep, from the Hydra configuration.

Examples::

    clustersim                                   # Piedmont 2009-2020, 12 clusters
    clustersim clusters=seven funding=erdf_5m seed=3
    clustersim clusters=reform staffing=lean population=small
    clustersim -m experiment=twelve_vs_seven     # a sweep: merge, report, exit status
    clustersim --help [group or key]             # fast: Hydra is not started

Nothing fails quietly. Exit status: 0 done; 1 a run, the merge or the report failed (one
line says what and where the details are); 2 bad input (one line naming the key and what
is allowed; nothing written); 130 interrupted (Ctrl-C; nothing half-written is left as if
complete). An operating-system error (permission, full disk) is one line, never a
traceback; ``CLUSTERSIM_DEBUG=1`` shows the traceback of an unexpected error.

This module imports only the standard library and the leaf :mod:`clustersim.errors` at import
time, so that ``--help`` and bad input answer at once; Hydra, pandas and the model are
imported when a run starts.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable
from typing import Any

from clustersim.errors import describe_os_error

logger = logging.getLogger("clustersim")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BAD_CONFIG = EXIT_BAD_INPUT

# Hydra's flags, and whether each takes a value (``--info`` takes an optional one)
_FLAGS_WITH_VALUE = {"--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd"}
_FLAGS_WITH_VALUE |= {"--cfg", "-c", "--package", "-p", "--experimental-rerun", "--shell-completion", "-sc"}
_FLAGS = {"-m", "--multirun", "-r", "--run", "--resolve", "--version", "--hydra-help", "--info", "-i"}
_FLAGS |= _FLAGS_WITH_VALUE | {"-h", "--help"}
_INFO_VALUES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}


def guarded(prog: str, func: Callable[..., int | None], *args: Any) -> int:
    """Run ``func``; turn an interrupt, an OS error or any other error into one line and an exit status."""
    from clustersim.errors import ConfigError

    try:
        return int(func(*args) or 0)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except ConfigError as err:
        print(f"{prog}: error: {err}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except OSError as err:
        if os.environ.get("CLUSTERSIM_DEBUG") == "1":
            raise
        print(f"{prog}: error: {describe_os_error(err)}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except Exception as err:
        if os.environ.get("CLUSTERSIM_DEBUG") == "1":
            raise
        first = (str(err).strip().splitlines() or [""])[0]
        print(
            f"{prog}: error: {type(err).__name__}: {first} (set CLUSTERSIM_DEBUG=1 for the traceback)",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_FAILED


# ------------------------------------------------------------------------ one run
def format_value(value: float, unit: str, note: str = "") -> str:
    """A KPI value for the terminal: integers with separators, shares as percentages."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return note or "not defined"
    if unit == "share":
        return f"{100 * value:.1f}%"
    if unit == "EUR":
        return f"EUR {value:,.0f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}"


def kpi_table(summary: Any) -> str:
    """The end-of-run KPIs (whole region) as an aligned text table."""
    from clustersim.kpis import KPI_BY_NAME

    rows = summary[summary["cluster"] == "all"]
    if "note" not in rows.columns:
        rows = rows.assign(note="")
    arrow = {"max": "higher", "min": "lower", "info": ""}
    lines = [f"{'KPI':<30} {'value':>18}  {'unit':<18} better"]
    lines.append("-" * len(lines[0]))
    for r in rows.itertuples(index=False):
        kpi = KPI_BY_NAME.get(r.kpi)
        unit = kpi.unit if kpi else r.unit
        lines.append(f"{r.kpi:<30} {format_value(r.value, unit, r.note):>18}  {unit:<18} {arrow.get(r.direction, '')}")
    return "\n".join(lines)


def run(cfg: Any) -> int:
    """Validate, run (unless already complete), write and print; return the exit status."""
    from clustersim.config import to_config
    from clustersim.runner import run_and_save

    config = to_config(cfg)  # ConfigError: one line, exit 2 (see guarded)
    if config.task == "calibrate":
        return calibrate(config)
    try:
        result = run_and_save(config, progress=config.progress)
    except OSError as err:
        print(
            f"clustersim: error: the run could not be written under {config.output_dir}: {describe_os_error(err)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if result.written:
        logger.info("results written to %s", result.folder)
    else:
        logger.info("already complete, nothing overwritten: %s", result.folder)
    print(kpi_table(result.tables["summary"]))
    print(f"\nresults: {result.folder}")
    return EXIT_OK


def calibrate(config: Any) -> int:
    """``task: calibrate``: the simulated-method-of-moments calibration (docs/CALIBRATION.md)."""
    from pathlib import Path

    from clustersim import calibration
    from clustersim.config import config_dir

    c = config.calibrate
    argv = ["--spec", str(Path(config_dir()) / "calibration" / f"{c.spec}.yaml"), "--jobs", str(c.jobs)]
    if c.reduced:
        argv.append("--reduced")
    if c.out:
        argv += ["--out", c.out]
    if not c.progress:
        argv.append("--quiet")
    return calibration.main(argv)


def _task(cfg: Any) -> Any:
    """The Hydra task: one run, or one job of a sweep (which returns its record)."""
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN:  # one launched job: a batch of runs, or one run
        from clustersim.sweep import run_task

        return run_task(cfg, Path(hc.sweep.dir), list(hc.overrides.task))
    status = guarded("clustersim", run, cfg)
    if status:
        raise SystemExit(status)
    return None


def _hydra_main() -> None:
    import hydra

    from clustersim.config import config_dir, register_configs

    register_configs()
    entry = hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")(_task)
    entry()


# --------------------------------------------------------------------- the command
def split_args(args: list[str]) -> tuple[list[str], list[str]]:
    """Hydra's flags (with their values) and the overrides; ConfigError for an unknown flag."""
    from clustersim.errors import ConfigError
    from clustersim.overrides import suggest

    flags: list[str] = []
    overrides: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        name = a.split("=", 1)[0] if a.startswith("--") else a
        if a.startswith("-") and not a.startswith("~"):
            if name not in _FLAGS:
                options = sorted(f for f in _FLAGS if f.startswith("--"))
                hint = suggest(name, options)
                raise ConfigError("flags", f"got {a!r}; allowed: {', '.join(options)}{hint}")
            flags.append(a)
            takes = name in _FLAGS_WITH_VALUE or (name in ("--info", "-i") and i + 1 < len(args))
            if takes and "=" not in a and i + 1 < len(args):
                if name not in ("--info", "-i") or args[i + 1] in _INFO_VALUES:
                    flags.append(args[i + 1])
                    i += 1
            elif name in _FLAGS_WITH_VALUE and "=" not in a:
                raise ConfigError("flags", f"{a} needs a value")
        else:
            overrides.append(a)
        i += 1
    return flags, overrides


def precheck(overrides: list[str], multirun: bool) -> list[str] | None:
    """Refuse bad overrides before Hydra starts (ConfigError naming the key); return a sweep's first job.

    A single run is composed and validated whole (returns None). A sweep's overrides are
    checked one by one (syntax, keys, options, interpolations, keys set twice), and its
    first job is composed (partial mappings); a value out of range in one job fails that
    job only, recorded as a failed run.
    """
    from clustersim.config import Config, compose, load_config
    from clustersim.overrides import check, check_after_compose

    if not multirun:
        load_config(overrides)
        return None
    parsed = check(overrides, Config, multirun=True)
    first = []
    for p, text in zip(parsed, overrides, strict=True):
        if p.is_sweep and p.values:
            first.append(f"{text.split('=', 1)[0]}={_as_override(p.values[0])}")
        elif not p.is_sweep:
            first.append(text)
    check_after_compose(parsed, compose(first))
    return first


def warm_workers_early(first: list[str]) -> None:
    """Start a joblib sweep's workers while Hydra composes the sweep (their imports use the idle core).

    The launcher's settings are those the first job's group choices compose (cached by the
    check); the sweeper takes the warming over when its launcher has the same settings
    (``hydra_plugins.clustersim_sweeper.warm_joblib_early``). An optimisation: never raises.
    """
    try:
        from clustersim.config import launcher_settings
        from hydra_plugins.clustersim_sweeper.clustersim_sweeper import warm_joblib_early

        warm_joblib_early(launcher_settings(first))
    except Exception as err:
        logging.getLogger(__name__).debug("joblib workers not started early: %s", err)


def _as_override(value: Any) -> str:
    if isinstance(value, str):
        return value
    return repr(value) if isinstance(value, float) else str(value)


MAX_REPLICATIONS = 1_000_000


def replications_flag(args: list[str]) -> list[str]:
    """``--replications N`` (or ``--replications=N``) as the override ``replication=range(0,N)``.

    The scale knob of a sweep: ``clustersim -m experiment=twelve_vs_seven --replications 200``
    runs 200 pairs. ConfigError for a value that is not a whole number from 1 to 1,000,000,
    or when ``replication`` is also set.
    """
    from clustersim.errors import ConfigError

    out: list[str] = []
    value: str | None = None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--replications" or a.startswith("--replications="):
            if "=" in a:
                value = a.split("=", 1)[1]
            elif i + 1 < len(args):
                value, i = args[i + 1], i + 1
            else:
                raise ConfigError("--replications", "needs a value; allowed: a whole number from 1 to 1,000,000")
        else:
            out.append(a)
        i += 1
    if value is None:
        return args
    if not value.isdigit() or not 1 <= int(value) <= MAX_REPLICATIONS:
        raise ConfigError("--replications", f"got {value!r}; allowed: a whole number from 1 to 1,000,000")
    if any(o.split("=", 1)[0].lstrip("+~") == "replication" for o in out):
        raise ConfigError("replication", "set twice (by --replications and replication=); allowed: one of them")
    return [*out, f"replication=range(0,{int(value)})"]


def _main(args: list[str]) -> int:
    args = replications_flag(args)
    flags, overrides = split_args(args)
    names = {f.split("=", 1)[0] for f in flags}
    if names & {"-h", "--help"}:
        from clustersim.cli_help import help_text

        topics = [o for o in overrides if "=" not in o]
        print(help_text(topics[0] if topics else None))
        return EXIT_OK
    custom = names & {"--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun"}
    # an experiment may set hydra.mode: MULTIRUN itself (then it sweeps without -m)
    experiment = any(o.split("=", 1)[0].lstrip("+") == "experiment" for o in overrides)
    multirun = bool(names & {"-m", "--multirun"}) or (experiment and _sweeps(overrides))
    if not custom:
        first = precheck(overrides, multirun)
        if first is not None:
            warm_workers_early(first)
    # errors inside Hydra reach guarded() as exceptions (one line), not as Hydra's traceback
    os.environ["HYDRA_FULL_ERROR"] = "1"
    sys.argv = [sys.argv[0], *args]
    try:
        _hydra_main()
    except Exception as exc:
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException

        if isinstance(exc, HydraException | OmegaConfBaseException) and not isinstance(exc, OSError):
            from clustersim.config import composition_error

            raise composition_error(exc, overrides) from None
        raise
    return EXIT_OK


def _sweeps(overrides: list[str]) -> bool:
    """True if any override sweeps (``a,b``, ``range(...)``): a sweep, even without -m."""
    try:
        from clustersim.overrides import parse

        return any(o.is_sweep_override() for o in parse(overrides))
    except Exception:  # an unreadable override is reported by the precheck
        return False


def _exit(status: int) -> None:
    """Leave with ``status``, without the interpreter's last garbage collections.

    Everything still alive is moved out of the collector's reach (``gc.freeze``) before
    ``sys.exit``: at shutdown Python otherwise walks every object of the process in full
    collections, 0.4-0.8 s once the model, the report and their libraries are loaded, for
    memory the operating system reclaims anyway. Exit handlers (``atexit``,
    ``weakref.finalize``) still run; the streams are flushed first.
    """
    import gc

    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()
    sys.exit(status)


def main() -> None:
    """Console entry point (``clustersim``): see the module docstring for the exit statuses."""
    _exit(guarded("clustersim", _main, sys.argv[1:]))


def report_main() -> None:
    """Console entry point of ``clustersim-report``, with the same one-line errors."""
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):  # a folder to report on: start the figure saver
        from clustersim.saver import start_saver

        start_saver()  # imports matplotlib while this process imports the rest (clustersim.saver)
    from clustersim.finish import report_main as report

    _exit(guarded("clustersim-report", report, sys.argv[1:]))


def calibrate_main() -> None:
    """Console entry point of ``clustersim-calibrate``, with one-line errors."""
    from clustersim.calibration import main as calibration_main

    _exit(guarded("clustersim-calibrate", calibration_main, sys.argv[1:]))


def validate_main() -> None:
    """Console entry point of ``clustersim-validate``, with one-line errors."""
    from clustersim.validation import main as validation_main

    _exit(guarded("clustersim-validate", validation_main, sys.argv[1:]))


def notebooks_main() -> None:
    """Console entry point of ``clustersim-notebooks``, with one-line errors."""
    from clustersim.notebooks import main as notebooks

    _exit(guarded("clustersim-notebooks", notebooks, sys.argv[1:]))


if __name__ == "__main__":
    main()
