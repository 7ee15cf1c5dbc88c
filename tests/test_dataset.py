"""A sweep's merged dataset: partitioned by run, the run's identity as columns, queryable by DuckDB and polars."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

from clustersim.store import DATASET, merge_sweep

pytestmark = pytest.mark.xdist_group("headline_sweep")


@pytest.fixture
def sweep(headline_sweep: tuple[Path, object]) -> Path:
    """The shared small headline sweep (3 pairs, conftest.py)."""
    return headline_sweep[0]


def test_every_table_is_partitioned_by_run_with_the_runs_identity(sweep: Path) -> None:
    runs = pd.read_parquet(sweep / "runs.parquet")
    assert len(runs) == 6
    for table in DATASET:
        parts = sorted((sweep / "dataset" / table).glob("run=*/part-0.parquet"))
        assert len(parts) == 6, table
        data = ds.dataset(sweep / "dataset" / table, format="parquet", partitioning="hive").to_table().to_pandas()
        assert set(data["run"]) == set(runs["run"])
        for col in ("experiment", "clusters", "seed", "replication", "config_hash"):
            assert col in data.columns, (table, col)
        assert set(data["experiment"]) == {"twelve_vs_seven"}
        assert set(data["clusters"]) == {"twelve", "reform"}
    # the rows are the run folders' rows
    one = runs["run"].iloc[0]
    firms = pd.read_parquet(sweep / "runs" / one / "firms.parquet")
    part = pd.read_parquet(sweep / "dataset" / "firms" / f"run={one}" / "part-0.parquet")
    pd.testing.assert_frame_equal(part[firms.columns].reset_index(drop=True), firms, check_categorical=False)


def test_duckdb_and_polars_query_the_dataset_directly(sweep: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    pl = pytest.importorskip("polars")
    pattern = str(sweep / "dataset" / "summary" / "*" / "*.parquet")
    via_duckdb = duckdb.sql(
        f"select clusters, avg(value) as v from read_parquet('{pattern}', hive_partitioning=true) "
        "where kpi = 'members' and cluster = 'all' group by clusters order by clusters"
    ).df()
    via_polars = (
        pl.scan_parquet(pattern, hive_partitioning=True)
        .filter((pl.col("kpi") == "members") & (pl.col("cluster") == "all"))
        .group_by("clusters")
        .agg(pl.col("value").mean().alias("v"))
        .sort("clusters")
        .collect()
    )
    merged = pd.read_parquet(sweep / "summary.parquet")
    want = merged[(merged["kpi"] == "members") & (merged["cluster"] == "all")].groupby("clusters")["value"].mean()
    assert via_duckdb["v"].tolist() == pytest.approx(want.sort_index().tolist())
    assert via_polars["v"].to_list() == pytest.approx(want.sort_index().tolist())


def test_a_second_merge_writes_no_run_again(sweep: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in (sweep / "dataset").rglob("*.parquet")}
    merge_sweep(sweep)
    after = {p: p.stat().st_mtime_ns for p in (sweep / "dataset").rglob("*.parquet")}
    assert before == after


def test_the_report_measures_how_well_the_arms_stay_in_step(sweep: Path) -> None:
    pairing = pd.read_csv(sweep / "pairing.csv")
    pairs = pd.read_parquet(sweep / "runs.parquet")["replication"].nunique()  # conftest.HEADLINE_SWEEP
    assert set(pairing["contrast"]) == {"effect"} and (pairing["pairs"] == pairs).all()
    row = pairing.set_index(["group", "outcome"])
    assert row.loc[("all firms", "innovations"), "firms"] == 1520
    assert row.loc[("outside clusters in both arms", "turnover_growth"), "correlation"] > 0.95
    assert row.loc[("outside clusters in both arms", "innovations"), "identical_share"] > 0.95
    assert "How well the arms stay in step" in (sweep / "report.md").read_text()


def test_float_columns_are_written_without_a_dictionary_and_categories_without_statistics(sweep: Path) -> None:
    """Measured values and firm ids go in plain pages (a dictionary overflowed and cost time); other columns keep one.

    Categorical text columns (Arrow dictionaries) have no min/max statistics; every other column has them.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from clustersim.atomic import dictionary_columns

    run = pd.read_parquet(sweep / "runs.parquet")["run"].iloc[0]
    for path in (
        sweep / "runs" / run / "firms.parquet",
        sweep / "dataset" / "monthly" / f"run={run}" / "part-0.parquet",
    ):
        meta, schema = pq.ParquetFile(path).metadata, pq.read_schema(path)
        words = set(dictionary_columns(schema))
        plain = {f.name for f in schema if pa.types.is_floating(f.type) or f.name == "firm"}
        assert plain and not plain & words and len(words) == len(schema) - len(plain), path
        for i, field in enumerate(schema):
            column = meta.row_group(0).column(i)
            assert column.is_stats_set == (not pa.types.is_dictionary(field.type)), (path.name, field.name)
            if pa.types.is_boolean(field.type):  # Parquet never dictionary-encodes booleans
                continue
            encodings = set(column.encodings)
            has_dictionary = bool(encodings & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"})
            assert has_dictionary == (field.name in words), (path.name, field.name, encodings)


def _arrow_pool(env: dict[str, str], code: str) -> str:
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"} | env
    out = subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(__import__("sys").platform != "linux", reason="jemalloc is chosen on Linux only")
def test_clustersim_chooses_arrows_allocator_before_pyarrow_loads_and_keeps_the_users() -> None:
    import pyarrow as pa

    import clustersim

    try:
        pa.jemalloc_memory_pool()
        built_with = True
    except NotImplementedError:
        built_with = False
    assert clustersim._arrow_has_jemalloc() == built_with  # read from the build header, pyarrow not imported
    if not built_with:
        pytest.skip("this pyarrow build has no jemalloc")
    show = "import clustersim, pyarrow; print(pyarrow.default_memory_pool().backend_name)"
    assert _arrow_pool({}, show) == "jemalloc"
    # a choice of the user's is kept, and pyarrow loaded first keeps its own default
    assert _arrow_pool({"ARROW_DEFAULT_MEMORY_POOL": "system"}, show) == "system"
    first = "import pyarrow, clustersim; print(pyarrow.default_memory_pool().backend_name)"
    alone = "import pyarrow; print(pyarrow.default_memory_pool().backend_name)"
    assert _arrow_pool({}, first) == _arrow_pool({}, alone)
