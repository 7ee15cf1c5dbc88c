"""How well two arms of a paired comparison stay in step, firm by firm (from saved microdata).

With random numbers keyed by the decision they make, a firm that no policy instrument
reaches in either arm lives exactly the same life in both, and firms far from the change
nearly so. :func:`pairing_table` measures it on the ``firms`` tables of two runs of one
replication: for all firms, for the firms that are members in neither arm, and for the
firms reached in neither arm, the correlation between arms of each firm's window
outcomes and the share of firms whose outcome is identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUTCOMES = ("innovations", "ties", "turnover_growth")
GROUPS = ("all firms", "outside clusters in both arms", "not reached in either arm")


def firm_outcomes(firms: pd.DataFrame, window_from_year: int) -> pd.DataFrame:
    """Per firm: window innovations and ties, turnover growth over the window, status at the end.

    Turnover growth is the last year's turnover over that of the year before the window
    (the first year of the table if the run starts inside the window), minus one.
    """
    years = sorted(firms["year"].unique())
    last = years[-1]
    before = [y for y in years if y < window_from_year]
    base_year = before[-1] if before else years[0]
    win = firms[firms["year"] >= window_from_year]
    sums = win.groupby("firm", sort=True)[["innovations", "ties"]].sum()
    end = firms[firms["year"] == last].set_index("firm").sort_index()
    base = firms[firms["year"] == base_year].set_index("firm").sort_index()
    out = pd.DataFrame(index=end.index)
    out["innovations"] = sums["innovations"].reindex(end.index, fill_value=0).astype(np.int64)
    out["ties"] = sums["ties"].reindex(end.index, fill_value=0).astype(np.int64)
    out["turnover_growth"] = end["turnover_eur"].astype(np.float64) / base["turnover_eur"].astype(np.float64) - 1.0
    out["ever_member"] = end["ever_member"].astype(bool)
    out["reached"] = end["reached"].astype(bool)
    return out


def _agreement(a: pd.Series, b: pd.Series) -> tuple[float, float]:
    """(correlation, share identical); correlation 1 when identical, NaN when undefined."""
    x, y = a.to_numpy(np.float64), b.to_numpy(np.float64)
    if x.size == 0:
        return float("nan"), float("nan")
    same = float(np.mean(x == y))
    if same == 1.0:
        return 1.0, same
    if np.std(x) == 0 or np.std(y) == 0:
        return float("nan"), same
    return float(np.corrcoef(x, y)[0, 1]), same


def pairing_table(baseline: pd.DataFrame, treatment: pd.DataFrame, window_from_year: int) -> pd.DataFrame:
    """Per-firm agreement of two arms' outcomes (columns group, outcome, firms, correlation, identical_share)."""
    a = firm_outcomes(baseline, window_from_year)
    b = firm_outcomes(treatment, window_from_year).reindex(a.index)
    masks = {
        "all firms": np.ones(len(a), dtype=bool),
        "outside clusters in both arms": (~a["ever_member"] & ~b["ever_member"]).to_numpy(),
        "not reached in either arm": (~a["reached"] & ~b["reached"]).to_numpy(),
    }
    rows = []
    for group in GROUPS:
        m = masks[group]
        for outcome in OUTCOMES:
            corr, same = _agreement(a.loc[m, outcome], b.loc[m, outcome])
            rows.append(
                {
                    "group": group,
                    "outcome": outcome,
                    "firms": int(m.sum()),
                    "correlation": corr,
                    "identical_share": same,
                }
            )
    return pd.DataFrame(rows)


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
    for name, treatment, baseline in contrasts:
        base = done[done[arm] == baseline].set_index(keys)["run"]
        treat = done[done[arm] == treatment].set_index(keys)["run"]
        tables = []
        for key in base.index.intersection(treat.index):
            a = pd.read_parquet(Path(sweep_dir) / "runs" / str(base.loc[key]) / "firms.parquet")
            b = pd.read_parquet(Path(sweep_dir) / "runs" / str(treat.loc[key]) / "firms.parquet")
            if a.empty or b.empty:
                continue
            tables.append(pairing_table(a, b, window_from_year))
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
