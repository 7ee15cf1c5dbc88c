"""How well two arms of a paired comparison stay in step, firm by firm (from saved microdata).

With random numbers keyed by the decision they make, a firm that no policy instrument
reaches in either arm lives exactly the same life in both, and firms far from the change
nearly so. :func:`pairing_table` measures it on the ``firms`` tables of two runs of one
replication: for all firms, for the firms that are members in neither arm, and for the
firms reached in neither arm, the correlation between arms of each firm's window
outcomes and the share of firms whose outcome is identical.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

OUTCOMES = ("innovations", "ties", "turnover_growth")
GROUPS = ("all firms", "outside clusters in both arms", "not reached in either arm")


FIRM_COLUMNS = ["year", "firm", "innovations", "ties", "turnover_eur", "ever_member", "reached"]


def _distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of an integer array (``np.unique`` without its sort: years span a few dozen)."""
    if values.size == 0:
        return values
    low = int(values.min())
    return low + np.flatnonzero(np.bincount(values.astype(np.int64) - low)).astype(values.dtype)


def _dtype(column: Any) -> Any:
    """The NumPy type of a column of a DataFrame or of an Arrow table."""
    return column.dtype if hasattr(column, "dtype") else column.type.to_pandas_dtype()


def firm_outcomes(firms: Any, window_from_year: int) -> pd.DataFrame:
    """Per firm: window innovations and ties, turnover growth over the window, status at the end.

    Turnover growth is the last year's turnover over that of the year before the window
    (the first year of the table if the run starts inside the window), minus one. Firms
    are those of the last year, in the order of their ids. ``firms`` is a DataFrame or an
    Arrow table with the columns of :data:`FIRM_COLUMNS`.
    """
    year = np.asarray(firms["year"].to_numpy())
    firm = np.asarray(firms["firm"].to_numpy()).astype(np.int64)
    years = _distinct(year)
    last = int(years[-1])
    before = years[years < window_from_year]
    base_year = int(before[-1]) if before.size else int(years[0])
    size = int(firm.max()) + 1 if firm.size else 0
    win = year >= window_from_year
    at_end = np.flatnonzero(year == last)
    at_end = at_end[np.argsort(firm[at_end], kind="stable")]
    ids = firm[at_end]
    at_base = np.full(size, -1, dtype=np.int64)
    base_rows = np.flatnonzero(year == base_year)
    at_base[firm[base_rows]] = base_rows
    turnover = np.asarray(firms["turnover_eur"].to_numpy()).astype(np.float64)
    base_turnover = np.where(at_base[ids] >= 0, turnover[at_base[ids]], np.nan)
    out = pd.DataFrame(index=pd.Index(ids.astype(_dtype(firms["firm"])), name="firm"))
    firm_win = firm[win]
    for column in ("innovations", "ties"):
        values = np.asarray(firms[column].to_numpy())[win].astype(np.float64)
        # counts of a few per firm-year: float64 sums of whole numbers are exact
        sums = np.bincount(firm_win, weights=values, minlength=size)
        out[column] = sums[ids].astype(np.int64)
    out["turnover_growth"] = turnover[at_end] / base_turnover - 1.0
    out["ever_member"] = np.asarray(firms["ever_member"].to_numpy())[at_end].astype(bool)
    out["reached"] = np.asarray(firms["reached"].to_numpy())[at_end].astype(bool)
    return out


