"""R&D project calls: consortia, pre-screening, ranking and funding (after INFSO-SKIN).

At a call's closing month, lead firms (aware of the scheme) form consortia by tiers
(previous partners, their partners, then sampled firms), add a research organisation with
spare capacity, size the project to the call's rules, and submit. The lead's CMO
pre-screens members' proposals (using staff hours): it lifts their quality and withdraws
the weakest. The Region's evaluation admits proposals whose score reaches the threshold
(the larger of the call's ``min_quality`` and ``behaviour.calls.admission_quality``, the
calls' minimum score in the model's units), ranks the admitted ones by score and funds them in rank order
until the next one no longer fits in the call's remaining euros; admitted proposals left
unfunded wait on the ranking, and a later top-up of the call (``top_ups``: the 2007-2013
programme funded "progetti approvati e non finanziati" this way) funds them further down
the same ranking. Grants are computed in integer cents at the aid intensity of each
partner's size class (aid as a price wedge: the firm bears 1 - s of its cost).

Random numbers: whether a firm leads is one uniform per firm and call; the order of the
leads another; everything about a lead's proposal comes from the stream of (call, lead),
so the same lead draws the same numbers in every arm.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from statistics import NormalDist

import numpy as np

from clustersim.config import SIZE_CLASSES, CallParams
from clustersim.money import SHARE_UNIT, eur_to_cents, eurs_to_cents, share_units
from clustersim.network import FIRM_RO, ORIGINS, nooteboom_value
from clustersim.population import LARGE, NO_CLUSTER
from clustersim.state import Call, Proposal, State
from clustersim.streams import Stream, child_key_table, child_keys_of, normal, order_by, uniforms_at

PROJECT = ORIGINS.index("project")
_CHUNK = 1 << 16

# positions of a proposal's uniforms in its (call, lead) stream
_SIZE, _DURATION, _RO_SHARE, _SCALE_UP, _NOISE = range(5)


def eligible_mask(state: State, call: Call) -> np.ndarray:
    """Firms allowed to apply to ``call`` by its line."""
    firms = state.firms
    if call.line == "members":
        return firms.member_of != NO_CLUSTER
    if call.line == "never_members":
        return ~firms.ever_member
    return np.ones(firms.n, dtype=bool)


def draw_leads(state: State, call: Call, eligible: np.ndarray) -> np.ndarray:
    """Lead applicants among aware eligible firms: apply rate x aid wedge x (0.5 + knowledge), in a random order.

    The aid wedge is ((1 - 0.5) / (1 - s))^elasticity: a higher aid intensity ``s`` lowers
    the firm's own cost share and draws more applicants. Each firm has its own uniform for
    the call, so which firms lead depends only on their own state.
    """
    p = state.cfg.behaviour.calls
    firms = state.firms
    idx = np.flatnonzero(eligible & firms.aware)  # a firm applies to calls it knows of
    if idx.size == 0:
        return idx
    intensity = np.array([call.cfg.aid_intensity[s] for s in SIZE_CLASSES])
    wedge = (0.5 / np.maximum(1.0 - intensity, 0.05)) ** p.aid_wedge_elasticity
    rates = np.array([p.apply_rate_non_members, p.apply_rate_members])
    draws = state.streams.stream("call_lead", call.stream_id)
    leads = []
    for lo in range(0, idx.size, _CHUNK):  # in chunks: the whole region's temporaries stay small
        part = idx[lo : lo + _CHUNK]
        rate = rates[(firms.member_of[part] != NO_CLUSTER).astype(np.int64)] * wedge[firms.size_class[part]]
        prob = np.clip(rate * (0.5 + firms.knowledge[part]), 0.0, 1.0)
        leads.append(part[draws.at(part) < prob])
    return order_by(state.streams.stream("call_order", call.stream_id), np.concatenate(leads))


_TIERS = ("past", "second", "third")  # the child streams of a lead's (call, lead) stream, tier by tier
_PRE_TRIES = 4  # third-tier tries precomputed for every lead at once (later tries, rarely needed, one by one)
_PRE_BUDGET = 1 << 22  # numbers per chunk of leads in that precomputation (bounds its memory)


@dataclass
class LeadDraws:
    """The random numbers of a call's leads, drawn for all leads at once (one numpy pass).

    Every number is the one the lead's own stream ``("consortium", call, lead)`` gives at its
    position, so drawing them together changes nothing: ``u`` holds positions 0-4 (size,
    duration, research share, scale-up, noise) and ``best``/``empty`` the outcome of the
    first :data:`_PRE_TRIES` tries of the third tier (the best candidate by 4d(1-d), or
    whether the pool was empty).
    """

    keys: np.ndarray  # uint64 key of each lead's stream
    u: np.ndarray  # (leads, 5)
    best: np.ndarray  # (leads, tries) int64
    empty: np.ndarray  # (leads, tries) bool
    tiers: np.ndarray | None = None  # the keys of child_key_table(keys, _TIERS), when already made

    def __post_init__(self) -> None:
        """The same numbers as Python lists, row by row, for the loop over the leads."""
        self.key_list: list[int] = self.keys.tolist()
        # the keys of each lead's streams of its first two tiers (Stream(key).child("past"), ...)
        tiers = child_key_table(self.keys, list(_TIERS[:2])) if self.tiers is None else self.tiers
        self.past_keys: list[int] = tiers[:, 0].tolist()
        self.second_keys: list[int] = tiers[:, 1].tolist()
        self.u_rows: list[list[float]] = self.u.tolist()
        self.best_rows: list[list[int]] = self.best.tolist()
        self.empty_rows: list[list[bool]] = self.empty.tolist()


def lead_draws(state: State, call: Call, leads: np.ndarray, everyone: np.ndarray) -> LeadDraws:
    """Draw the numbers of every lead of ``call`` at once (see :class:`LeadDraws`)."""
    p = state.cfg.behaviour.calls
    firms = state.firms
    c_n = state.cfg.behaviour.ties.candidates_per_introduction
    width = 1 + c_n
    tries = min(4 * p.consortium_max, _PRE_TRIES)
    leads = np.asarray(leads, dtype=np.int64)
    keys = child_keys_of(state.streams.stream("consortium", call.stream_id).key, leads)
    u = uniforms_at(keys, np.arange(5))
    best = np.zeros((leads.size, tries), dtype=np.int64)
    empty = np.ones((leads.size, tries), dtype=bool)
    pools = [everyone, *state.members_by_cluster]
    sizes = np.array([x.size for x in pools], dtype=np.int64)
    if leads.size == 0 or sizes.max(initial=0) == 0:
        return LeadDraws(keys, u, best, empty)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = np.concatenate(pools)
    member = firms.member_of[leads].astype(np.int64)
    own_ok = (member != NO_CLUSTER) & (call.line != "never_members")
    own_pool = np.where(own_ok, member + 1, 0)
    own_size = np.where(own_ok, sizes[own_pool], 0)
    tiers = child_key_table(keys, list(_TIERS))  # the keys of each lead's streams of the three tiers
    third_keys = tiers[:, 2]
    positions = np.arange(tries * width)
    chunk = max(1, _PRE_BUDGET // (tries * c_n * max(state.n_domains, 1)))
    n_domains = state.n_domains
    for lo in range(0, leads.size, chunk):
        sl = slice(lo, lo + chunk)
        t = uniforms_at(third_keys[sl], positions).reshape(-1, tries, width)
        use_own = (own_size[sl, None] > 0) & (t[:, :, 0] < p.own_cluster_partner_share)
        pool = np.where(use_own, own_pool[sl, None], 0)
        size = sizes.take(pool)  # (take: the same elements as indexing, fewer checks)
        idx = np.minimum((t[:, :, 1:] * size[:, :, None]).astype(np.int64), np.maximum(size - 1, 0)[:, :, None])
        cands = flat.take(np.minimum(offsets.take(pool)[:, :, None] + idx, flat.size - 1))
        # distances 0.5 x sum of abs(a - b), worked out in place domain by domain (contiguous
        # columns), summed over the domains as NumPy sums a row (row_sums)
        diff = state.profile_columns(cands.ravel()).reshape(n_domains, *cands.shape)
        diff -= state.profile_columns(leads[sl])[:, :, None, None]
        np.abs(diff, out=diff)
        d = row_sums(diff)
        d *= 0.5
        pick = nooteboom_value(d).argmax(axis=-1)
        best[sl] = np.take_along_axis(cands, pick[:, :, None], axis=-1)[:, :, 0]
        empty[sl] = size == 0
    return LeadDraws(keys, u, best, empty, tiers)


def row_sums(columns: np.ndarray) -> np.ndarray:
    """``x.sum(axis=-1)`` of the rows ``x`` whose elements are ``columns[0], columns[1], ...``.

    The same additions in the same order as NumPy's sum along a contiguous row of ``n``
    elements (its pairwise summation): fewer than 8 added one by one from the left; up to
    128 into 8 partial sums (elements ``j, j + 8, ...``), combined as ((0 + 1) + (2 + 3)) +
    ((4 + 5) + (6 + 7)), then the rest added one by one. Each column is a contiguous array,
    so every addition is one pass over many rows at once instead of a small reduction per
    row. More than 128 elements: the rows are gathered and summed by NumPy. (A sum whose
    elements are all -0.0 may come out -0.0 here, +0.0 from NumPy.)
    """
    n = columns.shape[0]
    if n == 0 or n > 128:
        return np.ascontiguousarray(np.moveaxis(columns, 0, -1)).sum(axis=-1)
    if n < 8:
        total = columns[0] + 0.0  # NumPy starts from 0
        for k in range(1, n):
            total += columns[k]
        return total
    r = [columns[j].copy() for j in range(8)]
    top = n - n % 8
    for i in range(8, top, 8):
        for j in range(8):
            r[j] += columns[i + j]
    total = r[0] + r[1]
    total += r[2] + r[3]
    r[4] += r[5]
    r[6] += r[7]
    r[4] += r[6]
    total += r[4]
    for k in range(top, n):
        total += columns[k]
    return total


def _ordered(key: int, ids: list[int]) -> list[int]:
    """``order_by(Stream(key), ids)`` for a short list (plain Python: the same order, no numpy call)."""
    if len(ids) > 24:
        return order_by(Stream(key), np.asarray(ids, dtype=np.int64)).tolist()
    s = Stream(key)
    return sorted(ids, key=s.uniform)  # stable: equal numbers keep the ids' order, as argsort(kind="stable")


def form_consortium(
    state: State,
    call: Call,
    lead: int,
    eligible: np.ndarray,
    everyone: np.ndarray,
    draws: LeadDraws,
    row: int,
) -> list[int]:
    """Partners for ``lead`` by tiers: previous partners, their partners, then a sample.

    The third tier samples ``candidates_per_introduction`` firms per try, from the lead's
    own cluster with probability ``own_cluster_partner_share`` (its CMO's project
    development) when the lead is a member, otherwise from every eligible firm, and takes
    the best by 4d(1-d); at most 4 x size tries. ``draws`` (row ``row``) holds the lead's
    numbers (:func:`lead_draws`).
    """
    return _form(state, call, lead, eligible, everyone, draws, row, state.firms.proposals_in_call)[0]


def _form(
    state: State,
    call: Call,
    lead: int,
    eligible: np.ndarray,
    everyone: np.ndarray,
    draws: LeadDraws,
    row: int,
    in_call: Mapping[int, int] | np.ndarray,
) -> tuple[list[int], bool]:
    """:func:`form_consortium` with proposals counted in ``in_call``; also whether the cap turned a firm away.

    When it did not, the same team forms with fewer proposals counted (:func:`run_call`).
    """
    p = state.cfg.behaviour.calls
    cap = call.cfg.max_proposals_per_firm
    span = p.consortium_max - p.consortium_min + 1
    u = draws.u_rows[row]
    size = p.consortium_min + min(int(u[_SIZE] * span), span - 1)
    team = [lead]
    capped = False
    # each candidate j joins if eligible, under the cap (else the cap turned it away) and new
    key = draws.key_list[row]
    partners = state.ledger.partners
    past = sorted(partners.get(lead, ()))
    if past:
        for j in _ordered(draws.past_keys[row], past):
            if len(team) >= size:
                break
            if eligible[j]:
                if in_call[j] >= cap:
                    capped = True
                elif j not in team:
                    team.append(j)
    if len(team) < size and past:
        second = sorted({k for j in past for k in partners.get(j, ()) if k != lead})
        for j in _ordered(draws.second_keys[row], second):
            if len(team) >= size:
                break
            if eligible[j]:
                if in_call[j] >= cap:
                    capped = True
                elif j not in team:
                    team.append(j)
    if len(team) >= size:
        return team, capped
    best = draws.best_rows[row]
    empty = draws.empty_rows[row]
    pre = len(best)
    limit = 4 * size
    tries = 0
    while len(team) < size and tries < limit:
        if tries < pre:
            if empty[tries]:
                break
            j = best[tries]
        else:
            j = _third_try(state, call, lead, everyone, Stream(key).child("third"), tries)
            if j < 0:
                break
        tries += 1
        if eligible[j]:
            if in_call[j] >= cap:
                capped = True
            elif j not in team:
                team.append(j)
    return (team if len(team) >= p.consortium_min else []), capped


def _third_try(state: State, call: Call, lead: int, everyone: np.ndarray, third: Stream, tries: int) -> int:
    """The best candidate of third-tier try number ``tries`` (-1: its pool is empty), drawn on its own."""
    p = state.cfg.behaviour.calls
    firms = state.firms
    c = int(firms.member_of[lead])
    own = state.members_by_cluster[c] if c != NO_CLUSTER and call.line != "never_members" else everyone[:0]
    c_n = state.cfg.behaviour.ties.candidates_per_introduction
    u = third.uniforms(1 + c_n, start=tries * (1 + c_n))
    pool = own if own.size and u[0] < p.own_cluster_partner_share else everyone
    if pool.size == 0:
        return -1
    cands = pool[np.minimum((u[1:] * pool.size).astype(np.int64), pool.size - 1)]
    d = 0.5 * np.abs(firms.profile[cands] - firms.profile[lead]).sum(axis=1)
    return int(cands[int(np.argmax(nooteboom_value(d)))])


class FreeResearchOrgs:
    """The research organisations with spare capacity, and their competence profiles.

    Built once per call: capacity does not change while a call's proposals are formed
    (organisations fill up only when projects start, after the ranking).
    """

    def __init__(self, state: State) -> None:
        """Take the organisations with spare capacity now."""
        ros = state.ros
        self.ids = np.flatnonzero(ros.free())
        self.profiles = ros.profiles[self.ids]

    def best_for(self, team_profiles: np.ndarray) -> int:
        """The one that best fits a team with these profiles (the first of equals), or -1."""
        if self.ids.size == 0:
            return -1
        need = team_profiles.sum(axis=0) / len(team_profiles)  # the mean, as np.mean computes it
        fit = np.minimum(self.profiles, need).sum(axis=1)
        return int(self.ids[int(np.argmax(fit))])


def choose_research_org(state: State, team: list[int], free: FreeResearchOrgs | None = None) -> int:
    """The organisation with spare capacity that best fits the team's competences.

    Fit is the overlap of the organisation's profile with the team's mean profile. ``free``
    (:class:`FreeResearchOrgs`) may be passed when known: it does not change while a
    call's proposals are formed.
    """
    if free is None:
        free = FreeResearchOrgs(state)
    return free.best_for(state.firms.profile[team])


def cost_plan(state: State, call: Call, team: list[int], u: Sequence[float] | Stream) -> tuple[int, list[int]]:
    """Duration and each partner's eligible cost in cents (research contract included).

    Own cost = duration x monthly cost of the size class; the research share is
    ``min_ro_share`` plus a draw up to ``ro_share_extra_max``; the project is scaled up to
    the call's minimum cost when it falls short (partners design projects to qualify).
    ``u`` is the lead's stream, or its uniforms at positions 0-4 (:class:`LeadDraws`).
    The few numbers are worked out with Python numbers: NumPy's operations in NumPy's
    order, so the same values.
    """
    if isinstance(u, Stream):
        u = u.uniform_list(5)
    p = state.cfg.behaviour.calls
    return _cost_plan(p, call, _cost_by_class(p), state.firms.size_class[team].tolist(), u)


def _cost_by_class(p: CallParams) -> list:
    """The monthly cost of each size class, as NumPy reads the configured numbers."""
    return np.array([p.cost_eur_per_month[s] for s in SIZE_CLASSES]).tolist()


def _cost_plan(
    p: CallParams, call: Call, by_class: list, sizes: list[int], u: Sequence[float]
) -> tuple[int, list[int]]:
    """:func:`cost_plan` for partners of these size classes (``by_class``: :func:`_cost_by_class`)."""
    rules = call.cfg
    lo = min(p.duration_months_min, rules.max_duration_months)
    span = rules.max_duration_months - lo + 1
    duration = lo + min(int(u[_DURATION] * span), span - 1)
    own = [by_class[s] * duration for s in sizes]
    ro_share = min(0.95, rules.min_ro_share + u[_RO_SHARE] * p.ro_share_extra_max)
    own_total = _sum(own)
    total = own_total / (1.0 - ro_share)
    minimum = rules.min_cost_with_large_eur if LARGE in sizes else rules.min_cost_sme_eur
    if total < minimum:
        total = minimum * (1.0 + 0.5 * u[_SCALE_UP])
    if own_total > 0:
        weights = [float(x) / float(own_total) for x in own]  # NumPy divides integers as floats
    else:
        weights = [1.0 / len(sizes)] * len(sizes)
    costs = [eur_to_cents(total * w) for w in weights]
    return duration, costs


def _cost_plans(
    p: CallParams, call: Call, by_class: np.ndarray, sizes: np.ndarray, real: np.ndarray, u: np.ndarray
) -> tuple[list, list]:
    """:func:`_cost_plan` of teams of fewer than 8 partners, in NumPy.

    ``sizes`` is teams x slots, ``real`` marks each team's partners (its first slots; the
    rest pad the row). The same float operations in the same order (the partners' own
    costs added one by one from the left, as :func:`_sum`; a pad adds an own cost of 0.0,
    which changes no sum); ``by_class`` must be float. Returns the durations and each
    team's costs.
    """
    rules = call.cfg
    lo = min(p.duration_months_min, rules.max_duration_months)
    span = rules.max_duration_months - lo + 1
    duration = lo + np.minimum((u[:, _DURATION] * span).astype(np.int64), span - 1)
    own = by_class[sizes] * duration[:, None]
    own[~real] = 0.0
    ro_share = np.minimum(0.95, rules.min_ro_share + u[:, _RO_SHARE] * p.ro_share_extra_max)
    own_total = own[:, 0]
    for k in range(1, sizes.shape[1]):
        own_total = own_total + own[:, k]
    total = own_total / (1.0 - ro_share)
    large = ((sizes == LARGE) & real).any(axis=1)
    minimum = np.where(large, rules.min_cost_with_large_eur, rules.min_cost_sme_eur)
    total = np.where(total < minimum, minimum * (1.0 + 0.5 * u[:, _SCALE_UP]), total)
    positive = own_total > 0
    n = real.sum(axis=1)
    weights = np.repeat((1.0 / n)[:, None], sizes.shape[1], axis=1)  # 1.0 / n: a team without own costs
    np.divide(own, own_total[:, None], out=weights, where=positive[:, None])
    cents = eurs_to_cents((total[:, None] * weights)[real])
    parts = []
    at = 0
    for k in n.tolist():
        parts.append(cents[at : at + k])
        at += k
    return duration.tolist(), parts


def _sum(values: list[float]) -> float:
    """``np.sum(values)`` for a few numbers, without an array.

    NumPy adds fewer than 8 numbers one by one from the left (more, pairwise: left to it).
    """
    if len(values) >= 8:
        return np.array(values).sum().item()
    total = 0
    for x in values:
        total = total + x
    return total


def _mean32(values: np.ndarray, team: list[int]) -> float:
    """``float(values[team].mean())`` for float32 ``values`` and a short team, without an array.

    The same float32 additions in the same order as NumPy (it adds fewer than 8 numbers one
    by one), then the sum divided by the count in float64 and rounded to float32, as
    ``np.mean`` does.
    """
    if len(team) >= 8:
        return float(values[team].mean())
    total = values[team[0]]
    for f in team[1:]:
        total = total + values[f]
    return float(np.float32(float(total) / len(team)))


def proposal_quality(state: State, team: list[int], u: Sequence[float] | Stream) -> float:
    """Quality in [0, 1]: knowledge, absorptive capacity, complementarity, noise.

    ``u`` is the lead's stream, or its uniforms at positions 0-4 (:class:`LeadDraws`).
    """
    if isinstance(u, Stream):
        u = u.uniform_list(5)
    firms = state.firms
    prof = firms.profile[team]
    d = 0.5 * np.abs(prof[:, None, :] - prof[None, :, :]).sum(axis=-1)
    n = len(team)
    mean_d = float(d.sum() / (n * (n - 1))) if n > 1 else 0.0
    q = (
        0.5 * _mean32(firms.knowledge, team)
        + 0.25 * _mean32(firms.absorptive, team)
        + 0.25 * float(nooteboom_value(mean_d))
        + state.cfg.behaviour.calls.quality_noise * normal(float(u[_NOISE]))
    )
    return min(max(q, 0.0), 1.0)


def prescreen(state: State, prop: Proposal) -> bool:
    """The lead's CMO screens a member proposal; return False if it advises withdrawal."""
    c = state.firms.member_of.item(prop.lead)
    if c == NO_CLUSTER:
        return True
    cmo = state.cmos[c]
    p = state.cfg.behaviour.calls
    if cmo.use("innovation", state.cfg.behaviour.cmo.hours_per_prescreen, 1) == 0:
        return True
    cmo.totals["prescreens"] += 1
    prop.prescreened = True
    benefit = state.cfg.behaviour.membership.benefits["prescreen"]
    for f in prop.partners:
        state.mark_nonfinancial(f)
        state.benefit[f] += benefit
    prop.quality = min(1.0, prop.quality + p.prescreen_quality_lift * (1.0 + cmo.alignment))
    return prop.quality >= p.prescreen_withdraw_below


