"""Sweeps at scale: runs launched in batches, composed once per set of group choices, merged as a stream."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from clustersim.config import ConfigError, load_config
from clustersim.results import config_hash, config_yaml, config_yaml_reference
from clustersim.sweep import JobConfigs, decode_batch, encode_batch
from hydra_plugins.clustersim_sweeper.clustersim_sweeper import (
    ClusterSweeper,
    batches,
    launcher_workers,
    release_joblib_workers,
)

FAST = ["population=small", "start=2015-06", "end=2018-06", "report_start=2016-09"]
CLUSTERSIM = str(Path(sys.executable).parent / "clustersim")

JOBS = [
    ["experiment=twelve_vs_seven", "clusters=reform", "replication=3", *FAST],
    ["experiment=twelve_vs_seven", "clusters=twelve", "replication=0", *FAST],
    ["experiment=budget_staffing_grid", "clusters=reform", "funding=erdf_half", "staffing=lean", "replication=1"],
    ["experiment=twelve_vs_seven", "clusters=reform", "replication=2", "staffing.run_fte=28", "seed=5"],
    ["experiment=twelve_vs_seven", "clusters=reform", "staffing.run_fte=28.5", "behaviour.ties.p_max=0.4"],
    ["experiment=twelve_vs_seven", "clusters=seven", "comparison.pairing=independent", "progress=true"],
    ["experiment=sensitivity_sobol_reduced", "clusters=reform", "sensitivity.sample=3"],
    ["clusters=reform", "funding.programmes.erdf_2014_2020.cmo_grant_eur=7500000"],
    ["clusters=reform", "region.domain_firm_shares=[1,1,1,1,1,1,1,1,1,1,1,1]"],  # a list: the full way
]


@pytest.mark.parametrize("overrides", JOBS, ids=[" ".join(j[1:3]) for j in JOBS])
def test_a_job_composed_the_fast_way_is_the_configuration_load_config_gives(overrides: list[str]) -> None:
    fast = JobConfigs().config(overrides)
    slow = load_config(overrides)
    assert fast == slow
    assert config_hash(fast) == config_hash(slow)


def test_one_job_configs_for_many_runs_parses_each_line_once_and_gives_each_its_configuration() -> None:
    configs = JobConfigs()
    for overrides in [*JOBS, *JOBS[:3]]:
        assert configs.config(overrides) == load_config(overrides)
    assert configs.parse(["clusters=reform"])[0] is configs.parse(["seed=2", "clusters=reform"])[1]
    with pytest.raises(ConfigError) as slow:
        load_config(["clusters=reform", "seed=[1"])
    with pytest.raises(ConfigError) as fast:
        configs.config(["clusters=reform", "seed=[1"])  # a line that does not parse: the full way's error
    assert str(fast.value) == str(slow.value)


def test_the_fast_way_refuses_what_load_config_refuses_with_the_same_line() -> None:
    configs = JobConfigs()
    for bad in (["staffing.run_fte=-1"], ["staffing.run_fte=abc"], ["replication=1.5"], ["staffing.run_ft=3"]):
        with pytest.raises(ConfigError) as slow:
            load_config(bad)
        with pytest.raises(ConfigError) as fast:
            configs.config(bad)
        assert str(fast.value) == str(slow.value)


def test_the_fast_way_never_changes_the_cached_base() -> None:
    configs = JobConfigs()
    a = configs.config(["clusters=reform", "staffing.run_fte=28"])
    b = configs.config(["clusters=reform"])
    assert a.staffing.run_fte == 28.0 and b.staffing.run_fte == load_config(["clusters=reform"]).staffing.run_fte


def test_config_yaml_is_omegaconfs_text() -> None:
    for overrides in (JOBS[0], JOBS[2], JOBS[6], ["population=region_all_firms", "clusters=twelve_retender"]):
        cfg = load_config(overrides)
        assert config_yaml(cfg) == config_yaml_reference(cfg)


def test_batches_cover_every_job_once_in_order() -> None:
    jobs = [[f"replication={i}"] for i in range(11)]
    for per_job, workers in ((0, 2), (0, 1), (0, 64), (3, 2), (1, 2), (50, 2)):
        got = batches(jobs, per_job, workers)
        assert [j for b in got for j in b] == jobs
        if per_job:
            assert max(len(b) for b in got) == per_job or len(got) == 1
        else:
            assert len(got) == min(len(jobs), 2 * workers) or len(got) <= 2 * workers
    assert batches([], 0, 2) == []
    many = [[f"replication={i}"] for i in range(5000)]
    assert max(len(b) for b in batches(many, 0, 2)) == 1000  # automatic batches stay bounded
    assert decode_batch(encode_batch(jobs)) == jobs
    assert launcher_workers({"_target_": "hydra_plugins.hydra_joblib_launcher.x", "n_jobs": 3}) == 3
    assert launcher_workers({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}) == 1
    assert launcher_workers({"_target_": "hydra_plugins.hydra_ray_launcher.x", "ray": {"init": {"num_cpus": 4}}}) == 4


def test_the_sweeper_refuses_a_bad_job_in_one_line_and_passes_good_ones() -> None:
    """The representative jobs are checked and composed by clustersim (one line naming the key)."""
    from clustersim.overrides import INTERNAL_GROUPS, USER_GROUPS

    # not through __init__: Hydra's plugin scan may load BasicSweeper's module a second time
    sweeper = ClusterSweeper.__new__(ClusterSweeper)
    sweeper._groups = frozenset(USER_GROUPS) | frozenset(INTERNAL_GROUPS)  # what Hydra's loader lists
    good = [
        ["experiment=twelve_vs_seven", f"clusters={arm}", f"replication={i}", *FAST]
        for arm in ("twelve", "reform")
        for i in range(3)
    ]
    sweeper.validate_batch_is_legal(good)
    for bad, key, says in (
        (["clusters=twelev", "replication=0", *FAST], "clusters", "did you mean"),
        (["clusters=reform", "replication=0", "staffing.run_ftee=3", *FAST], "staffing.run_ftee", "no such key"),
    ):
        with pytest.raises(ConfigError) as err:
            sweeper.validate_batch_is_legal([good[0], bad])
        assert err.value.key == key and says in str(err.value) and "\n" not in str(err.value)


def test_choosing_the_option_already_chosen_is_not_composed_again_and_composes_the_same() -> None:
    """The sweeper's check skips a set of group choices that only repeats what a composed set chose."""
    from omegaconf import OmegaConf

    from clustersim import config

    base = ["experiment=twelve_vs_seven", "hydra.sweep.dir=/tmp/elsewhere", *FAST]  # as the command line checks it
    config.compose(base)
    same = ["clusters=twelve", "experiment=twelve_vs_seven", *FAST]  # a job: the experiment's own choice, no hydra.*
    other = ["clusters=reform", "experiment=twelve_vs_seven", *FAST]
    assert config._chosen_already(tuple(config._split(same)[0]))
    assert not config._chosen_already(tuple(config._split(other)[0]))
    assert OmegaConf.to_yaml(config.compose(same)) == OmegaConf.to_yaml(config.compose(base))
    assert OmegaConf.to_yaml(config.compose(other)) != OmegaConf.to_yaml(config.compose(base))


