"""Typed collaboration ties and the trust they build (Cowan, Jonard and Zimmermann 2007).

A tie is a lasting collaboration formed in a given month: firm-firm, firm-research
organisation or firm-international partner. Trust between two firms is the relational
credit of their last joint work, decayed by ``delta`` per month, plus the structural credit
through common partners.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

FIRM_FIRM, FIRM_RO, FIRM_INTERNATIONAL = 0, 1, 2
TIE_KINDS = ("firm_firm", "firm_ro", "firm_international")
ORIGINS = ("brokered", "project", "plenary", "spontaneous", "cmo_link")


def nooteboom_value(distance: np.ndarray | float) -> np.ndarray | float:
    """Value of a tie at cognitive distance ``d`` in [0, 1]: 4 d (1 - d), peak 1 at 0.5."""
    return 4.0 * distance * (1.0 - distance)


class TieLedger:
    """Append-only record of ties plus the pair memory used for trust."""

    def __init__(self, trust_decay: float) -> None:
        """Start empty; ``trust_decay`` is delta, the monthly decay of relational credit."""
        self.delta = trust_decay
        self._cols: dict[str, list[int]] = {
            "month": [],
            "kind": [],
            "origin": [],
            "source": [],
            "target": [],
            "cluster": [],
            "cross_domain": [],
            "cross_cluster": [],
            "members_both": [],
        }
        self._arrays = {k: np.zeros(0, dtype=np.int64) for k in ("month", "kind", "origin", "source", "target")}
        self._last: dict[tuple[int, int], tuple[int, float]] = {}
        self.partners: dict[int, set[int]] = defaultdict(set)

    def __len__(self) -> int:
        """Number of ties recorded."""
        return len(self._cols["month"])

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
        c = self._cols
        c["month"].append(month)
        c["kind"].append(kind)
        c["origin"].append(origin)
        c["source"].append(source)
        c["target"].append(target)
        c["cluster"].append(cluster)
        c["cross_domain"].append(int(cross_domain))
        c["cross_cluster"].append(int(cross_cluster))
        c["members_both"].append(int(members_both))
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
        c = self._cols
        c["month"].append(month)
        c["kind"].append(FIRM_FIRM)
        c["origin"].append(origin)
        c["source"].append(source)
        c["target"].append(target)
        c["cluster"].append(cluster)
        c["cross_domain"].append(1 if cross_domain else 0)
        c["cross_cluster"].append(1 if cross_cluster else 0)
        c["members_both"].append(1 if members_both else 0)
        self._last[(source, target) if source < target else (target, source)] = (month, 1.0)
        self.partners[source].add(target)
        self.partners[target].add(source)

    def remember(self, month: int, i: int, j: int, outcome: float) -> None:
        """Store the outcome of joint work of firms ``i`` and ``j`` in ``month``."""
        key = (i, j) if i < j else (j, i)
        self._last[key] = (month, outcome)
        self.partners[i].add(j)
        self.partners[j].add(i)

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

    def columns(self, start: int = 0) -> dict[str, np.ndarray]:
        """The ties from row ``start`` on, as arrays (month, kind, origin, source, target).

        The arrays of the rows already asked for are kept (the ledger only grows), so each
        row is converted once; the caller gets copies.
        """
        done = self._arrays["month"].size
        if done < len(self):
            c = self._cols
            self._arrays = {
                k: np.concatenate([a, np.asarray(c[k][done:], dtype=np.int64)]) for k, a in self._arrays.items()
            }
        return {k: a[start:].copy() for k, a in self._arrays.items()}

    def to_frame(self) -> pd.DataFrame:
        """All ties as a tidy table (one row per tie)."""
        c = self._cols
        return pd.DataFrame(
            {
                "month": np.asarray(c["month"], dtype=np.int32),
                "kind": pd.Categorical.from_codes(np.asarray(c["kind"], dtype=np.int8), categories=list(TIE_KINDS)),
                "origin": pd.Categorical.from_codes(np.asarray(c["origin"], dtype=np.int8), categories=list(ORIGINS)),
                "source": np.asarray(c["source"], dtype=np.int64),
                "target": np.asarray(c["target"], dtype=np.int64),
                "cluster": np.asarray(c["cluster"], dtype=np.int16),
                "cross_domain": np.asarray(c["cross_domain"], dtype=bool),
                "cross_cluster": np.asarray(c["cross_cluster"], dtype=bool),
                "members_both": np.asarray(c["members_both"], dtype=bool),
            }
        )
