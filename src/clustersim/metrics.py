"""Outputs: the monthly table, the end-of-run summary and the ERDF common indicators.

Each KPI is declared once in :data:`clustersim.kpis.KPIS` with its unit, its direction
(``max``: more is better, ``min``: less is better, ``info``: neither), its definition and
when it is not defined; docs/ODD.md section 7.3 lists the same definitions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mesa
import numpy as np
import pandas as pd
import pyarrow as pa

from clustersim import months
from clustersim.arrowtables import frame_table, plain, text
from clustersim.kpis import INFO, KPI, KPI_BY_NAME, KPIS, MAXIMIZE, MINIMIZE, undefined_note
from clustersim.money import Account
from clustersim.network import ORIGINS, TIE_KINDS
from clustersim.state import State

__all__ = ["INFO", "KPI", "KPIS", "KPI_BY_NAME", "MAXIMIZE", "MINIMIZE"]

# The KPI declarations live in the leaf module clustersim.kpis (re-exported here).


def month_label(model_start_index: int, month: int) -> str:
    """``YYYY-MM`` of model month ``month``."""
    return months.month_label(model_start_index + month)


def hhi(counts: np.ndarray) -> float:
    """Herfindahl-Hirschman index of shares (0..1); NaN when there is nothing to share."""
    total = counts.sum()
    if total <= 0:
        return float("nan")
    s = counts / total
    return float((s * s).sum())


def hhi_of_counts(counts: list[int]) -> float:
    """:func:`hhi` of a short list of whole counts, in Python floats (the same float).

    The total of whole counts is exact in any order; each share is the same division and
    each square the same product as NumPy's, and the squares are added in the order of
    NumPy's sum of a float64 row (:func:`numpy_row_sum`).
    """
    total = float(sum(counts))
    if total <= 0:
        return float("nan")
    shares = [c / total for c in counts]
    return numpy_row_sum([x * x for x in shares])


def numpy_row_sum(values: list[float]) -> float:
    """``np.array(values).sum()`` of up to 128 floats, in Python floats (the same additions in the same order).

    NumPy adds fewer than 8 numbers one by one from 0; up to 128 into 8 partial sums
    (elements ``j, j + 8, ...``), combined as ((0 + 1) + (2 + 3)) + ((4 + 5) + (6 + 7)),
    then the rest one by one (:func:`clustersim.mechanisms.calls.row_sums` does the same
    on columns). More numbers: NumPy sums them.
    """
    n = len(values)
    if n > 128:
        return float(np.array(values, dtype=np.float64).sum())
    if n < 8:
        return sum_in_order(values) + 0.0  # (+ 0.0: a float even for no values)
    r = values[:8]
    top = n - n % 8
    for i in range(8, top, 8):
        for j in range(8):
            r[j] += values[i + j]
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for k in range(top, n):
        total += values[k]
    return total


def sum_in_order(values: list[float]) -> float:
    """``values`` added one after another, from the left (``0 + v0 + v1 + ...``).

    Unlike the builtin ``sum``, which adds Python floats with a compensated summation
    (Python 3.12), this rounds after each addition, whatever the type of the values.
    """
    total = 0
    for v in values:
        total = total + v
    return total


class MonthlyRecorder:
    """Collects one row of scalars and one row per cluster each month."""

    def __init__(self, state: State) -> None:
        """Start empty."""
        self.state = state
        self.rows: list[dict[str, Any]] = []
        # per month: (month, CMO keys, members, staff FTE, service hours, balance cents)
        self.cluster_rows: list[tuple[int, tuple[str, ...], list, list, list, list]] = []
        self._last_grants = 0
        self._last_cmo_grants = 0
        self._n_projects = 0
        self._in_force: tuple = ()  # the CMOs of the last month, and their keys
        self._keys: tuple[str, ...] = ()

    def collect(self) -> None:
        """Write this month's rows (the processes' notes and the state's stocks)."""
        s = self.state
        row: dict[str, Any] = {"month": s.month}
        row.update(s.notes)
        s.notes = {}
        # the CMOs' numbers, a list each (comprehensions: cheaper than one loop of appends); the
        # sums below add the same values in the same order (the hours, Python floats, one after
        # another: see sum_in_order)
        cmos = s.cmos
        members = [c.n_members for c in cmos]
        staff = [c.staff_fte for c in cmos]
        available = [c.hours_available for c in cmos]
        service = [c.hours_service for c in cmos]
        used = [c.hours_used for c in cmos]
        balances = [c.account.balance for c in cmos]
        row["members"] = sum(members)
        # large firms sit at the end of the firm arrays (clustersim.population), the members in firm order
        row["members_large"] = s.members.size - int(s.members.searchsorted(s.firms.n_smes))
        row["members_hhi"] = hhi_of_counts(members)  # hhi of the counts, without arrays
        row["clusters_in_force"] = len(s.cmos)
        row["aware_firms"] = int(np.count_nonzero(s.firms.aware))
        new = s.projects[self._n_projects :]
        self._n_projects = len(s.projects)
        row["projects_started"] = len(new)  # funded this month (at a call's closing or by a top-up)
        grants = self._last_grants + sum(p["grant_cents"] for p in new)
        row["project_grants_eur"] = (grants - self._last_grants) / 100.0
        self._last_grants = grants
        paid = s.counters["cmo_grants_paid_cents"]
        row["cmo_grants_paid_eur"] = (paid - self._last_cmo_grants) / 100.0
        self._last_cmo_grants = paid
        row["region_balance_eur"] = s.region.account.balance / 100.0
        row["cmo_balance_eur"] = sum(balances) / 100.0
        row["cmo_staff_fte"] = sum_in_order(staff)
        row["cmo_hours_available"] = sum_in_order(available)
        row["cmo_hours_service"] = sum_in_order(service)
        row["cmo_hours_used"] = sum_in_order(used)
        self.rows.append(row)
        # the per-cluster rows of the month, kept as columns (expanded by monthly_table)
        in_force = tuple(cmos)  # their keys change only with the CMOs in force (a configuration)
        if in_force != self._in_force:
            self._in_force, self._keys = in_force, tuple(c.key for c in cmos)
        self.cluster_rows.append((s.month, self._keys, members, staff, service, balances))

    def last(self, kpi: str) -> float:
        """This month's value of a monthly KPI (0 for a count no process noted)."""
        return float(self.rows[-1].get(kpi, 0.0)) if self.rows else float("nan")

    def monthly_columns(self) -> tuple[Any, ...]:
        """The monthly table's columns, its text coded: (month, dates, codes, KPIs, codes, clusters, codes, value).

        Row ``i`` is month ``month[i]`` (int32), date ``dates[date_codes[i]]``, KPI
        ``kpis[kpi_codes[i]]``, cluster ``clusters[cluster_codes[i]]`` and ``value[i]``
        (see :meth:`monthly_table`).
        """
        rows = self.rows
        kpis: dict[str, None] = {}
        for row in rows:
            kpis.update(dict.fromkeys(row))
        kpis.pop("month", None)
        names = list(kpis)
        nan = float("nan")
        # the whole-region records, KPI by KPI, month by month
        region_values = np.array([row.get(k, nan) for k in names for row in rows], dtype=np.float64)
        region_months = np.tile(np.array([row["month"] for row in rows], dtype=np.int64), len(names))
        region_kpis = np.repeat(np.arange(len(names), dtype=np.int64), len(rows))
        # the per-cluster records: four KPIs per cluster in force, month by month, CMO by CMO
        per_cluster = ("members", "staff_fte", "service_hours", "balance_eur")
        keys: list[str] = []
        months_c: list[int] = []
        members: list[float] = []
        staff: list[float] = []
        service: list[float] = []
        balances: list[float] = []
        for month, k, n, fte, hours, cents in self.cluster_rows:
            keys += k
            months_c += [month] * len(k)
            members += n
            staff += fte
            service += hours
            balances += cents
        n_c = len(keys)
        cluster_values = np.empty((n_c, 4), dtype=np.float64)
        cluster_values[:, 0] = np.array(members, dtype=np.float64)
        cluster_values[:, 1] = np.array(staff, dtype=np.float64)
        cluster_values[:, 2] = np.array(service, dtype=np.float64)
        cluster_values[:, 3] = np.array(balances, dtype=np.float64) / 100.0  # exact ints below 2**53
        # one vocabulary of KPI names and one of cluster names, each coded in sorted order
        kpi_vocab = sorted(set(names) | set(per_cluster))
        kpi_code = {k: i for i, k in enumerate(kpi_vocab)}
        cluster_vocab = sorted({"all", *keys})
        cluster_code = {c: i for i, c in enumerate(cluster_vocab)}
        name_codes = np.array([kpi_code[k] for k in names], dtype=np.int64)
        month = np.concatenate([region_months, np.repeat(np.array(months_c, dtype=np.int64), 4)])
        kpi = np.concatenate(
            [name_codes[region_kpis], np.tile(np.array([kpi_code[k] for k in per_cluster], dtype=np.int64), n_c)]
        )
        cluster = np.concatenate(
            [
                np.full(len(region_values), cluster_code["all"], dtype=np.int64),
                np.repeat(np.array([cluster_code[c] for c in keys], dtype=np.int64), 4),
            ]
        )
        value = np.concatenate([region_values, cluster_values.ravel()])
        order = np.lexsort((cluster, kpi, month))  # stable, like sorting the records by (month, kpi, cluster)
        month, kpi, cluster, value = month[order], kpi[order], cluster[order], value[order]
        distinct = np.unique(month)
        labels = [month_label(self.state.start_index, int(m)) for m in distinct]
        dates = np.searchsorted(distinct, month)
        return month.astype(np.int32), labels, dates, kpi_vocab, kpi, cluster_vocab, cluster, value

    def monthly_table(self) -> pd.DataFrame:
        """The monthly table in long form: month, date, kpi, cluster, value.

        Sorted by month, KPI and cluster (text compared as Python compares it). The
        whole-region KPIs (cluster ``all``) are those any month noted; a KPI not noted in a
        month is NaN there. Each cluster in force has four rows a month: members,
        staff_fte, service_hours and balance_eur (the CMO's account, in euros).
        """
        month, labels, dates, kpi_vocab, kpi, cluster_vocab, cluster, value = self.monthly_columns()
        return pd.DataFrame(
            {
                "month": month,
                "date": np.array(labels, dtype=object)[dates] if len(month) else [],
                "kpi": np.array(kpi_vocab, dtype=object)[kpi],
                "cluster": np.array(cluster_vocab, dtype=object)[cluster],
                "value": value,
            }
        )

    def monthly_arrow(self) -> pa.Table | None:
        """:meth:`monthly_table` as the Arrow table ``from_pandas`` makes of it (None without rows).

        The text columns are taken from their vocabularies by code (Arrow's ``take``):
        the same strings as the DataFrame's, without a Python string a row.
        """
        month, labels, dates, kpi_vocab, kpi, cluster_vocab, cluster, value = self.monthly_columns()
        if not len(month):
            return None
        return frame_table(
            {
                "month": month,
                "date": text(labels).take(pa.array(dates)),
                "kpi": text(kpi_vocab).take(pa.array(kpi)),
                "cluster": text(cluster_vocab).take(pa.array(cluster)),
                "value": value,
            }
        )


