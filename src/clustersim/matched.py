"""Matched comparisons of firms on saved microdata (``firms.parquet``), as evaluations do.

:func:`joiner_turnover_gap` measures what IRES Piemonte (2020, Nota 2020/02) estimated for
the 2007-2013 poles: the turnover growth of firms in the years after they joined, against
firms that never joined, similar in sector and size ("imprese non aderenti simili per
settore d'attivita economica e struttura di bilancio"). Here: exact matching on primary
domain x size class, growth over the same years. :func:`matched_comparison` compares any
treated firms with controls matched exactly on a cell, on arrays of one run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def join_years(firms: pd.DataFrame) -> pd.Series:
    """The first year each firm is a member at a year's end (NaN: never)."""
    joined = firms.loc[firms["ever_member"], ["firm", "year"]]
    return joined.groupby("firm")["year"].min().reindex(sorted(firms["firm"].unique()))


def joiner_turnover_gap(firms: pd.DataFrame, join_from: int, join_to: int, horizon: int = 3) -> float:
    """Mean turnover growth (percent) of joiners over ``horizon`` years after joining, minus matched never-members.

    Joiners: firms first members at the end of a year ``y`` in ``[join_from, join_to]``;
    their growth is ``turnover(y + horizon) / turnover(y) - 1``. Each joiner is compared
    with the mean growth over the same years of the firms never members up to
    ``y + horizon`` of its domain x size class (joiners without such controls are left
    out). Returns the mean difference in percentage points (NaN without matched joiners).
    """
    years = join_years(firms)
    wide = firms.pivot(index="firm", columns="year", values="turnover_eur").astype(np.float64)
    ever = firms.pivot(index="firm", columns="year", values="ever_member")
    cell = firms.loc[firms["year"] == firms["year"].min()].set_index("firm")
    cell = cell["domain"].astype(str) + "|" + cell["size_class"].astype(str)
    gaps = []
    for y in range(join_from, join_to + 1):
        if y not in wide.columns or y + horizon not in wide.columns:
            continue
        growth = wide[y + horizon] / wide[y] - 1.0
        treated = years.index[years == y]
        control = ever.index[~ever[y + horizon].astype(bool)]
        if len(treated) == 0 or len(control) == 0:
            continue
        control_mean = growth.loc[control].groupby(cell.loc[control]).mean()
        matched = cell.loc[treated].map(control_mean)
        ok = matched.notna()
        gaps.extend((growth.loc[treated][ok.to_numpy()] - matched[ok]).tolist())
    return float(100.0 * np.mean(gaps)) if gaps else float("nan")


def matched_comparison(
    outcome: np.ndarray, treated: np.ndarray, control: np.ndarray, cells: np.ndarray, threshold: float
) -> dict[str, float]:
    """Treated firms against control firms matched exactly on a cell (e.g. size x domain).

    Controls are reweighted to the treated firms' distribution over the cells they share
    (the effect on the treated): in each cell the control mean counts as many times as
    there are treated firms. Treated firms in cells without a control are left out.

    Args:
        outcome: the outcome per firm (e.g. growth, 0.1 for +10%).
        treated: boolean mask of treated firms.
        control: boolean mask of control firms.
        cells: integer cell per firm.
        threshold: the level for the shares "outcome > threshold".

    Returns:
        ``n_treated``, ``n_control``, ``n_treated_matched`` (treated in shared cells),
        ``mean_treated``, ``mean_control`` (matched), ``share_treated``, ``share_control``
        (matched shares above ``threshold``); NaN means when no cell is shared.
    """
    outcome = np.asarray(outcome, dtype=float)
    ok = np.isfinite(outcome)
    t = np.asarray(treated, dtype=bool) & ok
    c = np.asarray(control, dtype=bool) & ok
    cells = np.asarray(cells, dtype=np.int64)
    k = int(cells.max()) + 1 if cells.size else 1
    nt = np.bincount(cells[t], minlength=k)
    nc = np.bincount(cells[c], minlength=k)
    above = (outcome > threshold).astype(float)
    st = np.bincount(cells[t], weights=outcome[t], minlength=k)
    sc = np.bincount(cells[c], weights=outcome[c], minlength=k)
    at = np.bincount(cells[t], weights=above[t], minlength=k)
    ac = np.bincount(cells[c], weights=above[c], minlength=k)
    both = (nt > 0) & (nc > 0)
    out = {"n_treated": float(t.sum()), "n_control": float(c.sum()), "n_treated_matched": float(nt[both].sum())}
    if not both.any():
        out.update(mean_treated=np.nan, mean_control=np.nan, share_treated=np.nan, share_control=np.nan)
        return out
    w = nt[both].astype(float)
    out["mean_treated"] = float(st[both].sum() / w.sum())
    out["share_treated"] = float(at[both].sum() / w.sum())
    out["mean_control"] = float(np.average(sc[both] / nc[both], weights=w))
    out["share_control"] = float(np.average(ac[both] / nc[both], weights=w))
    return out
