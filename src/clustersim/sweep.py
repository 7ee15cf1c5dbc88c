"""Sweeps through Hydra: one job per run, and the callback that ends a sweep.

The store (run claims, job records, the merge, reading it back) is :mod:`clustersim.store`,
which never imports Hydra; this module is the Hydra glue on top of it:

- :func:`run_job`, the task of one Hydra job: validate, apply the design row, claim the
  run, compute it unless it is complete, and record the job (``jobs/<run>.json``). It never
  raises for a failed run: a failure is data, recorded with its error, and the other jobs
  go on.
- :class:`SweepCallback`: before the jobs, the comparison spec (``experiment.yaml``);
  after them, the merge and the report the sweep asked for (:mod:`clustersim.finish`), and
  the exit status: 0 only if every run, the merge and the report succeeded.

A job whose run folder already exists is not run again, so a sweep that was interrupted
(its process killed at any point) completes only what is missing when started again.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Any

from clustersim import store
from clustersim.config import ConfigError, to_config
from clustersim.results import is_complete, run_name
from clustersim.store import experiment_spec, job_statuses, merge_sweep, read_sweep

__all__ = ["SweepCallback", "experiment_spec", "job_statuses", "merge_sweep", "read_sweep", "run_job"]

logger = logging.getLogger(__name__)

# What the launcher returned for the jobs of the current multirun (set by the clustersim
# sweeper, read by the callback): job failures that left no record behind still count.
LAUNCHED: dict[str, Any] = {}


def invalid_name(overrides: list[str]) -> str:
    """The record name of a job whose configuration was refused (no run name exists for it)."""
    import hashlib

    text = "_".join(o.replace("/", "_") for o in overrides)
    safe = "".join(c if c.isalnum() or c in "._=,-" else "_" for c in text)[:120]
    return f"invalid-{safe}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _record(sweep_dir: Path, name: str, status: dict[str, Any]) -> None:
    try:
        store.write_record(sweep_dir, name, status)
    except OSError as err:  # the record cannot be written: the launcher's return value still says it
        status["record"] = f"not written: {err}"
        logger.error("job %s: its record could not be written: %s", name, err)


def run_job(cfg: Any, sweep_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """Run one job of a sweep and record its status; never raises for a failed run."""
    from clustersim.runner import prepare, run_and_save

    sweep_dir = Path(sweep_dir)
    status: dict[str, Any] = {"overrides": list(overrides)}
    try:
        config = prepare(to_config(cfg))
    except ConfigError as err:
        name = invalid_name(overrides)
        status.update(run=name, status="failed", error=str(err))
        _record(sweep_dir, name, status)
        return status
    config.output_dir = str(sweep_dir / "runs")  # a sweep's runs live in the sweep folder
    name = run_name(config)
    folder = sweep_dir / "runs" / name
    status["run"] = name
    try:
        with store.claim(folder):  # another sweep computing this run: wait, then reuse it
            if not is_complete(folder):
                _record(sweep_dir, name, {**status, "status": "running"})
            result = run_and_save(config, progress=False)
            status.update(status="complete", folder=str(result.folder), reused=not result.written)
            _record(sweep_dir, name, status)
    except Exception as err:  # a failed run is data: record it and let the others go on
        logger.error("run %s failed: %s", name, err)
        status.update(status="failed", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
        _record(sweep_dir, name, status)
    return status


try:  # Hydra is a dependency; the callback only matters inside a Hydra multirun
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object  # type: ignore[misc,assignment]


def _fail(message: str, status: int = 1) -> None:
    print(f"clustersim: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


class SweepCallback(Callback):
    """Hydra callback: record the comparison spec, then merge and report at the end.

    ``on_multirun_start`` and ``on_multirun_end`` run in the launching process, whatever
    the launcher (basic, joblib, Ray, submitit), so the merge sees every job's record. Any
    failure ends the command with one line and a non-zero status (Hydra would otherwise turn
    an exception of a callback into a warning and exit 0).
    """

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """Write ``experiment.yaml`` (the comparison spec, with the arms the sweep runs).

        A sensitivity sweep that does not cover exactly the rows of its design is refused in
        one line with exit status 2 before any job runs. Any other sweep gets a report (two
        arms, named contrasts, a grid, or one arm); one that cannot form the comparison it
        asks for ends with one line and exit status 1.
        """
        from omegaconf import OmegaConf

        LAUNCHED.clear()
        sweep_dir = Path(config.hydra.sweep.dir)
        spec = OmegaConf.to_container(config.comparison, resolve=True)
        assert isinstance(spec, dict)
        arms = _swept_values(config, str(spec.get("arm", "clusters")))
        spec["arms"] = arms if arms is not None else [str(config.clusters.name)]
        if config.sensitivity.method != "none":
            error = _check_design_sweep(config)
            if error:
                _fail(error, 2)
            spec["sensitivity"] = OmegaConf.to_container(config.sensitivity, resolve=True)
            spec["sensitivity"].pop("sample", None)
        try:
            store.write_experiment_spec(sweep_dir, spec)
        except OSError as err:
            _fail(f"cannot write the sweep folder {sweep_dir}: {err.strerror or err}")

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        """Merge the sweep's runs, build its report, print the table; exit 1 if anything failed."""
        from clustersim import finish

        sweep_dir = Path(config.hydra.sweep.dir)
        outcome = finish.finish_sweep(sweep_dir, launched=dict(LAUNCHED))
        if outcome.text:
            print(outcome.text, flush=True)
        if outcome.error:
            _fail(outcome.error, outcome.status)


def _swept_values(config: Any, key: str) -> list[str] | None:
    """The values a multirun sweeps ``key`` over (sweeper params, then command-line overrides)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    text = None
    params = config.hydra.sweeper.get("params") or {}
    if key in params:
        text = f"{key}={params[key]}"
    for o in config.hydra.overrides.task:
        if o.split("=", 1)[0].lstrip("+~") == key:
            text = o
    if text is None:
        return None
    override = OverridesParser.create().parse_override(text)
    if override.is_sweep_override():
        return [str(v) for v in override.sweep_iterator()]
    return [str(override.value())]


def _check_design_sweep(config: Any) -> str | None:
    """An error line unless ``sensitivity.sample`` is swept over exactly the design's rows."""
    from omegaconf import OmegaConf

    from clustersim.sensitivity import check_sweep_samples

    plain = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
    try:
        cfg = to_config(plain)  # validates the design (row 0 of it) before anything runs
    except ConfigError as err:
        return str(err)
    values = _swept_values(config, "sensitivity.sample")
    if values is None:
        return (
            "sensitivity.sample: not swept; allowed: a sweep over the design's rows, e.g. sensitivity.sample=range(0,N)"
        )
    try:
        samples = [int(float(v)) for v in values]
    except ValueError:
        return f"sensitivity.sample: got {values[:3]}...; allowed: integers"
    return check_sweep_samples(cfg.sensitivity, samples)
