"""Every option of every config group composes, validates and runs a few months."""

from __future__ import annotations

from pathlib import Path

import pytest

from clustersim.config import config_dir, load_config
from clustersim.runner import simulate

GROUPS = ("region", "population", "clusters", "funding", "staffing", "behaviour")


def options(group: str) -> list[str]:
    """The option files of a config group."""
    return sorted(p.stem for p in (Path(config_dir()) / group).glob("*.yaml"))


CASES = [(g, o) for g in GROUPS for o in options(g)]


def test_every_group_has_options() -> None:
    for group in GROUPS:
        assert options(group), f"config group {group} has no option"


@pytest.mark.parametrize(("group", "option"), CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_option_composes_and_runs(group: str, option: str) -> None:
    overrides = [f"{group}={option}", "progress=false", "start=2016-06", "end=2016-11", "report_start=2016-06"]
    if group != "population":
        overrides.append("population=small")
    elif option == "region_all_firms":
        # the whole region composes and validates; a run of it is the benchmark's job
        cfg = load_config(overrides)
        assert cfg.population.n_smes + cfg.population.n_large_firms == 428_457
        return
    cfg = load_config(overrides)
    tables = simulate(cfg)
    months = tables["monthly"]["month"].unique()
    assert list(months) == list(range(6))
    summary = tables["summary"].set_index(["kpi", "cluster"])["value"]
    assert summary[("members", "all")] >= 0
    acc = tables["accounts"]
    assert (acc["allocated_cents"] == acc["spent_cents"] + acc["transferred_out_cents"] + acc["left_over_cents"]).all()


def test_named_scenarios_match_the_practice() -> None:
    cfg = load_config([])
    assert cfg.clusters.name == "twelve" and len(cfg.clusters.periods[0].mapping) == 12
    assert cfg.funding.programmes["erdf_2014_2020"].cmo_grant_eur == 5_000_000
    assert (cfg.staffing.setup_fte, cfg.staffing.run_fte) == (6.0, 21.0)
    seven = load_config(["clusters=seven"]).clusters.periods[0].mapping
    assert len(seven) == 7
    assert sorted(d for ds in seven.values() for d in ds) == sorted(cfg.region.domains)
    half = load_config(["funding=erdf_half"]).funding.programmes["erdf_2014_2020"].cmo_grant_eur
    double = load_config(["funding=erdf_double"]).funding.programmes["erdf_2014_2020"].cmo_grant_eur
    assert (half, double) == (2_500_000, 10_000_000)
    reform = load_config(["clusters=reform"]).clusters.periods
    assert [len(p.mapping) for p in reform] == [12, 7] and reform[1].start == "2016-09"


def test_behaviour_default_sets_every_parameter_explicitly() -> None:
    """Parameters come from configuration files, not from defaults in src/."""
    import dataclasses

    import yaml

    from clustersim.config import BehaviourConfig

    data = yaml.safe_load((Path(config_dir()) / "behaviour" / "default.yaml").read_text())

    def walk(schema: type, node: dict, path: str) -> None:
        for f in dataclasses.fields(schema):
            assert f.name in node, f"{path}{f.name} is not set in conf/behaviour/default.yaml"
            if dataclasses.is_dataclass(f.type if isinstance(f.type, type) else None):
                walk(f.type, node[f.name], f"{path}{f.name}.")

    hints = {f.name: f for f in dataclasses.fields(BehaviourConfig)}
    assert set(hints) <= set(data)
    for name in ("membership", "cmo", "ties", "calls", "training", "international", "dynamics"):
        sub = getattr(BehaviourConfig(), name)
        walk(type(sub), data[name], f"behaviour.{name}.")


@pytest.mark.parametrize(
    "override", ["progress=2", "progress=0", "calibrate.progress=1", "clusters.periods.0.relaunch=1", "progress=1.5"]
)
def test_a_number_is_not_a_flag(override: str) -> None:
    """OmegaConf would read progress=2 as true; a flag takes true or false, and the key is named."""
    from clustersim.errors import ConfigError

    key, value = override.split("=")
    with pytest.raises(ConfigError) as info:
        load_config(["population=small", override])
    assert str(info.value) == f"invalid configuration: {key}: got {value}; allowed: true or false"
