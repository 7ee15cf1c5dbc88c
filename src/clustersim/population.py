"""The firm population held as a struct of arrays (the state of record for firms).

SMEs and large firms share one set of arrays, indexed 0..n-1; large firms sit at the end
(``index >= n_smes``). Every per-firm operation in the model is a vectorised array
operation or touches a sampled subset, so that no process costs O(N^2) in firms.

Domains are indexed in the canonical (alphabetical) order of the taxonomy
(:class:`clustersim.state.Taxonomy`), so that listing them in another order in the
configuration draws the same firms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from clustersim.config import PopulationConfig

NO_CLUSTER = -1
MICRO, SMALL, MEDIUM, LARGE = 0, 1, 2, 3


@dataclass
class FirmArrays:
    """State variables of all firms, one array each (length ``n``)."""

    n_smes: int
    size_class: np.ndarray  # int8: 0 micro, 1 small, 2 medium, 3 large
    employees: np.ndarray  # int32
    turnover_eur: np.ndarray  # float64: turnover as last booked (annual accounts, plus innovations)
    profile: np.ndarray  # float32 (n, n_domains): competence shares, rows sum to 1
    primary_domain: np.ndarray  # int8: argmax of profile
    secondary_domain: np.ndarray  # int8
    knowledge: np.ndarray  # float32 in [0, 1]: knowledge stock
    absorptive: np.ndarray  # float32 in [0, 1]: absorptive capacity
    aware: np.ndarray  # bool: knows the cluster scheme
    member_of: np.ndarray  # int16: cluster index, or NO_CLUSTER
    member_since: np.ndarray  # int16: month index when joined, -1 if not a member (a run is < 100 years)
    ever_member: np.ndarray  # bool
    satisfaction: np.ndarray  # float32: memory of benefits received
    international: np.ndarray  # bool: has at least one tie abroad
    innovation_boost_until: np.ndarray  # int16: month until which a project lifts innovation
    proposals_in_call: np.ndarray  # int16: proposals in the current call (rule: at most k)
    in_proposal: np.ndarray  # bool: has been in a proposal (submitted or withdrawn) in the run
    # Records for ERDF indicators, "each enterprise counted once" (first month, -1 never)
    first_grant: np.ndarray  # int16 (a month index)
    first_nonfinancial: np.ndarray  # int16 (a month index)
    first_ro_cooperation: np.ndarray  # int16 (a month index)
    first_new_to_market_after_support: np.ndarray  # int16 (a month index)
    first_new_to_firm_after_support: np.ndarray  # int16 (a month index)
    innovations: np.ndarray  # int16: innovations introduced in the report window
    innovations_total: np.ndarray  # int16: innovations introduced in the run
    member_months: np.ndarray  # int16: months as a member since the last turnover booking
    turnover_at_report_start: np.ndarray  # float64 (NaN until the window opens)

    @property
    def n(self) -> int:
        """Number of firms (SMEs and large firms)."""
        return int(self.size_class.shape[0])

    @property
    def is_large(self) -> np.ndarray:
        """Boolean mask of large firms."""
        return self.size_class == LARGE


def draw_profiles(
    rng: np.random.Generator,
    n: int,
    domain_shares: np.ndarray,
    families: np.ndarray,
    secondary_same_family: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw competence profiles: a primary domain and a secondary one.

    The primary share is drawn from Beta(6, 2) (mean 0.75) and clipped to [0.5, 1]; the
    rest goes to a secondary domain, drawn from the same family as the primary with
    probability ``secondary_same_family`` when the family has other domains.
    """
    n_domains = domain_shares.shape[0]
    primary = rng.choice(n_domains, size=n, p=domain_shares).astype(np.int8)
    same = rng.random(n) < secondary_same_family
    # A random other domain: offset 1..n_domains-1 from the primary.
    other = (primary + rng.integers(1, n_domains, size=n)) % n_domains
    secondary = other.astype(np.int8)
    # Same-family secondary: pick among the family's other domains where there are any.
    family_of_primary = families[primary]
    for fam in np.unique(families):
        fam_domains = np.flatnonzero(families == fam)
        if fam_domains.size < 2:
            continue
        mask = same & (family_of_primary == fam)  # the primary is one of the family's domains
        k = int(mask.sum())
        if k == 0:
            continue
        # uniform over the family's other domains: draw r < size-1 and skip the primary
        r = rng.integers(0, fam_domains.size - 1, size=k)
        pos_primary = np.searchsorted(fam_domains, primary[mask])
        pick = fam_domains[r + (r >= pos_primary)]
        secondary[mask] = pick.astype(np.int8)
    share = np.clip(rng.beta(6.0, 2.0, size=n), 0.5, 1.0).astype(np.float32)
    profile = np.zeros((n, n_domains), dtype=np.float32)
    rows = np.arange(n)
    profile[rows, primary] = share
    profile[rows, secondary] += 1.0 - share
    return profile, primary, secondary


