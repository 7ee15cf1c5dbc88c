"""Fuzzing the command line's grammar and the valid configurations: no traceback, no bad input accepted.

Hypothesis draws overrides from the Hydra override grammar: keys of the schema with values
inside and outside what each key allows (from the schema's own declarations), wrong types,
interpolations, unknown and misspelled keys, ``+``/``++``/``~`` prefixes, keys set twice,
group options that do not exist, and free text in the grammar's alphabet. Each case is run
through :func:`clustersim.config.load_config` in this process (what the command does
before Hydra starts), and must either

- be refused with one :class:`ConfigError` line (``invalid configuration: <key>: ...;
  allowed: ...``) when it was built bad, or
- be accepted, with the value landed where it was set, when it was built good.

Free text may go either way, but never with another exception. The valid configurations
are also run (short windows on the small population): they run, keep money exact, and
every KPI without a value says why. A handful of cases go through the real command line
in tests/test_cli.py.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import string
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, ListConfig, OmegaConf

from clustersim import months
from clustersim.config import Config, ConfigError, compose, load_config
from clustersim.kpis import KPI_BY_NAME
from clustersim.overrides import USER_GROUPS, group_options
from clustersim.schema import Allowed, allowed_at

SMALL = ["population=small", "progress=false"]
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    derandomize=True,  # the same cases on every machine: a failure is reproducible from CI
    database=None,
)
KEYWORDS = {"true", "false", "null", "nan", "inf", "yes", "no", "on", "off", "none"}

# keys whose values are tied to others by a cross-field rule, or that change the window:
# they are fuzzed as bad values only (a good value there may break another rule)
TIED = (
    "start",
    "end",
    "report_start",
    "output_dir",
    "task",
    "region.domains",
    "region.domain_firm_shares",
    "region.domain_families",
    "region.research_organisations.domains_per_org",
    "population.sme_size_shares",
    "population.employees_",
    "clusters.",
    "funding.",
    "behaviour.cmo.action_plan",
    "behaviour.ties.p_min",
    "behaviour.ties.p_max",
    "behaviour.calls.consortium_",
    "sensitivity.",
    "calibrate.spec",
    "comparison.title",
)


def _leaves(node: Any, prefix: str = "") -> list[str]:
    out = []
    if isinstance(node, DictConfig):
        for k in node:
            out += _leaves(node._get_node(k), f"{prefix}{k}.")
    elif isinstance(node, ListConfig) and len(node) and isinstance(node._get_node(0), DictConfig):
        for i in range(len(node)):
            out += _leaves(node._get_node(i), f"{prefix}{i}.")
    else:
        out.append(prefix[:-1])
    return out


BASE = compose(["population=small", "clusters=reform"])
KEYS: dict[str, Allowed] = {}
for _key in _leaves(BASE):
    _allowed = allowed_at(Config, _key)
    if _allowed is not None:
        KEYS[_key] = _allowed
FREE_KEYS = sorted(
    k
    for k, a in KEYS.items()
    if not k.startswith(TIED) and a.kind not in ("list", "mapping", "text") and k != "progress"
)
ALL_KEYS = sorted(KEYS)


def test_the_fuzzed_keys_cover_the_schema() -> None:
    assert len(ALL_KEYS) > 150 and len(FREE_KEYS) > 80
    assert "staffing.run_fte" in FREE_KEYS and "funding.programmes.erdf_2014_2020.calls.0.budget_eur" in ALL_KEYS


# ------------------------------------------------------------------------- values
def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def good_values(a: Allowed) -> st.SearchStrategy[Any]:
    """Values the key allows (as Python values)."""
    if a.kind == "number":
        assert a.lo is not None and a.hi is not None
        return st.floats(
            a.lo, a.hi, exclude_min=a.lo_open, exclude_max=a.hi_open, allow_nan=False, allow_subnormal=False
        )
    if a.kind == "integer":
        return st.integers(int(a.lo), int(a.hi))  # type: ignore[arg-type]
    if a.kind == "flag":
        return st.booleans()
    if a.kind == "choice":
        return st.sampled_from([c for c in a.choices if str(c).lower() not in KEYWORDS])
    if a.kind == "name":
        return st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True).filter(lambda s: s not in KEYWORDS)
    if a.kind == "month":
        return st.integers(*months.CALENDAR).map(months.month_label)
    raise AssertionError(a.kind)


def bad_values(a: Allowed) -> st.SearchStrategy[str]:
    """Override texts (the part after '=') the key does not allow."""
    wrong_type = st.sampled_from(["abc", "[1,2]", "{a: 1}", "null", "''", "x y"])
    if a.kind in ("number", "integer"):
        assert a.lo is not None and a.hi is not None
        lo, hi = float(a.lo), float(a.hi)  # floats: an integer range as wide as seeds' is not exact
        span = max(abs(hi - lo), 1.0)
        below = st.floats(lo - 10 * span, lo, exclude_max=not a.lo_open, allow_nan=False)
        above = st.floats(hi, hi + 10 * span, exclude_min=not a.hi_open, allow_nan=False)
        special = st.sampled_from(["nan", "inf", "-inf", "1e300", "-1e300", "9223372036854775808", "1e26"])
        outside = st.one_of(below, above).filter(lambda v: not (a.lo <= v <= a.hi)).map(_fmt)
        extra = [st.sampled_from(["1.5", "2.25", "true"])] if a.kind == "integer" else [st.just("true")]
        return st.one_of(outside, special, wrong_type, *extra)
    if a.kind == "flag":
        return st.sampled_from(["maybe", "2", "abc", "[true]", "null", "{a: 1}"])
    if a.kind == "choice":
        words = st.from_regex(r"[a-z]{1,12}", fullmatch=True).filter(lambda w: w not in a.choices)
        return st.one_of(words, st.sampled_from(["[a]", "null", "3", "{a: 1}"]))
    if a.kind == "name":
        return st.sampled_from(["'bad name'", "'../up'", "''", "'x/y'", "a" * 65, "'-x'", "null", "[a]", "{a: b}"])
    if a.kind == "month":
        dates = ["0000-01", "1899-12", "1949-12", "2101-01", "2200-01", "9999-12", "2016-13", "2016-00", "2016-1"]
        return st.sampled_from([*dates, "x", "201601", "[2016-01]", "null"])
    if a.kind == "list":
        return st.sampled_from(["3", "abc", "null", "{a: 1}", "[[[1]]]"])
    if a.kind == "mapping":
        return st.sampled_from(["3", "abc", "null", "[1,2]", "{}"])
    if a.kind == "text":
        return st.sampled_from(["[1]", "{a: 1}", "null"] if a.min_len == 0 else ["''", "[1]", "null"])
    raise AssertionError(a.kind)


def value_at(cfg: Config, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node[part]
        else:
            node = getattr(node, part)
    return node


def assert_one_line_refusal(err: ConfigError, key_head: str = "") -> None:
    text = str(err)
    assert "\n" not in text and text.startswith("invalid configuration: ") and "allowed" in text, text
    if key_head:
        assert err.key.split(".")[0].split("[")[0] == key_head, (err.key, key_head, text)


# -------------------------------------------------------------- cases: bad by construction
@st.composite
def bad_value_cases(draw: st.DrawFn) -> tuple[str, str]:
    key = draw(st.sampled_from(ALL_KEYS))
    return key, f"{key}={draw(bad_values(KEYS[key]))}"


def _mutate(key: str, draw: st.DrawFn) -> str:
    parts = key.split(".")
    i = draw(st.integers(0, len(parts) - 1))
    word = parts[i]
    how = draw(st.sampled_from(["drop", "swap", "add", "case"]))
    j = draw(st.integers(0, max(len(word) - 1, 0)))
    if how == "drop" and len(word) > 1:
        word = word[:j] + word[j + 1 :]
    elif how == "swap" and len(word) > 1:
        k = min(j + 1, len(word) - 1)
        word = word[:j] + word[k] + word[j] + word[k + 1 :] if k != j else word + "x"
    elif how == "add":
        word = word[:j] + draw(st.sampled_from("xqz_")) + word[j:]
    else:
        word = word.upper()
    parts[i] = word
    return ".".join(parts)


@st.composite
def bad_key_cases(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Overrides with a key problem: (the key's first part, the overrides)."""
    kind = draw(st.sampled_from(["unknown", "misspelled", "plus", "plusplus", "delete", "twice", "interpolation"]))
    key = draw(st.sampled_from(ALL_KEYS))
    value = _fmt(value_at_base(key)) if kind in ("plus", "plusplus", "twice") else "1"
    if kind == "unknown":
        name = draw(st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True))
        assume(name not in {f.name for f in dataclasses.fields(Config)} and name not in USER_GROUPS)
        assume(name not in ("hydra", "programme"))
        return name, [f"{name}={draw(st.sampled_from(['1', 'x', '[1]']))}"]
    if kind == "misspelled":
        wrong = _mutate(key, draw)
        assume(wrong not in KEYS and wrong.split(".")[0] not in (*USER_GROUPS, "hydra", "programme"))
        assume(not _free_name(wrong))
        return wrong.split(".")[0], [f"{wrong}=1"]
    if kind == "plus":
        return key.split(".")[0], [f"+{key}={value}"]
    if kind == "plusplus":
        assume(not _free_name(key))  # ++ may set a name of a free mapping (an extension point)
        return key.split(".")[0], [f"++{key}={value}"]
    if kind == "delete":
        assume(not _free_name(key))
        return key.split(".")[0], [f"~{key}"]
    if kind == "twice":
        other = draw(bad_values(KEYS[key])) if KEYS[key].kind not in ("list", "mapping", "text") else "[]"
        assume(other != value)
        return key.split(".")[0], [f"{key}={value}", f"{key}={other}"]
    inner = draw(st.sampled_from(["nope", "seed", "oc.env:HOME", "oc.decode:1", "oc.create:{}", "..x"]))
    wrap = draw(st.sampled_from(["${%s}", "a${%s}b", "'${%s}'", "[${%s}]"]))
    return key.split(".")[0], [f"{key}={wrap % inner}"]


