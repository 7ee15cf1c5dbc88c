"""Shared fixtures: configurations composed from the real conf/ folder, then shrunk."""

from __future__ import annotations

import pytest

from clustersim.config import Config, load_config

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
