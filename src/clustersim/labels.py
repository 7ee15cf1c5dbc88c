"""Human names and numbers for readers: KPI labels, option labels, and how values are written.

The model names its KPIs for code (:data:`clustersim.metrics.KPIS`); a regional official
reads "member firms" and "about 150 more member firms (140 to 160)". This module holds
the KPI labels (generic: they describe what the model measures, not a region) and reads
everything region-specific from the region's presentation file ``conf/report/<region>.yaml``
(:func:`load_notes`): human names of the configuration options, the caveats that come with
the results and the inputs that decide the answer. Presentation code never spells a
scenario's name; it asks this module.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clustersim.confdir import safe_load
from clustersim.config import config_dir
from clustersim.kpis import KPI_BY_NAME, KPIS

#: How a KPI's value is written: a count of things, a share, euros, percentage points,
#: an index or score, or a rate per firm.
KINDS = ("count", "share", "eur", "points", "index", "rate")


@dataclass(frozen=True)
class KpiLabel:
    """How a reader sees one KPI.

    Attributes:
        title: the table label ("Member firms").
        noun: the noun phrase of a sentence ("member firms": "150 more member firms";
            for levels, "cross-domain share of new collaborations": "... 11 points higher").
        kind: one of :data:`KINDS`.
        axis: the axis title of a figure, with its unit ("firms").
    """

    title: str
    noun: str
    kind: str
    axis: str


def _count(title: str, noun: str, axis: str) -> KpiLabel:
    return KpiLabel(title, noun, "count", axis)


#: Every KPI of :data:`clustersim.metrics.KPIS` with its human label (a test checks none is missing).
KPI_LABELS: dict[str, KpiLabel] = {
    "members": _count("Member firms", "member firms", "member firms"),
    "members_hhi": KpiLabel("Concentration of members (HHI)", "concentration of members (HHI)", "index", "HHI (0-1)"),
    "firms_in_no_cluster": _count("Firms in no cluster", "firms in no cluster", "firms"),
    "aware_firms": _count("Firms aware of the clusters", "firms aware of the clusters", "firms"),
    "ties_firm_firm": _count("New firm-firm collaborations", "new firm-firm collaborations", "collaborations"),
    "ties_brokered": _count("Collaborations brokered by cluster managers", "brokered collaborations", "collaborations"),
    "research_collaborations": _count(
        "New collaborations with research organisations",
        "new collaborations with research organisations",
        "collaborations",
    ),
    "international_collaborations": _count(
        "New international collaborations", "new international collaborations", "collaborations"
    ),
    "inter_regional_collaborations": _count(
        "of which with other Italian regions", "collaborations with other Italian regions", "collaborations"
    ),
    "cross_domain_share": KpiLabel(
        "Share of collaborations across sectors",
        "share of new collaborations across sectors",
        "share",
        "% of new firm-firm collaborations",
    ),
    # declared in kpis.py on main (issue 9): labelled here so that the merge needs no code
    "cross_domain_ties": _count(
        "New collaborations across sectors", "new collaborations across sectors", "collaborations"
    ),
    "firms_with_cross_domain_tie": _count(
        "Firms with a collaboration across sectors", "firms with a collaboration across sectors", "firms"
    ),
    "cross_domain_share_members": KpiLabel(
        "Share of members' collaborations across sectors",
        "share of members' new collaborations across sectors",
        "share",
        "% of new member-member collaborations",
    ),
    "cross_cluster_share": KpiLabel(
        "Share of collaborations across clusters",
        "share of new collaborations across clusters",
        "share",
        "% of new firm-firm collaborations",
    ),
    "modularity_clusters": KpiLabel(
        "Network modularity by cluster", "network modularity by cluster", "index", "modularity Q"
    ),
    "modularity_domains": KpiLabel(
        "Network modularity by sector", "network modularity by sector", "index", "modularity Q"
    ),
    "proposals_submitted": _count("R&D proposals submitted", "R&D proposals submitted", "proposals"),
    "projects_funded": _count("R&D projects funded", "R&D projects funded", "projects"),
    "success_rate": KpiLabel("Success rate of proposals", "success rate of proposals", "share", "% funded"),
    "firms_per_project": KpiLabel("Firms per funded project", "firms per funded project", "rate", "firms"),
    "grant_per_project_eur": KpiLabel("Grant per funded project", "grant per funded project", "eur", "EUR"),
    "mean_quality_funded": KpiLabel(
        "Quality of funded projects", "quality score of funded projects", "index", "score (0-1)"
    ),
    "training_agreements": _count("Training agreements", "training agreements", "agreements"),
    "international_links": _count("Links of cluster managers abroad", "links of cluster managers abroad", "links"),
    "cluster_meetings": _count("Coordination meetings", "coordination meetings", "meetings"),
    "plenary_meetings": _count("Plenary meetings", "plenary meetings", "meetings"),
    "innovations": _count("Product innovations", "product innovations", "innovations"),
    "innovations_per_member": KpiLabel(
        "Innovations per member firm", "innovations per member firm", "rate", "innovations per firm"
    ),
    "innovations_per_non_member": KpiLabel(
        "Innovations per non-member firm", "innovations per non-member firm", "rate", "innovations per firm"
    ),
    "turnover_growth_gap_pp": KpiLabel(
        "Turnover growth of members vs similar non-members",
        "turnover growth gap of members over similar non-members",
        "points",
        "percentage points",
    ),
    "cmo_staff_utilisation": KpiLabel(
        "Cluster staff time used for services", "share of cluster staff time used", "share", "% of service hours"
    ),
    "public_eur_allocated": KpiLabel("Public money allocated", "public money allocated", "eur", "EUR"),
    "public_eur_spent": KpiLabel("Public money spent", "public money spent", "eur", "EUR"),
    "public_eur_left": KpiLabel("Public money left", "public money left", "eur", "EUR"),
    "public_eur_spent_window": KpiLabel(
        "Public money spent in the report window", "public money spent in the window", "eur", "EUR"
    ),
    "cost_per_collaboration_eur": KpiLabel(
        "Public cost per collaboration", "public cost per collaboration", "eur", "EUR per collaboration"
    ),
    "cost_per_funded_project_eur": KpiLabel(
        "Public cost per funded project", "public cost per funded project", "eur", "EUR per project"
    ),
    "CO01": _count("CO01 Enterprises supported", "enterprises supported (CO01)", "enterprises"),
    "CO02": _count("CO02 Enterprises receiving grants", "enterprises receiving grants (CO02)", "enterprises"),
    "CO04": _count(
        "CO04 Enterprises receiving non-financial support",
        "enterprises receiving non-financial support (CO04)",
        "enterprises",
    ),
    "CO26": _count(
        "CO26 Enterprises cooperating with research institutions",
        "enterprises cooperating with research institutions (CO26)",
        "enterprises",
    ),
    "CO27_eur": KpiLabel(
        "CO27 Private investment matching public support",
        "private investment matching public support (CO27)",
        "eur",
        "EUR",
    ),
    "CO28": _count(
        "CO28 Enterprises introducing new-to-market products",
        "enterprises introducing new-to-market products (CO28)",
        "enterprises",
    ),
    "CO29": _count(
        "CO29 Enterprises introducing new-to-firm products",
        "enterprises introducing new-to-firm products (CO29)",
        "enterprises",
    ),
    "RCO01": _count("RCO01 Enterprises supported", "enterprises supported (RCO01)", "enterprises"),
    "RCO02": _count("RCO02 Enterprises supported by grants", "enterprises supported by grants (RCO02)", "enterprises"),
    "RCO04": _count(
        "RCO04 Enterprises with non-financial support",
        "enterprises with non-financial support (RCO04)",
        "enterprises",
    ),
    "RCO10": _count(
        "RCO10 Enterprises cooperating with research organisations",
        "enterprises cooperating with research organisations (RCO10)",
        "enterprises",
    ),
}

#: The KPIs of a report's headline table, in reading order.
HEADLINE: tuple[str, ...] = (
    "members",
    "ties_firm_firm",
    "cross_domain_share",
    "cross_cluster_share",
    "research_collaborations",
    "international_collaborations",
    "projects_funded",
    "training_agreements",
    "innovations",
    "turnover_growth_gap_pp",
    "cmo_staff_utilisation",
    "cost_per_collaboration_eur",
)
#: The ERDF common indicators a report shows.
ERDF: tuple[str, ...] = ("CO01", "CO02", "CO04", "CO26", "CO27_eur", "CO28", "CO29")
#: The money KPIs of a report's euro table, in order.
MONEY: tuple[str, ...] = (
    "public_eur_allocated",
    "public_eur_spent",
    "public_eur_left",
    "public_eur_spent_window",
    "cost_per_collaboration_eur",
    "cost_per_funded_project_eur",
)
#: Monthly series a report draws (names of the monthly table): title, axis title, and how
#: the monthly values are drawn (``level``: as recorded; ``cumulative``: summed from the start).
SERIES: tuple[str, ...] = ("members", "ties_brokered", "projects_funded", "cmo_hours_service")
SERIES_LABELS: dict[str, tuple[str, str, str]] = {
    "members": ("Member firms", "firms", "level"),
    "ties_brokered": ("Collaborations brokered by cluster managers", "collaborations per month", "level"),
    "ties_plenary": ("Collaborations from plenary meetings", "collaborations per month", "level"),
    "projects_funded": ("R&D projects funded (cumulative)", "projects since the start", "cumulative"),
    "cmo_hours_service": ("Service time of cluster managers", "hours per month", "level"),
    "cmo_staff_fte": ("Staff of cluster managers", "full-time people", "level"),
}


#: Human names of the model's free parameters (configuration keys), for sensitivity figures.
PARAMETER_LABELS: dict[str, str] = {
    "behaviour.membership.review_rate": "Share of firms reviewing membership each month",
    "behaviour.membership.beta0": "Membership utility intercept (beta0)",
    "behaviour.membership.beta_service": "Weight of services in joining",
    "behaviour.membership.beta_fee": "Weight of the fee in joining",
    "behaviour.membership.switching_cost": "Inertia of membership (switching cost)",
    "behaviour.membership.awareness_per_comm_hour": "Awareness per hour of communication",
    "population.initial_awareness_share": "Firms aware at the launch",
    "staffing.overhead_fte_per_cmo": "Fixed staff time per cluster organisation (FTE)",
    "behaviour.cmo.breadth_penalty": "Service lost to thematic breadth",
    "behaviour.cmo.merger_efficiency_loss": "Service lost in a merger's transition",
    "behaviour.cmo.hours_per_introduction": "Staff hours per introduction",
    "behaviour.cmo.hours_per_training_agreement": "Staff hours per training agreement",
    "behaviour.cmo.hours_per_international_link": "Staff hours per link abroad",
    "behaviour.ties.p_max": "Highest chance that a tie lasts (p_max)",
    "behaviour.ties.cross_cluster_share": "Share of introductions across clusters",
    "behaviour.ties.ro_introduction_share": "Share of introductions to research organisations",
    "behaviour.calls.apply_rate_members": "Propensity of members to apply to calls",
    "behaviour.international.ties_per_link_month": "Ties abroad per link and month",
    "staffing.setup_months": "Months a re-launched cluster organisation takes to set up",
    "behaviour.ties.referral_success": "Chance that a referral to another cluster works",
    "behaviour.ties.need_related_share": "Share of needs in a related domain",
    "behaviour.calls.own_cluster_partner_share": "Share of consortium partners from the own cluster",
    "behaviour.calls.admission_quality": "Quality threshold of the calls",
    "behaviour.dynamics.member_innovation_lift": "Innovation lift of members",
}


def parameter_label(key: str) -> str:
    """The human name of a configuration key (its last part, readable, when unnamed)."""
    return PARAMETER_LABELS.get(key, key.rsplit(".", 1)[-1].replace("_", " "))


def kpi_label(name: str) -> KpiLabel:
    """The label of a KPI; an unknown name gets a readable fallback from its unit."""
    if name in KPI_LABELS:
        return KPI_LABELS[name]
    kpi = KPI_BY_NAME.get(name)
    unit = kpi.unit if kpi else ""
    kind = {"share": "share", "EUR": "eur", "percentage points": "points"}.get(unit, "count" if unit else "index")
    text = name.replace("_", " ")
    return KpiLabel(text[:1].upper() + text[1:], text, kind, unit or "value")


def kpi_title(name: str) -> str:
    """The table label of a KPI."""
    return kpi_label(name).title


def missing_labels() -> list[str]:
    """KPIs of the model without a human label (a test wants none)."""
    return [k.name for k in KPIS if k.name not in KPI_LABELS]


# ------------------------------------------------------------------- region's notes
@dataclass(frozen=True)
class Note:
    """A caveat or a deciding input: a title, plain text, the KPIs it bears on, and a link."""

    title: str
    text: str
    kpis: tuple[str, ...] = ()
    link: str = ""
    key: str = ""


@dataclass(frozen=True)
class Notes:
    """The region's presentation file (``conf/report/<region>.yaml``), read by :func:`load_notes`."""

    region: str = ""
    options: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    caveats: tuple[Note, ...] = ()
    deciding_inputs: tuple[Note, ...] = ()
    dashboard: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def option(self, group: str, option: str, short: bool = False) -> str:
        """The human name of a configuration option (its id when the file does not name it)."""
        entry = self.options.get(group, {}).get(str(option))
        if not entry:
            return str(option)
        return str(entry.get("short") if short and entry.get("short") else entry.get("label", option))

    def describe(self, group: str, option: str) -> str:
        """A sentence-length description of an option ('' when there is none)."""
        return str(self.options.get(group, {}).get(str(option), {}).get("description", ""))

    def order(self, group: str, values: list[str]) -> list[str]:
        """``values`` in the file's order for the group, unknown ones after, sorted."""
        known = [v for v in self.options.get(group, {}) if v in values]
        return known + sorted(v for v in values if v not in known)

    def relevant(self, kpis: list[str] | tuple[str, ...]) -> tuple[list[Note], list[Note]]:
        """Caveats and deciding inputs that bear on ``kpis`` (first those of the first KPIs)."""

        def rank(note: Note) -> int:
            hits = [i for i, k in enumerate(kpis) if k in note.kpis]
            return min(hits) if hits else len(kpis)

        def pick(notes: tuple[Note, ...]) -> list[Note]:
            chosen = [n for n in notes if not n.kpis or set(n.kpis) & set(kpis)]
            return sorted(chosen, key=rank)

        return pick(self.caveats), pick(self.deciding_inputs)


