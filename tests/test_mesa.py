"""Mesa citizenship: batch_run works, Mesa's seed/rng arguments map onto the seed contract."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import pytest

from clustersim.model import ClusterModel
from clustersim.runner import simulate
from conftest import small_config

SHORT = {"population": "small", "start": "2016-01", "end": "2016-12", "report_start": "2016-01", "progress": "false"}


def test_batch_run_runs_the_model_over_a_grid() -> None:
    rows = mesa.batch_run(
        ClusterModel,
        parameters={"clusters": ["twelve", "seven"], **SHORT},
        rng=[1, 2],
        max_steps=12,
        data_collection_period=1,
        display_progress=False,
    )
    df = pd.DataFrame(rows)
    assert len(df) == 2 * 2 * 12  # 2 configurations x 2 seeds x 12 months
    assert {"clusters", "seed", "Step", "members", "ties_brokered", "innovations"} <= set(df.columns)
    assert (df.groupby(["clusters", "seed"])["Step"].max() == 12).all()
    # the same configuration and seed gives the same row as a plain run
    direct = ClusterModel(seed=1, **{**SHORT, "clusters": "seven"})
    direct.run()
    last = df[(df["clusters"] == "seven") & (df["seed"] == 1) & (df["Step"] == 12)]
    assert last["members"].item() == direct.recorder.last("members")


def test_mesa_seed_and_rng_map_onto_the_seed_contract() -> None:
    cfg = small_config("seed=1", "start=2016-01", "end=2016-12")
    by_cfg = simulate(cfg)["summary"]
    for kwargs in ({"seed": 1}, {"rng": 1}):
        model = ClusterModel(small_config("seed=99", "start=2016-01", "end=2016-12"), **kwargs)
        assert model.cfg.seed == 1
        model.run()
        from clustersim.metrics import summary
        from clustersim.runner import mark_undefined

        observed = mark_undefined(summary(model.state, model.recorder))
        pd.testing.assert_frame_equal(observed, by_cfg, check_exact=True)
    # a SeedSequence is the run's root itself
    root = np.random.SeedSequence(1, spawn_key=(0,))
    assert ClusterModel(cfg, rng=root).seed_sequence is root


def test_a_generator_is_refused_because_it_cannot_key_decisions() -> None:
    with pytest.raises(TypeError, match="cannot key random numbers by decision"):
        ClusterModel(small_config(), rng=np.random.default_rng(1))
    with pytest.raises(TypeError, match="either seed or rng"):
        ClusterModel(small_config(), seed=1, rng=1)


def test_keyword_choices_compose_the_configuration() -> None:
    model = ClusterModel(population="small", clusters="seven", staffing__run_fte=28, seed=4)
    assert model.cfg.clusters.name == "seven"
    assert model.cfg.staffing.run_fte == 28.0
    assert model.cfg.seed == 4
    assert len(model.cmos) == 0 and model.n_months == 144  # CMOs arrive with the first dated event
    model.step()
    assert len(model.cmos) == 7


def test_the_kpi_collector_records_what_mesas_data_collector_records(short_cfg) -> None:
    from clustersim.metrics import model_reporters

    model = ClusterModel(short_cfg)
    mesas = mesa.DataCollector(model_reporters=model_reporters(model.recorder))
    model.datacollector.collect(model)  # before the first month's row: Mesa's own method (NaN)
    mesas.collect(model)
    for _ in range(model.n_months):
        model.step()
        mesas.collect(model)
    ours = model.datacollector.get_model_vars_dataframe()
    pd.testing.assert_frame_equal(ours, mesas.get_model_vars_dataframe())
    assert model.datacollector._collection_steps == mesas._collection_steps
    assert len(ours) == model.n_months + 1
