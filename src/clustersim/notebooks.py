"""The result notebooks of experiments/: what they read, and how they are executed.

Each notebook is a jupytext percent-format ``.py`` file in ``experiments/`` with a cell
tagged ``parameters``; it reads saved results (a sweep folder, the calibration results)
through the package's API and writes its tables (CSV and Markdown) and figures (300 dpi
PNG and SVG) to its ``out_dir``. What a reader sees comes from :func:`say` (text generated
from the results), :func:`show_table` (tables rendered) and :func:`show_figure` (figures
inline, with a caption). :func:`execute` runs one with papermill (the parameters injected
after the ``parameters`` cell, paths as given) in this environment's Python kernel and
renders it to a light HTML page without the code (:func:`render_html`); nothing is written
in place unless the whole notebook ran (temporary files renamed at the end).

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
        cells = [number(v, floatfmt) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def number(v: float, floatfmt: str = ".4g") -> str:
    """A float for a table: thousands with separators (never 1.2e+03), others with ``floatfmt``."""
    if v != v:
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return format(v, floatfmt)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save a matplotlib figure as a 300 dpi PNG and an SVG beside it (atomically); return the PNG."""
    from clustersim.figures import save

    return save(fig, Path(path).with_suffix(""))[0]


# ---------------------------------------------------------- what a reader sees in the HTML
def say(text: str) -> None:
    """Show Markdown text in the notebook's output (interpretation generated from the results)."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def show_table(df: pd.DataFrame, stem: str | Path | None = None, caption: str = "", floatfmt: str = ".4g") -> None:
    """Show a table rendered (not as pipe text); with ``stem``, also write it as CSV and Markdown."""
    import html as html_lib

    from IPython.display import HTML, display

    if stem is not None:
        write_table(df, stem, floatfmt)
    shown = df.copy()
    for c in shown.columns:
        if shown[c].dtype.kind == "f":
            shown[c] = [number(v, floatfmt) for v in shown[c]]
    table = shown.to_html(index=False, escape=True, border=0, classes="cs-table")
    cap = f"<caption>{html_lib.escape(caption)}</caption>" if caption else ""
    display(HTML(table.replace('<table border="0" class="dataframe cs-table">', f"<table class='cs-table'>{cap}", 1)))


def show_figure(fig: Any, path: str | Path, caption: str = "", alt: str = "") -> None:
    """Save a figure (300 dpi PNG and SVG) and show it inline at screen resolution, with its caption.

    ``alt`` (default: the figure's file name and the caption's first sentence) describes it
    for readers who cannot see it.
    """
    import base64
    import html as html_lib
    import io

    from IPython.display import HTML, display

    png = save_figure(fig, path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=SCREEN_DPI)
    data = base64.b64encode(buffer.getvalue()).decode()
    text = alt or f"{png.stem}: {caption.split('. ')[0]}"
    display(HTML(f'<img alt="{html_lib.escape(text)}" src="data:image/png;base64,{data}">'))
    if caption:
        say(f"*{caption}*")


SCREEN_DPI = 96
PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}"
    "table{border-collapse:collapse;font-size:14px;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:3px 8px}"
    "th{background:#f3f3f3}td{text-align:right}td:first-child{text-align:left}caption{caption-side:bottom;"
    "font-size:13px;color:#444;text-align:left}img{max-width:100%}.anchor-link{display:none}pre{white-space:pre-wrap}"
)


def render_html(notebook: Any, title: str) -> str:
    """An executed notebook as a light, self-contained HTML page: outputs and text only, no code."""
    import html as html_lib

    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="basic", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(notebook)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html_lib.escape(title)}</title>"
        f"<style>{PAGE_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


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
    os.chmod(tmp, 0o644)  # mkstemp makes it private; results are for everyone to read
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

    nb = NOTEBOOKS[name]
    root = project_root()
    params = {**nb.parameters, **dict(parameters or {})}
    # paths stay as given (the notebook runs in the project folder): the rendered page shows
    # "results/headline", never the author's own absolute path
    out_dir = Path(params["out_dir"])
    out_dir = out_dir if out_dir.is_absolute() else root / out_dir
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
        body = render_html(nbformat.read(done, as_version=4), nb.title)
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
