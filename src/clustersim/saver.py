"""Saving figures: 300 dpi PNG and SVG, atomically, here or by a second process while a report goes on.

Only the standard library is imported at the top (matplotlib inside the functions), so that
``clustersim-report`` and a sweep's launching process can start the saving process before
their own heavy imports, and so that the saving process needs matplotlib only: a report's
figures pickle with references to this module and matplotlib alone.
"""

from __future__ import annotations

import json
import os
import pickle
import threading
from pathlib import Path
from typing import Any

DPI = 300


def save(fig: Any, stem: Path | str) -> list[Path]:
    """Write ``<stem>.png`` (300 dpi) and ``<stem>.svg`` atomically; return both paths."""
    import tempfile

    from matplotlib import rc_context

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for suffix in (".png", ".svg"):
        path = stem.with_suffix(suffix)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
        os.close(fd)
        try:
            # SVG text stays text (searchable, editable); a fixed salt makes the SVG's ids, and so
            # its bytes, the same every time (matplotlib draws a random one otherwise)
            with rc_context({"svg.fonttype": "none", "svg.hashsalt": "clustersim"}):
                fig.savefig(tmp, dpi=DPI, metadata={"Date": None} if suffix == ".svg" else None)
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a figure is for everyone to read
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        out.append(path)
    return out


def _remove_partial(stem: Path) -> None:
    """Remove the temporary files a save of ``stem`` left behind (a saving process killed mid-write)."""
    import glob

    for suffix in (".png", ".svg"):
        for leftover in stem.parent.glob(f".{glob.escape(stem.name)}.*{suffix}"):
            leftover.unlink(missing_ok=True)


def short_eur(x: float, _pos: int = 0) -> str:
    """A EUR tick label: 1.5M, 250k, 40 (the forest figure's axis; here so that its pickle needs no model code)."""
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    if abs(x) >= 1e3:
        return f"{x / 1e3:g}k"
    return f"{x:g}"


class _Process:
    """``python -m clustersim.saver``: saves the pickled figures it is sent, one at a time, in order.

    A plain subprocess rather than a multiprocessing pool: it never imports the caller's
    ``__main__`` (a script without a ``__main__`` guard would run again in it). Each figure
    travels as a pickle file beside its target; the pipe carries one line per figure and
    one line back (empty, or the error). One report at a time uses it (:data:`_LOCK`).
    """

    def __init__(self) -> None:
        import subprocess
        import sys

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "clustersim.saver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )

    def send(self, data: bytes, stem: Path) -> Path:
        """Hand one figure over (returns the pickle file it travels in)."""
        from clustersim import atomic

        parcel = atomic.temp_path(stem.with_suffix(".figure"))
        parcel.parent.mkdir(parents=True, exist_ok=True)
        parcel.write_bytes(data)
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(f"{json.dumps([str(parcel), str(stem)])}\n")
            self.proc.stdin.flush()
        except BaseException:
            parcel.unlink(missing_ok=True)
            raise
        return parcel

    def answer(self) -> str:
        """The next answer: '' when the figure was saved, else the error; EOFError if the process died."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise EOFError("the figure-saving process ended")
        return json.loads(line)


_PROCESS: _Process | None = None
_DISABLED = False  # the process could not start or died: save in-process from then on
_LOCK = threading.Lock()  # held by the saver whose figures are in the pipe (another saves in-process)


class FigureError(RuntimeError):
    """A figure the saving process could not write (its error, in one line)."""


def start_saver() -> _Process | None:
    """Start the process that saves figures, if the machine has a second core; return it (or None).

    Called early (the sweep's launching process calls it while the runs go on,
    ``clustersim-report`` before its imports) so that the process has imported matplotlib
    when the first figure comes. Never raises: without it figures are saved in-process.
    """
    global _PROCESS, _DISABLED
    if _PROCESS is None and not _DISABLED and (os.cpu_count() or 1) >= 2:
        try:
            _PROCESS = _Process()
        except Exception:  # an optimisation only
            _PROCESS, _DISABLED = None, True
    return _PROCESS


def _give_up() -> None:
    global _PROCESS, _DISABLED
    if _PROCESS is not None:
        _PROCESS.proc.kill()
    _PROCESS, _DISABLED = None, True


class BackgroundSaver:
    """Saves figures as :func:`save` does, in a second process, while the report goes on.

    A report's figures are independent of its tables: rendering a 300 dpi PNG and an SVG of
    each (:func:`save`) took about half of a headline report's time. Each figure is pickled
    (its PNG is the same, byte for byte) and saved by one other process (:class:`_Process`);
    :meth:`wait` returns when all are written and raises the first error of a save. A
    figure that cannot be pickled, or a saving process that cannot start, dies or is busy
    with another report (another thread), is saved in this process instead.
    """

    def __init__(self) -> None:
        """No figure pending yet."""
        self._pending: list[tuple[bytes, Path, Path]] = []

    def __call__(self, fig: Any, stem: Path | str) -> list[Path]:
        """Queue ``fig`` for ``<stem>.png`` and ``<stem>.svg``; return those paths (written by :meth:`wait`)."""
        stem = Path(stem)
        process = start_saver()
        if process is None or (not self._pending and not _LOCK.acquire(blocking=False)):
            return save(fig, stem)
        try:
            data = pickle.dumps(fig)
        except Exception:  # an artist that does not pickle: this figure is saved here
            self._release()
            return save(fig, stem)
        try:
            parcel = process.send(data, stem)
        except (BrokenPipeError, ValueError):  # the process died: this figure and the next are saved here
            self._release()
            _give_up()
            return save(fig, stem)
        except OSError:  # the figure's folder cannot be written: saving here raises its error
            self._release()
            return save(fig, stem)
        self._pending.append((data, stem, parcel))
        return [stem.with_suffix(".png"), stem.with_suffix(".svg")]

    def _release(self) -> None:
        if not self._pending:
            _LOCK.release()

    def wait(self) -> None:
        """Wait for every queued figure (saving here any the process could not); then raise the first save's error."""
        pending, self._pending = self._pending, []
        if pending:
            try:
                self._collect(pending)
            finally:
                _LOCK.release()

    def _collect(self, pending: list[tuple[bytes, Path, Path]]) -> None:
        first: Exception | None = None
        for data, stem, parcel in pending:
            error = ""
            try:
                if _PROCESS is None:
                    raise EOFError("no saving process")
                error = _PROCESS.answer()
            except (EOFError, OSError, ValueError):  # it died (or was killed): save here
                _give_up()
                _remove_partial(stem)  # what it was writing when it died
                save(pickle.loads(data), stem)
            finally:
                parcel.unlink(missing_ok=True)
            if error and first is None:
                first = FigureError(f"{stem.name}: {error}")
        if first is not None:
            raise first


def main() -> None:
    """The saving process: for each line ``[parcel, stem]`` on stdin, save the figure, answer on stdout."""
    import gc
    import sys

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.backends.backend_agg
    import matplotlib.backends.backend_svg
    import matplotlib.figure

    gc.freeze()  # a fast exit: nothing imported here needs collecting
    for line in sys.stdin:
        parcel, stem = json.loads(line)
        try:
            save(pickle.loads(Path(parcel).read_bytes()), stem)
            answer = ""
        except Exception as err:  # told to the report, which fails with it
            answer = f"{type(err).__name__}: {err}" or type(err).__name__
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