def notes_path(region: str) -> Path:
    """The presentation file of a region: ``conf/report/<region>.yaml``."""
    return Path(config_dir()) / "report" / f"{region}.yaml"


@functools.lru_cache(maxsize=8)
def load_notes(region: str) -> Notes:
    """Read a region's presentation file; a region without one gets empty notes (ids as labels)."""
    path = notes_path(region)
    if not path.is_file():
        return Notes(region=region)
    data = safe_load(path.read_text()) or {}

    def notes(items: list[dict[str, Any]] | None) -> tuple[Note, ...]:
        return tuple(
            Note(
                title=str(i.get("title", "")),
                text=" ".join(str(i.get("text", "")).split()),
                kpis=tuple(i.get("kpis") or ()),
                link=str(i.get("link", "")),
                key=str(i.get("key", "")),
            )
            for i in items or []
        )

    return Notes(
        region=str(data.get("region", region)),
        options={g: dict(v or {}) for g, v in (data.get("options") or {}).items()},
        caveats=notes(data.get("caveats")),
        deciding_inputs=notes(data.get("deciding_inputs")),
        dashboard=dict(data.get("dashboard") or {}),
        source=str(path),
    )


def default_choices() -> dict[str, str]:
    """The option of each group in the default configuration (``conf/config.yaml``'s defaults)."""
    data = safe_load((Path(config_dir()) / "config.yaml").read_text()) or {}
    out: dict[str, str] = {}
    for item in data.get("defaults", []):
        if isinstance(item, dict):
            for k, v in item.items():
                if isinstance(v, str) and not k.startswith("override"):
                    out[k] = v
    return out