def grant_for(state: State, call: Call, prop: Proposal) -> int:
    """Grant in cents: each partner's cost times its size class's aid intensity."""
    return _grant(call, state.firms.size_class[prop.partners].tolist(), prop.firm_cost_cents)


def _aid_units(call: Call) -> list[int]:
    """The call's aid intensity of each size class (by index) in :func:`money.share_units`."""
    aid = call.cfg.aid_intensity
    return [share_units(aid[name]) for name in SIZE_CLASSES]


def _grant(call: Call, sizes: list[int], costs: list[int], units: list[int] | None = None) -> int:
    """:func:`grant_for` partners of these size classes and costs.

    Each partner's share is :func:`money.share_of` of its cost; ``units`` (:func:`_aid_units`)
    may be passed when already known for the call, so that each intensity is converted once.
    """
    if units is None:
        units = _aid_units(call)
    grant = 0
    for s, cost in zip(sizes, costs, strict=True):
        grant += (cost * units[s]) // SHARE_UNIT
    return grant


@dataclass
class Plan:
    """What a team's proposal would be: :func:`plan_proposals`."""

    quality: float
    ro: int
    duration: int
    costs: list[int]
    grant: int
    n_clusters: int


_BATCH_BELOW = 8  # teams this large or larger are planned one by one (NumPy's sums change order at 8 terms)
_PLAN_CHUNK = 1024  # teams planned together at most (bounds the teams x organisations x domains temporary)
_SUPPORT_ONE_BY_ONE = 32  # support sessions' firms updated one by one up to this many (NumPy beyond)
_INV_CDF = NormalDist().inv_cdf  # what streams.normal inverts (after its clamp)


