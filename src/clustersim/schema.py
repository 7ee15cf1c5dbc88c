"""What each configuration field allows, declared on the field, and one walk that checks it.

A schema field says what it allows in its metadata, and nothing else: its value comes from
the YAML under ``conf/`` (the one source of values; the dataclass default is ``???``,
OmegaConf's "missing")::

    @dataclass
    class StaffingConfig:
        run_fte: float = param(number(0, 10_000), "CMO staff (FTE) once the scheme runs")

:func:`check_tree` walks a configuration object and checks every field against what it
allows, naming the first bad value by its dotted key (``staffing.run_fte``, list items as
``clusters.periods[1]``) in the one-line message ``invalid configuration: <key>: got
<value>; allowed: <...>``. Checks that involve several fields (a mapping covers every
domain once, ``p_min <= p_max``...) are small functions in :mod:`clustersim.config`.

A new field only declares what it allows: ``relaunch: bool = param(flag(), "...")``.
A leaf module (it imports only :mod:`clustersim.errors` and :mod:`clustersim.months`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from clustersim import months
from clustersim.errors import ConfigError, refused

MISSING = "???"  # OmegaConf's marker of a value the YAML must give (omegaconf.MISSING)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class Allowed:
    """What one value may be. Build it with :func:`number`, :func:`integer`, :func:`list_of`..."""

    kind: str  # number | integer | flag | text | name | key | month | choice | list | mapping
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo itself is not allowed
    hi_open: bool = False
    choices: tuple[Any, ...] = ()
    keys: tuple[str, ...] = ()  # a mapping with exactly these keys
    min_len: int = 0
    max_len: int | None = None
    item: Allowed | None = None  # what each list item or mapping value allows (None: a schema section)
    words: str = ""  # how to say what is allowed, when the generic words would not do

    def describe(self) -> str:
        """What is allowed, in words (the part after ``allowed:`` of the message)."""
        if self.words:
            return self.words
        if self.kind in ("number", "integer"):
            return _describe_range(self)
        if self.kind == "flag":
            return "true or false"
        if self.kind == "name":
            return "a name of 1-64 letters, digits, '_' or '-' (starting with a letter or digit)"
        if self.kind == "key":
            return "a dotted key of the configuration"
        if self.kind == "month":
            return f"a month written YYYY-MM, from {months.FIRST_MONTH} to {months.LAST_MONTH}"
        if self.kind == "text":
            return f"a text of {self.min_len} to {self.max_len} characters"
        if self.kind == "choice":
            return f"one of {list(self.choices)}"
        what = "list" if self.kind == "list" else "mapping"
        if self.keys:
            return f"a {what} with one value for each of {list(self.keys)}"
        return f"a {what} of {self.min_len} to {self.max_len} items"


def _num(x: float) -> str:
    if isinstance(x, int) or (float(x).is_integer() and abs(x) < 1e16):
        return f"{int(x):,}"
    return f"{x:g}"


def _describe_range(a: Allowed) -> str:
    noun = "an integer" if a.kind == "integer" else "a number"
    if a.kind == "number" and (a.lo, a.hi) == (0.0, 1.0) and not (a.lo_open or a.hi_open):
        return "a share between 0 and 1"
    if not (a.lo_open or a.hi_open):
        return f"{noun} from {_num(a.lo)} to {_num(a.hi)}"
    low = f"greater than {_num(a.lo)}" if a.lo_open else f">= {_num(a.lo)}"
    high = f"less than {_num(a.hi)}" if a.hi_open else f"at most {_num(a.hi)}"
    return f"{noun} {low} and {high}"


# --------------------------------------------------------------------- what a value allows
def number(lo: float, hi: float, *, gt: bool = False, lt: bool = False, words: str = "") -> Allowed:
    """A finite number in [lo, hi] (``gt``/``lt``: the bound itself excluded)."""
    return Allowed("number", float(lo), float(hi), gt, lt, words=words)


def share() -> Allowed:
    """A number in [0, 1]."""
    return number(0.0, 1.0)


def integer(lo: int, hi: int, words: str = "") -> Allowed:
    """An integer in [lo, hi]."""
    return Allowed("integer", lo, hi, words=words)


def flag() -> Allowed:
    """True or false."""
    return Allowed("flag")


def identifier() -> Allowed:
    """A name used in folder names and tables: letters, digits, ``_`` and ``-``."""
    return Allowed("name")


def dotted_key() -> Allowed:
    """A dotted configuration key (``behaviour.membership.beta0``)."""
    return Allowed("key")


def text(min_len: int = 0, max_len: int = 200) -> Allowed:
    """Free text of bounded length."""
    return Allowed("text", min_len=min_len, max_len=max_len)


def month() -> Allowed:
    """A ``YYYY-MM`` month within the model's calendar (:data:`clustersim.months.CALENDAR`)."""
    return Allowed("month")