def default_comparison() -> dict[str, Any]:
    """The default comparison spec: ``conf/config.yaml``'s ``comparison`` node, else the schema's defaults."""
    data = safe_load((Path(config_dir()) / "config.yaml").read_text()) or {}
    node = data.get("comparison")
    if isinstance(node, dict) and node.get("baseline") and node.get("treatment"):
        return dict(node)
    import dataclasses

    from clustersim.config import ComparisonConfig

    return {f.name: getattr(ComparisonConfig(), f.name) for f in dataclasses.fields(ComparisonConfig)}


def doc_link(link: str, from_dir: Path | str) -> str:
    """A link to a project document (``docs/X.md#anchor``) that works from ``from_dir``.

    Relative when the document is in the source checkout, else the path as written.
    """
    path, _, anchor = link.partition("#")
    root = Path(config_dir()).parent
    target = root / path
    if not path or not target.exists():
        return link
    rel = os.path.relpath(target, Path(from_dir).resolve())
    return rel + (f"#{anchor}" if anchor else "")


# -------------------------------------------------------------------------- numbers
def _step(width: float) -> float:
    """The rounding step of a number known to within ``width``.

    Two significant digits of ``width``, or one when its first digit is 5 or more (a
    half-width of 0.7 rounds to tenths, one of 0.33 or 16 keeps two digits).
    """
    if not math.isfinite(width) or width <= 0:
        return 0.0
    place = math.floor(math.log10(width))
    lead = int(width / 10.0**place + 1e-9)
    return 10.0 ** (place if lead >= 5 else place - 1)


