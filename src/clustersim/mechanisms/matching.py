"""Collaboration ties: brokered introductions, plenary meetings and spontaneous ties.

Candidates are sampled, never scanned: an introduction looks at
``candidates_per_introduction`` firms, so the cost is O(introductions), not O(N^2).

Brokerage follows the member's need, not the cluster boundary. A member looking for a
partner needs one of its own domain, of a related domain (the region's families of
domains, ``region.domain_families``: related variety, Frenken, Van Oort and Verburg 2007,
*Regional Studies* 41(5)), or of any other domain. A CMO that covers the needed domain
searches among its own members of that domain; otherwise it refers the member to the CMO
that covers it, which succeeds with probability ``referral_success`` (CMO-CMO
cooperation). So under any partition every tie is possible; the partition changes how far
a CMO's own brokerage reaches. Plenary meetings gather every cluster; their introductions
use the business-opportunity hours the CMOs' staff spend on them.
"""

from __future__ import annotations

from itertools import accumulate

import numpy as np

from clustersim.cmo import CMO
from clustersim.network import FIRM_RO, ORIGINS, nooteboom_value
from clustersim.population import cognitive_distance
from clustersim.state import State
from clustersim.streams import child_key_table, child_keys_of, sample_without_replacement, uniforms_at

BROKERED = ORIGINS.index("brokered")
PLENARY = ORIGINS.index("plenary")
SPONTANEOUS = ORIGINS.index("spontaneous")

# positions of the uniforms of one introduction (one row of the CMO's monthly block)
_MEMBER, _KIND, _NEED, _PAST, _REFERRAL, _SUCCESS, _CANDIDATES = range(7)
# months of brokers' uniforms and of spontaneous meetings drawn at once (a Piedmont run's 144: one batch
# for the whole run, unless the CMOs change or a month needs more rows)
_AHEAD_MONTHS = 144
# expected spontaneous meetings worked out at once, at most: a Piedmont run's 700 in one batch, the whole
# region's 24,700 in seven (their candidates' profiles, 12 domains x 5 candidates x 4 bytes a meeting,
# and the ties as Python tuples until their month: 1.5 MB off the region's peak)
_MEETINGS_AHEAD = 4096


def tie_probability(state: State, distance: float, credit: float) -> float:
    """P = p_min + (p_max - p_min) * (w * 4d(1-d) + (1 - w) * credit)."""
    t = state.cfg.behaviour.ties
    score = t.distance_weight * nooteboom_value(distance) + (1.0 - t.distance_weight) * credit
    return t.p_min + (t.p_max - t.p_min) * score


def learn_from_tie(state: State, i: int, j: int, distance: float) -> None:
    """Both partners move toward the frontier by a gain scaled by absorptive capacity."""
    firms = state.firms
    g = state.cfg.behaviour.dynamics.tie_knowledge_gain * nooteboom_value(distance)
    for f in (i, j):
        firms.knowledge[f] += g * firms.absorptive[f] * (1.0 - firms.knowledge[f])


def needed_domain(state: State, i: int, u: float) -> int:
    """The domain firm ``i`` seeks a partner in, from one uniform ``u``.

    Own primary domain with probability ``need_own_domain_share``; otherwise a related
    domain (same family, uniformly) with probability ``need_related_share`` when its family
    has other domains, else any other domain, uniformly.
    """
    t = state.cfg.behaviour.ties
    own = int(state.firms.primary_domain[i])
    if u < t.need_own_domain_share:
        return own
    fam = state.taxonomy.families
    related = np.flatnonzero(fam == fam[own])
    related = related[related != own]
    low = t.need_own_domain_share
    if related.size:
        width = (1.0 - low) * t.need_related_share
        if u < low + width:
            return int(related[min(int((u - low) / width * related.size), related.size - 1)])
        low += width
    if low >= 1.0:
        return own
    others = [d for d in range(fam.size) if d != own]
    return others[min(int((u - low) / (1.0 - low) * len(others)), len(others) - 1)]


