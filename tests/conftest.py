"""Shared fixtures: configurations composed from the real conf/ folder, then shrunk, and a small sweep.

The suite runs on pytest-xdist workers (``make test``: ``-n auto --dist loadgroup``). A
session fixture is made once per worker, so the tests that read the shared sweep carry
``pytest.mark.xdist_group("headline_sweep")``: they run on one worker, which makes it once.
Tests that start services (a local Ray instance, the SLURM array, the dashboard in a
browser) share the group ``services``, so that they never run at the same time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from clustersim.config import Config, load_config


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files with slow tests first, their slow tests first, so that parallel workers finish together.

    Each file's tests stay together: a module-scoped fixture (a file's shared sweeps) is made
    once per worker, not again each time its file comes back.
    """
    files = list(dict.fromkeys(item.path for item in items))
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    rank = {path: (path not in slow_files, i) for i, path in enumerate(files)}
    items.sort(key=lambda item: (rank[item.path], item.get_closest_marker("slow") is None))


# A short window and a small pool: every mechanism still runs (launch, calls, reform).
SMALL = ["population=small", "progress=false"]


def small_config(*overrides: str) -> Config:
    """The real configuration, with the small population and any extra overrides."""
    return load_config([*SMALL, *overrides])


@pytest.fixture
def small_cfg() -> Config:
    """Default scenario on the small population, 2009-2020."""
    return small_config()


@pytest.fixture
def short_cfg() -> Config:
    """Reform scenario on the small population, 2015-06 to 2017-12 (reform inside)."""
    return small_config("clusters=reform", "start=2015-06", "end=2017-12", "report_start=2016-01")


#: the headline comparison, small and short: the reform (2016-09) and the 2017-2018 calls inside
HEADLINE_SWEEP = [
    "experiment=twelve_vs_seven",
    "replication=range(0,3)",
    "hydra/launcher=basic",
    "population=small",
    "start=2015-06",
    "end=2018-06",
    "report_start=2016-09",
]


@pytest.fixture(scope="session")
def headline_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``clustersim -m`` of :data:`HEADLINE_SWEEP` (3 pairs): its folder and the finished command.

    Shared by the tests that read a complete sweep (merge, report, dataset, breaking a copy):
    a test that changes the sweep works on a copy of it.
    """
    tmp = tmp_path_factory.mktemp("headline")
    exe = str(Path(sys.executable).parent / "clustersim")
    proc = subprocess.run(
        [exe, "-m", *HEADLINE_SWEEP, f"hydra.sweep.dir={tmp / 'sweep'}"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return tmp / "sweep", proc