def plan_proposals(
    state: State, call: Call, teams: list[list[int]], u_rows: list[list[float]], free: FreeResearchOrgs | None
) -> list[Plan]:
    """The proposal of each team (its lead's uniforms in ``u_rows``), all teams in a few NumPy passes.

    The same numbers as :func:`proposal_quality`, :func:`choose_research_org` (with
    ``free``; -1 when ``free`` is None), :func:`cost_plan` and :func:`grant_for` per team:
    teams of fewer than 8 partners are stacked (:func:`_plan_stacked`), with the same float
    operations in the same order (the sums over the domains as NumPy sums a row, by
    :func:`row_sums`; the sums over partners, fewer than 8 terms, added one by one from the
    left as NumPy does). Grants are worked out in int64 when every product of a cost and
    an aid intensity fits (the same integers as :func:`_grant`'s). Larger teams are
    planned one by one.
    """
    firms = state.firms
    p = state.cfg.behaviour.calls
    by_class = _cost_by_class(p)
    float_costs = np.array(by_class).dtype == np.float64  # integer costs: planned one by one
    units = _aid_units(call)
    quality = [0.0] * len(teams)
    ro = [-1] * len(teams)
    duration: list[int | None] = [None] * len(teams)
    costs: list[list[int]] = [[]] * len(teams)
    grants: list[int | None] = [None] * len(teams)
    n_clusters: list[int | None] = [None] * len(teams)
    small = []
    for i, t in enumerate(teams):
        if len(t) < _BATCH_BELOW:
            small.append(i)
            continue
        quality[i] = proposal_quality(state, t, u_rows[i])
        if free is not None:
            ro[i] = choose_research_org(state, t, free)
    if float_costs and 0 < len(small) == len(teams) <= _PLAN_CHUNK:  # one stacked pass plans every team in full
        return list(map(Plan, *_plan_stacked(state, call, teams, u_rows, free, float_costs)))
    for lo in range(0, len(small), _PLAN_CHUNK):
        part = small[lo : lo + _PLAN_CHUNK]
        stacked = _plan_stacked(state, call, [teams[i] for i in part], [u_rows[i] for i in part], free, float_costs)
        for i, q, r, m, c, g, k in zip(part, *stacked, strict=True):
            quality[i], ro[i], n_clusters[i] = q, r, k
            if m is not None:
                duration[i], costs[i], grants[i] = m, c, g
    plans = []
    for i, t in enumerate(teams):
        if grants[i] is None or n_clusters[i] is None or duration[i] is None:
            sizes = firms.size_class[t].tolist()
            if duration[i] is None:
                duration[i], costs[i] = _cost_plan(p, call, by_class, sizes, u_rows[i])
            if grants[i] is None:
                grants[i] = _grant(call, sizes, costs[i], units)
            if n_clusters[i] is None:
                n_clusters[i] = len(set(state.cluster_of_firm[t].tolist()))
        plans.append(Plan(quality[i], ro[i], duration[i], costs[i], grants[i], n_clusters[i]))
    return plans