def build_population(
    rng: np.random.Generator,
    pop: PopulationConfig,
    domain_shares: np.ndarray,
    domain_families: np.ndarray,
) -> FirmArrays:
    """Create the initial firm population (nobody aware yet: see :class:`AwarenessClock`).

    ``domain_shares`` and ``domain_families`` are in the canonical domain order.
    """
    n_smes, n_large = pop.n_smes, pop.n_large_firms
    n = n_smes + n_large
    size = np.empty(n, dtype=np.int8)
    size[:n_smes] = rng.choice(3, size=n_smes, p=np.asarray(pop.sme_size_shares)).astype(np.int8)
    size[n_smes:] = LARGE
    lo = np.asarray(pop.employees_min, dtype=np.float64)[size]
    hi = np.asarray(pop.employees_max, dtype=np.float64)[size]
    # log-uniform head count within the size class
    employees = np.floor(np.exp(rng.uniform(np.log(lo), np.log(hi + 1.0)))).astype(np.int32)
    employees = np.minimum(employees, hi.astype(np.int32))
    turnover = employees * pop.turnover_eur_per_employee * rng.lognormal(0.0, 0.3, size=n)
    profile, primary, secondary = draw_profiles(
        rng, n, np.asarray(domain_shares), np.asarray(domain_families), pop.secondary_same_family_share
    )
    # Knowledge and absorptive capacity rise with size (larger firms have R&D units).
    size_lift = np.array([0.0, 0.05, 0.1, 0.2], dtype=np.float32)[size]
    knowledge = np.clip(rng.beta(2.0, 5.0, size=n).astype(np.float32) + size_lift, 0, 1)
    absorptive = np.clip(rng.beta(2.0, 4.0, size=n).astype(np.float32) + size_lift, 0, 1)
    minus_one = np.full(n, -1, dtype=np.int16)
    return FirmArrays(
        n_smes=n_smes,
        size_class=size,
        employees=employees,
        turnover_eur=turnover,
        profile=profile,
        primary_domain=primary,
        secondary_domain=secondary,
        knowledge=knowledge.astype(np.float32),
        absorptive=absorptive.astype(np.float32),
        aware=np.zeros(n, dtype=bool),
        member_of=np.full(n, NO_CLUSTER, dtype=np.int16),
        member_since=minus_one.copy(),
        ever_member=np.zeros(n, dtype=bool),
        satisfaction=np.zeros(n, dtype=np.float32),
        international=np.zeros(n, dtype=bool),
        innovation_boost_until=minus_one.copy(),
        proposals_in_call=np.zeros(n, dtype=np.int16),
        in_proposal=np.zeros(n, dtype=bool),
        first_grant=minus_one.copy(),
        first_nonfinancial=minus_one.copy(),
        first_ro_cooperation=minus_one.copy(),
        first_new_to_market_after_support=minus_one.copy(),
        first_new_to_firm_after_support=minus_one.copy(),
        innovations=np.zeros(n, dtype=np.int16),
        innovations_total=np.zeros(n, dtype=np.int16),
        member_months=np.zeros(n, dtype=np.int16),
        turnover_at_report_start=np.full(n, np.nan),
    )


