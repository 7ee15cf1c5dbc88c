"""Cluster Management Organisations: staff hours, the action plan and the CMO's money."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa
import numpy as np

from clustersim.config import SERVICE_LINES
from clustersim.money import Account

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


def breadth_factor(domain_counts: np.ndarray, penalty: float) -> float:
    """Effectiveness lost to thematic breadth: 1 / (1 + penalty * (D_eff - 1)).

    ``D_eff`` is the effective number of domains among the members (inverse Simpson
    index of their primary domains); a single-domain cluster has ``D_eff = 1``.
    """
    total = domain_counts.sum()
    if total <= 0:
        return 1.0
    shares = domain_counts / total
    d_eff = 1.0 / float((shares * shares).sum())
    return 1.0 / (1.0 + penalty * (d_eff - 1.0))


def merger_factor(merged_from: int, loss: float) -> float:
    """Effectiveness during a merger's transition: 1 - loss * (1 - 1/k) for k merged CMOs."""
    if merged_from <= 1:
        return 1.0
    return 1.0 - loss * (1.0 - 1.0 / merged_from)


class CMO(mesa.Agent):
    """One Cluster Management Organisation, running one cluster of domains."""

    def __init__(
        self,
        model: ClusterModel,
        cluster_id: int,
        name: str,
        domains: list[int],
        period: int,
        merged_from: int = 1,
        transition_until: int = -1,
        setup_until: int = -1,
    ) -> None:
        """Create a CMO for ``domains``, starting with an empty account."""
        super().__init__(model)
        self.cluster_id = cluster_id
        self.name = name
        self.domains = list(domains)
        self.period = period
        self.merged_from = merged_from
        self.transition_until = transition_until
        self.setup_until = setup_until
        self.label = ""
        self.account = Account(name=f"cmo:{name}", kind="cmo")
        self.staff_fte = 0.0
        self.alignment = 0.0
        self.hours_available = 0.0
        self.hours_service = 0.0
        self.hours_used = 0.0
        self.hours: dict[str, float] = dict.fromkeys(SERVICE_LINES, 0.0)
        self.progress: dict[str, float] = dict.fromkeys(SERVICE_LINES, 0.0)
        self.agreements: list[tuple[int, int]] = []  # (agency index, active until month)
        self.links: set[int] = set()  # external partners linked
        self.n_members = 0
        self.service_per_member = 0.0
        self.totals = {
            "hours_available": 0.0,
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
        return f"{self.label}/{self.name}" if self.label else self.name

    # ------------------------------------------------------------------ staff time
    def in_setup(self, month: int) -> bool:
        """Whether the CMO is still being set up (only communication is delivered)."""
        return month < self.setup_until

    def plan_hours(self, month: int, domain_counts: np.ndarray) -> None:
        """Turn this month's affordable staff time into service hours per line.

        Staff cost and activity cost are paid from the CMO's account, at most its balance
        divided by the months until the Region's next grant tranche (or until the end of
        the run when none is due); if that does not pay for all its staff, the hours shrink
        in proportion (money is binding). A fixed
        management overhead comes off first; the rest is scaled by skill, thematic
        breadth and, during a merger's transition, the merger loss.
        """
        cfg = self.model.cfg
        beh = cfg.behaviour.cmo
        hours = self.staff_fte * cfg.region.hours_per_fte_month
        overhead = min(hours, cfg.staffing.overhead_fte_per_cmo * cfg.region.hours_per_fte_month)
        cost = self.model.staff_cost_cents_per_hour * hours + self.model.activity_cost_cents_per_hour * (
            hours - overhead
        )
        cost_cents = int(cost)
        # Budgeting: the CMO spreads its cash evenly until the Region's next grant tranche
        # (the calendar is public), so money binds as a lower, steady level of activity.
        months_left = self.model.region.months_to_next_grant(month)
        paid = self.account.spend(min(cost_cents, self.account.balance // months_left))
        affordable = 1.0 if cost_cents == 0 else paid / cost_cents
        hours *= affordable
        overhead *= affordable
        service = hours - overhead
        service *= cfg.staffing.skill * breadth_factor(domain_counts, beh.breadth_penalty)
        if month < self.transition_until:
            service *= merger_factor(self.merged_from, beh.merger_efficiency_loss)
        self.hours_available = hours
        self.hours_service = service
        self.hours_used = 0.0
        if self.in_setup(month):
            self.hours = dict.fromkeys(SERVICE_LINES, 0.0)
            self.hours["communication"] = service
        else:
            self.hours = {line: service * beh.action_plan[line] for line in SERVICE_LINES}
        self.totals["hours_available"] += hours
        self.totals["hours_service"] += service

    def use(self, line: str, hours_each: float, wanted: int) -> int:
        """Use hours of ``line`` for up to ``wanted`` tasks of ``hours_each``; return done."""
        if wanted <= 0 or hours_each <= 0:
            return 0
        n = min(wanted, int(self.hours[line] // hours_each))
        spent = n * hours_each
        self.hours[line] -= spent
        self.hours_used += spent
        return n

    def accumulate(self, line: str, hours_each: float) -> int:
        """Put all of ``line``'s hours into a multi-month effort; return tasks completed."""
        h = self.hours[line]
        self.hours[line] = 0.0
        self.hours_used += h
        self.progress[line] += h
        n = int(self.progress[line] // hours_each)
        self.progress[line] -= n * hours_each
        return n

    def close_month(self) -> None:
        """Book the month's use of hours."""
        self.totals["hours_used"] += self.hours_used

    @property
    def utilisation(self) -> float:
        """Share of service hours so far that went into delivered services."""
        avail = self.totals["hours_service"]
        return math.nan if avail <= 0 else self.totals["hours_used"] / avail

    def active_agreements(self, month: int) -> int:
        """Training agreements in force this month."""
        return sum(1 for _, until in self.agreements if until > month)
