"""The result notebooks of experiments/: what they read, and how they are executed.

Each notebook is a jupytext percent-format ``.py`` file in ``experiments/`` with a cell
tagged ``parameters``; it reads saved results (a sweep folder, the calibration results)
through the package's API and writes its tables (CSV and Markdown) and figures (PNG) to
its ``out_dir``. :func:`execute` runs one with papermill (the parameters injected after the
``parameters`` cell) in this environment's Python kernel and renders it to HTML; nothing is
written in place unless the whole notebook ran (temporary files renamed at the end).

``clustersim-notebooks`` executes them at full size (``make results`` first runs the
experiments they read); the test suite executes every one in a small mode.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from clustersim.config import config_dir


@dataclass(frozen=True)
class Notebook:
    """One result notebook: its file and the parameters of the full-size run."""

    name: str
    file: str
    title: str
    parameters: dict[str, Any] = field(default_factory=dict)


NOTEBOOKS: dict[str, Notebook] = {
    nb.name: nb
    for nb in (
        Notebook(
            "headline",
            "experiments/headline_twelve_vs_seven.py",
            "12 vs 7 clusters: the headline comparison",
            {"sweep_dir": "results/sweeps/twelve_vs_seven", "out_dir": "results/headline"},
        ),
        Notebook(
            "budget_staffing",
            "experiments/budget_staffing.py",
            "12 vs 7 over budget x staffing",
            {"sweep_dir": "results/sweeps/budget_staffing_grid", "out_dir": "results/budget_staffing"},
        ),
        Notebook(
            "reform_timeline",
            "experiments/reform_timeline.py",
            "2009-2020: the reform against the observed membership path",
            {"sweep_dir": "results/sweeps/reform_timeline", "out_dir": "results/reform_timeline"},
        ),
        Notebook(
            "calibration",
            "experiments/calibration_fit.py",
            "Calibration fit",
            {"calibration_dir": "results/calibration", "out_dir": "results/calibration_fit"},
        ),
        Notebook(
            "sensitivity",
            "experiments/sensitivity.py",
            "Sensitivity: what decides 7 vs 12",
            {
                "morris_dir": "results/sensitivity/morris",
                "sobol_dir": "results/sensitivity/sobol",
                "out_dir": "results/sensitivity_summary",
            },
        ),
    )
}


def project_root() -> Path:
    """The folder holding ``experiments/`` (the source checkout)."""
    conf = Path(config_dir())
    for candidate in (conf.parent, Path.cwd()):
        if (candidate / "experiments").is_dir():
            return candidate
    raise FileNotFoundError("experiments/ not found: run from the clustersim source checkout")


# ------------------------------------------------------------------ used by the notebooks
def write_table(df: pd.DataFrame, stem: str | Path, floatfmt: str = ".4g") -> tuple[Path, Path]:
    """Write ``df`` as ``<stem>.csv`` and ``<stem>.md`` (atomically); return both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv, md = stem.with_suffix(".csv"), stem.with_suffix(".md")
    _atomic_text(csv, df.to_csv(index=False))
    _atomic_text(md, markdown(df, floatfmt) + "\n")
    return csv, md


def markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A Markdown table of ``df`` (floats with ``floatfmt``, missing values as n/a)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append("n/a" if v != v else format(v, floatfmt))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def observed_membership(spec_path: str | Path | None = None) -> pd.DataFrame:
    """The observed membership path (the calibration's member targets): date, members, source."""
    from clustersim.calibration import load_spec

    spec = load_spec(spec_path)
    rows = [
        {"date": t.date, "members": t.value, "source": " ".join(str(t.source).split())}
        for t in spec.targets.values()
        if t.kpi == "members" and t.date
    ]
    return pd.DataFrame(rows).sort_values("date", ignore_index=True)


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------ execution
def execute(name: str, parameters: Mapping[str, Any] | None = None, html_dir: str | Path | None = None) -> Path:
    """Execute notebook ``name`` with ``parameters`` (default: full size); render it to HTML.

    The executed notebook is rendered to ``<html_dir>/<notebook>.html`` (default: its
    ``out_dir``). An error in any cell raises ``papermill.PapermillExecutionError``, and
    no HTML is written.

    Returns:
        The HTML file written.
    """
    import jupytext
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    nb = NOTEBOOKS[name]
    root = project_root()
    params = {**nb.parameters, **dict(parameters or {})}
    out_dir = Path(params["out_dir"])
    if not out_dir.is_absolute():
        out_dir = root / out_dir
    params["out_dir"] = str(out_dir)
    html_dir = Path(html_dir) if html_dir else out_dir
    html_dir.mkdir(parents=True, exist_ok=True)
    source = root / nb.file
    with tempfile.TemporaryDirectory() as tmp:
        notebook = jupytext.read(source)
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        src, done = Path(tmp) / "in.ipynb", Path(tmp) / "out.ipynb"
        nbformat.write(notebook, src)
        papermill.execute_notebook(
            str(src), str(done), parameters=params, kernel_name="python3", cwd=str(root), progress_bar=False
        )
        body, _ = HTMLExporter().from_notebook_node(nbformat.read(done, as_version=4))
    html = html_dir / f"{Path(nb.file).stem}.html"
    _atomic_text(html, body)
    return html


def main(argv: list[str] | None = None) -> int:
    """``clustersim-notebooks``: execute the result notebooks (all, or ``--only`` some)."""
    parser = argparse.ArgumentParser(prog="clustersim-notebooks", description=main.__doc__)
    parser.add_argument("--only", nargs="+", choices=list(NOTEBOOKS), help="notebooks to run (default: all)")
    parser.add_argument(
        "-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="a parameter for every notebook run"
    )
    args = parser.parse_args(argv)
    params: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"clustersim-notebooks: error: --param {item!r}: allowed: KEY=VALUE", file=sys.stderr)
            return 2
        params[key] = value
    failed = 0
    for name in args.only or list(NOTEBOOKS):
        nb = NOTEBOOKS[name]
        missing = [v for k, v in nb.parameters.items() if k.endswith("_dir") and k != "out_dir" and k not in params]
        absent = [v for v in missing if not (project_root() / v).exists()]
        if absent:
            print(f"{name}: skipped, its results are missing ({', '.join(absent)}); `make results` runs them")
            failed += 1
            continue
        try:
            html = execute(name, {k: v for k, v in params.items() if k in nb.parameters})
        except Exception as err:  # report every notebook, then fail
            print(f"{name}: FAILED: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
            failed += 1
            continue
        print(f"{name}: {html}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
