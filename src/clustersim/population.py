"""The firm population held as a struct of arrays (the state of record for firms).

SMEs and large firms share one set of arrays, indexed 0..n-1; large firms sit at the end
(``index >= n_smes``) and also have thin Mesa agent handles (see :mod:`clustersim.agents`).
Every per-firm operation in the model is a vectorised array operation or touches a
sampled subset, so that no process costs O(N^2) in firms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustersim.config import PopulationConfig, RegionConfig

NO_CLUSTER = -1
MICRO, SMALL, MEDIUM, LARGE = 0, 1, 2, 3


@dataclass
class FirmArrays:
    """State variables of all firms, one array each (length ``n``)."""

    n_smes: int
    size_class: np.ndarray  # int8: 0 micro, 1 small, 2 medium, 3 large
    employees: np.ndarray  # int32
    turnover_eur: np.ndarray  # float64, grown through month turnover_month (lazily)
    turnover_month: np.ndarray  # int32: last month whose growth is in turnover_eur
    profile: np.ndarray  # float32 (n, n_domains): competence shares, rows sum to 1
    primary_domain: np.ndarray  # int8: argmax of profile
    secondary_domain: np.ndarray  # int8
    knowledge: np.ndarray  # float32 in [0, 1]: knowledge stock
    absorptive: np.ndarray  # float32 in [0, 1]: absorptive capacity
    aware: np.ndarray  # bool: knows the cluster scheme
    member_of: np.ndarray  # int16: cluster index, or NO_CLUSTER
    member_since: np.ndarray  # int32: month index when joined, -1 if not a member
    ever_member: np.ndarray  # bool
    satisfaction: np.ndarray  # float32: memory of benefits received
    international: np.ndarray  # bool: has at least one tie abroad
    innovation_boost_until: np.ndarray  # int32: month until which a project lifts innovation
    proposals_in_call: np.ndarray  # int16: proposals in the current call (rule: at most k)
    # Records for ERDF indicators, "each enterprise counted once" (first month, -1 never)
    first_grant: np.ndarray  # int32
    first_nonfinancial: np.ndarray  # int32
    first_ro_cooperation: np.ndarray  # int32
    first_new_to_market_after_support: np.ndarray  # int32
    first_new_to_firm_after_support: np.ndarray  # int32
    innovations: np.ndarray  # int32: innovations introduced in the report window
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
    for fam in np.unique(families):
        fam_domains = np.flatnonzero(families == fam)
        if fam_domains.size < 2:
            continue
        mask = same & np.isin(primary, fam_domains)
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
    region: RegionConfig,
) -> FirmArrays:
    """Create the initial firm population from the configuration."""
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
    shares = np.asarray(region.domain_firm_shares, dtype=np.float64)
    shares = shares / shares.sum()
    profile, primary, secondary = draw_profiles(
        rng, n, shares, np.asarray(region.domain_families), pop.secondary_same_family_share
    )
    # Knowledge and absorptive capacity rise with size (larger firms have R&D units).
    size_lift = np.array([0.0, 0.05, 0.1, 0.2], dtype=np.float32)[size]
    knowledge = np.clip(rng.beta(2.0, 5.0, size=n).astype(np.float32) + size_lift, 0, 1)
    absorptive = np.clip(rng.beta(2.0, 4.0, size=n).astype(np.float32) + size_lift, 0, 1)
    aware = rng.random(n) < pop.initial_awareness_share
    aware[n_smes:] = True  # large firms know the scheme (they were courted as anchors)
    minus_one = np.full(n, -1, dtype=np.int32)
    return FirmArrays(
        n_smes=n_smes,
        size_class=size,
        employees=employees,
        turnover_eur=turnover,
        turnover_month=minus_one.copy(),
        profile=profile,
        primary_domain=primary,
        secondary_domain=secondary,
        knowledge=knowledge.astype(np.float32),
        absorptive=absorptive.astype(np.float32),
        aware=aware,
        member_of=np.full(n, NO_CLUSTER, dtype=np.int16),
        member_since=minus_one.copy(),
        ever_member=np.zeros(n, dtype=bool),
        satisfaction=np.zeros(n, dtype=np.float32),
        international=np.zeros(n, dtype=bool),
        innovation_boost_until=minus_one.copy(),
        proposals_in_call=np.zeros(n, dtype=np.int16),
        first_grant=minus_one.copy(),
        first_nonfinancial=minus_one.copy(),
        first_ro_cooperation=minus_one.copy(),
        first_new_to_market_after_support=minus_one.copy(),
        first_new_to_firm_after_support=minus_one.copy(),
        innovations=np.zeros(n, dtype=np.int32),
        turnover_at_report_start=np.full(n, np.nan),
    )


def cognitive_distance(profile_a: np.ndarray, profile_b: np.ndarray) -> np.ndarray:
    """Cognitive distance between competence profiles: half the L1 distance, in [0, 1].

    Identical profiles have distance 0, profiles with no domain in common distance 1.
    Works row-wise on ``(k, n_domains)`` arrays or on single profiles.
    """
    return 0.5 * np.abs(np.asarray(profile_a) - np.asarray(profile_b)).sum(axis=-1)