def _means32(values: np.ndarray, real: np.ndarray, n: np.ndarray) -> np.ndarray:
    """:func:`_mean32` of each row's first ``n`` float32 ``values`` (fewer than 8 columns), as float64.

    The pads (``~real``) count as 0.0 and come last, so adding them changes no sum.
    """
    values = np.where(real, values, np.float32(0.0))
    total = values[:, 0]
    for k in range(1, values.shape[1]):
        total = total + values[:, k]
    return (total.astype(np.float64) / n).astype(np.float32).astype(np.float64)


def _plan_stacked(
    state: State,
    call: Call,
    teams: list[list[int]],
    u_rows: list[list[float]],
    free: FreeResearchOrgs | None,
    float_costs: bool,
) -> tuple[list, ...]:
    """:func:`plan_proposals` of teams of fewer than 8 partners, stacked in one teams x slots array.

    A shorter team's row is padded with its lead, whose values count as 0.0 where partners
    are summed (last, so no sum changes) and add no size class or cluster; only the
    distances are worked out per team size (their pairwise sums depend on it). Returns,
    per team, the quality, the organisation, the number of clusters, and the duration,
    costs and grant (None when the costs are planned one by one).
    """
    firms = state.firms
    p = state.cfg.behaviour.calls
    n_teams = len(teams)
    lengths = [len(t) for t in teams]
    width = max(lengths)
    n = np.array(lengths, dtype=np.int64)
    flat: list[int] = []  # the teams' slots row after row (one flat list: a cheaper conversion than nested lists)
    for t in teams:
        flat += t
        if len(t) < width:
            flat += [t[0]] * (width - len(t))
    members = np.array(flat, dtype=np.int64).reshape(n_teams, width)  # (teams, slots)
    real = np.arange(width) < n[:, None]
    u = np.fromiter(chain.from_iterable(u_rows), dtype=np.float64).reshape(n_teams, -1)  # (teams, 5)
    # (domains, slots, teams) float32: the profiles domain by domain, slot by slot
    prof = state.profile_columns(members.T.ravel()).reshape(state.n_domains, width, n_teams)
    mean_d = np.zeros(n_teams)
    if width > 1:  # proposal_quality's distance matrix (every slot pair at once), its float32 sum and mean
        d_all = 0.5 * row_sums(np.abs(prof[:, :, None, :] - prof[:, None, :, :]))  # (slots, slots, teams)
    for k in sorted(set(lengths)):  # the sum of a team's k x k distances depends on k: team size by team size
        if k < 2:
            continue
        rows = (n == k).nonzero()[0]
        d = d_all[:k, :k, rows] if rows.size < n_teams else d_all[:k, :k]
        d = np.ascontiguousarray(d).reshape(k * k, rows.size)
        mean_d[rows] = (row_sums(d) / (k * (k - 1))).astype(np.float64)
    # streams.normal of each noise uniform (the same clamp, then the inverse CDF)
    clamped = np.minimum(np.maximum(u[:, _NOISE], 1e-300), 1.0 - 2.0**-53).tolist()
    normals = np.array(list(map(_INV_CDF, clamped)))
    q = (
        0.5 * _means32(firms.knowledge[members], real, n)
        + 0.25 * _means32(firms.absorptive[members], real, n)
        + 0.25 * nooteboom_value(mean_d)
        + p.quality_noise * normals
    )
    quality = np.clip(q, 0.0, 1.0).tolist()  # min(max(q, 0), 1) (q is never -0.0 or NaN)
    # the clusters the partners' domains lie in, counted row by row (sorted, then the changes;
    # a pad repeats the lead's)
    clusters = np.sort(state.cluster_of_firm[members], axis=1)
    n_clusters = ((clusters[:, 1:] != clusters[:, :-1]).sum(axis=1) + 1).tolist()
    durations: list = [None] * n_teams
    costs: list = [None] * n_teams
    grants: list = [None] * n_teams
    if float_costs:
        sizes = firms.size_class[members]
        durations, costs = _cost_plans(p, call, np.array(_cost_by_class(p)), sizes, real, u)
        units = _aid_units(call)
        flat_cents = [x for c in costs for x in c]
        exact_below = ((1 << 63) - 1) // max(1, *units)  # costs whose products with the units fit in int64
        if flat_cents and min(flat_cents) >= 0 and max(flat_cents) < exact_below:
            cents_table = np.zeros((n_teams, width), dtype=np.int64)
            cents_table[real] = flat_cents
            shares = (cents_table * np.array(units, dtype=np.int64)[sizes]) // SHARE_UNIT
            grants = shares.sum(axis=1).tolist()
        else:
            grants = [_grant(call, sz[:k], c) for sz, k, c in zip(sizes.tolist(), lengths, costs, strict=True)]
    ro = [-1] * n_teams
    if free is not None and free.ids.size:  # FreeResearchOrgs.best_for, team by team
        padded = np.where(real.T[None, :, :], prof, np.float32(0.0))
        total = padded[:, 0]
        for k in range(1, width):  # the sum over partners (axis 0 of a team's rows): row by row
            total = total + padded[:, k]
        # (organisations, teams): each fit summed over the domains as NumPy sums a row
        need = total / n.astype(np.float32)
        fit = row_sums(np.minimum(np.ascontiguousarray(free.profiles.T)[:, :, None], need[:, None, :]))
        ro = free.ids[np.argmax(fit, axis=0)].tolist()
    return quality, ro, durations, costs, grants, n_clusters