def test_joblibs_workers_are_released_as_soon_as_the_runs_are_done() -> None:
    """The idle pool is shut down before the merge and report, not at the interpreter's exit."""
    from joblib import Parallel, delayed
    from joblib.externals.loky import reusable_executor

    assert Parallel(n_jobs=2, backend="loky")(delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]
    executor = reusable_executor._executor
    assert executor is not None and not executor._flags.shutdown
    release_joblib_workers()
    assert executor._flags.shutdown
    release_joblib_workers()  # twice, or with no pool: nothing happens
    assert Parallel(n_jobs=2, backend="loky")(delayed(abs)(-i) for i in range(2)) == [0, 1]  # a new pool


def test_the_workers_the_command_line_starts_are_the_launchers_own() -> None:
    """Workers started before Hydra composes the sweep are handed to the sweeper and used by the launcher."""
    import os
    import types

    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg
    from joblib import Parallel, delayed
    from joblib.externals.loky import reusable_executor

    from clustersim.config import launcher_settings
    from hydra_plugins.clustersim_sweeper import clustersim_sweeper as plugin

    release_joblib_workers()
    settings = launcher_settings(["experiment=twelve_vs_seven", "hydra.launcher.n_jobs=2", *FAST])
    assert plugin.warm_joblib_early(settings)
    assert not plugin.warm_joblib_early(launcher_settings(["population=small"]))  # the basic launcher: nothing

    launcher = types.SimpleNamespace(joblib={k: v for k, v in settings.items() if k != "_target_"})  # as Hydra makes it
    thread = plugin.warm_joblib_workers(launcher)
    assert thread is not None and not plugin._EARLY  # the command line's warming, handed over
    thread.join(120)
    executor = reusable_executor._executor
    warm = set(executor._processes)
    assert len(warm) == 2
    cfg = dict(launcher.joblib, backend="loky")  # the launcher's own Parallel (its launch())
    process_joblib_cfg(cfg)
    pids = Parallel(**cfg)(delayed(os.getpid)() for _ in range(6))
    assert set(pids) <= warm and reusable_executor._executor is executor  # the same pool, not restarted
    release_joblib_workers()