class AwarenessClock:
    """Awareness of the cluster scheme as a hazard accumulated by each domain.

    Each firm draws once a threshold ``E_i ~ Exp(1)`` and becomes aware in the first month
    in which the cumulative exposure of its primary domain reaches it. Exposure starts at
    ``x0 = -ln(1 - initial_awareness_share)`` and grows each month by the hazard of the
    CMO covering the domain, ``a * h`` (``h``: its communication hours per thousand firms of
    its domains). A firm is therefore aware at the start with probability
    ``initial_awareness_share`` and, not yet aware, becomes aware in a month with
    probability ``1 - exp(-a h)``, independently: exactly the monthly Bernoulli process,
    with the numbers fixed per firm so that two arms of a comparison stay in step. Large
    firms are aware from the start (anchors courted by the poles). Cost: O(D log N + newly
    aware) a month.
    """

    def __init__(
        self, thresholds: np.ndarray, primary_domain: np.ndarray, n_domains: int, initial_share: float
    ) -> None:
        """Sort firms by domain and threshold; exposure starts at ``x0``."""
        by_threshold = np.argsort(thresholds, kind="stable")
        self.order = by_threshold[np.argsort(primary_domain[by_threshold], kind="stable")].astype(np.int32)
        self.sorted_thresholds = thresholds[self.order].astype(np.float32)
        counts = np.bincount(primary_domain, minlength=n_domains)
        self.bounds = np.concatenate([[0], np.cumsum(counts)])
        x0 = math.inf if initial_share >= 1.0 else -math.log1p(-initial_share)
        self.exposure = np.full(n_domains, x0)
        self.pointer = self.bounds[:-1].copy()
        # each domain's lowest threshold not yet passed (as float64; inf when none is left)
        self.next_threshold = np.full(n_domains, math.inf)
        left = (self.pointer < self.bounds[1:]).nonzero()[0]
        self.next_threshold[left] = self.sorted_thresholds[self.pointer[left]]

    def advance(self, increment: np.ndarray) -> np.ndarray:
        """Add ``increment`` to each domain's exposure; return the firms newly aware.

        Only the domains whose exposure reached their lowest threshold not yet passed are
        searched (most months most domains make no firm aware).
        """
        self.exposure += increment
        exposure, next_threshold = self.exposure, self.next_threshold
        # a threshold is passed when it is <= the exposure, compared as float64 (as searchsorted does)
        reached = (exposure >= next_threshold).nonzero()[0].tolist()
        if not reached:
            return np.zeros(0, dtype=np.int64)
        newly = []
        thresholds, pointer, bounds = self.sorted_thresholds, self.pointer, self.bounds
        for d in reached:
            lo, hi = pointer.item(d), bounds.item(d + 1)
            # the first threshold above the exposure (float32 thresholds against the float64 exposure;
            # a Python list of the region's 428,457 thresholds would cost 14 MB for a few microseconds);
            # the array's method, without np.searchsorted's dispatch, with the exposure as np.float64
            # (a Python float would be compared as float32)
            stop = lo + int(thresholds[lo:hi].searchsorted(exposure[d], "right"))
            newly.append(self.order[lo:stop])
            pointer[d] = stop
            next_threshold[d] = thresholds[stop] if stop < hi else math.inf
        return np.concatenate(newly, dtype=np.int64)  # (int32 firm numbers, widened as they are joined)


def cognitive_distance(profile_a: np.ndarray, profile_b: np.ndarray) -> np.ndarray:
    """Cognitive distance between competence profiles: half the L1 distance, in [0, 1].

    Identical profiles have distance 0, profiles with no domain in common distance 1.
    Works row-wise on ``(k, n_domains)`` arrays or on single profiles.
    """
    return 0.5 * np.abs(np.asarray(profile_a) - np.asarray(profile_b)).sum(axis=-1)
