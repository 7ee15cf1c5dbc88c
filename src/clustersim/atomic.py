"""Atomic writes: a file or a folder is complete when it has its final name, or absent.

Everything is first written under a temporary name beside its final place, then renamed
in one step (``os.replace``). A temporary name is ``.<final name>.tmp-<host>-<pid>-<token>``:
unique across processes and machines sharing a folder, and readable back to its final
name (:func:`final_name`), so that a cleaner can ask whether its writer is still alive
(:mod:`clustersim.store` does, through the run's claim). An interrupted write (an error,
Ctrl-C, a full disk) removes its temporary file; a killed process leaves it for the next
merge to remove.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TEMP_MARK = ".tmp-"


def temp_path(final: Path) -> Path:
    """A fresh temporary path beside ``final`` (same folder, so the rename is atomic)."""
    host = socket.gethostname().split(".")[0].replace("-", "_") or "host"
    return final.parent / f".{final.name}{TEMP_MARK}{host}-{os.getpid()}-{secrets.token_hex(4)}"


def is_temp(path: Path) -> bool:
    """True for a temporary name made by :func:`temp_path`."""
    return path.name.startswith(".") and TEMP_MARK in path.name


def final_name(path: Path) -> str:
    """The final name a temporary path stands for (``.x.json.tmp-...`` -> ``x.json``)."""
    return path.name[1:].rsplit(TEMP_MARK, 1)[0]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def write_with(path: Path | str, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary file, then rename it to ``path``; return ``path``.

    On any error (or an interrupt) the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return path


def write_text(path: Path | str, text: str) -> Path:
    """Write text (UTF-8) atomically."""
    return write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path: Path | str, data: bytes) -> Path:
    """Write bytes atomically."""
    return write_with(path, lambda tmp: tmp.write_bytes(data))


def write_json(path: Path | str, data: Any) -> Path:
    """Write JSON (indented, keys sorted, newline at the end) atomically."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_parquet(df: Any, path: Path | str, compression: str = "zstd") -> Path:
    """Write a pandas DataFrame as Parquet (no index) atomically."""
    return write_with(path, lambda tmp: df.to_parquet(tmp, index=False, compression=compression))


def dictionary_columns(schema: Any) -> list[str]:
    """The columns worth Parquet's dictionary encoding: all but the floating-point ones and ``firm``.

    A float column holds measured values that rarely repeat (a firm-year table's turnover:
    147,000 distinct values in a Piedmont run); the writer builds a dictionary, overflows it
    and falls back to plain pages, which took a third of the time of writing a run's firm
    microdata and made the file a quarter larger. A firm's id repeats only once a year: its
    dictionary holds every firm (428,457 in the whole region, where it overflowed too, made
    the file 15% larger and took about 30 MB while a year was written). The values read back
    are the same.
    """
    import pyarrow as pa

    return [f.name for f in schema if not pa.types.is_floating(f.type) and f.name != "firm"]


def parquet_options(schema: Any) -> dict[str, Any]:
    """``pyarrow.parquet`` writer options for a run's larger tables (the same values read back).

    Dictionary encoding as :func:`dictionary_columns` says, and min/max statistics for every
    column but the categorical text ones (Arrow dictionaries: a firm's domain, size class and
    cluster, the run's identity columns): their statistics compare strings page by page and
    took half the time of writing the firm microdata, for columns nobody filters by range.
    """
    import pyarrow as pa

    return {
        "use_dictionary": dictionary_columns(schema),
        "write_statistics": [f.name for f in schema if not pa.types.is_dictionary(f.type)],
    }


def write_csv(df: Any, path: Path | str) -> Path:
    """Write a pandas DataFrame as CSV (no index) atomically."""
    return write_with(path, lambda tmp: df.to_csv(tmp, index=False))


def save_figure(fig: Any, path: Path | str, **kwargs: Any) -> Path:
    """Save a matplotlib figure atomically (the format is read from ``path``'s suffix)."""
    fmt = Path(path).suffix.lstrip(".") or None
    return write_with(path, lambda tmp: fig.savefig(tmp, format=fmt, **kwargs))


@contextmanager
def folder(final: Path | str, replace: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name; on success, rename it to ``final``.

    Yields the temporary folder to write into. With ``replace=False`` an existing ``final``
    is kept and the new folder discarded (:class:`FileExistsError` is raised); with
    ``replace=True`` the old folder is swapped out and removed. On any error (or an
    interrupt) the temporary folder is removed and ``final`` is untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    tmp.mkdir()
    try:
        yield tmp
        if not replace:
            if final.exists():
                raise FileExistsError(f"{final} exists")
            os.rename(tmp, final)  # fails rather than overwriting a complete folder
        elif final.exists():
            old = temp_path(final)
            os.rename(final, old)
            os.rename(tmp, final)
            _remove(old)
        else:
            os.rename(tmp, final)
    except BaseException:
        _remove(tmp)
        raise