def test_a_run_without_microdata_writes_the_same_other_tables_under_its_own_name(tmp_path: Path) -> None:
    """microdata=false drops firms.parquet only; the default keeps the run names written before the key."""
    import dataclasses
    import hashlib
    import json

    from clustersim.results import TABLES, run_name
    from clustersim.runner import run_and_save

    window = ["population=small", "start=2016-01", "end=2017-03", "report_start=2016-10", f"output_dir={tmp_path}"]
    with_firms = run_and_save(load_config(window))
    without = run_and_save(load_config([*window, "microdata=false"]))
    assert with_firms.written and without.written and with_firms.folder != without.folder
    assert (with_firms.folder / "firms.parquet").is_file() and not (without.folder / "firms.parquet").exists()
    for table in TABLES:
        if table != "firms":
            a = (with_firms.folder / f"{table}.parquet").read_bytes()
            assert a == (without.folder / f"{table}.parquet").read_bytes(), table
    meta = json.loads((without.folder / "metadata.json").read_text())
    assert set(meta["tables"]) == set(TABLES) - {"firms"}
    # the default's hash is the hash of the configuration without the key (the names written before it)
    cfg = load_config(window)
    data = dataclasses.asdict(cfg)
    for key in ("output_dir", "progress", "comparison", "microdata"):
        data.pop(key)
    old = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert config_hash(cfg) == old and run_name(cfg).endswith(old[:12])
    # asked again, each is reused, not recomputed
    assert not run_and_save(load_config([*window, "microdata=false"])).written
    assert not run_and_save(load_config(window)).written


def test_replications_flag_is_the_replication_range() -> None:
    from clustersim.cli import replications_flag

    assert replications_flag(["-m", "experiment=x", "--replications", "200"]) == [
        "-m",
        "experiment=x",
        "replication=range(0,200)",
    ]
    assert replications_flag(["--replications=5", "seed=1"]) == ["seed=1", "replication=range(0,5)"]
    assert replications_flag(["seed=1"]) == ["seed=1"]
    bad_args = (["--replications", "0"], ["--replications=2.5"], ["--replications"])
    for bad in (*bad_args, ["--replications=3", "replication=1"]):
        with pytest.raises(ConfigError):
            replications_flag(bad)