def _agreement(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(correlation, share identical); correlation 1 when identical, NaN when undefined."""
    if x.size == 0:
        return float("nan"), float("nan")
    same = float(np.mean(x == y))
    if same == 1.0:
        return 1.0, same
    if np.std(x) == 0 or np.std(y) == 0:
        return float("nan"), same
    return float(np.corrcoef(x, y)[0, 1]), same


def pairing_table(baseline: Any, treatment: Any, window_from_year: int) -> pd.DataFrame:
    """Per-firm agreement of two arms' outcomes (columns group, outcome, firms, correlation, identical_share)."""
    a = firm_outcomes(baseline, window_from_year)
    b = firm_outcomes(treatment, window_from_year)
    if not a.index.equals(b.index):
        b = b.reindex(a.index)
    a_member, b_member = a["ever_member"].to_numpy(dtype=bool), b["ever_member"].to_numpy(dtype=bool)
    a_reached, b_reached = a["reached"].to_numpy(dtype=bool), b["reached"].to_numpy(dtype=bool)
    masks = {
        "all firms": None,
        "outside clusters in both arms": ~a_member & ~b_member,
        "not reached in either arm": ~a_reached & ~b_reached,
    }
    values = {o: (a[o].to_numpy(np.float64), b[o].to_numpy(np.float64)) for o in OUTCOMES}
    rows = []
    for group in GROUPS:
        m = masks[group]
        for outcome in OUTCOMES:
            x, y = values[outcome]
            corr, same = _agreement(x, y) if m is None else _agreement(x[m], y[m])
            rows.append(
                {
                    "group": group,
                    "outcome": outcome,
                    "firms": len(a) if m is None else int(m.sum()),
                    "correlation": corr,
                    "identical_share": same,
                }
            )
    return pd.DataFrame(rows)


def _read_firms(path: Path) -> Any:
    """The columns of a run's firm table that :func:`firm_outcomes` reads (an Arrow table)."""
    return pq.ParquetFile(path).read(columns=FIRM_COLUMNS)


def _pair(paths: tuple[Path, Path], window_from_year: int) -> pd.DataFrame | None:
    """The pairing table of one pair of runs (None when either has no firm-years)."""
    a, b = (_read_firms(p) for p in paths)
    if a.num_rows == 0 or b.num_rows == 0:
        return None
    return pairing_table(a, b, window_from_year)


def sweep_pairing(
    sweep_dir: Path | str,
    runs: pd.DataFrame,
    arm: str,
    contrasts: list[tuple[str, str, str]],
    pair_on: list[str],
    window_from_year: int,
) -> pd.DataFrame:
    """Per-firm agreement of the arms of each contrast, averaged over the sweep's pairs of runs.

    Args:
        sweep_dir: the sweep folder (its ``runs/<run>/firms.parquet`` are read, two at a time).
        runs: the merged ``runs`` table (complete runs with their identity columns).
        arm: the column naming the arms.
        contrasts: ``(name, treatment, baseline)`` of each contrast.
        pair_on: the columns a pair shares (seed, replication and any grid column).
        window_from_year: first year of the report window.

    Returns:
        One row per contrast, group and outcome: ``pairs``, mean ``firms``, mean
        ``correlation`` and mean ``identical_share`` over the pairs (empty without pairs).
    """
    done = runs[runs["status"] == "complete"] if "status" in runs.columns else runs
    keys = [c for c in pair_on if c in done.columns]
    rows = []
    folder = Path(sweep_dir) / "runs"
    for name, treatment, baseline in contrasts:
        base = done[done[arm] == baseline].set_index(keys)["run"]
        treat = done[done[arm] == treatment].set_index(keys)["run"]
        pairs = [
            (folder / str(base.loc[key]) / "firms.parquet", folder / str(treat.loc[key]) / "firms.parquet")
            for key in base.index.intersection(treat.index)
        ]
        # two pairs at a time: Parquet decoding releases the GIL (each thread holds one pair)
        with ThreadPoolExecutor(max_workers=2) as pool:
            tables = [t for t in pool.map(_pair, pairs, [window_from_year] * len(pairs)) if t is not None]
        if not tables:
            continue
        both = pd.concat(tables, ignore_index=True)
        agg = both.groupby(["group", "outcome"], sort=False).agg(
            pairs=("firms", "size"),
            firms=("firms", "mean"),
            correlation=("correlation", "mean"),
            identical_share=("identical_share", "mean"),
        )
        rows.append(agg.reset_index().assign(contrast=name))
    if not rows:
        return pd.DataFrame(
            columns=["contrast", "group", "outcome", "pairs", "firms", "correlation", "identical_share"]
        )
    out = pd.concat(rows, ignore_index=True)
    return out[["contrast", "group", "outcome", "pairs", "firms", "correlation", "identical_share"]]