def _free_name(dotted: str) -> bool:
    """A name inside a mapping whose names are free (a cluster of a period), which '+' may add."""
    from clustersim.overrides import _resolve

    return _resolve(dotted, Config)[0] == "free"


def value_at_base(key: str) -> Any:
    v = OmegaConf.select(BASE, key)
    return OmegaConf.to_container(v) if isinstance(v, DictConfig | ListConfig) else v


@st.composite
def bad_group_cases(draw: st.DrawFn) -> tuple[str, list[str]]:
    group = draw(st.sampled_from([g for g in USER_GROUPS if g != "experiment"]))
    options = group_options(group)
    bad = draw(
        st.one_of(
            st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True).filter(lambda o: o not in options),
            st.sampled_from([f"{group}_schema", "null", "[a,b]", "''", "{a: 1}", "1"]),
        )
    )
    form = draw(st.sampled_from(["{g}={o}", "~{g}", "{g}={o},{o}", "@{g}={o}", "{g}@x={o}", "programme={o}"]))
    text = form.format(g=group, o=bad)
    head = "programme" if text.startswith("programme") else group if not text.startswith("@") else "overrides"
    return head, [text]


# ------------------------------------------------------------------------------ tests
@pytest.mark.slow
@settings(FUZZ, max_examples=450)
@given(bad_value_cases())
def test_a_value_a_key_does_not_allow_is_refused_in_one_line(case: tuple[str, str]) -> None:
    key, override = case
    with pytest.raises(ConfigError) as info:
        load_config([*SMALL, override])
    assert_one_line_refusal(info.value, key.split(".")[0])


