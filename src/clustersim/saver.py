"""Saving figures: 300 dpi PNG and SVG, atomically, here or by a second process while a report goes on.

Only the standard library is imported at the top (matplotlib inside the functions), so that
``clustersim-report`` and a sweep's launching process can start the saving process before
their own heavy imports, and so that the saving process needs matplotlib only: a report's
figures pickle with references to this module and matplotlib alone.
"""

from __future__ import annotations

import collections
import json
import os
import pickle
import threading
from pathlib import Path
from typing import Any

DPI = 300


SUFFIXES = (".png", ".svg")
# the order a figure's files are queued in (BackgroundSaver): the PNG, at 300 dpi the larger
# piece of work, last, so that the report's process, which takes the newest piece first when
# its tables are done, takes the larger one while the saving process takes the smaller ones
_QUEUED = (".svg", ".png")


def save(fig: Any, stem: Path | str, suffixes: tuple[str, ...] = SUFFIXES) -> list[Path]:
    """Write ``<stem>.png`` (300 dpi) and ``<stem>.svg`` atomically (or only ``suffixes``); return the paths."""
    import tempfile

    from matplotlib import rc_context

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = {}
    # the SVG first: a PNG drawn before it leaves state in the figure that renames the SVG's clip
    # paths, so the SVG is the same bytes whether written alone (from a pickle, as the saving
    # process and BackgroundSaver.wait write one file) or with the PNG (checked on the report's figures)
    for suffix in sorted(suffixes, key=lambda s: s != ".svg"):
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
        out[suffix] = path
    return [out[suffix] for suffix in suffixes]


def _remove_partial(stem: Path, suffixes: tuple[str, ...] = SUFFIXES) -> None:
    """Remove the temporary files a save of ``stem`` as ``suffixes`` left behind (a process killed mid-write)."""
    import glob

    for suffix in suffixes:
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
    travels as a pickle file beside its target; the pipe carries one line per file to write
    (the pickle, the stem, the suffix) and one line back (empty, or the error). One report
    at a time uses it (:data:`_LOCK`).
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

    def send(self, parcel: Path, stem: Path, suffix: str) -> None:
        """Ask for ``<stem><suffix>`` to be written from the pickled figure in ``parcel``."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{json.dumps([str(parcel), str(stem), suffix])}\n")
        self.proc.stdin.flush()

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


def _error_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" or type(err).__name__


class BackgroundSaver:
    """Saves figures as :func:`save` does, in a second process, while the report goes on.

    A report's figures are independent of its tables: rendering a 300 dpi PNG and an SVG of
    each (:func:`save`) took about half of a headline report's time. Each figure is pickled
    (its files are the same, byte for byte) and its two files are queued as two pieces of
    work, the SVG then the PNG. A thread of this process hands them to one other process
    (:class:`_Process`), one at a time, oldest first, as that process finishes the previous
    one; :meth:`wait`, called when the report's tables are done, writes here the pieces not
    handed over yet, newest first, so that the two processes finish together (a headline
    report: the series figure's PNG here while the forest's PNG and the series' SVG are
    written there; the figures' wait 0.84 -> 0.70 s). :meth:`wait` returns when all are written and
    raises the first error of a save. A figure that cannot be pickled, or a saving process
    that cannot start or is busy with another report (another thread), is saved in this
    process at once; a piece the process could not write because it died is written here.
    """

    def __init__(self) -> None:
        """No figure pending yet."""
        self._queue: collections.deque[tuple[Path, Path, str]] = collections.deque()  # (parcel, stem, suffix)
        self._guard = threading.Lock()  # the queue and the feeding thread's state
        self._feeder: threading.Thread | None = None
        self._holding = False  # this saver holds _LOCK: its figures go to the process
        self._errors: list[FigureError] = []

    def __call__(self, fig: Any, stem: Path | str) -> list[Path]:
        """Queue ``fig`` for ``<stem>.png`` and ``<stem>.svg``; return those paths (written by :meth:`wait`)."""
        from clustersim import atomic

        stem = Path(stem)
        process = start_saver()
        if process is None or (not self._holding and not _LOCK.acquire(blocking=False)):
            return save(fig, stem)
        self._holding = True
        try:
            data = pickle.dumps(fig)
        except Exception:  # an artist that does not pickle: this figure is saved here
            self._release_if_idle()
            return save(fig, stem)
        parcels = []
        try:
            stem.parent.mkdir(parents=True, exist_ok=True)
            for suffix in _QUEUED:  # one pickle file per piece: each is removed by whoever writes it
                parcels.append(atomic.temp_path(stem.with_suffix(f"{suffix}.figure")))
                parcels[-1].write_bytes(data)
        except OSError:  # the figure's folder cannot be written: told at once
            for parcel in parcels:
                parcel.unlink(missing_ok=True)
            self._release_if_idle()
            raise
        with self._guard:
            self._queue.extend(zip(parcels, [stem] * len(_QUEUED), _QUEUED, strict=True))
            if self._feeder is None:
                self._feeder = threading.Thread(target=self._feed, args=(process,), daemon=True)
                self._feeder.start()
        return [stem.with_suffix(suffix) for suffix in SUFFIXES]

    def _release_if_idle(self) -> None:
        """Let another report use the process if none of this one's figures is queued."""
        with self._guard:
            idle = not self._queue and self._feeder is None
        if idle and self._holding:
            self._holding = False
            _LOCK.release()

    def _feed(self, process: _Process) -> None:
        """The feeding thread: the oldest piece to the process, its answer, the next, until none is left."""
        while True:
            with self._guard:
                if not self._queue or _PROCESS is not process:
                    self._feeder = None
                    return
                piece = self._queue.popleft()
            parcel, stem, suffix = piece
            try:
                process.send(parcel, stem, suffix)
                error = process.answer()
            except (EOFError, OSError, ValueError):  # it died (or was killed): this piece and the rest here
                _give_up()
                _remove_partial(stem, (suffix,))  # what it was writing when it died
                with self._guard:
                    self._queue.appendleft(piece)
                    self._feeder = None
                return
            parcel.unlink(missing_ok=True)
            if error:
                self._errors.append(FigureError(f"{stem.name}: {error}"))

    def wait(self) -> None:
        """Write here the pieces not handed over, newest first; wait for the rest; raise the first save's error."""
        try:
            while True:
                with self._guard:
                    if not self._queue:
                        feeder = self._feeder
                        break
                    parcel, stem, suffix = self._queue.pop()
                try:
                    save(pickle.loads(parcel.read_bytes()), stem, (suffix,))
                except Exception as err:  # as the process tells its errors
                    self._errors.append(FigureError(f"{stem.name}: {_error_line(err)}"))
                finally:
                    parcel.unlink(missing_ok=True)
            if feeder is not None:
                feeder.join()
            if _PROCESS is not None and _PROCESS.proc.poll() is not None:  # it died after its last answer
                _give_up()
        finally:
            if self._holding:
                self._holding = False
                _LOCK.release()
        if self._errors:
            first, self._errors = self._errors[0], []
            raise first


def main() -> None:
    """The saving process: for each line ``[parcel, stem, suffix]`` on stdin, write that file, answer on stdout."""
    import gc
    import sys

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.backends.backend_agg
    import matplotlib.backends.backend_svg
    import matplotlib.figure

    gc.freeze()  # a fast exit: nothing imported here needs collecting
    for line in sys.stdin:
        parcel, stem, suffix = json.loads(line)
        try:
            save(pickle.loads(Path(parcel).read_bytes()), stem, (suffix,))
            answer = ""
        except Exception as err:  # told to the report, which fails with it
            answer = _error_line(err)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