def run_call(state: State, call: Call) -> None:
    """Close ``call``: collect proposals, pre-screen, rank, fund in order, start projects.

    The leads' teams are formed first as if no proposal were withdrawn, and their proposals
    planned together (:func:`plan_proposals`); then the leads are taken in order for real,
    with the CMOs' pre-screens. A withdrawal leaves its partners with fewer proposals than
    guessed, which changes a later team only if the cap on proposals per firm turned
    someone away when it was guessed: those teams are formed again (and any team after one
    that came out different), and a different team is planned on its own.
    """
    firms = state.firms
    eligible = eligible_mask(state, call)
    everyone = np.flatnonzero(eligible)
    firms.proposals_in_call[:] = 0
    leads = draw_leads(state, call, eligible)
    draws = lead_draws(state, call, leads, everyone)
    leads = leads.tolist()
    needs_ro = call.cfg.min_ro_share > 0
    free = FreeResearchOrgs(state)
    makes = not needs_ro or free.ids.size > 0  # a team finds a research organisation iff one is free
    cap = call.cfg.max_proposals_per_firm
    guessed: list[list[int]] = []
    capped: list[bool] = []
    counts: defaultdict[int, int] = defaultdict(int)
    for row, lead in enumerate(leads):
        if counts[lead] >= cap:
            guessed.append([])
            capped.append(True)
            continue
        team, hit = _form(state, call, lead, eligible, everyone, draws, row, counts)
        if team and makes:
            for f in team:
                counts[f] += 1
        guessed.append(team)
        capped.append(hit)
    rows = [row for row, team in enumerate(guessed) if team] if makes else []
    u_rows = draws.u_rows
    ro_free = free if needs_ro else None
    planned = plan_proposals(state, call, [guessed[r] for r in rows], [u_rows[r] for r in rows], ro_free)
    plan_of = dict(zip(rows, planned, strict=True))
    proposals: list[Proposal] = []
    counts = defaultdict(int)
    formed: list[int] = []  # their firms: in a proposal (read after the call only)
    as_guessed = True  # every team so far as guessed (so no firm has more proposals than guessed)
    fewer = False  # some proposal withdrawn: its partners have fewer proposals than guessed
    for row, lead in enumerate(leads):
        team = guessed[row]
        if not as_guessed or (fewer and capped[row]):
            real = [] if counts[lead] >= cap else _form(state, call, lead, eligible, everyone, draws, row, counts)[0]
            if real != team:
                as_guessed = False
                team = real
        if not team or not makes:
            continue
        plan = plan_of[row] if team == guessed[row] else plan_proposals(state, call, [team], [u_rows[row]], ro_free)[0]
        prop = Proposal(
            call=call.cfg.name,
            line=call.line,
            month=state.month,
            lead=lead,
            partners=team,
            ro=plan.ro,
            duration=plan.duration,
            firm_cost_cents=plan.costs,
            quality=plan.quality,
        )
        prop.requested_grant_cents = plan.grant
        prop.n_clusters = plan.n_clusters
        formed.extend(team)
        state.proposals.append(prop)
        if not prescreen(state, prop):
            prop.withdrawn = True
            call.withdrawn += 1
            fewer = True
            continue
        for f in team:
            counts[f] += 1
        proposals.append(prop)
    firms.in_proposal[formed] = True
    for f, k in counts.items():
        firms.proposals_in_call[f] = k
    call.submitted = len(proposals)
    # The evaluation: admitted if the score reaches the threshold; ranked by score (ties
    # broken by the random order of the leads).
    threshold = max(call.cfg.min_quality, state.cfg.behaviour.calls.admission_quality)
    admitted = [p for p in proposals if p.quality >= threshold]
    for prop in admitted:
        prop.admitted = True
    call.admitted = len(admitted)
    call.ranking = sorted(admitted, key=lambda p: -p.quality)
    fund_ranking(state, call)


