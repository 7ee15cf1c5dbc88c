"""Results on disk: one folder per run, written atomically, keyed by the config hash.

A run folder holds ``monthly.parquet`` (the monthly table, long form),
``summary.parquet`` (end-of-run KPIs, long form), ``accounts.parquet`` (every account in
integer cents), ``projects.parquet`` (funded projects), ``ties.parquet`` (every tie),
``config.yaml`` (the resolved configuration) and ``metadata.json``. The folder is first
written under a temporary name beside its final place and renamed when complete, so a
folder that exists is always whole; an existing folder is never overwritten.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from clustersim import __version__, atomic
from clustersim.config import Config

if TYPE_CHECKING:  # pandas is imported where a table is made or read: a sweep starts without it
    import pandas as pd


def seed_sequence_of(cfg: Config):
    """The root SeedSequence the run of ``cfg`` keys its random streams from."""
    import zlib

    from clustersim.streams import seed_sequence

    arm = zlib.crc32(cfg.clusters.name.encode()) if cfg.comparison.pairing == "independent" else None
    return seed_sequence(cfg.seed, cfg.replication, arm)


FORMAT_VERSION = 2  # 2: summary.parquet has a note column (why a KPI is not defined)
TABLES = ("monthly", "summary", "accounts", "projects", "ties", "firms", "proposals", "calls")
# Keys that change where or how a run is shown, not what it computes.
_NOT_HASHED = ("output_dir", "progress", "comparison")  # how runs are compared does not change a run
# Keys hashed only away from their default: a run folder without the firm microdata is not
# the folder of the same run with it, and the folders written before the key existed keep
# their names.
_HASHED_UNLESS = {"microdata": True}


_YAML_PARTS: dict[str, str] = {}


def config_yaml(cfg: Config) -> str:
    """The resolved configuration as YAML (keys in schema order).

    The text of ``OmegaConf.to_yaml(OmegaConf.structured(cfg))``, made section by section
    with OmegaConf's YAML dumper; a section seen before (a sweep's runs share all but a
    few keys) is not dumped again.
    """
    import yaml
    from omegaconf._utils import get_omega_conf_dumper

    parts = []
    for key, value in dataclasses.asdict(cfg).items():
        fingerprint = json.dumps([key, value], separators=(",", ":"), default=repr)
        text = _YAML_PARTS.get(fingerprint)
        if text is None:
            text = yaml.dump(
                {key: value},
                default_flow_style=False,
                allow_unicode=True,
                sort_keys=False,
                Dumper=get_omega_conf_dumper(),
            )
            if len(_YAML_PARTS) < 4096:
                _YAML_PARTS[fingerprint] = text
        parts.append(text)
    return "".join(parts)


def config_yaml_reference(cfg: Config) -> str:
    """:func:`config_yaml` the slow way, through OmegaConf (what it must equal; for tests)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def config_hash(cfg: Config) -> str:
    """SHA-256 of the configuration's content, ignoring output-only keys."""
    data = dataclasses.asdict(cfg)
    for key in _NOT_HASHED:
        data.pop(key, None)
    for key, default in _HASHED_UNLESS.items():
        if data.get(key, default) == default:
            data.pop(key, None)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def run_name(cfg: Config, digest: str | None = None) -> str:
    """Folder name of a run: its scenario, seed and config hash prefix (``digest``: the hash, if known)."""
    parts = (cfg.clusters.name, cfg.funding.name, cfg.staffing.name, cfg.population.name)
    return "-".join(parts) + f"-seed{cfg.seed}-rep{cfg.replication}-{(digest or config_hash(cfg))[:12]}"