MONTHLY_REPORTERS = (
    "members",
    "members_hhi",
    "aware_firms",
    "joined",
    "left",
    "ties_brokered",
    "ties_plenary",
    "ties_spontaneous",
    "proposals_submitted",
    "projects_funded",
    "training_agreements",
    "ties_international",
    "innovations",
    "cmo_hours_service",
)


def model_reporters(recorder: MonthlyRecorder) -> dict[str, Callable[[Any], float]]:
    """Reporters for Mesa's DataCollector: this month's value of the main monthly KPIs."""

    def reporter(kpi: str) -> Callable[[Any], float]:
        return lambda _model: recorder.last(kpi)

    return {kpi: reporter(kpi) for kpi in MONTHLY_REPORTERS}


class KpiCollector(mesa.DataCollector):
    """Mesa's DataCollector of :func:`model_reporters`, collecting each month's values more cheaply.

    Mesa's ``collect`` deep-copies each reporter's value and tests each reporter's type on
    every call (about 15 us a month, 2 ms a Piedmont run). Every reporter here returns a
    Python float (``recorder.last``), which ``deepcopy`` returns as it is, so the values are
    read from the recorder's row of the month and appended directly: the same records,
    ``model_vars`` and collection times as Mesa's method gives.
    """

    def __init__(self, recorder: MonthlyRecorder) -> None:
        """Collect :data:`MONTHLY_REPORTERS` from ``recorder``."""
        super().__init__(model_reporters=model_reporters(recorder))
        self.recorder = recorder
        self._columns = [(self.model_vars[kpi].append, kpi) for kpi in MONTHLY_REPORTERS]

    def collect(self, model: Any) -> None:
        """Append this month's value of each KPI (``recorder.last`` of each, as Mesa's reporters give)."""
        rows = self.recorder.rows
        if not rows:  # recorder.last gives NaN before the first row
            super().collect(model)
            return
        self._collection_steps.append(model.time)
        self._validated = True  # Mesa's validation calls each reporter once: recorder.last reads, never writes
        row = rows[-1]
        for append, kpi in self._columns:
            append(float(row.get(kpi, 0.0)))


