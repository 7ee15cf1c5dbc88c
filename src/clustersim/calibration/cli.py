"""``clustersim-calibrate``: calibrate and write the results (docs/CALIBRATION.md)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from clustersim.calibration.outputs import calibration_table_markdown, write_results
from clustersim.calibration.search import calibrate
from clustersim.calibration.spec import load_spec
from clustersim.study import Parser, command, load_spec_arg

PROG = "clustersim-calibrate"
#: command-line options that override the method's sizes: option -> Method field
SIZES = {
    "n_lhs": "n_lhs",
    "replications": "replications",
    "n_local": "n_local",
    "final_replications": "final_replications",
    "jobs": "n_jobs",
}


def parser() -> Parser:
    """The command's arguments."""
    p = Parser(prog=PROG, description="Calibrate the free parameters by the simulated method of moments.")
    p.add_argument("--reduced", action="store_true", help="the reduced method (a quick end-to-end run)")
    p.add_argument(
        "--out", type=Path, default=None, help="results folder (default results/calibration, or ...-reduced)"
    )
    p.add_argument("--spec", type=Path, default=None, help="calibration file (default: conf/calibration/piedmont.yaml)")
    p.add_argument("--n-lhs", type=int, default=None, help="override the method's n_lhs")
    p.add_argument("--replications", type=int, default=None, help="override the method's replications")
    p.add_argument("--n-local", type=int, default=None, help="override the method's n_local")
    p.add_argument("--final-replications", type=int, default=None, help="override final_replications")
    p.add_argument("--jobs", type=int, default=None, help="worker processes per evaluation (n_jobs)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _run(args: argparse.Namespace) -> int:
    spec = load_spec_arg(load_spec, args.spec)
    changes = {field: getattr(args, opt) for opt, field in SIZES.items() if getattr(args, opt) is not None}
    if changes:
        which = "reduced" if args.reduced else "method"
        method = replace(getattr(spec, which), **changes)
        method.check(which)
        spec = replace(spec, **{which: method})
    out = args.out or Path("results") / ("calibration-reduced" if args.reduced else "calibration")
    result = calibrate(spec, reduced=args.reduced, progress=not args.quiet)
    folder = write_results(result, out)
    print(calibration_table_markdown(result))
    print(f"results: {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``clustersim-calibrate [--reduced] [--out DIR] [--spec FILE] [--jobs N] [sizes] [--quiet]``.

    Calibrates and writes the results; exit status 0 on success, 2 (one line on stderr
    naming the argument or the specification's key, nothing written) on bad input.
    """
    return command(PROG, argv, parser(), _run)