def best_partner(state: State, i: int, candidates: np.ndarray, past_first: bool) -> tuple[int, float, float]:
    """Pick a partner for firm ``i``; return (j, distance, credit), j = -1 if none.

    With ``past_first`` and past partners, they are the candidates (trust: past partners
    are asked first); otherwise ``candidates``. The chosen one maximises
    ``w * 4d(1-d) + (1 - w) * credit``.
    """
    w = state.cfg.behaviour.ties.distance_weight
    ledger = state.ledger
    past = ledger.partners.get(i)
    if past and past_first:
        cands = sorted(past)
    else:
        cands = candidates.tolist()
    cands = [j for j in cands if j != i]
    if not cands:
        return -1, 0.0, 0.0
    d = cognitive_distance(state.firms.profile.take(cands, axis=0), state.firms.profile[i])
    plain = (w * nooteboom_value(d)).tolist()  # float32, then each score in float64
    trusted = i in ledger.partners  # no past partner: neither relational nor structural credit
    best, best_score, best_credit = 0, -np.inf, 0.0
    for k, j in enumerate(cands):
        credit = ledger.credit(state.month, i, j) if trusted else 0.0
        score = plain[k] + (1.0 - w) * credit
        if score > best_score:  # the first of equal scores, as argmax
            best, best_score, best_credit = k, score, credit
    return cands[best], float(d[best]), best_credit


def form_firm_tie(state: State, i: int, j: int, d: float, credit: float, origin: int, u: float) -> bool:
    """Turn an introduction of ``i`` and ``j`` into a lasting tie if ``u`` < its chance."""
    if u >= tie_probability(state, d, credit):
        return False
    add_firm_tie(state, i, j, origin, d)
    gain = state.cfg.behaviour.membership.benefits["tie"]
    state.benefit[i] += gain
    state.benefit[j] += gain
    return True


def add_firm_tie(state: State, i: int, j: int, origin: int, distance: float) -> None:
    """Record a firm-firm tie (credited to ``i``'s cluster) and let both partners learn."""
    firms = state.firms
    cluster_of, primary, member_of = state.cluster_of_firm, firms.primary_domain, firms.member_of
    ci = cluster_of.item(i)  # .item: a Python int, cheaper than an array scalar
    state.ledger.add_firm_firm(
        state.month,
        origin,
        i,
        j,
        state.cmos[ci].cluster_id,
        primary.item(i) != primary.item(j),
        ci != cluster_of.item(j),
        member_of.item(i) >= 0 and member_of.item(j) >= 0,
    )
    # learn_from_tie, inlined: float32 scalars, as there (each knowledge read once)
    knowledge, absorptive = firms.knowledge, firms.absorptive
    g = state.cfg.behaviour.dynamics.tie_knowledge_gain * (4.0 * distance * (1.0 - distance))
    k = knowledge[i]
    knowledge[i] = k + g * absorptive[i] * (1.0 - k)
    k = knowledge[j]
    knowledge[j] = k + g * absorptive[j] * (1.0 - k)


_NO_CANDIDATES = np.zeros(0, dtype=np.int64)  # for best_partner when it asks the past partners (it reads none)


def _pick(pool: np.ndarray, us: list[float]) -> np.ndarray:
    return pool[np.minimum((np.asarray(us) * pool.size).astype(np.int64), pool.size - 1)]


_DOMAIN_TABLES: dict[bytes, tuple[list[tuple[int, ...]], list[tuple[int, ...]]]] = {}


