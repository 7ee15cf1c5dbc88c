"""The schema declares what every field allows; the YAML is the one source of values; layers point one way."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml

from clustersim import months, schema
from clustersim.config import SCHEMAS, Config, ConfigError, config_dir, load_config, validate
from clustersim.schema import MISSING, Allowed, allowed_at, check_value

NUMERIC = ("number", "integer")


def leaf_fields(cls: type = Config, prefix: str = "") -> list[tuple[str, dataclasses.Field]]:
    """Every field of the schema that holds a value (not a section), by dotted key."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        element = typing.get_args(tp)[-1] if typing.get_args(tp) else None
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            out += leaf_fields(tp, key + ".")
            continue
        out.append((key, f))
        if dataclasses.is_dataclass(element):
            marker = "0" if typing.get_origin(tp) is list else "<name>"
            out += leaf_fields(element, f"{key}.{marker}.")
    return out


LEAVES = leaf_fields()


def test_the_schema_has_its_leaves() -> None:
    keys = {k for k, _ in LEAVES}
    assert {"seed", "staffing.run_fte", "clusters.periods.0.mapping", "funding.programmes.<name>.cmo_grant_eur"} <= keys
    assert len(keys) > 120


@pytest.mark.parametrize(("key", "f"), LEAVES, ids=[k for k, _ in LEAVES])
def test_every_field_declares_what_it_allows_and_has_no_default(key: str, f: dataclasses.Field) -> None:
    allowed = f.metadata.get("allowed")
    assert isinstance(allowed, Allowed), f"{key} declares nothing it allows"
    assert f.default == MISSING and f.default_factory is dataclasses.MISSING, f"{key}: a default beside the YAML"
    assert allowed.describe() and f.metadata.get("doc"), key
    # upper bounds on every count, amount and date; every list and mapping has a length bound
    rules = [allowed, allowed.item] if allowed.item is not None else [allowed]
    for a in rules:
        if a.kind in NUMERIC:
            assert a.lo is not None and a.hi is not None and a.hi < 1e19, key
        if a.kind in ("list", "mapping"):
            assert a.max_len is not None, key
        if a.kind == "text":
            assert a.max_len is not None, key


def test_every_date_is_a_bounded_month() -> None:
    dates = [k for k, f in LEAVES if f.metadata["allowed"].kind == "month"]
    dates += [k for k, f in LEAVES if (f.metadata["allowed"].item or Allowed("x")).kind == "month"]
    assert {"start", "end", "clusters.periods.0.start", "clusters.periods.0.cluster_meetings"} <= set(dates)
    assert {"funding.programmes.<name>.calls.0.opens", "funding.programmes.<name>.cmo_grant_disbursements"} <= set(
        dates
    )
    for bad in ("0000-01", "1899-12", "9999-01", "2200-01", "2016-13", "2016-1"):
        with pytest.raises(ConfigError):
            check_value(bad, schema.month(), "start")
    check_value(months.FIRST_MONTH, schema.month(), "start")
    check_value(months.LAST_MONTH, schema.month(), "start")


def test_every_yaml_value_is_a_schema_key_and_every_option_sets_every_key() -> None:
    """conf/ and the dataclasses in sync: composing every option leaves no value missing."""
    for group in SCHEMAS:
        for path in sorted((Path(config_dir()) / group).glob("*.yaml")):
            cfg = load_config([f"{group}={path.stem}", "population=small"] if group != "population" else [])
            assert cfg is not None
    # a value missing from the YAML is named, not defaulted silently
    from omegaconf import OmegaConf

    from clustersim.config import compose, to_config

    composed = compose([])
    OmegaConf.update(composed, "staffing.run_fte", MISSING)
    with pytest.raises(ConfigError, match=r"staffing.run_fte: missing; allowed: a number from 0 to 1,000"):
        to_config(composed)


def test_allowed_at_reads_list_items_and_mapping_values() -> None:
    assert allowed_at(Config, "staffing.run_fte").kind == "number"
    assert allowed_at(Config, "clusters.periods.1.start").kind == "month"
    assert allowed_at(Config, "funding.programmes.erdf_2014_2020.calls.0.budget_eur").hi == 1e12
    assert allowed_at(Config, "behaviour.membership.benefits.tie").kind == "number"
    assert allowed_at(Config, "behaviour.membership.benefits.nope") is None
    assert allowed_at(Config, "nope") is None


def test_a_new_field_only_declares_its_range() -> None:
    """The mechanism is general: a dataclass with param() fields is checked by the same walk."""

    @dataclasses.dataclass
    class Period:
        relaunch: bool = schema.param(schema.flag(), "re-launch the CMOs")
        weeks: int = schema.param(schema.integer(0, 52), "weeks")

    schema.check_tree(Period(relaunch=True, weeks=3))
    with pytest.raises(ConfigError, match=r"^invalid configuration: p.relaunch: got 'yes'; allowed: true or false$"):
        schema.check_tree(Period(relaunch="yes", weeks=3), "p")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"p.weeks: got 53; allowed: an integer from 0 to 52"):
        schema.check_tree(Period(relaunch=False, weeks=53), "p")