def _round(x: float, step: float) -> float:
    """``x`` to a multiple of ``step``, halves away from zero (17.5 -> 18, as a reader rounds)."""
    if step <= 0 or not math.isfinite(x):
        return x
    return math.copysign(math.floor(abs(x) / step + 0.5 + 1e-9), x) * step


def _digits(step: float) -> int:
    return max(0, -math.floor(math.log10(step))) if step > 0 else 0


def _plain(x: float, decimals: int) -> str:
    return f"{x:,.{decimals}f}"


def fmt_number(x: float, kind: str, decimals: int | None = None) -> str:
    """A value as a reader writes it: ``1,517``, ``28.1%``, ``EUR 34,165``, ``EUR 5.0M``, ``0.34 points``."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    x = float(x)
    if kind == "share":
        return f"{100 * x:.{1 if decimals is None else decimals}f}%"
    if kind == "eur":
        if decimals is None and abs(x) >= 1e6:
            return f"EUR {x / 1e6:,.1f}M"
        return f"EUR {_plain(x, 0 if decimals is None else decimals)}"
    if decimals is None:
        if kind == "points":
            decimals = 2
        elif kind == "index":
            decimals = 3
        else:
            decimals = 0 if abs(x) >= 100 else 1 if abs(x) >= 1 or x == 0 else 2
    text = _plain(x, decimals)
    return f"{text} points" if kind == "points" else text


def fmt_signed(x: float, kind: str, decimals: int | None = None) -> str:
    """A difference with its sign: ``+150``, ``+11.4 points`` (shares), ``-EUR 6,321``."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    sign = "+" if x > 0 else "-" if x < 0 else "±"
    if kind == "share":
        d = 1 if decimals is None else decimals
        return f"{sign}{abs(100 * x):.{d}f} points"
    return sign + fmt_number(abs(x), kind, decimals)