def _modularity(a: np.ndarray, b: np.ndarray, labels: np.ndarray) -> float:
    """Newman modularity of an undirected multigraph with edges ``a[i]-b[i]`` (weighted by count)."""
    if len(a) == 0:
        return float("nan")
    m2 = 2.0 * len(a)
    la, lb = labels[a], labels[b]
    k = max(int(labels.max()) + 1, 1)
    inside = np.bincount(la[la == lb], minlength=k).astype(np.float64)
    degree = np.bincount(la, minlength=k) + np.bincount(lb, minlength=k)
    return float((inside * 2.0 / m2 - (degree / m2) ** 2).sum())


def summary(state: State, recorder: MonthlyRecorder, ties: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """End-of-run KPIs in long form: kpi, cluster ('all' or a cluster name), value, unit, direction.

    ``ties``: the ledger's columns (``state.ledger.table_columns()``), if already made.
    """
    out = pd.DataFrame(summary_rows(state, recorder, ties), columns=["kpi", "cluster", "value", "unit", "direction"])
    out["value"] = out["value"].astype(np.float64)
    return out


def summary_arrow(state: State, recorder: MonthlyRecorder, ties: dict[str, np.ndarray] | None = None) -> pa.Table:
    """A run's summary table as written: :func:`summary` with the ``note`` column, as an Arrow table.

    The table ``from_pandas`` makes of ``runner.mark_undefined(summary(...))``: the note
    is ``not defined: <reason>`` where a value is not finite, else ''.
    """
    rows = summary_rows(state, recorder, ties)
    value = np.array([r[2] for r in rows], dtype=np.float64)
    missing = ~np.isfinite(value)
    return frame_table(
        {
            "kpi": text([r[0] for r in rows]),
            "cluster": text([r[1] for r in rows]),
            "value": value,
            "unit": text([r[3] for r in rows]),
            "direction": text([r[4] for r in rows]),
            "note": text([undefined_note(r[0]) if m else "" for r, m in zip(rows, missing.tolist(), strict=True)]),
        }
    )


def summary_rows(state: State, recorder: MonthlyRecorder, ties: dict[str, np.ndarray] | None = None) -> list[tuple]:
    """The rows of :func:`summary`: (kpi, cluster, value, unit, direction)."""
    m = state
    f = m.firms
    w0 = m.report_month
    if ties is None:
        ties = m.ledger.table_columns()
    kind, origin = ties["kind"], ties["origin"]  # codes of TIE_KINDS and ORIGINS
    source, target = ties["source"], ties["target"]
    cross_domain = ties["cross_domain"]
    win = ties["month"] >= w0
    brokered = origin == ORIGINS.index("brokered")
    ff = win & (kind == TIE_KINDS.index("firm_firm"))
    abroad_tie = win & (kind == TIE_KINDS.index("firm_international"))
    n_ff = int(np.count_nonzero(ff))
    vals: dict[str, float] = {}
    counts = np.array([c.n_members for c in m.cmos], dtype=np.float64)
    vals["members"] = float(counts.sum())
    vals["members_hhi"] = hhi(counts)
    vals["firms_in_no_cluster"] = float(f.n - counts.sum())
    vals["aware_firms"] = float(f.aware.sum())
    vals["ties_firm_firm"] = float(n_ff)
    vals["ties_brokered"] = float(np.count_nonzero(win & brokered))
    # a collaboration with a research organisation: a project with one, or a brokered firm-RO tie
    window_projects = [p for p in m.projects if p["month"] >= w0]
    with_ro = sum(1 for p in window_projects if p["research_org"] >= 0)
    firm_ro = win & (kind == TIE_KINDS.index("firm_ro")) & brokered
    vals["research_collaborations"] = float(with_ro + np.count_nonzero(firm_ro))
    vals["international_collaborations"] = float(np.count_nonzero(abroad_tie))
    abroad = target[abroad_tie]
    vals["inter_regional_collaborations"] = float(m.partners.inter_regional[abroad].sum()) if abroad.size else 0.0
    vals["cross_domain_share"] = float(cross_domain[ff].mean()) if n_ff else float("nan")
    vals["cross_cluster_share"] = float(ties["cross_cluster"][ff].mean()) if n_ff else float("nan")
    cross = ff & cross_domain
    vals["cross_domain_ties"] = float(np.count_nonzero(cross))
    ends = np.concatenate([source[cross], target[cross]])
    vals["firms_with_cross_domain_tie"] = float(np.unique(ends).size)
    both = ff & ties["members_both"]
    vals["cross_domain_share_members"] = float(cross_domain[both].mean()) if both.any() else float("nan")
    a, b = source[ff], target[ff]
    vals["modularity_clusters"] = _modularity(a, b, m.cluster_of_domain[f.primary_domain].astype(np.int64))
    vals["modularity_domains"] = _modularity(a, b, f.primary_domain.astype(np.int64))
    in_window_calls = [c for c in m.region.calls if c.closes >= w0]
    submitted = sum(c.submitted for c in in_window_calls)
    projects = [p for p in m.projects if p["month"] >= w0]
    vals["proposals_submitted"] = float(submitted)
    vals["projects_funded"] = float(len(projects))
    vals["success_rate"] = len(projects) / submitted if submitted else float("nan")
    vals["firms_per_project"] = float(np.mean([p["n_firms"] for p in projects])) if projects else float("nan")
    grants_w = sum(p["grant_cents"] for p in projects)
    vals["grant_per_project_eur"] = grants_w / 100.0 / len(projects) if projects else float("nan")
    vals["mean_quality_funded"] = float(np.mean([p["quality"] for p in projects])) if projects else float("nan")
    window_rows = [row for row in recorder.rows if row["month"] >= w0]

    def window_sum(kpi: str) -> float:
        """Sum of a monthly KPI over the window's months (0 where a month did not note it)."""
        return float(np.array([row.get(kpi, 0.0) for row in window_rows], dtype=np.float64).sum())

    vals["training_agreements"] = window_sum("training_agreements")
    vals["international_links"] = window_sum("international_links")
    vals["cluster_meetings"] = float(m.region.cluster_meetings_held)
    vals["plenary_meetings"] = float(m.region.plenaries_held)
    vals["innovations"] = float(f.innovations.sum())
    member_end = f.member_of >= 0
    never = ~f.ever_member
    vals["innovations_per_member"] = float(f.innovations[member_end].mean()) if member_end.any() else float("nan")
    vals["innovations_per_non_member"] = float(f.innovations[never].mean()) if never.any() else float("nan")
    vals["turnover_growth_gap_pp"] = turnover_gap_pp(m)
    hours_service = sum_in_order([c.totals["hours_service"] for c in m.cmos])
    hours_used = sum_in_order([c.totals["hours_used"] for c in m.cmos])
    vals["cmo_staff_utilisation"] = hours_used / hours_service if hours_service > 0 else float("nan")
    region = m.region.account
    call_spent = sum(c.account.spent for c in m.region.calls)
    call_left = sum(c.account.balance for c in m.region.calls)
    vals["public_eur_allocated"] = region.allocated / 100.0
    vals["public_eur_spent"] = (m.counters["cmo_grants_paid_cents"] + call_spent) / 100.0
    vals["public_eur_left"] = (region.balance + call_left) / 100.0
    spent_w = window_sum("cmo_grants_paid_eur") + window_sum("project_grants_eur")
    vals["public_eur_spent_window"] = spent_w
    collab = int(np.count_nonzero(win & (origin != ORIGINS.index("spontaneous"))))
    vals["cost_per_collaboration_eur"] = spent_w / collab if collab else float("nan")
    vals["cost_per_funded_project_eur"] = spent_w / len(projects) if projects else float("nan")
    grant = f.first_grant >= 0
    nonfin = f.first_nonfinancial >= 0
    vals["CO01"] = float((grant | nonfin).sum())
    vals["CO02"] = float(grant.sum())
    vals["CO04"] = float(nonfin.sum())
    vals["CO26"] = float((f.first_ro_cooperation >= 0).sum())
    vals["CO27_eur"] = sum(p["cost_cents"] - p["grant_cents"] for p in projects) / 100.0
    vals["CO28"] = float((f.first_new_to_market_after_support >= 0).sum())
    vals["CO29"] = float((f.first_new_to_firm_after_support >= 0).sum())
    vals["RCO01"], vals["RCO02"], vals["RCO04"] = vals["CO01"], vals["CO02"], vals["CO04"]
    vals["RCO10"] = vals["CO26"]
    rows = [(k.name, "all", vals[k.name], k.unit, k.direction) for k in KPIS]
    for c in m.cmos:
        rows.append(("members", c.key, float(c.n_members), "firms", MAXIMIZE))
        rows.append(("cmo_staff_utilisation", c.key, c.utilisation, "share", MAXIMIZE))
    return rows


def turnover_gap_pp(state: State) -> float:
    """Member minus matched never-member turnover growth over the window, in points.

    Cells are size class x primary domain; the gap is the member-weighted mean over cells
    that hold both groups. Turnover is the last booked (annual accounts, booked at the
    end of the run too), so reading it draws nothing.
    """
    f = state.firms
    base = f.turnover_at_report_start
    ok = np.isfinite(base) & (base > 0)
    growth = np.where(ok, f.turnover_eur / np.where(ok, base, 1.0) - 1.0, np.nan)
    member = (f.member_of >= 0) & ok
    never = (~f.ever_member) & ok
    cell = f.size_class.astype(np.int64) * state.n_domains + f.primary_domain
    k = 4 * state.n_domains
    nm = np.bincount(cell[member], minlength=k)
    nn = np.bincount(cell[never], minlength=k)
    sm = np.bincount(cell[member], weights=growth[member], minlength=k)
    sn = np.bincount(cell[never], weights=growth[never], minlength=k)
    both = (nm > 0) & (nn > 0)
    if not both.any():
        return float("nan")
    gap = sm[both] / nm[both] - sn[both] / nn[both]
    return float(100.0 * np.average(gap, weights=nm[both]))


def accounts_table(accounts: list[Account]) -> pd.DataFrame:
    """Every account in integer cents: allocated = spent + transferred_out + left_over."""
    rows = [
        {
            "account": a.name,
            "kind": a.kind,
            "allocated_cents": a.allocated,
            "spent_cents": a.spent,
            "transferred_out_cents": a.transferred_out,
            "left_over_cents": a.balance,
        }
        for a in accounts
    ]
    out = pd.DataFrame(rows)
    for col in ("allocated_cents", "spent_cents", "transferred_out_cents", "left_over_cents"):
        out[col] = out[col].astype(np.int64)
    return out


def accounts_arrow(accounts: list[Account]) -> pa.Table | None:
    """:func:`accounts_table` as the Arrow table ``from_pandas`` makes of it (None for a shape it does not cover).

    The cents are cast to int64 as the DataFrame's columns are, from whole numbers only
    (``astype`` would truncate a float that pandas inferred).
    """
    if not accounts:
        return None
    names = [a.name for a in accounts]
    kinds = [a.kind for a in accounts]
    if not all(type(v) is str for v in names + kinds):
        return None
    columns = {"account": text(names), "kind": text(kinds)}
    for col, attr in (
        ("allocated_cents", "allocated"),
        ("spent_cents", "spent"),
        ("transferred_out_cents", "transferred_out"),
        ("left_over_cents", "balance"),
    ):
        values = [getattr(a, attr) for a in accounts]
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values):
            return None
        columns[col] = np.array(values, dtype=np.int64)
    return frame_table(columns)


