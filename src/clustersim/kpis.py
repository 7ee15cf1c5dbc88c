"""The KPIs: name, unit, direction, definition, and when each is not defined.

A leaf module (no clustersim imports): :mod:`clustersim.metrics` computes these KPIs, and
the configuration checks ``sensitivity.outputs`` against their names without importing the
model. docs/ODD.md section 7.3 lists the same definitions. A KPI that is a ratio can be
0/0 in a run (no proposals, no funded project...): its value is then NaN, the run's
``summary.parquet`` says ``not defined: <reason>`` in its ``note`` column, and the report
prints the same words.
"""

from __future__ import annotations

from dataclasses import dataclass

MAXIMIZE, MINIMIZE, INFO = "max", "min", "info"


@dataclass(frozen=True)
class KPI:
    """A named outcome with its unit, direction, definition and when it is not defined."""

    name: str
    unit: str
    direction: str
    definition: str
    undefined: str = ""  # when the KPI has no value (NaN): "no proposals" (a 0/0 ratio); "" if always defined


KPIS: tuple[KPI, ...] = (
    KPI("members", "firms", MAXIMIZE, "firms that are members of a cluster in the last month"),
    KPI(
        "members_hhi",
        "index 0-1",
        INFO,
        "Herfindahl index of member shares across the clusters in force, last month",
        undefined="no member",
    ),
    KPI("firms_in_no_cluster", "firms", MINIMIZE, "firms of the pool in no cluster, last month"),
    KPI("aware_firms", "firms", MAXIMIZE, "firms aware of the cluster scheme, last month"),
    KPI("ties_firm_firm", "ties", MAXIMIZE, "firm-firm collaborations formed in the report window (all origins)"),
    KPI("ties_brokered", "ties", MAXIMIZE, "firm-firm and firm-research ties formed through CMO introductions"),
    KPI(
        "research_collaborations",
        "collaborations",
        MAXIMIZE,
        "collaborations with research organisations begun in the window: funded projects with one,"
        " plus firm-RO ties brokered by CMOs",
    ),
    KPI(
        "international_collaborations",
        "ties",
        MAXIMIZE,
        "firm ties with partners in other regions or countries formed in the window",
    ),
    KPI(
        "inter_regional_collaborations",
        "ties",
        INFO,
        "of the international collaborations, those with partners in other Italian regions",
    ),
    KPI(
        "cross_domain_share",
        "share",
        MAXIMIZE,
        "share of window firm-firm ties whose firms have different primary domains (fixed 12-domain taxonomy)",
        undefined="no firm-firm tie in the window",
    ),
    KPI(
        "cross_cluster_share",
        "share",
        INFO,
        "share of window firm-firm ties whose firms' domains lie in different clusters of the configuration in force"
        " (partition-dependent: compare configurations with cross_domain_share)",
        undefined="no firm-firm tie in the window",
    ),
    KPI(
        "cross_domain_ties",
        "ties",
        MAXIMIZE,
        "window firm-firm ties between firms of different primary domains (a count: partition-neutral)",
    ),
    KPI(
        "firms_with_cross_domain_tie",
        "firms",
        MAXIMIZE,
        "firms with at least one window firm-firm tie with a firm of another primary domain (partition-neutral)",
    ),
    KPI(
        "cross_domain_share_members",
        "share",
        MAXIMIZE,
        "share of window firm-firm ties between two member firms (members when the tie formed) whose"
        " primary domains differ (partition-neutral)",
        undefined="no firm-firm tie between two members in the window",
    ),
    KPI(
        "modularity_clusters",
        "Q",
        INFO,
        "Newman modularity of the window's firm-firm network against the clusters in force at the end",
        undefined="no firm-firm tie in the window",
    ),
    KPI(
        "modularity_domains",
        "Q",
        INFO,
        "Newman modularity of the window's firm-firm network against the 12 domains",
        undefined="no firm-firm tie in the window",
    ),
    KPI("proposals_submitted", "proposals", MAXIMIZE, "proposals submitted to calls closing in the window"),
    KPI("projects_funded", "projects", MAXIMIZE, "projects funded by calls closing in the window"),
    KPI("success_rate", "share", INFO, "projects funded / proposals submitted in the window", undefined="no proposals"),
    KPI("firms_per_project", "firms", INFO, "mean number of firms in a funded project", undefined="no funded project"),
    KPI("grant_per_project_eur", "EUR", INFO, "mean grant of a funded project", undefined="no funded project"),
    KPI(
        "mean_quality_funded",
        "score 0-1",
        MAXIMIZE,
        "mean quality score of funded projects",
        undefined="no funded project",
    ),
    KPI(
        "training_agreements", "agreements", MAXIMIZE, "agreements signed by CMOs with training agencies in the window"
    ),
    KPI("international_links", "links", MAXIMIZE, "links of CMOs with external partners made in the window"),
    KPI(
        "cluster_meetings",
        "meetings",
        INFO,
        "coordination meetings of the Region with a CMO (one per cluster), whole run",
    ),
    KPI("plenary_meetings", "meetings", INFO, "plenary meetings of the Region with all CMOs, whole run"),
    KPI("innovations", "innovations", MAXIMIZE, "product innovations introduced by all firms in the window"),
    KPI(
        "innovations_per_member",
        "per firm",
        MAXIMIZE,
        "window innovations per firm among last-month members",
        undefined="no member at the end",
    ),
    KPI(
        "innovations_per_non_member",
        "per firm",
        INFO,
        "window innovations per firm among firms never members",
        undefined="no firm that was never a member",
    ),
    KPI(
        "turnover_growth_gap_pp",
        "percentage points",
        MAXIMIZE,
        "window turnover growth of last-month members minus that of never-members of the same"
        " size class and primary domain (exact matching, member-weighted)",
        undefined="no size class and domain with both members and never-members",
    ),
    KPI(
        "cmo_staff_utilisation",
        "share",
        MAXIMIZE,
        "service hours used for delivered services / service hours available, CMOs in force"
        " at the end, over their whole period in force",
        undefined="no CMO service hours",
    ),
    KPI("public_eur_allocated", "EUR", INFO, "programme money within the run (CMO grants and calls)"),
    KPI("public_eur_spent", "EUR", INFO, "CMO grant tranches paid plus project grants awarded, whole run"),
    KPI("public_eur_left", "EUR", INFO, "allocated minus spent: undisbursed Region money plus unawarded call money"),
    KPI("public_eur_spent_window", "EUR", INFO, "CMO grant tranches paid plus project grants awarded in the window"),
    KPI(
        "cost_per_collaboration_eur",
        "EUR",
        MINIMIZE,
        "public euros spent in the window / collaborations of all types formed in the window"
        " through the policy (brokered, plenary, project and CMO-link ties; spontaneous ties excluded)",
        undefined="no collaboration through the policy",
    ),
    KPI(
        "cost_per_funded_project_eur",
        "EUR",
        MINIMIZE,
        "public euros spent in the window / projects funded in the window",
        undefined="no funded project",
    ),
    KPI(
        "CO01",
        "enterprises",
        MAXIMIZE,
        "ERDF CO01: enterprises receiving support (grants or non-financial), each counted once, window",
    ),
    KPI("CO02", "enterprises", MAXIMIZE, "ERDF CO02: enterprises receiving grants, window"),
    KPI(
        "CO04", "enterprises", MAXIMIZE, "ERDF CO04: enterprises receiving non-financial support (CMO services), window"
    ),
    KPI(
        "CO26",
        "enterprises",
        MAXIMIZE,
        "ERDF CO26: enterprises cooperating with research institutions in supported R&D projects, window",
    ),
    KPI(
        "CO27_eur",
        "EUR",
        MAXIMIZE,
        "ERDF CO27: private investment matching public support to innovation or R&D projects, window",
    ),
    KPI(
        "CO28",
        "enterprises",
        MAXIMIZE,
        "ERDF CO28: supported enterprises introducing new-to-market products after support, window",
    ),
    KPI(
        "CO29",
        "enterprises",
        MAXIMIZE,
        "ERDF CO29: supported enterprises introducing new-to-firm products after support, window",
    ),
    KPI("RCO01", "enterprises", MAXIMIZE, "ERDF 2021-27 RCO01: enterprises supported (same count as CO01)"),
    KPI("RCO02", "enterprises", MAXIMIZE, "ERDF 2021-27 RCO02: enterprises supported by grants (as CO02)"),
    KPI("RCO04", "enterprises", MAXIMIZE, "ERDF 2021-27 RCO04: enterprises with non-financial support (as CO04)"),
    KPI(
        "RCO10",
        "enterprises",
        MAXIMIZE,
        "ERDF 2021-27 RCO10: enterprises cooperating with research organisations (as CO26)",
    ),
)
KPI_BY_NAME = {k.name: k for k in KPIS}


def undefined_note(kpi: str) -> str:
    """What a run's summary and the report say when ``kpi`` has no value: ``not defined: <reason>``."""
    known = KPI_BY_NAME.get(kpi)
    reason = known.undefined if known and known.undefined else "no value in this run"
    return f"not defined: {reason}"


# KPIs counted in whole units. Their values are integers; a mean over n runs and a
# difference of means are then the same bits on every machine (a sum of integers is exact
# in any order). Every other KPI (shares, indices, euros, per-firm means) and every
# interval or p-value agrees across machines to a relative tolerance (README,
# "Reproducibility"), and bit for bit on one machine.
COUNT_UNITS: tuple[str, ...] = (
    "firms",
    "ties",
    "proposals",
    "projects",
    "agreements",
    "links",
    "meetings",
    "innovations",
    "enterprises",
)
