"""Microdata for researchers: one row per firm and year, one row per proposal.

``firms`` (written as ``firms.parquet``): at the end of each calendar year of the run
(and in its last month) one row per firm with its identity (firm, domain, size class),
its cluster (the key of the CMO it is a member of, or ``none``), whether it is aware and
a member, its booked turnover, the innovations it introduced and the ties it formed in
that year, and whether a policy instrument has reached it so far (``reached``: aware, a
member, in a proposal, or tied to a firm that has been a member). Compact dtypes
(int32/int16/int8/bool/float32, categories) keep the region's 428,457 firms x 12 years
small.

``proposals`` (``proposals.parquet``): every proposal formed for a call, withdrawn ones
included: call, line, month, lead, partner firms, the number of clusters (in force) their domains lie
in, research organisation, cost, requested
grant, quality (after pre-screening), prescreened, withdrawn, admitted (score at or above
the call's threshold), funded, the month it was funded (a top-up funds later), grant.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from clustersim import months
from clustersim.config import SIZE_CLASSES, Config
from clustersim.network import FIRM_FIRM
from clustersim.population import NO_CLUSTER
from clustersim.state import State

FIRM_COLUMNS = (
    "year",
    "firm",
    "domain",
    "size_class",
    "cluster",
    "aware",
    "member",
    "ever_member",
    "turnover_eur",
    "innovations",
    "ties",
    "reached",
)

Sink = Callable[[pa.RecordBatch], None]


def cluster_keys(cfg: Config) -> list[str]:
    """Every CMO key a run of ``cfg`` can have (``none`` first): the cluster dictionary."""
    keys = ["none"]
    in_force: set[frozenset[str]] = set()
    for period in cfg.clusters.periods:
        clusters = {name: frozenset(domains) for name, domains in period.mapping.items()}
        for name in sorted(clusters):
            if not period.relaunch and clusters[name] in in_force:
                continue  # the CMO stays, with its key (mechanisms.configuration)
            key = f"{period.label}/{name}" if period.label else name
            if key not in keys:
                keys.append(key)
        in_force = set(clusters.values())
    return keys


class FirmRecorder:
    """Yearly snapshots of every firm (see the module docstring).

    Each snapshot is one Arrow record batch; static columns (firm, domain, size class)
    are shared by all batches, booleans are bit-packed. With a ``sink`` (e.g. a Parquet
    writer) the batches leave the process as they are made, otherwise they are kept.
    """

    def __init__(self, state: State, sink: Sink | None = None) -> None:
        """Prepare the static columns; no snapshot yet."""
        self.state = state
        self.sink = sink
        self.batches: list[pa.RecordBatch] = []
        f = state.firms
        n = f.n
        self._keys = cluster_keys(state.cfg)
        self._code = {key: code for code, key in enumerate(self._keys)}
        self._static = {
            "firm": pa.array(np.arange(n, dtype=np.int32)),
            "domain": pa.DictionaryArray.from_arrays(
                pa.array(f.primary_domain.astype(np.int8)), pa.array(list(state.taxonomy.names))
            ),
            "size_class": pa.DictionaryArray.from_arrays(
                pa.array(f.size_class.astype(np.int8)), pa.array(list(SIZE_CLASSES))
            ),
        }
        self._cluster_dict = pa.array(self._keys)
        self._ties_seen = 0
        # the ends of every firm-firm tie so far, in ledger order (the ledger only grows)
        self._ff_source = np.zeros(0, dtype=np.int64)
        self._ff_target = np.zeros(0, dtype=np.int64)
        self._innovations_seen = np.zeros(n, dtype=np.int16)

    def snapshot(self) -> None:
        """Record this year's row of every firm (called at the end of the year's last month)."""
        s = self.state
        f = s.firms
        n = f.n
        new = s.ledger.columns(self._ties_seen)
        self._ties_seen += new["month"].size
        new_ff = new["kind"] == FIRM_FIRM
        ends = np.concatenate([new["source"], new["target"][new_ff]])
        ties = np.bincount(ends, minlength=n)
        np.minimum(ties, np.iinfo(np.int16).max, out=ties)  # in place: one array of the region's size fewer
        ties = ties.astype(np.int16)
        # reached through a tie with a firm that has been a member (ties of earlier years
        # count for partners who joined later: recomputed over all firm-firm ties so far)
        self._ff_source = np.concatenate([self._ff_source, new["source"][new_ff]])
        self._ff_target = np.concatenate([self._ff_target, new["target"][new_ff]])
        a, b = self._ff_source, self._ff_target
        tied = np.zeros(n, dtype=bool)
        tied[a[f.ever_member[b]]] = True
        tied[b[f.ever_member[a]]] = True
        innovations = (f.innovations_total - self._innovations_seen).astype(np.int16)
        self._innovations_seen = f.innovations_total.copy()
        member = f.member_of != NO_CLUSTER
        # each firm's cluster code in one look-up: the CMOs' codes, then 0 (``none``) at position
        # NO_CLUSTER = -1, the last (the same codes as filling the members' into zeros)
        codes = np.array([self._code[c.key] for c in s.cmos] + [0], dtype=np.int16)
        cluster = codes.take(f.member_of)
        year = months.year_of(s.start_index + s.month)
        batch = pa.RecordBatch.from_arrays(
            [
                pa.array(np.full(n, year, dtype=np.int16)),
                self._static["firm"],
                self._static["domain"],
                self._static["size_class"],
                pa.DictionaryArray.from_arrays(pa.array(cluster), self._cluster_dict),
                pa.array(f.aware),
                pa.array(member),
                pa.array(f.ever_member),
                pa.array(f.turnover_eur.astype(np.float32)),
                pa.array(innovations),
                pa.array(ties),
                pa.array(f.aware | f.ever_member | f.in_proposal | tied),
            ],
            names=list(FIRM_COLUMNS),
        )
        if self.sink is not None:
            self.sink(batch)
        else:
            self.batches.append(batch)

    def arrow(self) -> pa.Table:
        """The kept snapshots as one Arrow table (empty when they went to a sink)."""
        if not self.batches:
            return self.empty()
        return pa.Table.from_batches(self.batches)

    def empty(self) -> pa.Table:
        """A table with the firm schema and no row."""
        return self.schema().empty_table()

    def schema(self) -> pa.Schema:
        """The schema of the firm table."""
        return pa.schema(
            [
                ("year", pa.int16()),
                ("firm", pa.int32()),
                ("domain", pa.dictionary(pa.int8(), pa.string())),
                ("size_class", pa.dictionary(pa.int8(), pa.string())),
                ("cluster", pa.dictionary(pa.int16(), pa.string())),
                ("aware", pa.bool_()),
                ("member", pa.bool_()),
                ("ever_member", pa.bool_()),
                ("turnover_eur", pa.float32()),
                ("innovations", pa.int16()),
                ("ties", pa.int16()),
                ("reached", pa.bool_()),
            ]
        )

    def table(self) -> pd.DataFrame:
        """All kept snapshots as one tidy pandas table (one row per firm and year)."""
        return self.arrow().to_pandas()


PROPOSAL_COLUMNS = {
    "call": "str",
    "line": "str",
    "month": "int32",
    "lead": "int32",
    "n_firms": "int16",
    "firms": "object",
    "n_clusters": "int16",
    "research_org": "int16",
    "duration_months": "int16",
    "cost_cents": "int64",
    "requested_grant_cents": "int64",
    "quality": "float64",
    "prescreened": "bool",
    "withdrawn": "bool",
    "admitted": "bool",
    "funded": "bool",
    "funded_month": "int32",
    "grant_cents": "int64",
}


def proposals_columns(state: State) -> dict[str, list]:
    """The values of :func:`proposals_table`, column by column (lists, one item a proposal).

    ``firms`` holds each proposal's partners as they are (each table builder converts them).
    """
    ps = state.proposals
    return {
        "call": [p.call for p in ps],
        "line": [p.line for p in ps],
        "month": [p.month for p in ps],
        "lead": [p.lead for p in ps],
        "n_firms": [len(p.partners) for p in ps],
        "firms": [p.partners for p in ps],
        "n_clusters": [p.n_clusters for p in ps],
        "research_org": [p.ro for p in ps],
        "duration_months": [p.duration for p in ps],
        "cost_cents": [p.cost_cents for p in ps],
        "requested_grant_cents": [p.requested_grant_cents for p in ps],
        "quality": [p.quality for p in ps],
        "prescreened": [p.prescreened for p in ps],
        "withdrawn": [p.withdrawn for p in ps],
        "admitted": [p.admitted for p in ps],
        "funded": [p.funded for p in ps],
        "funded_month": [p.funded_month for p in ps],
        "grant_cents": [p.grant_cents for p in ps],
    }


def proposals_table(state: State) -> pd.DataFrame:
    """Every proposal of the run (withdrawn ones included), in the order they were formed."""
    columns = proposals_columns(state)
    data = {}
    for name, dtype in PROPOSAL_COLUMNS.items():
        values = columns[name]
        if dtype == "object":
            col = np.empty(len(values), dtype=object)
            for k, v in enumerate(values):  # element by element: equal-length arrays must not broadcast
                col[k] = np.asarray(v, dtype=np.int32)
            data[name] = col
        elif dtype == "str":
            data[name] = pd.Series(values, dtype="str")
        else:
            data[name] = np.asarray(values, dtype=dtype) if values else np.zeros(0, dtype=dtype)
    return pd.DataFrame(data)


def proposals_arrow(state: State) -> pa.Table | None:
    """:func:`proposals_table` as the Arrow table ``from_pandas`` makes of it (None without proposals).

    The same conversions of the values (``np.asarray`` to each column's dtype); ``firms``
    is a list<int32> column of their partners, all converted to int32 at once when every
    proposal's partners are a list (as ``np.asarray`` of each list converts them), else
    proposal by proposal.
    """
    from clustersim.arrowtables import frame_table, text

    if not state.proposals:
        return None
    columns = proposals_columns(state)
    out = {}
    for name, dtype in PROPOSAL_COLUMNS.items():
        values = columns[name]
        if dtype == "object":
            if all(type(v) is list for v in values):
                flat = np.array(list(itertools.chain.from_iterable(values)), dtype=np.int32)
                lengths = np.array([len(v) for v in values], dtype=np.int32)
            else:
                arrays = [np.asarray(v, dtype=np.int32) for v in values]
                flat = np.concatenate(arrays)
                lengths = np.array([a.size for a in arrays], dtype=np.int32)
            offsets = np.zeros(len(values) + 1, dtype=np.int32)
            np.cumsum(lengths, out=offsets[1:])
            out[name] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))
        elif dtype == "str":
            if not all(type(v) is str for v in values):  # pandas' str dtype would convert them
                return None
            out[name] = text(values)
        else:
            out[name] = np.asarray(values, dtype=dtype)
    return frame_table(out)
