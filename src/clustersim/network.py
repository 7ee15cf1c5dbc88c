"""Typed collaboration ties and the trust they build (Cowan, Jonard and Zimmermann 2007).

A tie is a lasting collaboration formed in a given month: firm-firm, firm-research
organisation or firm-international partner. Trust between two firms is the relational
credit of their last joint work, decayed by ``delta`` per month, plus the structural credit
through common partners.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import chain

import numpy as np
import pandas as pd

FIRM_FIRM, FIRM_RO, FIRM_INTERNATIONAL = 0, 1, 2
TIE_KINDS = ("firm_firm", "firm_ro", "firm_international")
ORIGINS = ("brokered", "project", "plenary", "spontaneous", "cmo_link")


def nooteboom_value(distance: np.ndarray | float) -> np.ndarray | float:
    """Value of a tie at cognitive distance ``d`` in [0, 1]: 4 d (1 - d), peak 1 at 0.5."""
    return 4.0 * distance * (1.0 - distance)


def _as_array(rows: list[tuple[int, ...]]) -> np.ndarray:
    """The ledger's rows (tuples of nine ints) as an int64 array of shape (rows, 9).

    ``np.array(rows)`` gives the same array; reading the ints from one flat iterator is about
    twice as fast (NumPy converts a list of tuples element by element, checking each tuple).
    """
    return np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=9 * len(rows)).reshape(len(rows), 9)


class TieLedger:
    """Append-only record of ties plus the pair memory used for trust."""

    def __init__(self, trust_decay: float) -> None:
        """Start empty; ``trust_decay`` is delta, the monthly decay of relational credit."""
        self.delta = trust_decay
        # one tuple per tie (month, kind, origin, source, target, cluster, cross_domain,
        # cross_cluster, members_both): one append a tie, columns made when asked for
        self._rows: list[tuple[int, ...]] = []
        self._arrays = {k: np.zeros(0, dtype=np.int64) for k in ("month", "kind", "origin", "source", "target")}
        self._last: dict[tuple[int, int], tuple[int, float]] = {}
        self.partners: dict[int, set[int]] = defaultdict(set)
        self._powers: list[float] = []  # delta ** age by age (credits)

    def __len__(self) -> int:
        """Number of ties recorded."""
        return len(self._rows)

    def add(
        self,
        month: int,
        kind: int,
        origin: int,
        source: int,
        target: int,
        cluster: int,
        cross_domain: bool = False,
        cross_cluster: bool = False,
        members_both: bool = False,
        outcome: float = 1.0,
    ) -> None:
        """Record one tie; firm-firm ties also update the pair memory (trust)."""
        self._rows.append(
            (
                month,
                kind,
                origin,
                source,
                target,
                cluster,
                1 if cross_domain else 0,  # int(flag), without the call
                1 if cross_cluster else 0,
                1 if members_both else 0,
            )
        )
        if kind == FIRM_FIRM:
            self.remember(month, source, target, outcome)

    def add_firm_firm(
        self,
        month: int,
        origin: int,
        source: int,
        target: int,
        cluster: int,
        cross_domain: bool,
        cross_cluster: bool,
        members_both: bool,
    ) -> None:
        """:meth:`add` of a firm-firm tie of outcome 1 (the same rows and memory, fewer calls: the ties' hot path)."""
        self._rows.append(
            (
                month,
                FIRM_FIRM,
                origin,
                source,
                target,
                cluster,
                1 if cross_domain else 0,
                1 if cross_cluster else 0,
                1 if members_both else 0,
            )
        )
        self._last[(source, target) if source < target else (target, source)] = (month, 1.0)
        self.partners[source].add(target)
        self.partners[target].add(source)

    def remember(self, month: int, i: int, j: int, outcome: float) -> None:
        """Store the outcome of joint work of firms ``i`` and ``j`` in ``month``."""
        key = (i, j) if i < j else (j, i)
        self._last[key] = (month, outcome)
        self.partners[i].add(j)
        self.partners[j].add(i)

    def remember_team(self, month: int, team: list[int], outcome: float) -> None:
        """:meth:`remember` of each pair of ``team`` (``team[a]``, ``team[b]``), a < b, in that order.

        The same pair memory and partner sets, made in the same order, with one call a team
        instead of one a pair (a project's end: about ten pairs).
        """
        last, partners = self._last, self.partners
        value = (month, outcome)
        for a in range(len(team) - 1):  # (a firm alone has no pair: no partner set made for it)
            i = team[a]
            pi = partners[i]
            for j in team[a + 1 :]:
                last[(i, j) if i < j else (j, i)] = value
                pi.add(j)
                partners[j].add(i)

    def relational(self, month: int, i: int, j: int) -> float:
        """Relational credit r_ij = delta^(t - t_ij) * outcome of the last joint work."""
        key = (i, j) if i < j else (j, i)
        last = self._last.get(key)
        if last is None:
            return 0.0
        return (self.delta ** (month - last[0])) * last[1]

    def credit(self, month: int, i: int, j: int) -> float:
        """Total credit min(1, r_ij + sum_k r_ik r_kj) over common partners k."""
        ij = self._last.get((i, j) if i < j else (j, i))  # relational(), inlined: a hot path
        r = 0.0 if ij is None else (self.delta ** (month - ij[0])) * ij[1]
        pi, pj = self.partners.get(i), self.partners.get(j)
        s = 0.0
        common = pi & pj if pi and pj else None
        if common:
            last, delta = self._last, self.delta
            for k in sorted(common):  # a fixed order: the same sum in every arm
                # r_ik * r_kj (both pairs have worked together: k is a partner of each)
                m_ik, o_ik = last[(i, k) if i < k else (k, i)]
                m_kj, o_kj = last[(k, j) if k < j else (j, k)]
                s += ((delta ** (month - m_ik)) * o_ik) * ((delta ** (month - m_kj)) * o_kj)
        return min(1.0, r + s)

    def credits(self, month: int, i: int, js: list[int]) -> list[float]:
        """:meth:`credit` of ``i`` with each of ``js``: the same numbers (0.0 for ``i`` and firms without partners).

        The decays ``delta ** age`` are read from a table of the same powers.
        """
        last, partners = self._last, self.partners
        pi = partners.get(i)
        if not pi:
            return [0.0] * len(js)
        pw, delta = self._powers, self.delta
        if month >= len(pw):
            pw += [delta**age for age in range(len(pw), month + 1)]
        out = []
        for j in js:
            pj = partners.get(j)
            if not pj or j == i:  # no past work of j: min(1, 0 + 0)
                out.append(0.0)
                continue
            ij = last.get((i, j) if i < j else (j, i))
            r = 0.0 if ij is None else (pw[a] if (a := month - ij[0]) >= 0 else delta**a) * ij[1]
            s = 0.0
            if not pi.isdisjoint(pj):  # common partners (no set made when there are none)
                for k in sorted(pi & pj):
                    m_ik, o_ik = last[(i, k) if i < k else (k, i)]
                    m_kj, o_kj = last[(k, j) if k < j else (j, k)]
                    a, b = month - m_ik, month - m_kj  # ages (negative, a month after ``month``: not in the table)
                    s += ((pw[a] if a >= 0 else delta**a) * o_ik) * ((pw[b] if b >= 0 else delta**b) * o_kj)
            x = r + s
            out.append(x if x < 1.0 else 1.0)  # min(1.0, x) without the call (the same for every x, NaN too)
        return out

    def columns(self, start: int = 0) -> dict[str, np.ndarray]:
        """The ties from row ``start`` on, as arrays (month, kind, origin, source, target).

        The arrays of the rows already asked for are kept (the ledger only grows), so each
        row is converted once; the caller gets copies.
        """
        done = self._arrays["month"].size
        if done < len(self):
            new = _as_array(self._rows[done:])  # (rows, 9): its first five columns
            self._arrays = {k: np.concatenate([a, new[:, col]]) for col, (k, a) in enumerate(self._arrays.items())}
        return {k: a[start:].copy() for k, a in self._arrays.items()}

    def table_columns(self) -> dict[str, np.ndarray]:
        """All ties as the columns of :meth:`to_frame`, ``kind`` and ``origin`` as their codes (int8).

        The codes index :data:`TIE_KINDS` and :data:`ORIGINS`. The run's summary and its
        Arrow table of ties read these arrays without making the DataFrame.
        """
        rows = _as_array(self._rows)
        return {
            "month": rows[:, 0].astype(np.int32),
            "kind": rows[:, 1].astype(np.int8),
            "origin": rows[:, 2].astype(np.int8),
            "source": rows[:, 3].copy(),
            "target": rows[:, 4].copy(),
            "cluster": rows[:, 5].astype(np.int16),
            "cross_domain": rows[:, 6].astype(bool),
            "cross_cluster": rows[:, 7].astype(bool),
            "members_both": rows[:, 8].astype(bool),
        }

    def to_frame(self) -> pd.DataFrame:
        """All ties as a tidy table (one row per tie); ``kind`` and ``origin`` categorical."""
        columns = self.table_columns()
        columns["kind"] = pd.Categorical.from_codes(columns["kind"], categories=list(TIE_KINDS))
        columns["origin"] = pd.Categorical.from_codes(columns["origin"], categories=list(ORIGINS))
        return pd.DataFrame(columns)
