"""``clustersim-validate``: run the validation and write its results (docs/VALIDATION.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from clustersim.errors import SpecError
from clustersim.study import Parser, command, load_spec_arg
from clustersim.validation.report import comparison_markdown, write_results
from clustersim.validation.run import validate_model
from clustersim.validation.spec import load_spec

PROG = "clustersim-validate"


def _at_least(minimum: int, name: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"got {text!r}; allowed: an integer >= {minimum}")
        return value

    parse.__name__ = name
    return parse


def parser() -> Parser:
    """The command's arguments."""
    p = Parser(prog=PROG, description="Validate the calibrated model against public figures.")
    p.add_argument("--reduced", action="store_true", help="the reduced sizes (small population, few replications)")
    p.add_argument("--out", type=Path, default=None, help="results folder (default results/validation, or ...-reduced)")
    p.add_argument("--replications", type=_at_least(2, "replications"), default=None, help="per scenario (>= 2)")
    p.add_argument("--spec", type=Path, default=None, help="validation file (default conf/validation/piedmont.yaml)")
    p.add_argument("--jobs", type=_at_least(1, "jobs"), default=1, help="worker processes (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no table on stdout")
    return p


def _run(args: argparse.Namespace) -> int:
    out = args.out or Path("results") / ("validation-reduced" if args.reduced else "validation")
    if out.exists() and not out.is_dir():
        raise SpecError("--out", f"got {str(out)!r}, which is a file; allowed: a folder (created if missing)")
    spec = load_spec_arg(load_spec, args.spec)
    result = validate_model(spec, args.reduced, args.replications, progress=not args.quiet, jobs=args.jobs)
    folder = write_results(result, out)
    if not args.quiet:
        print(comparison_markdown(result.table))
    print(f"validation: {result.replications} replications per scenario in {result.seconds:.0f} s; results: {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``clustersim-validate [--reduced] [--out DIR] [--replications N] [--spec FILE] [--jobs N] [--quiet]``.

    Runs the validation and writes its results; exit status 0 on success, 2 (one line on
    stderr naming the argument or the specification's key, nothing written) on bad input.
    """
    return command(PROG, argv, parser(), _run)