@settings(FUZZ, max_examples=300)
@given(bad_key_cases())
def test_a_bad_key_prefix_or_interpolation_is_refused_in_one_line(case: tuple[str, list[str]]) -> None:
    head, overrides = case
    event(overrides[0][:2] if overrides[0][0] in "+~" else "key")
    with pytest.raises(ConfigError) as info:
        load_config([*SMALL, *overrides])
    assert_one_line_refusal(info.value, head if head != "overrides" else "")


@settings(FUZZ, max_examples=100)
@given(bad_group_cases())
def test_a_bad_group_option_is_refused_in_one_line(case: tuple[str, list[str]]) -> None:
    head, overrides = case
    with pytest.raises(ConfigError) as info:
        load_config([*SMALL, *overrides])
    assert_one_line_refusal(info.value)
    assert info.value.key in (head, "overrides") or info.value.key.startswith(head), (info.value.key, overrides)


@pytest.mark.slow
@settings(FUZZ, max_examples=250)
@given(st.lists(st.sampled_from(FREE_KEYS), min_size=1, max_size=4, unique=True), st.data())
def test_values_a_key_allows_are_accepted_and_land_where_they_were_set(keys: list[str], data: st.DataObject) -> None:
    values = {k: data.draw(good_values(KEYS[k]), label=k) for k in keys}
    cfg = load_config([*SMALL, *(f"{k}={_fmt(v)}" for k, v in values.items())])
    for k, v in values.items():
        got = value_at(cfg, k)
        if isinstance(v, float):
            assert got == pytest.approx(v, rel=1e-12, abs=0), k
        else:
            assert got == v, k


