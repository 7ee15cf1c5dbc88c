"""Cluster Management Organisations: their state (staff hours, service lines, money, partners).

The rules that move this state live in :mod:`clustersim.mechanisms` (staff planning in
``mechanisms.staffing``); a CMO only books hours it is asked to use.
"""

from __future__ import annotations

import math
from typing import Any

import mesa

from clustersim.config import SERVICE_LINES
from clustersim.money import Account
from clustersim.streams import part_id


class CMO(mesa.Agent):
    """One Cluster Management Organisation, running one cluster of domains.

    Args:
        model: the Mesa model.
        cluster_id: a number unique across the run's configurations.
        name: the cluster's name in its configuration.
        label: the configuration's label (``twelve``, ``seven``...).
        domains: canonical indices of the domains it covers.
        domain_names: their names (the CMO's random streams are keyed by them, so a CMO
            re-tendered for the same domains draws the same numbers).
        period: index of the configuration period.
        merged_from: number of former CMOs whose domains it takes over (1: none merged).
        transition_until: first month after its merger transition.
        setup_until: first month after its set-up phase.
        organisations: the organisations that manage it (a temporary association of k
            organisations bears k management overheads).
    """

    def __init__(
        self,
        model: Any,
        cluster_id: int,
        name: str,
        label: str,
        domains: list[int],
        domain_names: list[str],
        period: int,
        merged_from: int = 1,
        transition_until: int = -1,
        setup_until: int = -1,
        organisations: int = 1,
    ) -> None:
        """Create a CMO for ``domains``, starting with an empty account."""
        super().__init__(model)
        self.cluster_id = cluster_id
        self.name = name
        self.label = label
        self._key = f"{label}/{name}" if label else name
        self.domains = list(domains)
        self.domain_names = sorted(domain_names)
        self.stream_id = part_id("cmo:" + "+".join(self.domain_names))
        self.period = period
        self.merged_from = merged_from
        self.transition_until = transition_until
        self.setup_until = setup_until
        self.organisations = organisations
        self.account = Account(name=f"cmo:{self.key}", kind="cmo")
        self.staff_fte = 0.0
        self.alignment = 0.0
        self.hours_available = 0.0
        self.hours_service = 0.0
        self.hours_used = 0.0
        self.hours: dict[str, float] = dict.fromkeys(SERVICE_LINES, 0.0)
        self.progress: dict[str, float] = dict.fromkeys(SERVICE_LINES, 0.0)
        self.agreements: list[tuple[int, int]] = []  # (agency index, active until month)
        self.links: list[int] = []  # external partners linked (one entry per relationship)
        self.n_members = 0
        self.service_per_member = 0.0
        self.totals = {
            "hours_available": 0.0,
            "hours_overhead": 0.0,
            "hours_service": 0.0,
            "hours_used": 0.0,
            "introductions": 0,
            "prescreens": 0,
            "agreements": 0,
            "links": 0,
        }

    @property
    def key(self) -> str:
        """Unique name across configurations: ``<configuration label>/<cluster name>``."""
        return self._key

    def in_setup(self, month: int) -> bool:
        """Whether the CMO is still being set up (only communication is delivered)."""
        return month < self.setup_until

    def use(self, line: str, hours_each: float, wanted: int) -> int:
        """Use hours of ``line`` for up to ``wanted`` tasks of ``hours_each``; return done."""
        if wanted <= 0 or hours_each <= 0:
            return 0
        left = self.hours[line]
        n = int(left // hours_each)
        n = n if n < wanted else wanted  # min(wanted, n), as the builtin picks it
        spent = n * hours_each
        self.hours[line] = left - spent
        self.hours_used += spent
        return n

    def accumulate(self, line: str, hours_each: float) -> int:
        """Put all of ``line``'s hours into a multi-month effort; return tasks completed."""
        h = self.hours[line]
        self.hours[line] = 0.0
        self.hours_used += h
        done = self.progress[line] + h
        n = int(done // hours_each)
        self.progress[line] = done - n * hours_each
        return n

    def close_month(self) -> None:
        """Book the month's use of hours."""
        self.totals["hours_used"] += self.hours_used

    @property
    def utilisation(self) -> float:
        """Share of service hours so far that went into delivered services (NaN with none)."""
        avail = self.totals["hours_service"]
        return math.nan if avail <= 0 else self.totals["hours_used"] / avail

    def active_agreements(self, month: int) -> int:
        """Training agreements in force this month."""
        return len([until for _, until in self.agreements if until > month])
