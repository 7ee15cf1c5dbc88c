"""The plain state every mechanism reads and writes (no model internals, no Mesa).

:class:`State` holds the configuration, the run's keyed random streams, the firm arrays,
the tie ledger, the small populations of research organisations, training agencies and
external partners, the CMOs in force, the Region's books and the run's records. The
model (:mod:`clustersim.model`) builds it and orders the mechanisms month by month; a
mechanism is a function ``f(state, ...)``, so it can be tested on a small state built in
the test.

Domains are held in the alphabetical order of their names (:class:`Taxonomy`), and the
clusters of a configuration in the alphabetical order of theirs, so that the order in
which a configuration lists them changes nothing but labels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clustersim.cmo import CMO
from clustersim.config import CallConfig, Config, RegionConfig
from clustersim.money import Account
from clustersim.network import TieLedger
from clustersim.population import NO_CLUSTER, AwarenessClock, FirmArrays
from clustersim.streams import Streams


@dataclass(frozen=True)
class Taxonomy:
    """The region's domains in canonical (alphabetical) order, with their data."""

    names: tuple[str, ...]
    firm_shares: np.ndarray  # float64, normalised to sum 1
    families: np.ndarray  # int64 family label per domain

    @classmethod
    def from_region(cls, region: RegionConfig) -> Taxonomy:
        """Sort the configured domains by name, carrying their shares and families."""
        order = sorted(range(len(region.domains)), key=lambda i: region.domains[i])
        shares = np.asarray(region.domain_firm_shares, dtype=np.float64)[order]
        return cls(
            names=tuple(region.domains[i] for i in order),
            firm_shares=shares / shares.sum(),
            families=np.asarray(region.domain_families, dtype=np.int64)[order],
        )

    @property
    def n(self) -> int:
        """Number of domains."""
        return len(self.names)

    def index(self, name: str) -> int:
        """Canonical index of domain ``name``."""
        return self.names.index(name)


@dataclass
class ResearchOrgs:
    """Research organisations as arrays: competence profiles and project capacity."""

    profiles: np.ndarray  # float32 (n, D): 1/k on each of its k domains
    capacity: np.ndarray  # int32: concurrent projects
    active: np.ndarray  # int32: projects running
    collaborations: np.ndarray  # int64: firm collaborations so far

    @property
    def n(self) -> int:
        """Number of organisations."""
        return int(self.capacity.shape[0])

    def free(self) -> np.ndarray:
        """Whether each organisation can take one more project."""
        return self.active < self.capacity


@dataclass
class ExternalPartners:
    """Partners outside the region (other regions, other countries)."""

    inter_regional: np.ndarray  # bool: another Italian region (else abroad)
    cmo_links: np.ndarray  # int64: CMO links made with it
    firm_ties: np.ndarray  # int64: members' ties with it

    @property
    def n(self) -> int:
        """Number of partners."""
        return int(self.inter_regional.shape[0])


@dataclass
class Proposal:
    """One proposal to a call: partners, a research organisation, costs in cents, a quality."""

    call: str
    line: str
    month: int
    lead: int
    partners: list[int]
    ro: int
    duration: int
    firm_cost_cents: list[int]
    quality: float
    requested_grant_cents: int = 0
    n_clusters: int = 1  # clusters (of the configuration in force) the partners' domains lie in
    prescreened: bool = False
    withdrawn: bool = False
    admitted: bool = False
    funded: bool = False
    funded_month: int = -1
    grant_cents: int = 0

    @property
    def cost_cents(self) -> int:
        """Total eligible cost (research contracted to the organisation included)."""
        return sum(self.firm_cost_cents)


@dataclass
class Call:
    """A call's configuration, its account and its outcome."""

    cfg: CallConfig
    account: Account
    opens: int
    closes: int
    submitted: int = 0
    admitted: int = 0
    funded: int = 0
    withdrawn: int = 0
    ranking: list[Proposal] = field(default_factory=list)  # admitted proposals, best first
    next_rank: int = 0  # the first of the ranking not yet funded or passed over

    @property
    def line(self) -> str:
        """Who may apply: members, never_members or all."""
        return self.cfg.line

    @property
    def stream_id(self) -> str:
        """The name its random streams are keyed by."""
        return "call:" + self.cfg.name