def choice(options: tuple[Any, ...] | list[Any], words: str = "") -> Allowed:
    """One of ``options``."""
    return Allowed("choice", choices=tuple(options), words=words)


def list_of(item: Allowed | None, min_len: int = 0, max_len: int = 1000) -> Allowed:
    """A list of ``min_len`` to ``max_len`` items, each allowed by ``item`` (None: schema sections)."""
    return Allowed("list", min_len=min_len, max_len=max_len, item=item)


def dict_of(item: Allowed | None, keys: tuple[str, ...] = (), min_len: int = 0, max_len: int = 1000) -> Allowed:
    """A mapping from names to values allowed by ``item``: exactly ``keys`` if given, else any names."""
    if keys:
        min_len = max_len = len(keys)
    return Allowed("mapping", keys=tuple(keys), min_len=min_len, max_len=max_len, item=item)


def param(allowed: Allowed, doc: str = "") -> Any:
    """A schema field that allows ``allowed``, documented by ``doc``; its value comes from the YAML."""
    return field(default=MISSING, metadata={"allowed": allowed, "doc": doc})


def section(factory: Any, doc: str = "") -> Any:
    """A schema field that holds a nested schema (a dataclass)."""
    return field(default_factory=factory, metadata={"doc": doc})


# ------------------------------------------------------------------------------- checking
def check_value(value: Any, a: Allowed, key: str) -> None:
    """Raise ConfigError naming ``key`` unless ``value`` is allowed by ``a``."""
    if isinstance(value, str) and value == MISSING and a.kind != "text":
        raise ConfigError(key, f"missing; allowed: {a.describe()}")
    kind = a.kind
    if kind in ("number", "integer"):
        ok_type = not isinstance(value, bool) and (
            isinstance(value, int) if kind == "integer" else isinstance(value, int | float)
        )
        if not ok_type or (kind == "number" and not math.isfinite(value)):
            raise refused(key, value, a.describe())
        assert a.lo is not None and a.hi is not None
        low_ok = value > a.lo if a.lo_open else value >= a.lo
        high_ok = value < a.hi if a.hi_open else value <= a.hi
        if not (low_ok and high_ok):
            raise refused(key, value, a.describe())
    elif kind == "flag":
        if not isinstance(value, bool):
            raise refused(key, value, a.describe())
    elif kind in ("text", "name", "key", "month"):
        if not isinstance(value, str):
            raise refused(key, value, a.describe())
        if kind == "text" and not (a.min_len <= len(value) <= (a.max_len or 0)):
            raise refused(key, value, a.describe())
        if kind == "name" and not NAME_RE.match(value):
            raise refused(key, value, a.describe())
        if kind == "key" and not KEY_RE.match(value):
            raise refused(key, value, a.describe())
        if kind == "month":
            index = months.parse_month(value)
            if index is None or not months.CALENDAR[0] <= index <= months.CALENDAR[1]:
                raise refused(key, value, a.describe())
    elif kind == "choice":
        if isinstance(value, bool) or value not in a.choices:
            raise refused(key, value, a.describe())
    elif kind == "list":
        if not isinstance(value, list) or not a.min_len <= len(value) <= (a.max_len or 0):
            raise refused(key, _plain(value), a.describe())
        for i, v in enumerate(value):
            _check_item(v, a.item, f"{key}[{i}]")
    elif kind == "mapping":
        if not isinstance(value, dict) or not a.min_len <= len(value) <= (a.max_len or 0):
            raise refused(key, _plain(value), a.describe())
        if a.keys and set(value) != set(a.keys):
            raise refused(key, _plain(value), a.describe())
        for k, v in value.items():
            if not a.keys and not (isinstance(k, str) and NAME_RE.match(k)):
                raise refused(f"{key}.{k}", k, f"a key that is {identifier().describe()}")
            _check_item(v, a.item, f"{key}.{k}")
    else:  # pragma: no cover - a schema declaration error
        raise TypeError(f"{key}: unknown kind {kind!r}")