def fund_ranking(state: State, call: Call) -> int:
    """Fund the call's admitted proposals in rank order while they fit; return how many.

    Funding stops at the first proposal whose grant exceeds the call's balance (it and
    those below wait for a top-up). A proposal whose research organisation has filled up
    takes the best-fitting one with spare capacity, or is passed over.
    """
    funded = 0
    while call.next_rank < len(call.ranking):
        prop = call.ranking[call.next_rank]
        grant = prop.requested_grant_cents
        if grant > call.account.balance:
            break
        call.next_rank += 1
        if prop.ro >= 0 and state.ros.active[prop.ro] >= state.ros.capacity[prop.ro]:  # it has filled up
            prop.ro = choose_research_org(state, prop.partners)
            if prop.ro < 0:
                continue
        call.account.spend(grant)
        prop.grant_cents = grant
        prop.funded = True
        prop.funded_month = state.month
        call.funded += 1
        funded += 1
        start_project(state, call, prop)
    return funded


def start_project(state: State, call: Call, prop: Proposal) -> None:
    """A funded project starts: ties, indicators, capacity, and its end is scheduled."""
    firms = state.firms
    month = state.month
    lead = prop.lead
    # a few partners: their numbers read one by one as Python ints (ndarray.item), no NumPy scalars
    cluster_of_firm, member_of, domain = state.cluster_of_firm, firms.member_of, firms.primary_domain
    cluster_idx = cluster_of_firm.item(lead)
    cluster_id = state.cmos[cluster_idx].cluster_id
    benefit = state.cfg.behaviour.membership.benefits["funded_project"]
    for f in prop.partners:
        if firms.first_grant.item(f) < 0:
            firms.first_grant[f] = month
        state.benefit[f] += benefit
        if prop.ro >= 0:
            if firms.first_ro_cooperation.item(f) < 0:
                firms.first_ro_cooperation[f] = month
            state.ledger.add(month, FIRM_RO, PROJECT, f, prop.ro, cluster_id)
    lead_member = member_of.item(lead) >= 0
    lead_domain = domain.item(lead)
    add_firm_firm = state.ledger.add_firm_firm  # ledger.add of a firm-firm tie of outcome 1, its hot path
    for f in prop.partners[1:]:
        add_firm_firm(
            month,
            PROJECT,
            lead,
            f,
            cluster_id,
            lead_domain != domain.item(f),
            cluster_of_firm.item(f) != cluster_idx,
            lead_member and member_of.item(f) >= 0,
        )
    if prop.ro >= 0:
        state.ros.active[prop.ro] += 1
        state.ros.collaborations[prop.ro] += len(prop.partners)
    state.projects.append(
        {
            "call": call.cfg.name,
            "line": call.line,
            "month": month,
            "lead": prop.lead,
            "n_firms": len(prop.partners),
            "research_org": prop.ro,
            "duration_months": prop.duration,
            "cost_cents": prop.cost_cents,
            "grant_cents": prop.grant_cents,
            "quality": prop.quality,
            "prescreened": prop.prescreened,
            "in_report_window": state.in_report_window,
        }
    )
    state.schedule(month + prop.duration, finish_project, state, prop)


