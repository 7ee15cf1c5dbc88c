"""A run's tables built as Arrow tables (clustersim.arrowtables): those from_pandas makes of the pandas builders'."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from clustersim.arrowtables import RunTables, frame_table, text
from clustersim.metrics import accounts_arrow, accounts_table, calls_arrow, calls_table, summary, summary_arrow
from clustersim.microdata import proposals_arrow, proposals_table
from clustersim.model import ClusterModel
from clustersim.network import TieLedger
from clustersim.runner import mark_undefined, projects_arrow, projects_table, simulate, ties_arrow
from conftest import small_config


def converted(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False, nthreads=1)


def pandas_and_arrow(model: ClusterModel) -> dict[str, tuple[pd.DataFrame, pa.Table | None]]:
    state, rec = model.state, model.recorder
    ties = state.ledger.table_columns()
    return {
        "monthly": (rec.monthly_table(), rec.monthly_arrow()),
        "summary": (mark_undefined(summary(state, rec, ties)), summary_arrow(state, rec, ties)),
        "accounts": (accounts_table(model.accounts()), accounts_arrow(model.accounts())),
        "projects": (projects_table(state.projects), projects_arrow(state.projects)),
        "proposals": (proposals_table(state), proposals_arrow(state)),
        "calls": (calls_table(state), calls_arrow(state)),
        "ties": (state.ledger.to_frame(), ties_arrow(ties)),
    }


@pytest.mark.parametrize(
    "window",
    [
        ("start=2015-06", "end=2017-12", "report_start=2016-01"),
        ("start=2016-06", "end=2016-08", "report_start=2016-06"),  # no call closes: no proposal, project
    ],
)
def test_each_table_is_the_one_from_pandas_makes_of_the_dataframe(window: tuple[str, ...]) -> None:
    model = ClusterModel(small_config("clusters=reform", *window))
    model.run()
    for name, (df, table) in pandas_and_arrow(model).items():
        if table is None:  # a shape left to the pandas builder (no rows)
            assert len(df) == 0, name
            continue
        want = converted(df)
        assert table.equals(want, check_metadata=True), name
        assert table.schema.metadata == want.schema.metadata, name
        pd.testing.assert_frame_equal(table.to_pandas(), df, check_exact=True, obj=name)


def test_an_empty_tie_ledger_converts_as_pandas_converts_its_table() -> None:
    ledger = TieLedger(0.9)
    want = converted(ledger.to_frame())
    table = ties_arrow(ledger.table_columns())
    assert table.num_rows == 0
    assert table.equals(want, check_metadata=True)
    assert table.schema.field("kind").type == want.schema.field("kind").type


def test_an_ordered_or_non_text_dictionary_is_not_covered() -> None:
    codes = pa.array(np.array([0, 1], dtype=np.int8))
    with pytest.raises(TypeError, match="kind"):
        frame_table({"kind": pa.DictionaryArray.from_arrays(codes, text(["a", "b"]), ordered=True)})
    with pytest.raises(TypeError, match="kind"):
        frame_table({"kind": pa.DictionaryArray.from_arrays(codes, pa.array([1, 2]))})


def test_a_nan_is_written_as_pandas_writes_it_a_null() -> None:
    df = pd.DataFrame(
        {
            "kpi": np.array(["a", "b", "c"], dtype=object),
            "value": np.array([1.0, np.nan, -0.0]),
            "n": np.array([1, 2, 3], dtype=np.int16),
            "flag": np.array([True, False, True]),
            "firms": [np.array([1, 2], dtype=np.int32), np.array([], dtype=np.int32), np.array([3], dtype=np.int32)],
        }
    )
    offsets = pa.array(np.array([0, 2, 2, 3], dtype=np.int32))
    table = frame_table(
        {
            "kpi": text(["a", "b", "c"]),
            "value": df["value"].to_numpy(),
            "n": df["n"].to_numpy(),
            "flag": df["flag"].to_numpy(),
            "firms": pa.ListArray.from_arrays(offsets, pa.array(np.array([1, 2, 3], dtype=np.int32))),
        }
    )
    want = converted(df)
    assert table.equals(want, check_metadata=True)
    assert table.column("value").null_count == 1


def test_a_value_of_another_type_leaves_the_table_to_pandas() -> None:
    good = {
        "call": "c",
        "line": "l",
        "month": 1,
        "lead": 2,
        "n_firms": 2,
        "research_org": -1,
        "duration_months": 24,
        "cost_cents": 100,
        "grant_cents": 50,
        "quality": 0.5,
        "prescreened": True,
        "in_report_window": False,
    }
    assert projects_arrow([good]).equals(converted(projects_table([good])), check_metadata=True)
    assert projects_arrow([dict(good, quality=1)]) is None  # pandas would infer int64
    assert projects_arrow([dict(good, month=True)]) is None  # pandas would infer bool
    assert projects_arrow([]) is None


def test_run_tables_make_a_dataframe_only_when_asked() -> None:
    tables = simulate(small_config("clusters=reform", "start=2016-01", "end=2016-12", "report_start=2016-06"))
    assert isinstance(tables, RunTables)
    assert list(tables) == ["monthly", "summary", "accounts", "projects", "ties", "proposals", "calls", "firms"]
    assert "monthly" in tables and "nothing" not in tables
    assert "monthly" not in tables._frames  # not converted by asking whether it is there
    monthly = tables["monthly"]
    assert tables["monthly"] is monthly  # converted once
    pd.testing.assert_frame_equal(monthly, tables.arrow["monthly"].to_pandas())
    tables["extra"] = monthly
    del tables["calls"]
    assert list(tables) == ["monthly", "summary", "accounts", "projects", "ties", "proposals", "firms", "extra"]
    assert set(dict(tables)) == set(tables)