def _interval_step(low: float, high: float, kind: str) -> float:
    """The rounding step of an interval: two significant digits of its half-width."""
    scale = 100.0 if kind == "share" else 1.0
    if not (math.isfinite(low) and math.isfinite(high)):
        return 0.0
    return _step(abs(high - low) * scale / 2)


def fmt_interval(low: float, high: float, kind: str) -> str:
    """``140 to 160`` (``10.7 to 12.1 points`` for shares), rounded to the interval's precision."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    scale = 100.0 if kind == "share" else 1.0
    step = _interval_step(low, high, kind)
    d = _digits(step) if step else 2
    lo, hi = (_round(v * scale, step) for v in (low, high))
    if kind == "eur":
        return f"EUR {lo:,.{d}f} to {hi:,.{d}f}"
    unit = " points" if kind in ("share", "points") else ""
    return f"{lo:,.{d}f} to {hi:,.{d}f}{unit}"


def fmt_effect(difference: float, low: float, high: float, kind: str) -> str:
    """A difference and its interval, rounded alike: ``+150 [140 to 160]``, ``+11.4 points [10.7 to 12.1]``."""
    if difference is None or not math.isfinite(difference):
        return "n/a"
    finite = math.isfinite(low) and math.isfinite(high)
    reach = max(abs(v) for v in (difference, low, high) if math.isfinite(v))
    millions = kind == "eur" and reach >= 1e6
    scale = 100.0 if kind == "share" else 1e-6 if millions else 1.0
    step = (_step(abs(high - low) * scale / 2) if finite else 0.0) or _step(abs(difference) * scale)
    d = _digits(step) if step else 2

    def num(x: float, signed: bool = False) -> str:
        # the estimate keeps at least its first digit when the interval's step would round it to 0
        own = min(step, _step(abs(x) * scale) or step) if signed else step
        v = _round(x * scale, own)
        v = 0.0 if v == 0 else v
        text = f"{abs(v):,.{max(d, _digits(own))}f}"
        if kind == "eur":
            text = f"EUR {text}{'M' if millions else ''}"
        sign = ("+" if v > 0 else "-" if v < 0 else "±") if signed else ("-" if v < 0 else "")
        return sign + text

    unit = " points" if kind in ("share", "points") else ""
    rng = f"[{num(low)} to {num(high)}]" if finite else "[no interval]"
    return f"{num(difference, signed=True)}{unit} {rng}"


def effect_phrase(kpi: str, difference: float, low: float, high: float) -> str:
    """An effect in words, its size and 95% interval: "about 150 more member firms (140 to 160)".

    Numbers are rounded to two significant digits of the interval's half-width; when the
    interval contains 0 the phrase says the effect could go either way.
    """
    lab = kpi_label(kpi)
    if difference is None or not math.isfinite(difference):
        return f"{lab.noun}: no estimate"
    scale = 100.0 if lab.kind == "share" else 1.0
    finite = math.isfinite(low) and math.isfinite(high)
    step = _interval_step(low, high, lab.kind) if finite else 0.0
    step = step or _step(abs(difference) * scale)
    d = _digits(step) if step else 2

    def mag(x: float, estimate: bool = False) -> str:
        own = min(step, _step(abs(x) * scale) or step) if estimate else step
        v = _round(abs(x) * scale, own)
        dd = max(d, _digits(own))
        return f"EUR {v:,.{dd}f}" if lab.kind == "eur" else f"{v:,.{dd}f}"

    unit = " points" if lab.kind in ("share", "points") else ""
    if finite and low < 0 < high:
        if lab.kind == "count":
            return f"{lab.noun}: between {mag(low)} fewer and {mag(high)} more"
        return f"{lab.noun}: between {mag(low)}{unit} lower and {mag(high)}{unit} higher"
    if finite and low == high:
        rng = " (the same in every pair)"
    elif finite:
        near, far = sorted((low, high), key=abs)
        rng = f" ({mag(near)} to {mag(far)}{'' if lab.kind == 'count' else unit})"
    else:
        rng = " (no interval: too few replications)"
    if lab.kind == "count":
        word = "more" if difference > 0 else "fewer" if difference < 0 else "no change in"
        return f"about {mag(difference, True)} {word} {lab.noun}{rng}"
    word = "higher" if difference > 0 else "lower" if difference < 0 else "unchanged"
    return f"a {lab.noun} {mag(difference, True)}{unit} {word}{rng}"
