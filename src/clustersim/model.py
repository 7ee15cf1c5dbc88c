"""ClusterModel: SMEs, CMOs and the Region of one region's cluster policy (see docs/ODD.md).

The model builds the plain :class:`~clustersim.state.State`, puts the Region's calendar on
Mesa's event list, and orders the mechanisms of :mod:`clustersim.mechanisms` month by
month; :meth:`ClusterModel.step` reads like the ODD's process overview.
"""

from __future__ import annotations

import gc
import logging
import zlib
from collections.abc import Callable
from typing import Any

import mesa
import numpy as np
from omegaconf import DictConfig

from clustersim import months
from clustersim.cmo import CMO
from clustersim.config import SIZE_CLASSES, Config, load_config, month_index, to_config
from clustersim.mechanisms import (
    calls,
    configuration,
    dynamics,
    international,
    matching,
    membership,
    staffing,
    training,
)
from clustersim.metrics import KpiCollector, MonthlyRecorder
from clustersim.microdata import FirmRecorder
from clustersim.money import Account, eur_to_cents
from clustersim.network import TieLedger
from clustersim.population import LARGE, AwarenessClock, FirmArrays, build_population
from clustersim.region import Region
from clustersim.state import ExternalPartners, RegionBooks, ResearchOrgs, State, Taxonomy
from clustersim.streams import SeedLike, Streams, seed_sequence

logger = logging.getLogger(__name__)

DATED_EVENT_OFFSET = 0.5  # dated events of month m run at time m + 0.5, before step m (time m + 1)


def arm_stream(cfg: Config) -> int | None:
    """None for common random numbers; a stable per-arm number for independent arms."""
    if cfg.comparison.pairing != "independent":
        return None
    return zlib.crc32(cfg.clusters.name.encode())


def root_seed_sequence(cfg: Config) -> np.random.SeedSequence:
    """The run's root: child ``replication`` of ``SeedSequence(seed)`` (and the arm's, if independent)."""
    return seed_sequence(cfg.seed, cfg.replication, arm_stream(cfg))


def _compose(cfg: Config | DictConfig | dict | None, seed: SeedLike | None, choices: dict[str, Any]) -> Config:
    """The configuration of a model built the Mesa way (``ClusterModel(seed=1, clusters="seven")``)."""
    if cfg is None:
        overrides = [f"{k.replace('__', '.')}={v}" for k, v in choices.items()]
        if isinstance(seed, int | np.integer):
            overrides.append(f"seed={int(seed)}")
        return load_config(overrides)
    if choices:
        raise TypeError(f"pass either cfg or keyword choices, not both (got {sorted(choices)})")
    config = to_config(cfg)
    if isinstance(seed, int | np.integer):
        config.seed = int(seed)
        config = to_config(config)
    return config


