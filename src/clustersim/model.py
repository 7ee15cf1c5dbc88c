"""ClusterModel: SMEs, CMOs and the Region of one region's cluster policy (see docs/ODD.md)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import mesa
import numpy as np
from omegaconf import DictConfig

from clustersim.agents import ExternalPartner, LargeFirm, ResearchOrganisation, TrainingAgency
from clustersim.cmo import CMO
from clustersim.config import SIZE_CLASSES, Config, month_index, to_config
from clustersim.mechanisms import calls, dynamics, international, matching, membership, training
from clustersim.mechanisms.membership import unique_ints
from clustersim.metrics import MonthlyRecorder
from clustersim.money import Account, eur_to_cents
from clustersim.network import TieLedger
from clustersim.population import NO_CLUSTER, build_population
from clustersim.region import Region

logger = logging.getLogger(__name__)

DATED_EVENT_OFFSET = 0.5  # dated events of month m run at time m + 0.5, before step m (time m + 1)


def seed_sequence(root_seed: int, replication: int, stream: int | None = None) -> np.random.SeedSequence:
    """Child ``replication`` of the root ``SeedSequence(root_seed)``.

    Equal to ``SeedSequence(root_seed).spawn(replication + 1)[replication]``, without
    spawning the children before it: every replication has its own independent stream.
    With ``stream``, the grandchild ``stream`` of that child (independent arms).
    """
    key = (replication,) if stream is None else (replication, stream)
    return np.random.SeedSequence(root_seed, spawn_key=key)


def arm_stream(cfg: Config) -> int | None:
    """None for common random numbers; a stable per-arm number for independent arms."""
    if cfg.comparison.pairing != "independent":
        return None
    import zlib

    return zlib.crc32(cfg.clusters.name.encode())


class ClusterModel(mesa.Model):
    """An agent-based model of a region's innovation-cluster policy, one step a month.

    Args:
        cfg: the configuration (a :class:`~clustersim.config.Config`, or a Hydra/plain
            mapping that validates into one).
        rng: optional generator or seed; by default the replication's child of the root
            seed sequence, ``SeedSequence(cfg.seed).spawn(...)[cfg.replication]``.
    """

    def __init__(self, cfg: Config | DictConfig | dict, rng: Any = None) -> None:
        """Build the population, the actors and the Region's calendar."""
        cfg = to_config(cfg)
        if rng is None:
            rng = np.random.default_rng(seed_sequence(cfg.seed, cfg.replication, arm_stream(cfg)))
        super().__init__(rng=rng)
        self.cfg = cfg
        self.start_index = month_index(cfg.start)
        self.end_index = month_index(cfg.end)
        self.n_months = self.end_index - self.start_index + 1
        self.report_month = month_index(cfg.report_start) - self.start_index
        self.month = -1
        self.in_report_window = False
        self._dated: dict[int, list[tuple[Callable[..., Any], tuple[Any, ...]]]] = {}

        region = cfg.region
        beh = cfg.behaviour
        self.n_domains = len(region.domains)
        self.firms = build_population(self.rng, cfg.population, region)
        self.large_firms = [LargeFirm(self, i) for i in range(cfg.population.n_smes, self.firms.n)]
        self.research_orgs = self._make_research_orgs()
        self.training_agencies = [TrainingAgency(self) for _ in range(region.n_training_agencies)]
        self.external_partners = [
            ExternalPartner(self, inter_regional=bool(self.rng.random() < region.inter_regional_partner_share))
            for _ in range(region.n_external_partners)
        ]
        self.ledger = TieLedger(beh.ties.trust_decay)
        self.benefit = np.zeros(self.firms.n, dtype=np.float32)
        self.fee_eur_per_year = np.array([region.member_fee_eur_per_year[s] for s in SIZE_CLASSES])
        self.fee_cents_per_month = np.array(
            [eur_to_cents(region.member_fee_eur_per_year[s] / 12) for s in SIZE_CLASSES], dtype=np.int64
        )
        self.staff_cost_cents_per_hour = region.staff_cost_eur_per_fte_month * 100.0 / region.hours_per_fte_month
        self.activity_cost_cents_per_hour = region.activity_cost_eur_per_service_hour * 100.0

        self.cmos: list[CMO] = []
        self.retired_cmos: list[CMO] = []
        self.cluster_names: list[str] = []
        self.cluster_of_domain = np.zeros(self.n_domains, dtype=np.int16)
        self.cluster_of_firm = np.zeros(self.firms.n, dtype=np.int16)
        self.dynamics_done = False
        self.firms_per_cluster = np.zeros(0)
        self.members = np.zeros(0, dtype=np.int64)
        self.members_by_cluster: list[np.ndarray] = []
        self.members_call_open = False
        self.counters: defaultdict[str, int] = defaultdict(int)
        self.projects: list[dict[str, Any]] = []
        self.recorder = MonthlyRecorder(self)
        self.region = Region(self)
        self.schedule_month(self.report_month, self.open_report_window)

    # ------------------------------------------------------------------ the month
    def step(self) -> None:
        """One month, in the order of the ODD's process overview."""
        self.month = self.steps - 1  # 1. the Region's dated events ran just before this
        self.dynamics_done = False
        self.plan_staff_time()  # 2. CMOs turn staff and money into service hours
        self.choose_membership()  # 3. awareness, join / stay / leave, fees
        self.form_ties()  # 4. brokered, plenary and spontaneous ties
        self.run_calls()  # 5. calls closing this month: consortia, screening, funding
        self.train()  # 6. training agreements and absorptive capacity
        self.internationalise()  # 7. links abroad and members' international ties
        self.grow_firms()  # 8. knowledge, innovation, turnover
        self.recorder.collect()  # 9. the monthly table
        if self.month >= self.n_months - 1:
            self.running = False

    def run(self, progress: bool = False) -> None:
        """Run every month from ``cfg.start`` to ``cfg.end``."""
        months = range(self.n_months)
        if progress:
            from tqdm import tqdm

            months = tqdm(months, desc="months", unit="mo", leave=False)
        for _ in months:
            self.step()

    # ---------------------------------------------------------------- processes
    def plan_staff_time(self) -> None:
        """Share the staffing among CMOs and let each plan its service hours."""
        st = self.cfg.staffing
        n = len(self.cmos)
        setup = [c.in_setup(self.month) for c in self.cmos]
        total = st.setup_fte if all(setup) else st.run_fte
        if st.allocation == "by_members":
            weights = np.array([c.n_members + 1.0 for c in self.cmos])
        else:
            weights = np.ones(n)
        counts = self.domain_counts_by_cluster()
        for cmo, w, dc in zip(self.cmos, weights / weights.sum(), counts, strict=True):
            cmo.staff_fte = total * w
            cmo.plan_hours(self.month, dc)
            cmo.service_per_member = cmo.hours_service / max(cmo.n_members, 1)

    def choose_membership(self) -> None:
        """Awareness spreads, firms join or leave, members pay this month's fee."""
        self.members_call_open = any(c.line == "members" for c in self.region.open_calls)
        newly = membership.spread_awareness(self)
        joined, left = membership.choose_membership(self)
        self.refresh_members()
        membership.update_satisfaction(self)
        self.benefit.fill(0.0)
        self.collect_fees()
        self.recorder.note(newly_aware=newly, joined=joined, left=left)

    def form_ties(self) -> None:
        """CMO introductions, plenary introductions and ties without brokers."""
        brokered = matching.broker_introductions(self)
        plenary = 0
        if self.region.plenary_pending:
            plenary = matching.plenary_introductions(self)
            self.region.plenary_pending = False
        spontaneous = matching.spontaneous_ties(self)
        self.recorder.note(ties_brokered=brokered, ties_plenary=plenary, ties_spontaneous=spontaneous)

    def run_calls(self) -> None:
        """Evaluate calls that close this month; CMOs support members' consortia."""
        submitted, funded = self.region.evaluate_calls()
        self.support_innovation()
        self.recorder.note(proposals_submitted=submitted, projects_funded=funded)

    def support_innovation(self) -> None:
        """Remaining innovation hours go to innovation-capacity support of members.

        Each support session (``hours_per_consortium_support``) raises one random member's
        knowledge by half a project's gain and counts as non-financial support.
        """
        beh = self.cfg.behaviour
        for c, cmo in enumerate(self.cmos):
            members = self.members_by_cluster[c]
            if members.size == 0:
                continue
            n = cmo.use("innovation", beh.cmo.hours_per_consortium_support, members.size)
            if n == 0:
                continue
            who = unique_ints(members[self.rng.integers(0, members.size, size=n)])
            k = self.firms.knowledge
            k[who] += (0.5 * beh.calls.knowledge_gain * self.firms.absorptive[who] * (1.0 - k[who])).astype(np.float32)
            self.mark_nonfinancial(who)

    def train(self) -> None:
        """Training agreements are signed and members trained."""
        signed, trained = training.sign_and_train(self)
        self.recorder.note(training_agreements=signed, members_trained=trained)

    def internationalise(self) -> None:
        """CMOs build links abroad; members gain international ties."""
        links, ties = international.build_links_and_ties(self)
        self.recorder.note(international_links=links, ties_international=ties)

    def grow_firms(self) -> None:
        """Knowledge depreciation, innovations and turnover growth; CMOs close the month."""
        innovations, in_members = dynamics.firm_dynamics(self)
        for cmo in self.cmos:
            cmo.close_month()
        self.recorder.note(innovations=innovations, innovations_members=in_members)

    # ------------------------------------------------------------- configuration
    def apply_configuration(self, period_index: int) -> None:
        """Put a cluster configuration in force: new CMOs, members moved, cash carried over.

        A CMO of the new configuration that absorbs k > 1 former CMOs is a merger: it runs
        with the merger loss for ``transition_months``. Every new CMO is set up for
        ``staffing.setup_months`` on set-up staffing. Former CMOs hand their cash to the
        new CMO that takes over their first domain, with their international links and the
        training agreements still in force; their members follow their domain.
        """
        period = self.cfg.clusters.periods[period_index]
        domains = list(self.cfg.region.domains)
        old = self.cmos
        old_cluster_of_domain = self.cluster_of_domain.copy()
        new_of_domain = np.zeros(self.n_domains, dtype=np.int16)
        new_cmos: list[CMO] = []
        first = len(self.cluster_names)
        for c, (name, members) in enumerate(period.mapping.items()):
            idx = [domains.index(d) for d in members]
            new_of_domain[idx] = c
            merged = len({int(old_cluster_of_domain[d]) for d in idx}) if old else 1
            cmo = CMO(
                self,
                cluster_id=first + c,
                name=name,
                domains=idx,
                period=period_index,
                merged_from=merged,
                transition_until=self.month_start(period_index) + period.transition_months,
                setup_until=self.month_start(period_index) + self.cfg.staffing.setup_months,
            )
            cmo.label = period.label
            cmo.account.name = f"cmo:{cmo.key}"
            new_cmos.append(cmo)
            self.cluster_names.append(name)
        for c_old, cmo in enumerate(old):
            heir = new_cmos[int(new_of_domain[cmo.domains[0]])]
            cmo.account.transfer_to(heir.account)
            # the same organisations run the merged CMO: partnerships carry over
            heir.links |= cmo.links
            heir.agreements.extend(a for a in cmo.agreements if a[1] > self.month)
            self.retired_cmos.append(cmo)
            cmo.remove()
            del c_old
        firms = self.firms
        m = firms.member_of != NO_CLUSTER
        firms.member_of[m] = new_of_domain[firms.primary_domain[m]]
        self.cmos = new_cmos
        self.cluster_of_domain = new_of_domain
        self.cluster_of_firm = new_of_domain[firms.primary_domain]
        self.firms_per_cluster = np.bincount(new_of_domain[firms.primary_domain], minlength=len(new_cmos)).astype(
            np.float64
        )
        self.refresh_members()
        logger.debug("month %d: configuration %s with %d clusters", self.month, period.label, len(new_cmos))

    def month_start(self, period_index: int) -> int:
        """Model month at which a period starts (0 if before the run)."""
        return max(0, month_index(self.cfg.clusters.periods[period_index].start) - self.start_index)

    # ------------------------------------------------------------------- helpers
    def schedule_month(self, month: int, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` at the start of model month ``month``, before its processes.

        Dated events go on Mesa's event list (one event per month with any), in the order
        they were scheduled.
        """
        if month not in self._dated:
            self._dated[month] = []
            self.schedule_event(self._run_dated_events, at=month + DATED_EVENT_OFFSET)
        self._dated[month].append((fn, args))

    def _run_dated_events(self) -> None:
        month = int(self.time)
        self.month = month  # dated events act in the month they are dated
        self.dynamics_done = False
        for fn, args in self._dated.pop(month, []):
            fn(*args)

    def refresh_members(self) -> None:
        """Recompute the member index arrays, per cluster, and each CMO's member count."""
        firms = self.firms
        self.members = np.flatnonzero(firms.member_of != NO_CLUSTER)
        owner = firms.member_of[self.members]
        order = np.argsort(owner, kind="stable")
        counts = np.bincount(owner, minlength=len(self.cmos))
        self.members_by_cluster = np.split(self.members[order], np.cumsum(counts)[:-1])
        for cmo, n in zip(self.cmos, counts, strict=True):
            cmo.n_members = int(n)

    def domain_counts_by_cluster(self) -> np.ndarray:
        """Members by cluster (rows) and primary domain (columns)."""
        firms = self.firms
        key = firms.member_of[self.members].astype(np.int64) * self.n_domains + firms.primary_domain[self.members]
        counts = np.bincount(key, minlength=len(self.cmos) * self.n_domains)
        return counts.reshape(len(self.cmos), self.n_domains).astype(np.float64)

    def collect_fees(self) -> None:
        """Each member pays one twelfth of its annual fee to its CMO (integer cents)."""
        firms = self.firms
        key = firms.member_of[self.members].astype(np.int64) * 4 + firms.size_class[self.members]
        counts = np.bincount(key, minlength=len(self.cmos) * 4).reshape(len(self.cmos), 4)
        for cmo, row in zip(self.cmos, counts, strict=True):
            cents = int(row @ self.fee_cents_per_month)
            if cents:
                cmo.account.allocate(cents)
                self.counters["fees_cents"] += cents

    def mark_nonfinancial(self, idx: int | np.ndarray) -> None:
        """Record the first month a firm received a CMO service (for CO04/RCO04)."""
        arr = self.firms.first_nonfinancial
        if np.isscalar(idx):
            if arr[idx] < 0:
                arr[idx] = self.month
            return
        idx = np.asarray(idx)
        fresh = idx[arr[idx] < 0]
        arr[fresh] = self.month

    def supported_mask(self, idx: np.ndarray) -> np.ndarray:
        """Whether firms ``idx`` have had support (grant or service) in the report window."""
        f = self.firms
        return (f.first_grant[idx] >= 0) | (f.first_nonfinancial[idx] >= 0)

    def open_report_window(self) -> None:
        """Start the report window: indicator records restart, turnover is noted."""
        f = self.firms
        for arr in (
            f.first_grant,
            f.first_nonfinancial,
            f.first_ro_cooperation,
            f.first_new_to_market_after_support,
            f.first_new_to_firm_after_support,
        ):
            arr.fill(-1)
        f.innovations.fill(0)
        dynamics.catch_up_turnover(self)
        f.turnover_at_report_start[:] = f.turnover_eur
        self.in_report_window = True

    def record_project(self, call: calls.Call, prop: calls.Proposal) -> None:
        """Keep a funded project's record for the outputs."""
        self.projects.append(
            {
                "call": call.cfg.name,
                "line": call.line,
                "month": self.month,
                "lead": prop.lead,
                "n_firms": len(prop.partners),
                "research_org": prop.ro,
                "duration_months": prop.duration,
                "cost_cents": prop.cost_cents,
                "grant_cents": prop.grant_cents,
                "quality": prop.quality,
                "prescreened": prop.prescreened,
                "in_report_window": self.in_report_window,
            }
        )

    def accounts(self) -> list[Account]:
        """Every money account: the Region, each call, every CMO ever in force."""
        return self.region.accounts() + [c.account for c in self.retired_cmos + self.cmos]

    def call_pool(self, call: calls.Call, lead: int, eligible: np.ndarray) -> np.ndarray:
        """Firms a lead samples consortium partners from (members of its cluster, or peers)."""
        firms = self.firms
        if firms.member_of[lead] != NO_CLUSTER and call.line != "never_members":
            return self.members_by_cluster[int(firms.member_of[lead])]
        if not hasattr(self, "_pool_cache") or self._pool_cache[0] is not call:
            self._pool_cache = (call, np.flatnonzero(eligible))
        return self._pool_cache[1]

    def _make_research_orgs(self) -> list[ResearchOrganisation]:
        ro_cfg = self.cfg.region.research_organisations
        shares = np.asarray(self.cfg.region.domain_firm_shares, dtype=np.float64)
        orgs = []
        for _ in range(ro_cfg.count):
            doms = self.rng.choice(self.n_domains, size=ro_cfg.domains_per_org, replace=False, p=shares / shares.sum())
            profile = np.zeros(self.n_domains, dtype=np.float32)
            profile[doms] = 1.0 / ro_cfg.domains_per_org
            orgs.append(ResearchOrganisation(self, profile, ro_cfg.concurrent_projects))
        self.ro_profiles = np.stack([o.profile for o in orgs]) if orgs else np.zeros((0, self.n_domains))
        return orgs
