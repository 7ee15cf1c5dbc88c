"""Figures saved by a second process: the same bytes as saved here, errors told, a dead process survived."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from clustersim import saver
from clustersim.saver import BackgroundSaver, FigureError, save, short_eur


def figure(label: str = "members", unpicklable: bool = False, constrained: bool = False) -> Figure:
    if constrained:
        return laid_out_figure()
    fig = Figure(figsize=(4, 3))
    ax = fig.add_subplot()
    x = np.arange(24)
    ax.plot(x, np.sqrt(x), label=label)
    ax.fill_between(x, np.sqrt(x) - 0.5, np.sqrt(x) + 0.5, alpha=0.3, hatch="////")
    ax.xaxis.set_major_formatter(FuncFormatter(short_eur))
    if unpicklable:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.1f}"))
    ax.legend()
    return fig


def laid_out_figure() -> Figure:
    """Panels in a constrained layout, laid out again at each draw, as the report's series figure.

    A PNG drawn before the SVG renamed the SVG's clip paths: the SVG is drawn first, also when alone.
    """
    fig = Figure(figsize=(7.2, 8.5), layout="constrained")
    x = np.arange(144)
    for ax in fig.subplots(3, 1, sharex=True):
        ax.plot(x, np.sqrt(x))
        ax.fill_between(x, np.sqrt(x) - 0.5, np.sqrt(x) + 0.5, alpha=0.3, hatch="////")
        ax.axvspan(20, 40, color="#bbbbbb", alpha=0.3)
    return fig


@pytest.mark.parametrize("constrained", [False, True])
def test_a_figure_saved_by_the_second_process_is_the_same_bytes(tmp_path: Path, constrained: bool) -> None:
    here = save(figure(constrained=constrained), tmp_path / "here" / "f")
    again = save(figure(constrained=constrained), tmp_path / "again" / "f")
    background = BackgroundSaver()
    there = background(figure(constrained=constrained), tmp_path / "there" / "f")
    background.wait()  # one of its two files may be written here, the other there
    assert saver._PROCESS is not None  # it did go to the other process (2 cores or more here)
    for a, b, c in zip(here, again, there, strict=True):
        assert a.read_bytes() == b.read_bytes() == c.read_bytes(), a.name  # SVGs too: a fixed hash salt
    assert sorted(p.name for p in (tmp_path / "there").iterdir()) == ["f.png", "f.svg"]  # no parcel left


def test_a_save_that_fails_in_the_second_process_fails_the_report_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the figure's folder should be")
    background = BackgroundSaver()
    background(figure(), tmp_path / "ok" / "f")
    with pytest.raises(OSError):  # the parcel cannot even be written beside a file: told at once
        background(figure(), tmp_path / "blocked" / "f")
    background.wait()
    assert (tmp_path / "ok" / "f.png").is_file()
    # the folder exists but the process cannot replace into it: its error comes back from wait()
    target = tmp_path / "readonly"
    target.mkdir()
    (target / "f.png").mkdir()  # a folder where the PNG should go: os.replace fails
    background(figure(), target / "f")
    with pytest.raises(FigureError, match=r"^f: \w+Error"):
        background.wait()
    assert not list(target.glob(".*"))


def test_figures_are_saved_here_when_the_second_process_dies_or_cannot_take_them(tmp_path: Path) -> None:
    background = BackgroundSaver()
    background(figure(unpicklable=True), tmp_path / "lambda")  # a lambda does not pickle: saved here at once
    assert (tmp_path / "lambda.png").is_file()
    process = saver.start_saver()
    assert process is not None
    background(figure(), tmp_path / "a")
    process.proc.kill()
    process.proc.wait()
    background(figure(), tmp_path / "b")  # the pipe is broken, or the answer never comes: saved here
    background.wait()
    for stem in ("a", "b"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 1000 and (tmp_path / f"{stem}.svg").is_file()
    assert saver._PROCESS is None and not list(tmp_path.glob(".*"))
    saver._DISABLED = False  # let the other tests of this process start a new one


def test_a_save_cut_short_by_a_killed_process_leaves_nothing_behind(tmp_path: Path) -> None:
    """The temporary files of the figure the dead process was writing are removed, nobody else's."""
    for name in (".a.x1y2z3.png", ".a.q9w8e7.svg", ".a_b.x1y2z3.png", "a.png", ".b.x1y2z3.png"):
        (tmp_path / name).write_bytes(b"partial")
    saver._remove_partial(tmp_path / "a", (".svg",))  # only the file it was writing: the other may be written here
    assert ".a.x1y2z3.png" in {p.name for p in tmp_path.iterdir()}
    saver._remove_partial(tmp_path / "a")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a_b.x1y2z3.png", ".b.x1y2z3.png", "a.png"]


def test_the_files_not_yet_handed_over_are_written_here_while_the_process_writes_its_own(tmp_path: Path) -> None:
    """Work shared at the end: wait() writes the newest pieces here; every file once, nothing left behind."""
    background = BackgroundSaver()
    for k in range(4):
        background(figure(constrained=True), tmp_path / f"f{k}")
    background.wait()
    for k in range(4):
        here = save(figure(constrained=True), tmp_path / "here" / f"f{k}")
        for path in here:
            assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
    assert not list(tmp_path.glob(".*")) and saver._PROCESS is not None
    assert saver._LOCK.acquire(blocking=False)  # released for the next report
    saver._LOCK.release()