class ClusterModel(mesa.Model):
    """An agent-based model of a region's innovation-cluster policy, one step a month.

    Args:
        cfg: the configuration (a :class:`~clustersim.config.Config`, or a Hydra/plain
            mapping that validates into one). Without it the default configuration is
            composed, with ``choices`` as overrides.
        seed: Mesa's seed argument, mapped onto the project's contract: an int sets
            ``cfg.seed`` (the root ``SeedSequence(seed)``; the run's streams are keyed
            from its child ``replication``); a :class:`numpy.random.SeedSequence` is used
            as the run's root directly. ``ClusterModel(cfg, seed=1)`` equals the run of
            ``cfg`` with ``seed=1``.
        rng: the same as ``seed`` (Mesa's newer name); a ``numpy.random.Generator`` is
            refused, because a single generator cannot keep paired arms in step.
        **choices: configuration overrides when ``cfg`` is omitted, as group choices or
            keys with ``__`` for dots: ``ClusterModel(clusters="seven", population="small",
            staffing__run_fte=28)`` (what ``mesa.batch_run`` passes).
    """

    def __init__(
        self,
        cfg: Config | DictConfig | dict | None = None,
        *,
        seed: SeedLike | None = None,
        rng: SeedLike | None = None,
        **choices: Any,
    ) -> None:
        """Build the population, the actors and the Region's calendar."""
        if seed is not None and rng is not None:
            raise TypeError("pass either seed or rng, not both")
        seed = seed if seed is not None else rng
        if isinstance(seed, np.random.Generator):
            raise TypeError(
                "rng: a numpy Generator cannot key random numbers by decision; pass an int seed or a SeedSequence"
            )
        cfg = _compose(cfg, seed, choices)
        root = seed if isinstance(seed, np.random.SeedSequence) else root_seed_sequence(cfg)
        streams = Streams(root)
        super().__init__(rng=streams.generator("mesa"))
        self.cfg = cfg
        self.streams = streams
        self.seed_sequence = root
        self._dated: dict[int, list[tuple[Callable[..., Any], tuple[Any, ...]]]] = {}
        self.state = self._build_state(cfg, streams)
        self.region = Region(self, self.state, self.apply_configuration)
        self.state.schedule(self.state.report_month, self.open_report_window)
        self.recorder = MonthlyRecorder(self.state)
        self.firm_recorder = FirmRecorder(self.state)
        self.datacollector = KpiCollector(self.recorder)
        self._booking_months = self._turnover_bookings()
        self._bookings = 0
        self._last_booking = -1

    # ------------------------------------------------------------------ the month
    def step(self) -> None:
        """One month, in the order of the ODD's process overview."""
        self.state.month = self.steps - 1  # 1. the Region's dated events ran just before this
        staffing.plan_staff_time(self.state)  # 2. CMOs turn staff and money into service hours
        self.choose_membership()  # 3. awareness, join / stay / leave, fees
        self.form_ties()  # 4. plenary, brokered and spontaneous ties
        self.run_calls()  # 5. calls closing this month; innovation support
        self.train()  # 6. training agreements and absorptive capacity
        self.internationalise()  # 7. links abroad and members' international ties
        self.grow_firms()  # 8. knowledge, innovation, turnover
        self.observe()  # 9. the monthly table
        if self.state.month >= self.state.n_months - 1:
            self.running = False

    def run(self, progress: bool = False) -> None:
        """Run every month from ``cfg.start`` to ``cfg.end``.

        Python's cyclic garbage collector is paused while the months run (and restored as it
        was, also on an error): a run makes many long-lived objects, which trigger full
        collections that walk every object of the process (the imported libraries' too,
        about 80 ms each, one every two or three runs). Memory is still freed by reference
        counting as it goes; the few cycles a run makes are collected after it.
        """
        months = range(self.state.n_months)
        if progress:
            from tqdm import tqdm

            months = tqdm(months, desc="months", unit="mo", leave=False)
        collecting = gc.isenabled()
        gc.disable()
        try:
            for _ in months:
                self.step()
        finally:
            if collecting:
                gc.enable()

    # ---------------------------------------------------------------- processes
    def choose_membership(self) -> None:
        """Awareness spreads, firms join or leave, members pay this month's fee."""
        s = self.state
        s.members_call_open = any(c.line == "members" for c in s.region.open_calls)
        newly = membership.spread_awareness(s)
        joined, left = membership.choose_membership(s)
        s.refresh_members()
        membership.update_satisfaction(s)
        membership.collect_fees(s)
        s.note(newly_aware=newly, joined=joined, left=left)

    def form_ties(self) -> None:
        """Plenary introductions (in a plenary month), CMO introductions, ties without brokers."""
        s = self.state
        plenary = 0
        if s.region.plenary_pending:
            plenary = matching.plenary_introductions(s)
            s.region.plenary_pending = False
        brokered = matching.broker_introductions(s)
        spontaneous = matching.spontaneous_ties(s)
        s.note(ties_brokered=brokered, ties_plenary=plenary, ties_spontaneous=spontaneous)

    def run_calls(self) -> None:
        """Evaluate calls that close this month; CMOs support members' innovation capacity."""
        submitted, funded = self.region.evaluate_calls()
        calls.support_innovation(self.state)
        self.state.note(proposals_submitted=submitted, projects_funded=funded)

    def train(self) -> None:
        """Training agreements are signed and members trained."""
        signed, trained = training.sign_and_train(self.state)
        self.state.note(training_agreements=signed, members_trained=trained)

    def internationalise(self) -> None:
        """CMOs build links abroad; members gain international ties."""
        links, ties = international.build_links_and_ties(self.state)
        self.state.note(international_links=links, ties_international=ties)

    def grow_firms(self) -> None:
        """Knowledge, innovations, turnover booked at year ends; CMOs close the month."""
        s = self.state
        innovations, in_members = dynamics.firm_dynamics(s)
        s.firms.member_months[s.members] += 1
        if s.month in self._booking_months:
            dynamics.book_turnover(s, s.month - self._last_booking, self._bookings)
            self._bookings += 1
            self._last_booking = s.month
        for cmo in s.cmos:
            cmo.close_month()
        s.note(innovations=innovations, innovations_members=in_members)

    def observe(self) -> None:
        """The monthly table, the Mesa data collector and, at year ends, the firm microdata."""
        self.recorder.collect()
        self.datacollector.collect(self)
        s = self.state
        if s.month == s.n_months - 1 or months.is_december(s.start_index + s.month):
            self.firm_recorder.snapshot()  # one row per firm and calendar year

    # ------------------------------------------------------------- configuration
    def apply_configuration(self, period_index: int) -> None:
        """Put a cluster configuration in force (a dated event; see mechanisms.configuration)."""
        s = self.state
        period = self.cfg.clusters.periods[period_index]
        start = max(0, month_index(period.start) - s.start_index)

        def make_cmo(**kw: Any) -> CMO:
            return CMO(self, **kw)

        configuration.apply(s, period_index, period, start, make_cmo)
        logger.debug("month %d: configuration %s with %d clusters", s.month, period.label, len(s.cmos))

    def open_report_window(self) -> None:
        """Start the report window: indicator records restart, turnover is noted."""
        f = self.state.firms
        for arr in (
            f.first_grant,
            f.first_nonfinancial,
            f.first_ro_cooperation,
            f.first_new_to_market_after_support,
            f.first_new_to_firm_after_support,
        ):
            arr.fill(-1)
        f.innovations.fill(0)
        f.turnover_at_report_start[:] = f.turnover_eur
        self.state.in_report_window = True

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
        self.state.month = month  # dated events act in the month they are dated
        for fn, args in self._dated.pop(month, []):
            fn(*args)

    def _turnover_bookings(self) -> set[int]:
        """Months whose end books turnover: each December, the month before the window, the last."""
        s = self.state
        booking = {m for m in range(s.n_months) if months.is_december(s.start_index + m)}
        booking.add(s.n_months - 1)
        if s.report_month > 0:
            booking.add(s.report_month - 1)
        return booking

    def accounts(self) -> list[Account]:
        """Every money account: the Region, each call, every CMO ever in force."""
        return self.region.accounts() + [c.account for c in self.state.retired_cmos + self.state.cmos]

    @property
    def firms(self) -> FirmArrays:
        """The firm arrays (``state.firms``)."""
        return self.state.firms

    @property
    def ledger(self) -> TieLedger:
        """The tie ledger (``state.ledger``)."""
        return self.state.ledger

    @property
    def n_months(self) -> int:
        """Months of the run."""
        return self.state.n_months

    @property
    def cmos(self) -> list[CMO]:
        """The CMOs in force."""
        return self.state.cmos

    # ------------------------------------------------------------- construction
    def _build_state(self, cfg: Config, streams: Streams) -> State:
        region = cfg.region
        taxonomy = Taxonomy.from_region(region)
        start_index = month_index(cfg.start)
        n_months = month_index(cfg.end) - start_index + 1
        firms = build_population(
            streams.generator("population"), cfg.population, taxonomy.firm_shares, taxonomy.families
        )
        thresholds = streams.generator("awareness_threshold").standard_exponential(firms.n)
        thresholds[firms.size_class == LARGE] = 0.0  # anchors know the scheme from the start
        awareness = AwarenessClock(thresholds, firms.primary_domain, taxonomy.n, cfg.population.initial_awareness_share)
        firms.aware[awareness.advance(np.zeros(taxonomy.n))] = True
        ro_cfg = region.research_organisations
        rng = streams.generator("research_organisations")
        profiles = np.zeros((ro_cfg.count, taxonomy.n), dtype=np.float32)
        for r in range(ro_cfg.count):
            doms = rng.choice(taxonomy.n, size=ro_cfg.domains_per_org, replace=False, p=taxonomy.firm_shares)
            profiles[r, doms] = 1.0 / ro_cfg.domains_per_org
        rng = streams.generator("external_partners")
        partners = ExternalPartners(
            inter_regional=rng.random(region.n_external_partners) < region.inter_regional_partner_share,
            cmo_links=np.zeros(region.n_external_partners, dtype=np.int64),
            firm_ties=np.zeros(region.n_external_partners, dtype=np.int64),
        )
        return State(
            cfg=cfg,
            streams=streams,
            taxonomy=taxonomy,
            firms=firms,
            awareness=awareness,
            ledger=TieLedger(cfg.behaviour.ties.trust_decay),
            ros=ResearchOrgs(
                profiles=profiles,
                capacity=np.full(ro_cfg.count, ro_cfg.concurrent_projects, dtype=np.int32),
                active=np.zeros(ro_cfg.count, dtype=np.int32),
                collaborations=np.zeros(ro_cfg.count, dtype=np.int64),
            ),
            n_training_agencies=region.n_training_agencies,
            agency_agreements=np.zeros(region.n_training_agencies, dtype=np.int64),
            partners=partners,
            region=RegionBooks(account=Account(name="region", kind="region")),
            start_index=start_index,
            n_months=n_months,
            report_month=month_index(cfg.report_start) - start_index,
            schedule=self.schedule_month,
            cluster_of_firm=np.zeros(firms.n, dtype=np.int16),
            cluster_of_domain=np.zeros(taxonomy.n, dtype=np.int16),
            benefit=np.zeros(firms.n, dtype=np.float32),
            fee_eur_per_year=np.array([region.member_fee_eur_per_year[s] for s in SIZE_CLASSES]),
            fee_cents_per_month=np.array(
                [eur_to_cents(region.member_fee_eur_per_year[s] / 12) for s in SIZE_CLASSES], dtype=np.int64
            ),
            staff_cost_cents_per_hour=region.staff_cost_eur_per_fte_month * 100.0 / region.hours_per_fte_month,
            activity_cost_cents_per_hour=region.activity_cost_eur_per_service_hour * 100.0,
        )