@functools.cache
def git_revision() -> str:
    """The git commit of the source tree, with ``-dirty`` if it has changes, or 'unknown'.

    Asked once per process: the code a process runs is the code it imported.
    """
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def metadata(cfg: Config, wall_seconds: float, digest: str | None = None) -> dict[str, Any]:
    """Provenance of a run: versions, revision, config hash (``digest``, if known), seed."""
    import mesa
    import numpy
    import pandas as pd

    return {
        "format_version": FORMAT_VERSION,
        "package": "clustersim",
        "package_version": __version__,
        "git_revision": git_revision(),
        "config_hash": digest or config_hash(cfg),
        "seed": cfg.seed,
        "replication": cfg.replication,
        "seed_sequence": {"entropy": cfg.seed, "spawn_key": list(seed_sequence_of(cfg).spawn_key)},
        "scenario": {
            "clusters": cfg.clusters.name,
            "funding": cfg.funding.name,
            "staffing": cfg.staffing.name,
            "population": cfg.population.name,
            "behaviour": cfg.behaviour.name,
            "region": cfg.region.name,
        },
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "mesa": mesa.__version__,
        "pandas": pd.__version__,
        "created_unix": round(time.time(), 3),
        "wall_seconds": round(wall_seconds, 3),
        "tables": {t: f"{t}.parquet" for t in run_tables(cfg)},
    }


def run_tables(cfg: Config) -> tuple[str, ...]:
    """The tables a run folder of ``cfg`` holds: all of :data:`TABLES`, less ``firms`` with ``microdata=false``."""
    return TABLES if cfg.microdata else tuple(t for t in TABLES if t != "firms")


def is_complete(folder: Path) -> bool:
    """A run folder is complete when its metadata (written last) is there."""
    return (folder / "metadata.json").is_file()


def write_run(
    folder: Path,
    tables: Mapping[str, Any],
    cfg: Config,
    meta: dict[str, Any],
    files: dict[str, Path] | None = None,
    converted: dict[str, Any] | None = None,
) -> bool:
    """Write a run folder atomically; return False (and write nothing) if it exists.

    Everything goes to a temporary sibling folder first, metadata last; the folder is then
    renamed into place in one step (:func:`clustersim.atomic.folder`). ``files`` are tables
    already written as Parquet files beside the folder (the firm microdata, streamed during
    the run): they are moved in instead of written from ``tables`` (DataFrames, or Arrow
    tables as :func:`write_parquet` takes them). A configuration with
    ``microdata=false`` has no ``firms`` table to write. ``converted``, if given, receives
    each table as the Arrow table written (for a sweep's dataset parts, converted once).
    """
    files = files or {}
    folder = Path(folder)
    if folder.exists():
        return False
    try:
        with atomic.folder(folder) as tmp:
            for name in run_tables(cfg):
                if name in files and Path(files[name]).is_file():
                    os.replace(files[name], tmp / f"{name}.parquet")
                elif name in files:  # no snapshot was made (a run ending before a year's end)
                    write_parquet(_empty_firms(), tmp / f"{name}.parquet")
                else:
                    arrow = write_parquet(tables[name], tmp / f"{name}.parquet")
                    if converted is not None and arrow is not None:
                        converted[name] = arrow
            (tmp / "config.yaml").write_text(config_yaml(cfg))
            (tmp / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    except FileExistsError:  # someone else completed it first: theirs stands
        return False
    except OSError:
        if is_complete(folder):  # the rename lost a race to a complete folder: theirs stands
            return False
        raise
    return True


def write_parquet(df: Any, path: Path) -> Any:
    """``df.to_parquet(path, index=False, compression="zstd")``, the same bytes, without pandas' I/O layer.

    ``df`` is a DataFrame or the Arrow table ``from_pandas`` makes of one (with its
    ``pandas`` metadata: :mod:`clustersim.arrowtables`), written as it is. The conversion
    runs in this thread (``nthreads=1``): a pool of threads per small table cost more than
    it saved, and the bytes are the same. Returns the Arrow table written (None when pandas
    wrote it).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(df, pa.Table):
        pq.write_table(df, path, compression="zstd")
        return df
    if df.attrs:  # pandas keeps attrs in the file's metadata: leave that to pandas
        df.to_parquet(path, index=False, compression="zstd")
        return None
    table = pa.Table.from_pandas(df, preserve_index=False, nthreads=1)
    pq.write_table(table, path, compression="zstd")
    return table


def _empty_firms() -> pd.DataFrame:
    import pyarrow as pa

    from clustersim.microdata import FIRM_COLUMNS

    return pa.schema([(c, pa.int32()) for c in FIRM_COLUMNS]).empty_table().to_pandas()


def read_table(folder: Path | str, name: str) -> pd.DataFrame:
    """Read one table of a run folder."""
    import pandas as pd

    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; allowed: {list(TABLES)}")
    return pd.read_parquet(Path(folder) / f"{name}.parquet")
