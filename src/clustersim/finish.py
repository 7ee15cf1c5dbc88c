"""How a sweep ends: the merge, the report it asked for, and an exit status that tells the truth.

Used by the Hydra callback at the end of ``clustersim -m ...`` and by ``clustersim-report``.
The report is

- the report of :func:`clustersim.report.build_report`: the comparison's contrasts (two
  arms, named contrasts, a grid of cells), or a distribution report when it ran one arm;
- the sensitivity report (:func:`clustersim.sensitivity.build_sensitivity_report`) for a
  design.

The exit status is 0 only if every run, the merge and the report succeeded. Otherwise one
line says what failed and where the details are (``jobs/<run>.json``, ``report.md``):
runs that failed or were interrupted, jobs that left no record, a comparison that cannot
be formed (no complete run of one arm), no complete run at all, an error of the merge or
the report (a full disk, a read-only folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clustersim import store


@dataclass
class Outcome:
    """What a sweep's end printed and how it exits: ``error`` is the one line (empty if none)."""

    text: str
    error: str
    status: int


def _first_error(failed: Any) -> str:
    if failed is None or not len(failed) or "error" not in failed.columns:
        return ""
    first = str(failed["error"].iloc[0]).strip().splitlines()
    return first[0][:300] if first else ""


def _complete_arms(data: dict[str, Any], arm: str) -> set[str]:
    summary = data["summary"]
    if summary.empty or arm not in summary.columns:
        return set()
    return {str(a) for a in summary[arm].unique()}


def _build(sweep_dir: Path, spec: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Merge and build the report the sweep asked for; return its output and where the report is."""
    from clustersim import report

    if "sensitivity" in spec:
        from clustersim.sensitivity import build_sensitivity_report

        out = build_sensitivity_report(sweep_dir, merge=True)
        return out, str(out["folder"] / "report.md")
    data = store.merge_sweep(sweep_dir)
    failed = store.failed_runs(data["runs"])
    n_runs = len(data["runs"])
    if data["summary"].empty:
        detail = f"{len(failed)} of {n_runs} runs failed" if n_runs else "no run recorded"
        first = _first_error(failed)
        raise SweepFailed(
            f"no complete run in {sweep_dir} ({detail}{': ' + first if first else ''}); details: {sweep_dir / 'jobs'}/"
        )
    from clustersim.comparison import ReportError

    arm = str(spec.get("arm", "clusters"))
    asked = [str(a) for a in spec.get("arms", [])]
    have = _complete_arms(data, arm)
    lacking = [a for a in dict.fromkeys(asked) if a not in have]
    if len(set(asked)) >= 2 and lacking:  # a comparison was asked for, an arm has no complete run
        first = _first_error(failed)
        raise SweepFailed(
            f"cannot form the comparison of {arm} = {', '.join(dict.fromkeys(asked))}: no complete run of"
            f" {arm}={', '.join(lacking)} ({len(failed)} of {n_runs} runs failed{': ' + first if first else ''});"
            f" details: {sweep_dir / 'jobs'}/"
        )
    try:
        out = report.build_report(sweep_dir, merge=False)
    except ReportError as err:
        first = _first_error(failed)
        raise SweepFailed(
            f"{str(err).splitlines()[0]} ({len(failed)} of {n_runs} runs failed{': ' + first if first else ''});"
            f" details: {sweep_dir / 'jobs'}/"
        ) from None
    effects = out.get("effects")
    if effects is not None and len(effects) and "n_pairs" in effects and int(effects["n_pairs"].max()) == 0:
        raise SweepFailed(
            "cannot form the comparison: no pair of complete runs with the same seed and replication;"
            f" details: {sweep_dir / 'runs.parquet'}"
        )
    return out, str(sweep_dir / "report.html")


def preload(sensitivity: bool = False) -> None:
    """Import what the merge and the report need (the launching process calls it while the runs go on).

    The report's modules, scipy's statistics and matplotlib take one to two seconds to
    import; imported in a background thread of the launching process, which only waits for
    its workers, they are ready when the last run ends. Never raises.
    """
    try:
        import matplotlib.backends.backend_agg  # noqa: F401

        from clustersim import report  # noqa: F401
        from clustersim.saver import start_saver

        start_saver()  # then the process that will save the report's figures (it imports matplotlib)

        if sensitivity:
            from clustersim import sensitivity as _sensitivity  # noqa: F401
    except Exception:  # an optimisation only: the report imports them itself
        pass


class SweepFailed(Exception):
    """The sweep cannot give what it was asked for (its message is the one line to print)."""


def finish_sweep(sweep_dir: Path | str, launched: dict[str, Any] | None = None) -> Outcome:
    """Merge a sweep folder, build its report, and say how it ends (never raises)."""
    sweep_dir = Path(sweep_dir)
    launched = launched or {}
    try:
        with store.merge_lock(sweep_dir):
            spec = store.experiment_spec(sweep_dir)
            out, where = _build(sweep_dir, spec if isinstance(spec, dict) else {})
    except SweepFailed as err:
        return Outcome("", str(err), 1)
    except OSError as err:
        from clustersim.errors import describe_os_error

        return Outcome("", f"the merge or report of {sweep_dir} failed: {describe_os_error(err)}", 1)
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0]
        return Outcome("", f"the merge or report of {sweep_dir} failed: {type(err).__name__}: {first}", 1)
    text = f"{out['text']}\n\nreport: {where}"
    problems = []
    failed = out.get("failed")
    n_failed = 0 if failed is None else len(failed)
    if n_failed:
        problems.append(f"{n_failed} run(s) failed ({_first_error(failed)})")
    unrecorded = launched.get("unrecorded", [])
    if unrecorded:
        problems.append(f"{len(unrecorded)} job(s) left no record ({unrecorded[0]})")
    in_progress = store.runs_in_progress(sweep_dir)
    if in_progress:
        text += f"\nnote: {in_progress} run(s) still being computed by another job, not in this report"
    if problems:
        details = f"details: {sweep_dir / 'jobs'}/<run>.json and {where}"
        return Outcome(text, "; ".join(problems) + f"; {details}", 1)
    return Outcome(text, "", 0)


def report_main(argv: list[str] | None = None) -> int:
    """``clustersim-report <sweep folder>``: merge the saved runs, rebuild the report, exit as the sweep would."""
    import argparse
    import sys

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> Any:  # one line, no usage block
            print(f"clustersim-report: error: {message}", file=sys.stderr)
            raise SystemExit(2)

    parser = Parser(prog="clustersim-report", description=report_main.__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder (results/sweeps/<experiment>)")
    args = parser.parse_args(argv)
    if not (args.sweep_dir / "jobs").is_dir():
        print(f"clustersim-report: error: {args.sweep_dir} is not a sweep folder (no jobs/ inside)", file=sys.stderr)
        return 2
    outcome = finish_sweep(args.sweep_dir)
    if outcome.text:
        print(outcome.text)
    if outcome.error:
        print(f"clustersim-report: error: {outcome.error}", file=sys.stderr)
    return outcome.status