def finish_project(state: State, prop: Proposal) -> None:
    """A project ends: partners learn and innovate more for a while; trust is stored."""
    firms = state.firms
    p = state.cfg.behaviour.calls
    knowledge, absorptive = firms.knowledge, firms.absorptive
    rate, one = np.float32(p.knowledge_gain), np.float32(1.0)  # float32 arithmetic, as on the arrays
    boost_until = state.month + p.innovation_boost_months - 1  # this month and the next months - 1
    boost = firms.innovation_boost_until
    for f in prop.partners:  # a few partners: one by one, no array call (each knowledge read once)
        kf = knowledge[f]
        knowledge[f] = kf + rate * absorptive[f] * (one - kf)
        boost[f] = boost_until
    state.ledger.remember_team(state.month, prop.partners, 1.0)  # each pair, as remember in a double loop
    if prop.ro >= 0:
        state.ros.active[prop.ro] -= 1


def support_innovation(state: State) -> int:
    """Remaining innovation hours go to innovation-capacity support of members.

    Each support session (``hours_per_consortium_support``) raises one random member's
    knowledge by ``support_knowledge_gain x absorptive x (1 - knowledge)`` and counts as
    non-financial support. Returns the sessions held. Session ``k`` of a CMO's month draws
    position ``k`` of the CMO's monthly stream ``("support", month, CMO)``, worked out ahead
    for the run's months (:meth:`Streams.entities_ahead`: the same numbers); the CMOs'
    members are disjoint, so all CMOs' firms are updated in one pass (a few firms one by
    one, in float32 as on the arrays).
    """
    beh = state.cfg.behaviour
    hours = beh.cmo.hours_per_consortium_support
    sessions = 0
    picks: list[int] = []
    cmos = state.cmos
    ahead = None  # the CMOs' streams this month, asked for once (when a CMO holds a session)
    if hours <= 0:  # CMO.use holds no session and books nothing
        return 0
    for cmo, members in zip(cmos, state.members_by_cluster, strict=False):
        size = members.size
        if size == 0:
            continue
        # cmo.use("innovation", hours, size), written out; no session books nothing (its hours
        # less 0.0 and its hours used plus 0.0 are the same floats: a sum from 0.0 is never -0.0)
        left = cmo.hours["innovation"]
        n = int(left // hours)
        if n == 0:
            continue
        n = n if n < size else size
        spent = n * hours
        cmo.hours["innovation"] = left - spent
        cmo.hours_used += spent
        if n:  # a handful of sessions: plain Python, each CMO's firms once, in increasing order
            if ahead is None:
                index, ahead = state.streams.entities_ahead(
                    "support", state.month, [c.stream_id for c in cmos], state.n_months
                )
            b = index[cmo.stream_id]
            if n == 1:
                picks.append(members.item(min(int(ahead.first[b] * size), size - 1)))
            else:
                us = Stream(ahead.key(b)).uniform_list(n)
                picks.extend(sorted({members.item(min(int(x * size), size - 1)) for x in us}))
            sessions += n
    if not sessions:
        return 0
    firms = state.firms
    k, absorptive = firms.knowledge, firms.absorptive
    gain = beh.cmo.support_knowledge_gain
    if len(picks) > _SUPPORT_ONE_BY_ONE:
        who = np.array(picks, dtype=np.int64)
        k[who] += (gain * absorptive[who] * (1.0 - k[who])).astype(np.float32)
        state.mark_nonfinancial(who)
        return sessions
    first, month_now = firms.first_nonfinancial, state.month
    for f in picks:  # float32 scalars: the same operations as on the arrays
        kf = k[f]
        k[f] = kf + gain * absorptive[f] * (1.0 - kf)
        if first.item(f) < 0:
            first[f] = month_now
    return sessions