def _domain_tables(state: State) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Per domain: its related domains (same family, itself excluded) and every other domain (cached)."""
    fam = state.taxonomy.families
    cached = _DOMAIN_TABLES.get(fam.tobytes())
    if cached is not None:
        return cached
    n = fam.size
    related = [tuple(int(d) for d in np.flatnonzero(fam == fam[own]) if d != own) for own in range(n)]
    others = [tuple(d for d in range(n) if d != own) for own in range(n)]
    _DOMAIN_TABLES[fam.tobytes()] = (related, others)
    return related, others


def _broker_uniforms(state: State, plan: list, width: int) -> np.ndarray:
    """The month's rows of uniforms: each planned CMO's first ``n`` rows, in plan order.

    Row k of a CMO in a month is the same function of its stream whenever it is drawn, so
    the rows of every CMO for up to ``_AHEAD_MONTHS`` months are drawn in one batch and kept in
    ``state.broker_ahead`` (by month: the rows, each CMO's first row, rows per CMO); a
    month, CMO or row not in the batch draws a new batch from this month on, with twice
    the rows this month's busiest CMO needs.
    """
    month = state.month
    entry = state.broker_ahead.get(month)
    if entry is not None:
        rows, first, n_rows = entry
        if rows.shape[1] == width:
            at: list[int] = []
            for cmo, _, n in plan:
                b = first.get(cmo.stream_id)
                if b is None or n > n_rows:
                    break
                at += range(b, b + n)
            else:
                return rows.take(at, axis=0)
    n_rows = 2 * max(n for _, _, n in plan)
    months = range(month, max(month + 1, min(month + _AHEAD_MONTHS, state.n_months)))
    ids = list(dict.fromkeys([cmo.stream_id for cmo in state.cmos] + [cmo.stream_id for cmo, _, _ in plan]))
    # the keys of stream("broker", m) of the months, then of the CMOs' monthly streams
    month_keys = child_keys_of(state.streams.stream("broker").key, np.arange(months.start, months.stop))
    keys = child_key_table(month_keys.tolist(), ids)
    block = uniforms_at(keys.ravel(), np.arange(n_rows * width)).reshape(len(months), len(ids) * n_rows, width)
    first = {sid: b * n_rows for b, sid in enumerate(ids)}
    state.broker_ahead = {m: (block[a], first, n_rows) for a, m in enumerate(months)}
    return _broker_uniforms(state, plan, width)


def broker_introductions(state: State) -> int:
    """CMOs spend business-opportunity hours on introductions; return ties formed.

    Each introduction takes ``hours_per_introduction`` and has one row of uniforms of the
    CMO's monthly stream (keyed by the CMO's domains), so the k-th introduction of a CMO
    draws the same numbers in every arm. A share ``ro_introduction_share`` introduces the
    member to a research organisation; the others look for a firm in the needed domain
    (:func:`needed_domain`), in-house or by referral.

    What does not depend on earlier introductions of the month (the member, the needed
    domain, the sampled candidates and their distances, the research organisations
    proposed) is computed for all of a CMO's introductions at once, and so are the
    distances to the past partners of those who will ask them first, as they stand at the
    start of the month; trust and past partners, which earlier ties change, are read
    introduction by introduction, in order.
    """
    t = state.cfg.behaviour.ties
    hours_each = state.cfg.behaviour.cmo.hours_per_introduction
    benefits = state.cfg.behaviour.membership.benefits
    c_n = t.candidates_per_introduction
    width = _CANDIDATES + max(c_n, 1)
    w = t.distance_weight
    w_trust = 1.0 - w
    p_min, p_span = t.p_min, t.p_max - t.p_min
    month = state.month
    formed = 0
    firms = state.firms
    ledger = state.ledger
    partners = ledger.partners
    related, others = _domain_tables(state)
    # the gains as Python floats (made float32 all at once, the same numbers)
    g_intro = float(benefits["introduction"])
    g_tie = float(benefits["tie"])
    gains_at: list[int] = []
    gains: list[float] = []
    if hours_each <= 0:  # CMO.use holds no introduction and books nothing
        return 0
    plan = []  # the CMOs' introductions this month: hours first (they do not depend on the outcomes)
    for cmo, members in zip(state.cmos, state.members_by_cluster, strict=False):
        size = members.size
        if size == 0:
            continue
        # cmo.use("business_opportunities", hours_each, size), written out: the same operations
        hours = cmo.hours
        left = hours["business_opportunities"]
        n = int(left // hours_each)
        n = n if n < size else size  # min(size, n), as the builtin picks it
        spent = n * hours_each
        hours["business_opportunities"] = left - spent
        cmo.hours_used += spent
        cmo.totals["introductions"] += n
        if n:
            plan.append((cmo, members, n))
    if not plan:
        return 0
    # one row of uniforms per introduction: row k of the CMO's monthly stream, in plan order
    u_block = _broker_uniforms(state, plan, width)
    u_rows = u_block.tolist()
    # the member of each introduction: min(int(u * size), size - 1) in its CMO's members
    # (a few a month: plain Python beats numpy's calls on tiny arrays)
    who_l = []
    r = 0
    for _, members, n in plan:
        size = members.size
        for u in u_rows[r : r + n]:
            k = int(u[_MEMBER] * size)
            who_l.append(members.item(k if k < size else size - 1))
        r += n
    who = np.array(who_l, dtype=np.int64)
    first_service = firms.first_nonfinancial  # state.mark_nonfinancial, inlined
    first_service[who[first_service[who] < 0]] = month
    primary = firms.primary_domain[who].tolist()
    # in one pass: the needed domain of each introduction (needed_domain with the domain's tables
    # precomputed: the same arithmetic), those sent to a research organisation, and the past partners
    # of those who will ask them first, as they stand now: their distances are worked out with the
    # candidates' (an introduction after which the firm gains a partner asks best_partner)
    ro_share, past_first, referral = t.ro_introduction_share, t.past_partner_first, t.referral_success
    low = t.need_own_domain_share
    width_related = (1.0 - low) * t.need_related_share
    low_related = low + width_related
    needs = []
    to_ro = []
    past_at: dict[int, tuple[list[int], int, int]] = {}  # row -> (partners but i, how many i has, first pair)
    past_i: list[int] = []
    past_j: list[int] = []
    n_pairs = len(u_rows) * c_n  # the candidates' pairs come first
    for r, (i, own, u) in enumerate(zip(who_l, primary, u_rows, strict=True)):
        x = u[_NEED]
        if x < low:
            needs.append(own)
        elif rel := related[own]:
            if x < low_related:
                needs.append(rel[min(int((x - low) / width_related * len(rel)), len(rel) - 1)])
            elif low_related >= 1.0:
                needs.append(own)
            else:
                oth = others[own]
                needs.append(oth[min(int((x - low_related) / (1.0 - low_related) * len(oth)), len(oth) - 1)])
        elif low >= 1.0:
            needs.append(own)
        else:
            oth = others[own]
            needs.append(oth[min(int((x - low) / (1.0 - low) * len(oth)), len(oth) - 1)])
        if u[_KIND] < ro_share:
            to_ro.append(r)
        elif u[_PAST] < past_first and (past := partners.get(i)):
            ask = [j for j in sorted(past) if j != i]
            past_at[r] = (ask, len(past), n_pairs + len(past_j))
            past_i += [i] * len(ask)
            past_j += ask
    # candidates of every introduction, from its needed domain's members, and their scores without trust
    pools = state.members_by_domain
    pool_size = [pool.size for pool in pools]
    # the needed domain's size and first position in all members by domain, for each introduction
    need_at = np.array(needs, dtype=np.int64)
    size_of = np.array(pool_size, dtype=np.int64)[need_at][:, None]
    # min(int(u * size), size - 1), from the first position of the domain's members
    candidate_at = np.minimum((u_block[:, _CANDIDATES : _CANDIDATES + c_n] * size_of).astype(np.int64), size_of - 1)
    candidate_at += np.array(list(accumulate(pool_size, initial=0)), dtype=np.int64)[need_at][:, None]
    # (all members by domain: the pools one after another; nobody to propose (size 0): the position
    # before, valid and never read)
    cands = state.members_by_domain_flat[candidate_at]
    cands_l = cands.tolist()
    # one distance per (firm, candidate) pair, candidates first (row r's k-th at r * c_n + k)
    pair_i = who.repeat(c_n)  # the method: np.repeat calls it
    pair_j = cands.ravel()
    if past_j:
        pair_i = np.concatenate([pair_i, past_i])
        pair_j = np.concatenate([pair_j, past_j])
    # cognitive_distance, worked out in place (take: the rows as indexing gives them, 4 times faster)
    diff = firms.profile.take(pair_j, axis=0)
    diff -= firms.profile.take(pair_i, axis=0)
    d = np.abs(diff, out=diff).sum(axis=-1)
    d *= 0.5
    plain_l = (w * nooteboom_value(d)).tolist()  # float32, as best_partner computes it
    d_l = d.tolist()
    offered = research_organisation_offers(state, [who_l[r] for r in to_ro], [u_rows[r] for r in to_ro])
    offers = dict(zip(to_ro, offered, strict=True))
    first = 0
    for cmo, _, n in plan:
        domains = cmo.domains  # a few domains: a list is searched as fast as a set is made
        for r in range(first, first + n):
            u = u_rows[r]
            i = who_l[r]
            gains_at.append(i)
            gains.append(g_intro)
            if u[_KIND] < ro_share:
                if introduce_research_organisation(state, i, cmo, BROKERED, u, apply_gain=False, offer=offers[r]):
                    gains_at.append(i)
                    gains.append(g_tie)
                    formed += 1
                continue
            need = needs[r]
            if need not in domains and u[_REFERRAL] >= referral:
                continue  # the referral to the CMO of that domain came to nothing
            past = partners.get(i)
            if past and u[_PAST] < past_first:
                ask = past_at.get(r)
                if ask is None or len(past) != ask[1]:  # partners gained this month: not in the pass
                    j, dist, credit = best_partner(state, i, _NO_CANDIDATES, True)
                else:  # best_partner's choice, with the distances of the pass
                    row, _, at = ask
                    if not row:
                        continue
                    best_k, best_score, credit = 0, -np.inf, 0.0
                    for k, cr in enumerate(ledger.credits(month, i, row)):
                        score = plain_l[at + k] + w_trust * cr
                        if score > best_score:
                            best_k, best_score, credit = k, score, cr
                    j, dist = row[best_k], d_l[at + best_k]
            elif not pool_size[need]:
                continue
            else:  # the candidate of the best score, the first of equal ones; trust from past work counts
                row = cands_l[r]
                at = r * c_n
                if i not in partners and i not in row:
                    # no credit (no past partner) and no candidate to skip: the first of the best
                    # plain scores (score = plain + 0.0 compares the same)
                    plain = plain_l[at : at + c_n]
                    best_k = plain.index(max(plain))
                    j, dist, credit = row[best_k], d_l[at + best_k], 0.0
                else:
                    # credit needs past work of both (relational or through a common partner)
                    crs = ledger.credits(month, i, row) if i in partners else [0.0] * c_n
                    best_k, best_score, credit = -1, -np.inf, 0.0
                    for k in range(c_n):
                        if row[k] == i:
                            continue
                        cr = crs[k]
                        score = plain_l[at + k] + w_trust * cr
                        if score > best_score:
                            best_k, best_score, credit = k, score, cr
                    if best_k < 0:
                        continue
                    j, dist = row[best_k], d_l[at + best_k]
            # tie_probability, inlined
            if j < 0 or u[_SUCCESS] >= p_min + p_span * (w * (4.0 * dist * (1.0 - dist)) + w_trust * credit):
                continue
            add_firm_tie(state, i, j, BROKERED, dist)
            gains_at += (i, j)
            gains += (g_tie, g_tie)
            formed += 1
        first += n
    if gains_at:  # float32 additions in the order the introductions made them
        np.add.at(state.benefit, np.asarray(gains_at, dtype=np.int64), np.asarray(gains, dtype=np.float32))
    return formed


def research_organisation_offers(state: State, firm_ids: list[int], us: list[list[float]]) -> list[tuple[int, float]]:
    """The research organisation proposed to each firm, and its fit (all at once).

    For firm ``firm_ids[k]``, ``candidates_per_introduction`` organisations are sampled
    (distinct, from the uniforms ``us[k]``); the proposal is the one whose profile fits the
    firm's best, ``sum(min(ro profile, firm profile))``, the first of equal ones.
    """
    if not firm_ids:
        return []
    ros = state.ros
    n_ros = ros.n
    k = min(n_ros, state.cfg.behaviour.ties.candidates_per_introduction)
    picks = [sample_without_replacement(u[_CANDIDATES : _CANDIDATES + k], n_ros) for u in us]
    # each firm's fit to the organisations sampled for it (each fit the same sum of one row as among all
    # organisations; the samples' profiles gathered by a flat list, faster than a list of lists)
    profiles = ros.profiles.take([r for pick in picks for r in pick], axis=0).reshape(len(picks), k, -1)
    fits = np.minimum(profiles, state.firms.profile.take(firm_ids, axis=0)[:, None, :], out=profiles)
    offers = []
    for pick, fit in zip(picks, fits.sum(axis=-1).tolist(), strict=True):
        best = fit.index(max(fit))  # the first of equal fits
        offers.append((pick[best], fit[best]))
    return offers


def introduce_research_organisation(
    state: State,
    i: int,
    cmo: CMO,
    origin: int,
    u: list[float],
    apply_gain: bool = True,
    offer: tuple[int, float] | None = None,
) -> int:
    """Introduce firm ``i`` to a research organisation; return 1 if a tie forms.

    The organisation proposed is :func:`research_organisation_offers`' (or ``offer``, if
    already computed), and the tie forms with a chance rising with the firm's absorptive
    capacity and the fit. Without ``apply_gain`` the caller adds the tie's benefit to the
    firm (in its own order of additions).
    """
    t = state.cfg.behaviour.ties
    r, fit = offer if offer is not None else research_organisation_offers(state, [i], [u])[0]
    p = t.p_min + (t.p_max - t.p_min) * 0.5 * (state.firms.absorptive.item(i) + fit)
    if u[_SUCCESS] >= p:
        return 0
    state.ledger.add(state.month, FIRM_RO, origin, i, r, cmo.cluster_id)
    state.ros.collaborations[r] += 1
    if apply_gain:
        state.benefit[i] += state.cfg.behaviour.membership.benefits["tie"]
    return 1


def plenary_introductions(state: State) -> int:
    """At a plenary the CMOs' staff introduce members to members of the other clusters.

    Each CMO spends ``plenary_hours_per_fte`` hours per FTE of its staff (at most its
    business-opportunity hours of the month) on introductions of ``hours_per_introduction``
    each, so the plenary's reach follows the staff time spent on it, not the number of
    CMOs. Partners are sampled among all members of the other clusters.
    """
    t = state.cfg.behaviour.ties
    hours_each = state.cfg.behaviour.cmo.hours_per_introduction
    c_n = t.candidates_per_introduction
    width = 2 + max(c_n, 1)
    formed = 0
    for c, cmo in enumerate(state.cmos):
        members = state.members_by_cluster[c]
        others = state.members[state.firms.member_of[state.members] != c]
        if members.size == 0 or others.size == 0:
            continue
        wanted = int(t.plenary_hours_per_fte * cmo.staff_fte * (cmo.hours_available > 0) // hours_each)
        n = cmo.use("business_opportunities", hours_each, wanted)
        if n == 0:
            continue
        rows = state.streams.stream("plenary", state.month, cmo.stream_id).uniforms(n * width).reshape(n, width)
        for u in rows.tolist():
            i = int(members[min(int(u[0] * members.size), members.size - 1)])
            state.mark_nonfinancial(i)
            j, d, credit = best_partner(state, i, _pick(others, u[2 : 2 + c_n]), past_first=False)
            if j >= 0 and form_firm_tie(state, i, j, d, credit, PLENARY, u[1]):
                formed += 1
    return formed


def spontaneous_ties(state: State) -> int:
    """Ties that form without any CMO, among all firms (vectorised).

    About ``spontaneous_tie_rate * N`` firms a month meet ``candidates_per_introduction``
    random firms each and try the best by 4d(1-d); trust plays no part in a first meeting.
    All numbers come from the month's stream in a layout that depends only on N.

    Which meetings end in a tie depends on nothing else (the profiles never change), so
    the meetings of up to ``_AHEAD_MONTHS`` months, and of no more months than expect
    ``_MEETINGS_AHEAD`` meetings in all, are worked out at once and kept in
    ``state.spontaneous_ahead``; each month only records its ties, in the same order.
    """
    t = state.cfg.behaviour.ties
    firms = state.firms
    key = (
        firms.n,
        id(firms.profile),
        t.spontaneous_tie_rate,
        t.candidates_per_introduction,
        t.p_min,
        t.p_max,
        t.distance_weight,
    )
    ahead = state.spontaneous_ahead
    month = state.month
    entry = ahead.pop(month, None)
    if entry is None or entry[0] != key:
        expected = t.spontaneous_tie_rate * firms.n  # meetings a month
        span = _AHEAD_MONTHS if expected * _AHEAD_MONTHS <= _MEETINGS_AHEAD else int(_MEETINGS_AHEAD / expected)
        end = min(month + max(span, 1), state.n_months)
        months = [month]
        for m in range(month + 1, end):
            if m in ahead:  # drawn already: stop there (a month asked for again is drawn alone)
                break
            months.append(m)
        ties = spontaneous_meetings(state, months)
        for m in months[1:]:
            ahead[m] = (key, ties[m])
        entry = (key, ties[month])
    for a, b, dist in entry[1]:
        add_firm_tie(state, a, b, SPONTANEOUS, dist)
    return len(entry[1])


def spontaneous_meetings(state: State, months: list[int]) -> dict[int, list[tuple[int, int, float]]]:
    """The spontaneous ties of each of ``months``: (firm, partner, distance), in order.

    Each month draws from its own stream exactly as if alone; the distances and chances
    of all the months' meetings are then worked out together (row by row, the same numbers).
    """
    t = state.cfg.behaviour.ties
    firms = state.firms
    c_n = t.candidates_per_introduction
    counts, firm_parts, cand_parts, u_parts = [], [], [], []
    for m in months:
        rng = state.streams.draws("spontaneous", m)
        k = int(rng.poisson(t.spontaneous_tie_rate * firms.n))
        counts.append(k)
        if k == 0:
            continue
        # the firms, then their candidates: one call gives the same numbers as the two of sizes k and
        # k * c_n (the second as size=(k, c_n)); NumPy's bounded integers keep no buffer between calls
        # (only the bit generator's, which carries over), checked with NumPy 2.5 on 3,000 keys
        firms_then_candidates = rng.integers(0, firms.n, size=k * (1 + c_n))
        firm_parts.append(firms_then_candidates[:k])
        cand_parts.append(firms_then_candidates[k:])
        u_parts.append(rng.random(k))
    out: dict[int, list[tuple[int, int, float]]] = {m: [] for m in months}
    if not firm_parts:
        return out
    k = sum(counts)
    i = np.concatenate(firm_parts)
    cands = np.concatenate(cand_parts).reshape(k, c_n)
    u = np.concatenate(u_parts)
    diff = firms.profile.take(cands, axis=0)  # distances 0.5 x sum of abs(a - b), worked out in place
    diff -= firms.profile.take(i, axis=0)[:, None, :]
    d = np.abs(diff, out=diff).sum(axis=-1)
    d *= 0.5
    value = nooteboom_value(d)
    value[cands == i[:, None]] = -1.0
    best = np.argmax(value, axis=1)
    rows = np.arange(k)
    j = cands[rows, best]
    db = d[rows, best]
    # the best value is 4d(1-d) of its distance (-1 only if every candidate is the firm itself: no tie)
    p = t.p_min + (t.p_max - t.p_min) * t.distance_weight * value[rows, best]
    ok = ((u < p) & (j != i)).tolist()
    i_l, j_l, d_l = i.tolist(), j.tolist(), db.tolist()
    at = 0
    for m, n in zip(months, counts, strict=True):
        out[m] = [(i_l[r], j_l[r], d_l[r]) for r in range(at, at + n) if ok[r]]
        at += n
    return out
