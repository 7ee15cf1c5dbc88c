"""Same configuration and seed: byte-identical result files; another seed: different."""

from __future__ import annotations

import hashlib
from pathlib import Path

from clustersim.results import TABLES
from clustersim.runner import run_and_save
from conftest import small_config


def digests(folder: Path) -> dict[str, str]:
    return {t: hashlib.sha256((folder / f"{t}.parquet").read_bytes()).hexdigest() for t in TABLES}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    a = run_and_save(small_config("clusters=reform", f"output_dir={tmp_path / 'a'}", "seed=7"))
    b = run_and_save(small_config("clusters=reform", f"output_dir={tmp_path / 'b'}", "seed=7"))
    assert a.written and b.written
    assert a.folder.name == b.folder.name
    assert digests(a.folder) == digests(b.folder)
    # the resolved configs differ only in where they were written
    ya, yb = ((f / "config.yaml").read_text().splitlines() for f in (a.folder, b.folder))
    assert [ln for ln in ya if not ln.startswith("output_dir")] == [ln for ln in yb if not ln.startswith("output_dir")]


def test_other_seed_gives_other_results(tmp_path: Path) -> None:
    a = run_and_save(small_config(f"output_dir={tmp_path}", "seed=1"))
    b = run_and_save(small_config(f"output_dir={tmp_path}", "seed=2"))
    assert a.folder != b.folder
    da, db = digests(a.folder), digests(b.folder)
    for table in ("monthly", "summary", "ties"):
        assert da[table] != db[table], table


def test_twelve_and_reform_share_their_history_up_to_the_reform() -> None:
    """Same seed: the arms are identical month by month until the reform, then differ.

    This is what lets the paired design compare 12 and 7 clusters from one history.
    """
    from clustersim.runner import simulate

    window = ("start=2015-01", "end=2017-06", "report_start=2016-01", "seed=11")
    twelve = simulate(small_config("clusters=twelve", *window))["monthly"]
    reform = simulate(small_config("clusters=reform", *window))["monthly"]
    reform_month = 20  # 2016-09 counted from 2015-01
    pick = ["members", "ties_brokered", "ties_spontaneous", "aware_firms", "cmo_balance_eur", "innovations"]

    def scalars(table, months):
        t = table[(table["cluster"] == "all") & table["kpi"].isin(pick) & table["month"].isin(months)]
        return t.sort_values(["month", "kpi"]).reset_index(drop=True)

    before, after = range(reform_month), range(reform_month, 30)
    assert scalars(twelve, before).equals(scalars(reform, before))
    assert not scalars(twelve, after).equals(scalars(reform, after))


def test_replications_are_children_of_the_root_seed_sequence() -> None:
    import numpy as np

    from clustersim.model import ClusterModel, seed_sequence

    child = np.random.SeedSequence(42).spawn(3)[2]
    assert seed_sequence(42, 2).generate_state(4).tolist() == child.generate_state(4).tolist()
    a = ClusterModel(small_config("seed=42", "replication=2"))
    b = ClusterModel(small_config("seed=42", "replication=2"))
    c = ClusterModel(small_config("seed=42", "replication=3"))
    assert (a.firms.primary_domain == b.firms.primary_domain).all()
    assert not (a.firms.primary_domain == c.firms.primary_domain).all()
