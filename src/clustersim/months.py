"""Month arithmetic in one place: ``YYYY-MM`` strings and month indices.

A month index counts months since January of year 0 (``2009-01`` is ``2009 * 12``), so
differences of indices are numbers of months. The model counts its own months from its
first simulated month; :func:`month_label` turns either back into ``YYYY-MM``.
"""

from __future__ import annotations

import re

from clustersim.errors import refused

# The calendar the model accepts: every date of a configuration (run window, periods,
# programmes, calls, meetings, grant tranches) lies in it.
FIRST_MONTH = "1950-01"
LAST_MONTH = "2100-12"
_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: object) -> int | None:
    """Month index of a ``YYYY-MM`` string, or None if it is not one."""
    match = _MONTH_RE.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def month_index(date: object, key: str = "date") -> int:
    """Month index of a ``YYYY-MM`` string; raise ConfigError naming ``key`` otherwise."""
    index = parse_month(date)
    if index is None:
        raise refused(key, date, "a month written YYYY-MM")
    return index


def month_label(index: int) -> str:
    """``YYYY-MM`` of a month index."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def add_months(date: str, months: int) -> str:
    """The month ``months`` after ``date`` (before it if negative), as ``YYYY-MM``."""
    return month_label(month_index(date) + months)


CALENDAR: tuple[int, int] = (month_index(FIRST_MONTH), month_index(LAST_MONTH))


def year_of(index: int) -> int:
    """The calendar year of a month index (months since year 0)."""
    return index // 12


def is_december(index: int) -> bool:
    """Whether a month index is a December (a year's last month)."""
    return index % 12 == 11
