"""Paired arms that stay in step: keyed random streams, the null reform, relabelling.

These tests state what identifies the policy effect: a reform that changes nothing
changes nothing (byte for byte), the order in which a configuration lists its domains and
clusters changes nothing, firms that no policy instrument reaches live the same life in
both arms, and reading or measuring the state never draws a random number.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clustersim.config import to_config
from clustersim.metrics import accounts_table, summary
from clustersim.microdata import proposals_table
from clustersim.model import ClusterModel
from clustersim.pairing import firm_outcomes, pairing_table
from clustersim.results import TABLES
from clustersim.runner import mark_undefined, run_and_save, simulate
from clustersim.streams import Stream, Streams, poisson, sample_without_replacement, seed_sequence
from conftest import small_config

WINDOW = ("start=2014-01", "end=2018-12", "report_start=2016-01")


def digests(folder: Path) -> dict[str, str]:
    return {t: hashlib.sha256((folder / f"{t}.parquet").read_bytes()).hexdigest() for t in TABLES}


# ------------------------------------------------------------------ null reform
def test_a_null_reform_gives_byte_identical_tables(tmp_path: Path) -> None:
    """The same 12 clusters redrawn at the reform date without a re-launch change nothing."""
    twelve = run_and_save(small_config("clusters=twelve", "seed=3", f"output_dir={tmp_path}"))
    null_reform = ("clusters=twelve_retender", "clusters.periods.1.relaunch=false")
    null = run_and_save(small_config(*null_reform, "seed=3", f"output_dir={tmp_path}"))
    assert twelve.folder != null.folder  # two configurations...
    assert digests(twelve.folder) == digests(null.folder)  # ...one history, to the byte


def test_a_retender_is_not_null() -> None:
    """The same partition with a re-launch does change things: the control arm is live."""
    a = simulate(small_config("clusters=twelve", "seed=3", *WINDOW))["summary"]
    b = simulate(small_config("clusters=twelve_retender", "seed=3", *WINDOW))["summary"]
    assert not a.equals(b)
    keys = set(b.loc[b["kpi"] == "members", "cluster"]) - {"all"}
    assert all(k.startswith("twelve_2016/") for k in keys)


# ------------------------------------------------------------------ relabelling
def permuted(cfg, seed: int):
    """The same configuration with its domains and every mapping listed in another order."""
    out = copy.deepcopy(cfg)
    rng = np.random.default_rng(seed)
    n = len(out.region.domains)
    order = rng.permutation(n)
    out.region.domains = [cfg.region.domains[i] for i in order]
    out.region.domain_firm_shares = [cfg.region.domain_firm_shares[i] for i in order]
    out.region.domain_families = [cfg.region.domain_families[i] for i in order]
    for period in out.clusters.periods:
        items = list(period.mapping.items())
        perm = rng.permutation(len(items))
        period.mapping = {items[i][0]: list(reversed(items[i][1])) for i in perm}
    return to_config(out)


@pytest.mark.parametrize("clusters", ["reform", "seven"])
def test_listing_domains_and_clusters_in_another_order_changes_nothing(clusters: str) -> None:
    cfg = small_config(f"clusters={clusters}", "seed=9", *WINDOW)
    other = permuted(cfg, seed=1)
    assert other.region.domains != cfg.region.domains
    a, b = simulate(cfg), simulate(other)
    for table in ("monthly", "summary", "accounts", "projects", "ties", "firms", "proposals"):
        pd.testing.assert_frame_equal(a[table], b[table], check_exact=True, obj=table)


# ------------------------------------------------------ firms no policy reaches
@pytest.fixture(scope="module")
def arms() -> dict[str, pd.DataFrame]:
    # little communication: many firms never hear of the scheme, so some are never reached
    few = ("population.initial_awareness_share=0.05", "behaviour.membership.awareness_per_comm_hour=0.0001")
    return {
        c: simulate(small_config(f"clusters={c}", "seed=21", "start=2012-01", "end=2020-12", *few))["firms"]
        for c in ("twelve", "reform")
    }


def test_firms_no_policy_reaches_live_the_same_life_in_both_arms(arms: dict[str, pd.DataFrame]) -> None:
    a, b = arms["twelve"], arms["reform"]
    last = a["year"].max()
    ua = a.loc[a["year"] == last].set_index("firm")
    ub = b.loc[b["year"] == last].set_index("firm")
    unreached = ~ua["reached"] & ~ub["reached"]
    assert unreached.sum() > 100, "the test needs firms that no instrument reaches"
    ids = unreached[unreached].index
    ia = a[a["firm"].isin(ids)].set_index(["firm", "year"]).sort_index()
    ib = b[b["firm"].isin(ids)].set_index(["firm", "year"]).sort_index()
    for col in ("turnover_eur", "innovations", "ties", "aware", "member"):
        pd.testing.assert_series_equal(ia[col], ib[col], check_exact=True)
    # and the treatment did reach others: the arms are not simply identical
    assert not a["member"].equals(b["member"])


def test_pairing_table_reports_per_firm_correlations(arms: dict[str, pd.DataFrame]) -> None:
    table = pairing_table(arms["twelve"], arms["reform"], window_from_year=2016)
    row = table.set_index(["group", "outcome"])
    assert row.loc[("not reached in either arm", "innovations"), "correlation"] == pytest.approx(1.0)
    assert row.loc[("not reached in either arm", "innovations"), "identical_share"] == 1.0
    assert row.loc[("outside clusters in both arms", "turnover_growth"), "correlation"] > 0.95
    assert row.loc[("all firms", "innovations"), "firms"] == arms["twelve"]["firm"].nunique()
    outcomes = firm_outcomes(arms["twelve"], 2016)
    assert {"innovations", "turnover_growth", "ties"} <= set(outcomes.columns)


# ------------------------------------------------------ reading never draws
def rng_state(model: ClusterModel) -> tuple:
    return (repr(model.rng.bit_generator.state), model.random.getstate())


def test_measuring_the_state_draws_nothing_and_changes_nothing() -> None:
    cfg = small_config("clusters=reform", "seed=5", *WINDOW)
    plain = simulate(cfg)
    model = ClusterModel(cfg)
    for _ in range(model.n_months):
        model.step()
        before = rng_state(model)
        # everything an observer may read, in the middle of the run
        summary(model.state, model.recorder)
        model.recorder.monthly_table()
        accounts_table(model.accounts())
        proposals_table(model.state)
        model.firm_recorder.table()
        assert rng_state(model) == before
    observed = mark_undefined(summary(model.state, model.recorder))
    pd.testing.assert_frame_equal(observed, plain["summary"], check_exact=True)


# -------------------------------------------------------------- the streams
def test_a_stream_is_a_function_of_its_name_and_position() -> None:
    root = Streams(seed_sequence(7, 0))
    again = Streams(seed_sequence(7, 0))
    other = Streams(seed_sequence(7, 1))
    s = root.stream("broker", 3, 99)
    assert s.uniforms(50).tolist() == again.stream("broker", 3, 99).uniforms(50).tolist()
    assert s.uniforms(50).tolist() != other.stream("broker", 3, 99).uniforms(50).tolist()
    assert s.uniforms(50).tolist() != root.stream("broker", 99, 3).uniforms(50).tolist()
    # random access: the uniform at position j does not depend on what was read before
    assert s.uniforms(10, start=40).tolist() == s.uniforms(50)[40:].tolist()
    assert s.at(np.array([49, 3])).tolist() == [s.uniform(49), s.uniform(3)]
    assert s.uniform_list(30) == s.uniforms(30).tolist()  # Python and NumPy paths agree


def _unmix64(y: int) -> int:
    """The inverse of :func:`clustersim.streams.mix64` (to build keys with a chosen Philox word)."""
    from clustersim.streams import _M1, _M2, MASK64

    def unxorshift(y: int, s: int) -> int:
        x = y
        for _ in range(64 // s + 1):
            x = y ^ (x >> s)
        return x

    y = (unxorshift(y, 31) * pow(_M2, -1, 1 << 64)) & MASK64
    y = (unxorshift(y, 27) * pow(_M1, -1, 1 << 64)) & MASK64
    return unxorshift(y, 30)


def test_draws_is_a_fresh_generator_of_the_stream() -> None:
    from clustersim.streams import GOLDEN, MASK64, mix64, philox_keys

    root = Streams(seed_sequence(7, 0))
    names = [("innovation", m) for m in range(40)] + [("support", 3, c) for c in range(40)] + [("turnover",)]
    for name in names:
        fresh = root.generator(*name)
        state = root.draws(*name).bit_generator.state
        assert repr(state) == repr(fresh.bit_generator.state)
        np.testing.assert_array_equal(root.draws(*name).random(9), fresh.random(9))
    # keys whose second Philox word is 2^64 - 1, 2^64 - 1000 (rounded to 2^64 in the float64 key) or 2^63 - 1
    for word in (MASK64, MASK64 - 1000, (1 << 63) - 1):
        stream = Stream(_unmix64(word) ^ GOLDEN)
        assert mix64(stream.key ^ GOLDEN) == word
        with np.errstate(invalid="ignore"):
            fresh = np.random.Philox(key=[stream.key, word]).state["state"]["key"].tolist()
            assert list(stream.philox_key()) == fresh
            assert stream.philox_state()["state"]["key"].tolist() == fresh
            assert philox_keys(np.array([stream.key, stream.key ^ 1], dtype=np.uint64))[0] == tuple(fresh)
    keys = np.random.default_rng(1).integers(0, 1 << 64, size=2000, dtype=np.uint64)  # half with one word >= 2^63
    assert philox_keys(keys) == [Stream(int(k)).philox_key() for k in keys]


def test_keyed_uniforms_are_uniform_and_independent() -> None:
    from scipy import stats

    s = Stream(12345)
    u = s.uniforms(200_000)
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    # streams of consecutive months are unrelated
    months = np.array([Stream(12345).child(m).uniform(0) for m in range(20_000)])
    assert stats.kstest(months, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("lam", [0.3, 4.0, 40.0, 900.0])
def test_poisson_by_inversion_has_the_poisson_distribution(lam: float) -> None:
    from scipy import stats

    u = Stream(1).uniforms(20_000)
    k = np.array([poisson(x, lam) for x in u])
    assert k.mean() == pytest.approx(lam, rel=0.05, abs=0.02)
    assert k.var() == pytest.approx(lam, rel=0.1, abs=0.05)
    # exact inversion: the count is the CDF's quantile
    for x, n in zip(u[:200], k[:200], strict=True):
        assert stats.poisson.cdf(n - 1, lam) <= x + 1e-9 and x < stats.poisson.cdf(n, lam) + 1e-9


def test_sampling_without_replacement_is_uniform() -> None:
    counts = np.zeros(10)
    s = Stream(3)
    for t in range(20_000):
        picks = sample_without_replacement(s.uniforms(3, start=3 * t), 10)
        assert len(set(picks)) == 3
        counts[picks] += 1
    np.testing.assert_allclose(counts / counts.sum(), 0.1, atol=0.01)


def test_entities_ahead_gives_the_streams_one_by_one() -> None:
    root = Streams(seed_sequence(7, 0))
    ids = [5, 3, 11]
    for month in (0, 1, 60, 143, 150):
        index, ahead = root.entities_ahead("training", month, ids, 144, ("trainee",), 4)
        for sid in ids:
            b = index[sid]
            stream = root.stream("training", month, sid)
            assert ahead.key(b) == stream.key
            assert ahead.first[b] == stream.uniform(0)
            assert ahead.child_uniforms(b, 0, 3) == stream.child("trainee").uniform_list(3)
            assert ahead.child_uniforms(b, 0, 6) == stream.child("trainee").uniform_list(6)
            assert ahead.child_stream(b, "agency").key == stream.child("agency").key