def test_message_format_is_kept() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(["population=small", "staffing.run_fte=-2"])
    assert str(info.value) == "invalid configuration: staffing.run_fte: got -2.0; allowed: a number from 0 to 1,000"
    assert info.value.key == "staffing.run_fte"


def test_cross_field_checks_still_name_their_key() -> None:
    base = load_config(["population=small", "clusters=reform"])
    cases = {
        "behaviour.ties.p_max": lambda c: setattr(c.behaviour.ties, "p_max", c.behaviour.ties.p_min / 2),
        "behaviour.calls.consortium_max": lambda c: setattr(c.behaviour.calls, "consortium_max", 1),
        "clusters.periods[1].mapping": lambda c: c.clusters.periods[1].mapping.pop("ict"),
    }
    import copy

    for key, change in cases.items():
        cfg = copy.deepcopy(base)
        change(cfg)
        with pytest.raises(ConfigError) as info:
            validate(cfg)
        assert info.value.key == key


def test_sensitivity_ranges_lie_within_their_keys() -> None:
    within = r"sensitivity.parameters\[0\].low: .*allowed: within behaviour.membership.review_rate"
    with pytest.raises(ConfigError, match=within):
        load_config(["sensitivity=morris", "sensitivity.parameters.0.low=-1"])  # review_rate is a share
    load_config(["sensitivity=morris"])
    load_config(["sensitivity=sobol"])


# ----------------------------------------------------------------------------- layers
def imported_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_config_is_a_leaf_of_the_model_and_the_experiment_machinery() -> None:
    mods = imported_after("import clustersim.config")
    for forbidden in ("clustersim.sensitivity", "clustersim.metrics", "clustersim.model", "clustersim.runner"):
        assert forbidden not in mods, forbidden
    assert "hydra" not in mods


def test_the_store_never_imports_hydra() -> None:
    mods = imported_after("import clustersim.store")
    assert "hydra" not in mods and "clustersim.sweep" not in mods


def test_leaf_modules_import_no_other_clustersim_module() -> None:
    allowed = {
        "clustersim.errors": set(),
        "clustersim.kpis": set(),
        "clustersim.atomic": set(),
        "clustersim.months": {"clustersim.errors"},
        "clustersim.schema": {"clustersim.errors", "clustersim.months"},
    }
    for module, deps in allowed.items():
        mods = {m for m in imported_after(f"import {module}") if m.startswith("clustersim.")}
        assert mods <= {module, *deps}, (module, mods - {module, *deps})


def test_the_command_starts_without_hydra_for_help() -> None:
    code = (
        "import sys, io, contextlib; from clustersim.cli import _main; buf = io.StringIO();\n"
        "with contextlib.redirect_stdout(buf): _main(['--help'])\n"
        "print('hydra' in sys.modules, 'pandas' in sys.modules, 'clustersim.model' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "False"]


def test_month_arithmetic_is_in_one_place() -> None:
    from clustersim.metrics import month_label as metrics_label

    assert months.month_index("2009-01") == 2009 * 12
    assert months.month_label(months.month_index("2016-09")) == "2016-09"
    assert months.add_months("2016-11", 3) == "2017-02"
    assert metrics_label(months.month_index("2015-06"), 7) == "2016-01"
    src = Path(__file__).resolve().parents[1] / "src" / "clustersim"
    offenders = [p.name for p in src.rglob("*.py") if "// 12" in p.read_text() and p.name != "months.py"]
    assert offenders == []


def test_yaml_of_options_declares_a_help_line() -> None:
    from clustersim.cli_help import option_help
    from clustersim.overrides import USER_GROUPS, group_options

    for group in USER_GROUPS:
        for option in group_options(group):
            assert option_help(group, option), f"conf/{group}/{option}.yaml has no '# help:' line"
    data = yaml.safe_load((Path(config_dir()) / "config.yaml").read_text())
    assert {"comparison", "calibrate", "task"} <= set(data)


def test_every_module_imports_on_its_own() -> None:
    """No import cycle: each module of the package imports first, in a clean module table."""
    code = """
import importlib, pkgutil, sys
import clustersim
names = sorted(m.name for m in pkgutil.walk_packages(clustersim.__path__, "clustersim."))
names = [n for n in names if not n.endswith(".__main__")]  # a __main__ runs its command
for name in names:
    for loaded in [m for m in sys.modules if m == "clustersim" or m.startswith("clustersim.")]:
        del sys.modules[loaded]
    importlib.import_module(name)
print(len(names))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout) > 30
