"""The scaffolding calibration and validation share (clustersim.study)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from clustersim.errors import ConfigError, SpecError
from clustersim.study import Scenario, interval, pool, run_all, scenario_config, spec_from_data


@dataclass
class Inner:
    size: int = 1
    names: list[str] = field(default_factory=list)


@dataclass
class Spec:
    title: str = "???"
    inner: Inner = field(default_factory=Inner)
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    path: str = ""

    def check(self) -> None:
        if self.inner.size < 1:
            raise SpecError("inner.size", f"got {self.inner.size}; allowed: an integer >= 1")


def test_a_spec_is_read_into_its_dataclasses_and_checked():
    spec = spec_from_data(Spec, {"title": "t", "scenarios": {"a": {"overrides": ["seed=1"]}}}, "here.yaml")
    assert spec == Spec("t", Inner(), {"a": Scenario("", ["seed=1"])}, "here.yaml")
    assert isinstance(spec.scenarios["a"], Scenario)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": "t", "inner": {"sise": 2}}, "inner.sise: no such key"),
        ({"title": "t", "inner": {"size": "big"}}, "inner.size: Value 'big' of type 'str' could not be converted"),
        ({"title": "t", "inner": {"names": "a"}}, "inner.names: "),
        ({"inner": {"size": 2}}, "title: missing; allowed: a value"),
        ({"title": "t", "inner": {"size": 0}}, "inner.size: got 0; allowed: an integer >= 1"),
        ({"title": "t", "scenarios": {"a": {"overides": []}}}, "scenarios.a.overides: no such key"),
        (["a list"], "spec: got list; allowed: a mapping"),
    ],
)
def test_a_bad_spec_is_one_line_naming_the_key(data, message):
    with pytest.raises(SpecError) as err:
        spec_from_data(Spec, data)
    text = str(err.value)
    assert text.startswith("invalid specification: ") and message in text and "\n" not in text
    assert isinstance(err.value, ConfigError)  # the commands report it as bad input (exit status 2)


def test_scenario_configs_share_seeds_and_leave_the_cached_composition_alone():
    a = scenario_config(["population=small"], seed=5, replication=2, params={"behaviour.membership.beta0": -1.5})
    b = scenario_config(["population=small"], seed=5, replication=2)
    assert (a.seed, a.replication, b.seed, b.replication) == (5, 2, 5, 2)
    assert a.behaviour.membership.beta0 == -1.5 != b.behaviour.membership.beta0
    assert a.progress is False
    with pytest.raises(ConfigError, match=r"behaviour\.membership\.beta0"):
        scenario_config(["population=small"], 0, 0, {"behaviour.membership.beta0": 1e9})


def test_run_all_keeps_the_order_of_the_tasks_in_process_and_over_a_pool():
    tasks = [9.0, 1.0, 4.0, 16.0, 0.0]
    assert run_all(math.sqrt, tasks) == [3.0, 1.0, 2.0, 4.0, 0.0]
    with pool(2) as executor:
        assert executor is not None
        assert run_all(math.sqrt, tasks, executor) == [3.0, 1.0, 2.0, 4.0, 0.0]
    with pool(1) as none:
        assert none is None


def test_interval_is_the_mean_and_t_interval_ignoring_non_finite_values():
    mean, low, high = interval([1.0, 3.0, math.nan])
    assert mean == 2.0 and low < 2.0 < high and high - mean == pytest.approx(mean - low)
    assert all(math.isnan(x) for x in interval([]))