def _check_item(value: Any, item: Allowed | None, key: str) -> None:
    if item is not None:
        check_value(value, item, key)
    elif dataclasses.is_dataclass(value):
        check_tree(value, key)
    else:
        raise refused(key, _plain(value), "a section of the schema")


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value


def check_tree(node: Any, key: str = "") -> None:
    """Check every field of a configuration object (a dataclass instance) and of its sections."""
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        where = f"{key}.{f.name}" if key else f.name
        allowed = f.metadata.get("allowed")
        if allowed is not None:
            check_value(value, allowed, where)
        elif dataclasses.is_dataclass(value):
            check_tree(value, where)


# ------------------------------------------------------------------ reading the schema
def allowed_at(schema: type, dotted: str) -> Allowed | None:
    """What the field at ``dotted`` (``behaviour.membership.beta0``) allows, or None if there is none.

    List items are addressed by any number (``clusters.periods.0.start``), mapping values
    by any name (``funding.programmes.erdf_2014_2020.cmo_grant_eur``).
    """
    node: Any = schema
    allowed: Allowed | None = None
    for part in dotted.split("."):
        if allowed is not None:  # inside a list or a mapping
            if allowed.kind not in ("list", "mapping") or (allowed.kind == "list" and not part.isdigit()):
                return None
            if allowed.keys and part not in allowed.keys:
                return None
            allowed, node = allowed.item, _element_type(node)
            if allowed is None and node is not None and dataclasses.is_dataclass(node):
                continue
            if allowed is None:
                return None
            continue
        if node is None or not dataclasses.is_dataclass(node):
            return None
        fields = {f.name: f for f in dataclasses.fields(node)}
        if part not in fields:
            return None
        f = fields[part]
        allowed = f.metadata.get("allowed")
        node = _field_type(node, part)
    return allowed


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of dataclass ``cls``, read and never modified.

    Cached: the schemas never change, and ``typing.get_type_hints`` evaluates every string
    annotation again at each call (about 0.1 ms a class; composing one configuration asked
    for them 874 times).
    """
    import typing

    return typing.get_type_hints(cls)


def _field_type(cls: type, name_: str) -> Any:
    return _hints(cls).get(name_)


def _element_type(tp: Any) -> Any:
    import typing

    args = typing.get_args(tp)
    return args[-1] if args else None


def dotted_keys(schema: type, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field]]:
    """Every field of a schema as (dotted key, field); list items appear as ``<key>.0``."""
    hints = _hints(schema)
    for f in dataclasses.fields(schema):
        where = f"{prefix}{f.name}"
        yield where, f
        tp = hints.get(f.name)
        if dataclasses.is_dataclass(tp):
            yield from dotted_keys(tp, where + ".")
        else:
            element = _element_type(tp)
            if dataclasses.is_dataclass(element):
                import typing

                marker = "0" if typing.get_origin(tp) is list else "<name>"
                yield from dotted_keys(element, f"{where}.{marker}.")