ALPHABET = string.ascii_lowercase[:6] + "._=+~@[]{}(),:'\"$ 019-"


@settings(FUZZ, max_examples=200)
@given(st.lists(st.text(ALPHABET, min_size=0, max_size=24), min_size=1, max_size=3))
def test_any_text_is_read_or_refused_in_one_line_never_a_traceback(overrides: list[str]) -> None:
    try:
        load_config([*SMALL, *overrides])
    except ConfigError as err:
        event("refused")
        assert "\n" not in str(err) and str(err).startswith("invalid configuration: ")
        return
    event("accepted")


# ---------------------------------------------------------- valid configurations run
RUN_KEYS = [
    k
    for k in FREE_KEYS
    if k.startswith(("behaviour.", "staffing.", "population.", "region.n_", "region.inter", "seed", "replication"))
    and k not in ("population.n_smes", "population.n_large_firms", "population.name")
]


@st.composite
def valid_runs(draw: st.DrawFn) -> list[str]:
    """A short window around the calls and the reform, a cluster option, and up to five values."""
    start = draw(st.integers(months.month_index("2015-06"), months.month_index("2017-06")))
    end = start + draw(st.integers(0, 12))
    report = draw(st.integers(start, end))
    overrides = [f"start={months.month_label(start)}", f"end={months.month_label(end)}"]
    overrides.append(f"report_start={months.month_label(report)}")
    overrides.append("clusters=" + draw(st.sampled_from(["twelve", "seven", "reform"])))
    overrides.append("funding=" + draw(st.sampled_from(group_options("funding"))))
    overrides.append("staffing=" + draw(st.sampled_from(group_options("staffing"))))
    for k in draw(st.lists(st.sampled_from(RUN_KEYS), max_size=5, unique=True)):
        overrides.append(f"{k}={_fmt(draw(good_values(KEYS[k])))}")
    overrides.append(f"population.n_smes={draw(st.integers(10, 1500))}")
    overrides.append(f"population.n_large_firms={draw(st.integers(0, 10))}")
    return overrides


@pytest.mark.slow
@settings(FUZZ, max_examples=40)
@given(valid_runs())
def test_a_valid_configuration_runs_keeps_money_exact_and_explains_every_missing_kpi(overrides: list[str]) -> None:
    from clustersim.runner import simulate

    try:
        cfg = load_config([*SMALL, *overrides])
    except ConfigError as err:
        # only a cross-field rule may refuse a combination of values each allowed alone
        assert err.key.startswith(("behaviour.ties.p_", "behaviour.calls.consortium_max")), str(err)
        return
    tables = simulate(copy.deepcopy(cfg))
    acc = tables["accounts"]
    assert (acc["allocated_cents"] == acc["spent_cents"] + acc["transferred_out_cents"] + acc["left_over_cents"]).all()
    summary = tables["summary"]
    missing = ~np.isfinite(summary["value"].to_numpy(dtype=float))
    for kpi, note in zip(summary.loc[missing, "kpi"], summary.loc[missing, "note"], strict=True):
        event(f"not defined: {kpi}")
        assert KPI_BY_NAME[kpi].undefined, f"{kpi} can be NaN but docs/ODD.md and kpis.py do not say when"
        assert note == f"not defined: {KPI_BY_NAME[kpi].undefined}"
    assert (summary.loc[~missing, "note"] == "").all()
    assert all(math.isfinite(v) for v in acc["allocated_cents"])