def _sweep(tmp_path: Path, name: str, *args: str) -> Path:
    out = tmp_path / name
    cmd = [CLUSTERSIM, "-m", "experiment=twelve_vs_seven", "replication=range(0,3)", *FAST, *args]
    proc = subprocess.run([*cmd, f"hydra.sweep.dir={out}"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_batched_and_one_job_per_run_sweeps_give_the_same_bytes(tmp_path: Path) -> None:
    """Runs launched three to a job or one per job: the same run folders, byte for byte, and the same merge."""
    one = _sweep(tmp_path, "one", "hydra/launcher=basic", "hydra.sweeper.runs_per_job=1")
    three = _sweep(tmp_path, "three", "hydra/launcher=joblib_progress", "hydra.launcher.n_jobs=2")
    runs = sorted(p.name for p in (one / "runs").iterdir() if not p.name.startswith("."))
    assert runs == sorted(p.name for p in (three / "runs").iterdir() if not p.name.startswith("."))
    assert len(runs) == 6
    for run in runs:
        for table in ("monthly", "summary", "accounts", "ties", "firms", "proposals", "calls", "projects"):
            a = (one / "runs" / run / f"{table}.parquet").read_bytes()
            assert a == (three / "runs" / run / f"{table}.parquet").read_bytes(), (run, table)
    for table in ("summary", "monthly", "accounts", "runs"):
        a, b = (pd.read_parquet(d / f"{table}.parquet") for d in (one, three))
        pd.testing.assert_frame_equal(a, b)
    assert (one / "effects.csv").read_text() == (three / "effects.csv").read_text()


def test_the_streamed_merge_equals_a_concatenation_of_the_runs(tmp_path: Path) -> None:
    """summary.parquet holds every complete run's rows with its identity, as a concatenation would."""
    from clustersim import store

    out = _sweep(tmp_path, "s", "hydra/launcher=basic", "staffing.run_fte=21,25")
    store.MERGE_ROWS, before = 100, store.MERGE_ROWS  # several row groups, so the stream is really cut
    try:
        data = store.merge_sweep(out)
    finally:
        store.MERGE_ROWS = before
    runs = data["runs"]
    summary = pd.read_parquet(out / "summary.parquet")
    frames = []
    for run in runs["run"]:
        t = pd.read_parquet(out / "runs" / run / "summary.parquet")
        frames.append(t.assign(run=run))
    want = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(summary[list(want.columns)], want, check_dtype=False)
    assert set(summary["param.staffing.run_fte"]) == {"21", "25"}
    assert data["summary"].equals(summary)  # read when asked for
    monthly = store.read_monthly(out, kpis=["members"], columns=["run", "kpi", "value"])
    assert set(monthly["kpi"]) == {"members"} and len(monthly) == 12 * 37


def test_a_report_whose_shaded_periods_end_after_the_runs(tmp_path: Path) -> None:
    """The monthly series are read lean (categories), and dates are still compared as text."""
    cmd = [CLUSTERSIM, "-m", "experiment=twelve_vs_seven", "replication=range(0,2)", "population=small"]
    cmd += ["start=2016-01", "end=2016-12", "report_start=2016-01", "hydra/launcher=basic"]
    proc = subprocess.run([*cmd, f"hydra.sweep.dir={tmp_path / 's'}"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "s" / "figures" / "series.svg").is_file()


def test_a_sweep_process_freezes_its_imported_objects_once_before_its_first_batch() -> None:
    """Full collections after a run no longer walk the imported libraries (gc.freeze), and only once."""
    import subprocess
    import sys

    code = (
        "import gc, clustersim.sweep as s; before = gc.get_freeze_count(); s._freeze_imports();"
        " once = gc.get_freeze_count(); s._freeze_imports(); print(before, once, gc.get_freeze_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    before, once, again = map(int, out)
    assert once > before + 10_000 and again == once  # the imports (Hydra, OmegaConf...): tens of thousands
