"""The Region: its budget, its calendar of dated events, its calls and its meetings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from clustersim.config import month_index
from clustersim.mechanisms.calls import Call, run_call
from clustersim.money import Account, eur_to_cents, split_evenly

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


class Region(mesa.Agent):
    """The regional government: pays CMO grants, runs calls, holds meetings, reforms.

    All of its actions are dated events on Mesa's event list (see
    :meth:`ClusterModel.schedule_month`); items of a programme outside the simulated
    window are left out of the budget.
    """

    def __init__(self, model: ClusterModel) -> None:
        """Build the budget and schedule the calendar from the configuration."""
        super().__init__(model)
        self.account = Account(name="region", kind="region")
        self.calls: list[Call] = []
        self.closing: list[Call] = []
        self.open_calls: list[Call] = []
        self.cluster_meetings_held = 0
        self.plenaries_held = 0
        self.plenary_pending = False
        self.skipped: list[str] = []
        self.tranche_months: list[int] = []
        # Configurations first: a grant paid in the month a configuration starts goes to
        # the CMOs of that configuration (dated events of a month run in this order).
        self._schedule_configurations(model)
        self._schedule_programmes(model)

    def _schedule_configurations(self, model: ClusterModel) -> None:
        cfg, start = model.cfg, model.start_index
        for p, period in enumerate(cfg.clusters.periods):
            begin = max(0, month_index(period.start) - start)
            end = (
                month_index(cfg.clusters.periods[p + 1].start) - start
                if p + 1 < len(cfg.clusters.periods)
                else model.n_months
            )
            if begin >= model.n_months or end <= 0:
                continue
            model.schedule_month(begin, model.apply_configuration, p)
            for d in period.cluster_meetings:
                m = month_index(d) - start
                if max(begin, 0) <= m < min(end, model.n_months):
                    model.schedule_month(m, self.hold_cluster_meetings)
            for d in period.plenary_meetings:
                m = month_index(d) - start
                if max(begin, 0) <= m < min(end, model.n_months):
                    model.schedule_month(m, self.hold_plenary)

    def _schedule_programmes(self, model: ClusterModel) -> None:
        cfg, start = model.cfg, model.start_index
        for prog_name, prog in cfg.funding.programmes.items():
            tranches = [month_index(d) - start for d in prog.cmo_grant_disbursements]
            in_window = [m for m in tranches if 0 <= m < model.n_months]
            parts = split_evenly(eur_to_cents(prog.cmo_grant_eur), [1] * len(tranches)) if tranches else []
            for m, cents in zip(tranches, parts, strict=True):
                if m in in_window:
                    self.tranche_months.append(m)
                    self.account.allocate(cents)
                    model.schedule_month(m, self.disburse_cmo_grant, prog_name, cents)
                else:
                    self.skipped.append(f"{prog_name}: CMO tranche {m} outside the run")
            for call_cfg in prog.calls:
                o = month_index(call_cfg.opens) - start
                c = month_index(call_cfg.closes) - start
                if o < 0 or c >= model.n_months:
                    self.skipped.append(f"{prog_name}: call {call_cfg.name} outside the run")
                    continue
                call = Call(
                    cfg=call_cfg,
                    account=Account(name=f"call:{call_cfg.name}", kind="call"),
                    opens=o,
                    closes=c,
                )
                self.account.allocate(eur_to_cents(call_cfg.budget_eur))
                self.calls.append(call)
                model.schedule_month(o, self.open_call, call)
                model.schedule_month(c, self.close_call, call)

    def months_to_next_grant(self, month: int) -> int:
        """Months from ``month`` (counted) to the next CMO grant tranche, or to the run's end."""
        later = [m for m in self.tranche_months if m > month]
        return (min(later) if later else self.model.n_months) - month

    # ---------------------------------------------------------------- dated events
    def disburse_cmo_grant(self, programme: str, cents: int) -> None:
        """Pay a tranche of the CMO grant, shared among the CMOs in force."""
        cmos = self.model.cmos
        if self.model.cfg.staffing.allocation == "by_members":
            weights = [c.n_members + 1 for c in cmos]
        else:
            weights = [1] * len(cmos)
        for cmo, part in zip(cmos, split_evenly(cents, weights), strict=True):
            self.account.transfer_to(cmo.account, part)
        self.model.counters["cmo_grants_paid_cents"] += cents
        del programme

    def open_call(self, call: Call) -> None:
        """Open a call: its budget moves to the call's own account."""
        self.account.transfer_to(call.account, eur_to_cents(call.cfg.budget_eur))
        self.open_calls.append(call)

    def close_call(self, call: Call) -> None:
        """Mark a call for evaluation in this month's call process."""
        self.open_calls.remove(call)
        self.closing.append(call)

    def hold_cluster_meetings(self) -> None:
        """One coordination meeting with each CMO: aligns CMOs with the Region's priorities."""
        boost = self.model.cfg.behaviour.cmo.meeting_alignment_boost
        for cmo in self.model.cmos:
            cmo.alignment = boost
        self.cluster_meetings_held += len(self.model.cmos)

    def hold_plenary(self) -> None:
        """A plenary with all CMOs: cross-cluster introductions in this month's matching."""
        self.plenaries_held += 1
        self.plenary_pending = True

    # --------------------------------------------------------------- monthly process
    def evaluate_calls(self) -> tuple[int, int]:
        """Evaluate the calls closing this month; return (submitted, funded)."""
        submitted = funded = 0
        for call in self.closing:
            run_call(self.model, call)
            submitted += call.submitted
            funded += call.funded
        self.closing = []
        return submitted, funded

    def accounts(self) -> list[Account]:
        """The Region's account and every call's account."""
        return [self.account] + [c.account for c in self.calls]
