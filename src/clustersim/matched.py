"""Matched comparisons of firms on saved microdata (``firms.parquet``), as evaluations do.

:func:`joiner_turnover_gap` measures what IRES Piemonte (2020, Nota 2020/02) estimated for
the 2007-2013 poles: the turnover growth of firms in the years after they joined, against
firms that never joined, similar in sector and size ("imprese non aderenti simili per
settore d'attivita economica e struttura di bilancio"). Here: exact matching on primary
domain x size class, growth over the same years.
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