CALL_COLUMNS = ("call", "line", "opens", "closes", "budget_eur", "formed", "withdrawn", "submitted", "admitted")
CALL_COLUMNS += ("funded", "firms_submitted", "requested_eur", "granted_eur", "left_eur")


def calls_rows(state: State) -> list[dict[str, Any]]:
    """The rows of :func:`calls_table`, one per call.

    The proposals are grouped by call in one pass (each call's in the order they were
    formed, as a filter of the whole list gives them).
    """
    by_call: dict[str, list[Any]] = {}
    for p in state.proposals:
        by_call.setdefault(p.call, []).append(p)
    rows = []
    for call in state.region.calls:
        props = by_call.get(call.cfg.name, [])
        submitted = [p for p in props if not p.withdrawn]
        rows.append(
            {
                "call": call.cfg.name,
                "line": call.line,
                "opens": month_label(state.start_index, call.opens),
                "closes": month_label(state.start_index, call.closes),
                "budget_eur": call.account.allocated / 100.0,
                "formed": len(props),
                "withdrawn": call.withdrawn,
                "submitted": call.submitted,
                "admitted": call.admitted,
                "funded": call.funded,
                "firms_submitted": sum(len(p.partners) for p in submitted),
                "requested_eur": sum(p.requested_grant_cents for p in submitted) / 100.0,
                "granted_eur": call.account.spent / 100.0,
                "left_eur": call.account.balance / 100.0,
            }
        )
    return rows


def calls_table(state: State) -> pd.DataFrame:
    """One row per call of the run: money and the outcome of its evaluation.

    ``budget_eur`` includes top-ups; ``left_eur`` is what no admitted proposal took.
    """
    return pd.DataFrame(calls_rows(state), columns=list(CALL_COLUMNS))


def calls_arrow(state: State) -> pa.Table | None:
    """:func:`calls_table` as the Arrow table ``from_pandas`` makes of it (None for a shape it does not cover)."""
    rows = calls_rows(state)
    if not rows:
        return None
    columns = {}
    for name in CALL_COLUMNS:
        values = [r[name] for r in rows]
        if name in ("call", "line", "opens", "closes"):
            column = text(values) if all(type(v) is str for v in values) else None
        else:
            column = plain(values, "float64" if name.endswith("_eur") else "int64")
        if column is None:
            return None
        columns[name] = column
    return frame_table(columns)