@dataclass
class RegionBooks:
    """The Region's money and calendar as the mechanisms see them."""

    account: Account
    calls: list[Call] = field(default_factory=list)
    open_calls: list[Call] = field(default_factory=list)
    closing: list[Call] = field(default_factory=list)
    tranche_months: list[int] = field(default_factory=list)
    cluster_meetings_held: int = 0
    plenaries_held: int = 0
    plenary_pending: bool = False
    skipped: list[str] = field(default_factory=list)

    def months_to_next_grant(self, month: int, n_months: int) -> int:
        """Months from ``month`` (counted) to the next CMO grant tranche, or to the run's end."""
        later = [m for m in self.tranche_months if m > month]
        return (min(later) if later else n_months) - month


def _split(values: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """``values`` cut into consecutive parts of ``counts`` elements (``np.split`` at the cumulative counts)."""
    if len(counts) == 0:
        return [values]  # as np.split with no cut
    parts = []
    start = 0
    for n in counts.tolist():
        parts.append(values[start : start + n])
        start += n
    return parts


@dataclass
class State:
    """Everything a mechanism may read or write, for one run."""

    cfg: Config
    streams: Streams
    taxonomy: Taxonomy
    firms: FirmArrays
    awareness: AwarenessClock
    ledger: TieLedger
    ros: ResearchOrgs
    n_training_agencies: int
    agency_agreements: np.ndarray  # int64 per training agency
    partners: ExternalPartners
    region: RegionBooks
    start_index: int
    n_months: int
    report_month: int
    schedule: Callable[..., None]  # schedule(month, fn, *args): a dated event
    month: int = -1
    in_report_window: bool = False
    cmos: list[CMO] = field(default_factory=list)
    retired_cmos: list[CMO] = field(default_factory=list)
    cluster_of_domain: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    cluster_of_firm: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    firms_per_cluster: np.ndarray = field(default_factory=lambda: np.zeros(0))
    members: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    members_cluster: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))  # member_of[members]
    members_by_cluster: list[np.ndarray] = field(default_factory=list)
    members_by_domain: list[np.ndarray] = field(default_factory=list)
    # the members sorted by domain (the lists of members_by_domain one after another)
    members_by_domain_flat: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    members_call_open: bool = False
    benefit: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    _members_per_domain: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # refresh_members
    one_domain_clusters: bool = False  # each cluster in force covers one domain (refresh_members)
    fee_eur_per_year: np.ndarray = field(default_factory=lambda: np.zeros(4))
    fee_cents_per_month: np.ndarray = field(default_factory=lambda: np.zeros(4, dtype=np.int64))
    staff_cost_cents_per_hour: float = 0.0
    activity_cost_cents_per_hour: float = 0.0
    counters: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    projects: list[dict[str, Any]] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    notes: dict[str, float] = field(default_factory=dict)
    # brokers' uniforms of the coming months, drawn ahead (matching.broker_introductions)
    broker_ahead: dict[int, tuple[np.ndarray, dict[int, int], int]] = field(default_factory=dict)
    # spontaneous ties' meetings of the coming months, drawn ahead (matching.spontaneous_ties)
    spontaneous_ahead: dict[int, tuple[tuple, list[tuple[int, int, float]]]] = field(default_factory=dict)

    # ------------------------------------------------------------------ clusters
    @property
    def n_domains(self) -> int:
        """Number of domains of the taxonomy."""
        return self.taxonomy.n

    def refresh_members(self) -> None:
        """Recompute the member index arrays (per cluster and per domain) and CMO counts.

        Call it whenever ``firms.member_of`` changes; ``members_cluster`` (each member's
        cluster) is kept with ``members`` so that readers need not gather it again. The
        members of each domain are counted here too (:meth:`domain_counts_by_cluster` reads
        them), and ``one_domain_clusters`` notes whether every cluster in force covers one
        domain (then a cluster's members are its domain's, and no second sort is needed).
        """
        firms = self.firms
        self.members = members = (firms.member_of != NO_CLUSTER).nonzero()[0]  # np.flatnonzero (1-D)
        owner = self.members_cluster = firms.member_of[members]
        # one sort by domain; a cluster's members are its domains' members (each domain
        # lies in one cluster), in firm order within each
        dom = firms.primary_domain[members]
        counts_d = np.bincount(dom, minlength=self.n_domains)
        self.members_by_domain_flat = by_domain_flat = members[dom.argsort(kind="stable")]
        self.members_by_domain = _split(by_domain_flat, counts_d)
        n_cmos = len(self.cmos)
        of_domain = self.cluster_of_domain.tolist()
        self._members_per_domain = counts_d
        self.one_domain_clusters = n_cmos == self.n_domains and sorted(of_domain) == list(range(n_cmos))
        if self.one_domain_clusters:
            # one domain per cluster: a cluster's members are its domain's, already in firm order
            by_domain = self.members_by_domain
            by_cluster = [by_domain[0]] * n_cmos
            counts = [0] * n_cmos
            for d, (c, n) in enumerate(zip(of_domain, counts_d.tolist(), strict=True)):
                by_cluster[c] = by_domain[d]
                counts[c] = n
            self.members_by_cluster = by_cluster
        else:
            per_cluster = np.bincount(owner, minlength=n_cmos)
            self.members_by_cluster = _split(members[owner.argsort(kind="stable")], per_cluster)
            counts = per_cluster.tolist()
        for cmo, n in zip(self.cmos, counts, strict=True):
            cmo.n_members = n

    def domain_counts_by_cluster(self) -> np.ndarray:
        """Members by cluster (rows) and primary domain (columns), as counted by :meth:`refresh_members`.

        Members are in the cluster of their primary domain (joining and reforms keep them
        so), and each domain lies in one cluster: the table holds each domain's member
        count in its cluster's row.
        """
        table = np.zeros((len(self.cmos), self.n_domains))
        if len(self.cmos) and self._members_per_domain.size:
            table[self.cluster_of_domain, np.arange(self.n_domains)] = self._members_per_domain
        return table

    def profile_columns(self, idx: np.ndarray) -> np.ndarray:
        """The competence profiles of firms ``idx`` domain by domain: ``firms.profile[idx].T``, contiguous.

        Shape ``(domains, len(idx))``, for per-domain columns of many firms at once. The
        rows asked for are gathered and transposed at each call: a firm's profile is one
        short row (one cache line for a dozen domains), whereas a copy of the profiles
        transposed once a run (as an earlier version kept) is read one element per domain
        and firm, from memory the months between two calls have pushed out of the cache
        (a Piedmont run: 2.2 -> 1.1 ms).
        """
        return np.ascontiguousarray(self.firms.profile.take(idx, axis=0).T)

    # ---------------------------------------------------------------- indicators
    def mark_nonfinancial(self, idx: int | np.ndarray) -> None:
        """Record the first month a firm received a CMO service (CO04/RCO04)."""
        arr = self.firms.first_nonfinancial
        if type(idx) is int:  # one firm, the most common call: its month read as a Python int
            if arr.item(idx) < 0:
                arr[idx] = self.month
            return
        if isinstance(idx, int | np.integer):
            if arr[idx] < 0:
                arr[idx] = self.month
            return
        idx = np.asarray(idx)
        if idx.size <= 8 and idx.dtype.kind in "iu":  # a few firms: one at a time, cheaper than numpy
            for i in idx.tolist():
                if arr.item(i) < 0:
                    arr[i] = self.month
            return
        arr[idx[arr[idx] < 0]] = self.month

    def supported_mask(self, idx: np.ndarray) -> np.ndarray:
        """Whether firms ``idx`` have had support (grant or service) in the report window."""
        f = self.firms
        return (f.first_grant[idx] >= 0) | (f.first_nonfinancial[idx] >= 0)

    def note(self, **values: float) -> None:
        """Add this month's counts from a process (read by the monthly recorder)."""
        self.notes.update(values)
