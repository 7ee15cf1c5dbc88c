"""The Region: its budget, its calendar of dated events, its calls and its meetings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mesa

from clustersim.config import month_index
from clustersim.mechanisms.calls import fund_ranking, run_call
from clustersim.money import Account, eur_to_cents, split_evenly
from clustersim.state import Call, RegionBooks, State


class Region(mesa.Agent):
    """The regional government: pays CMO grants, runs calls, holds meetings, reforms.

    All of its actions are dated events (``schedule(month, fn, *args)``, Mesa's event list
    through the model); items of a programme outside the simulated window are left out of
    the budget. Its books (:class:`clustersim.state.RegionBooks`) are part of the state.
    """

    def __init__(self, model: mesa.Model, state: State, apply_configuration: Callable[[int], Any]) -> None:
        """Build the budget and schedule the calendar from the configuration."""
        super().__init__(model)
        self.state = state
        self.books: RegionBooks = state.region
        # Configurations first: a grant paid in the month a configuration starts goes to
        # the CMOs of that configuration (dated events of a month run in this order).
        self._schedule_configurations(apply_configuration)
        self._schedule_programmes()

    def _schedule_configurations(self, apply_configuration: Callable[[int], Any]) -> None:
        state = self.state
        cfg, start, n = state.cfg, state.start_index, state.n_months
        periods = cfg.clusters.periods
        for p, period in enumerate(periods):
            begin = max(0, month_index(period.start) - start)
            end = month_index(periods[p + 1].start) - start if p + 1 < len(periods) else n
            if begin >= n or end <= 0:
                continue
            state.schedule(begin, apply_configuration, p)
            for d in period.cluster_meetings:
                m = month_index(d) - start
                if begin <= m < min(end, n):
                    state.schedule(m, self.hold_cluster_meetings)
            for d in period.plenary_meetings:
                m = month_index(d) - start
                if begin <= m < min(end, n):
                    state.schedule(m, self.hold_plenary)

    def _schedule_programmes(self) -> None:
        state = self.state
        books = self.books
        cfg, start, n = state.cfg, state.start_index, state.n_months
        for prog_name, prog in cfg.funding.programmes.items():
            tranches = [month_index(d) - start for d in prog.cmo_grant_disbursements]
            parts = split_evenly(eur_to_cents(prog.cmo_grant_eur), [1] * len(tranches)) if tranches else []
            for m, cents in zip(tranches, parts, strict=True):
                if 0 <= m < n:
                    books.tranche_months.append(m)
                    books.account.allocate(cents)
                    state.schedule(m, self.disburse_cmo_grant, cents)
                else:
                    books.skipped.append(f"{prog_name}: CMO tranche {m} outside the run")
            for call_cfg in prog.calls:
                o = month_index(call_cfg.opens) - start
                c = month_index(call_cfg.closes) - start
                if o < 0 or c >= n:
                    books.skipped.append(f"{prog_name}: call {call_cfg.name} outside the run")
                    continue
                call = Call(cfg=call_cfg, account=Account(name=f"call:{call_cfg.name}", kind="call"), opens=o, closes=c)
                books.account.allocate(eur_to_cents(call_cfg.budget_eur))
                books.calls.append(call)
                state.schedule(o, self.open_call, call)
                state.schedule(c, self.close_call, call)
                for top in call_cfg.top_ups:
                    m = month_index(top.month) - start
                    if c < m < n:
                        books.account.allocate(eur_to_cents(top.budget_eur))
                        state.schedule(m, self.top_up_call, call, eur_to_cents(top.budget_eur))
                    else:
                        books.skipped.append(f"{prog_name}: top-up of {call_cfg.name} in {top.month} outside the run")

    # ---------------------------------------------------------------- dated events
    def disburse_cmo_grant(self, cents: int) -> None:
        """Pay a tranche of the CMO grant, shared among the CMOs in force."""
        cmos = self.state.cmos
        if self.state.cfg.staffing.allocation == "by_members":
            weights = [c.n_members + 1 for c in cmos]
        else:
            weights = [1] * len(cmos)
        for cmo, part in zip(cmos, split_evenly(cents, weights), strict=True):
            self.books.account.transfer_to(cmo.account, part)
        self.state.counters["cmo_grants_paid_cents"] += cents

    def open_call(self, call: Call) -> None:
        """Open a call: its budget moves to the call's own account."""
        self.books.account.transfer_to(call.account, eur_to_cents(call.cfg.budget_eur))
        self.books.open_calls.append(call)

    def close_call(self, call: Call) -> None:
        """Mark a call for evaluation in this month's call process."""
        self.books.open_calls.remove(call)
        self.books.closing.append(call)

    def top_up_call(self, call: Call, cents: int) -> None:
        """More money for a closed call: its ranking is funded further down (waiting list)."""
        self.books.account.transfer_to(call.account, cents)
        fund_ranking(self.state, call)

    def hold_cluster_meetings(self) -> None:
        """One coordination meeting with each CMO: aligns CMOs with the Region's priorities."""
        boost = self.state.cfg.behaviour.cmo.meeting_alignment_boost
        for cmo in self.state.cmos:
            cmo.alignment = boost
        self.books.cluster_meetings_held += len(self.state.cmos)

    def hold_plenary(self) -> None:
        """A plenary with all CMOs: cross-cluster introductions in this month's matching."""
        self.books.plenaries_held += 1
        self.books.plenary_pending = True

    # --------------------------------------------------------------- monthly process
    def evaluate_calls(self) -> tuple[int, int]:
        """Evaluate the calls closing this month; return (submitted, funded)."""
        submitted = funded = 0
        for call in self.books.closing:
            run_call(self.state, call)
            submitted += call.submitted
            funded += call.funded
        self.books.closing = []
        return submitted, funded

    def accounts(self) -> list[Account]:
        """The Region's account and every call's account."""
        return [self.books.account] + [c.account for c in self.books.calls]
