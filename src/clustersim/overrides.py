"""Command-line overrides, read strictly: every bad one is refused in one line before a run.

Hydra's override grammar allows more than a run of clustersim should accept. Before the
configuration is composed, :func:`check` refuses, naming the key and what is allowed:

- text Hydra cannot parse (``=3``, ``seed=[1``), a package (``@seed=1``), an empty key;
- an unknown key, group or option, with a "did you mean" suggestion (difflib);
- a key added with ``+`` or ``++`` unless it is a documented extension point: Hydra's own
  settings (``hydra.*``, e.g. ``+hydra.launcher.ray.init.object_store_memory=null``) and a
  new name in a mapping whose names are free (a cluster of a period's ``mapping``, a
  programme of ``funding.programmes``), which need no ``+`` either;
- an interpolation (``${...}``) outside ``hydra.*``: a value on the command line is plain;
- a key set twice to different values (``seed=1 seed=2``), a group removed (``~population``)
  or set to null;
- a sweep (``a,b``, ``range(...)``) in a single run, an interval or glob sweep of a key.

After composition, :func:`check_after_compose` refuses a mapping that would be merged into
the existing one rather than replace it (``clusters.periods.0.mapping={}``): a mapping
given on the command line must list every key it has after the merge.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from clustersim.confdir import config_dir
from clustersim.errors import ConfigError, refused
from clustersim.schema import allowed_at

# groups of conf/ a user picks an option of; ``programme`` options are used by the funding
# options, and conf/calibration, conf/validation are data files, not groups
USER_GROUPS: tuple[str, ...] = (
    "region",
    "population",
    "clusters",
    "funding",
    "staffing",
    "behaviour",
    "sensitivity",
    "experiment",
)
INTERNAL_GROUPS: tuple[str, ...] = ("programme",)


@dataclass(frozen=True)
class Parsed:
    """One override as read: its text, kind, key, and value(s)."""

    text: str
    kind: str  # change | add | force_add | delete
    key: str
    is_group: bool
    is_sweep: bool
    values: tuple[Any, ...]  # the value, or every value of a sweep (empty for a delete)


def suggest(word: str, candidates: typing.Iterable[str], prefix: str = "") -> str:
    """`` (did you mean <prefix><x>?)`` for the closest candidates of ``word``, or ''."""
    close = difflib.get_close_matches(word, list(dict.fromkeys(candidates)), n=2, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"{prefix}{c}" for c in close) + "?)"


@cache
def group_options(group: str) -> tuple[str, ...]:
    """The options of a config group (``conf/<group>/*.yaml``, schemas left out)."""
    folder = Path(config_dir()) / group
    return tuple(sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.endswith("_schema")))


# --------------------------------------------------------------------- keys of the schema
@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of dataclass ``cls`` (cached, as :func:`clustersim.schema._hints`; read only)."""
    return typing.get_type_hints(cls)


def _resolve(dotted: str, schema: type) -> tuple[str, str, list[str]]:
    """Walk ``dotted`` through the schema (the root dataclass, :class:`clustersim.config.Config`).

    Returns (status, where it failed, the names allowed there).

    status is ``known`` (a field, or an item of a list), ``free`` (a new name in a mapping
    whose names are free), or ``unknown``.
    """
    parts = dotted.split(".")
    tp: Any = schema
    fixed = False  # inside a mapping whose keys the schema fixes (size classes, benefits...)
    for i, part in enumerate(parts):
        here = ".".join(parts[:i])
        prefix = here + "." if here else ""
        if dataclasses.is_dataclass(tp):
            names = [f.name for f in dataclasses.fields(tp)]
            if part not in names:
                return "unknown", prefix, names
            allowed = {f.name: f for f in dataclasses.fields(tp)}[part].metadata.get("allowed")
            tp = _hints(tp)[part]
            fixed = allowed is not None and allowed.kind == "mapping" and bool(allowed.keys)
            if fixed and i + 1 < len(parts) and parts[i + 1] not in allowed.keys:
                return "unknown", f"{prefix}{part}.", list(allowed.keys)
            continue
        origin = typing.get_origin(tp)
        if origin is list:
            if not part.isdigit():
                return "unknown", prefix, ["0", "1", "..."]
            tp = typing.get_args(tp)[0]
            continue
        if origin is dict:
            element = typing.get_args(tp)[1]
            tp = element
            if i + 1 == len(parts):
                return ("known" if fixed else "free"), prefix, []
            continue
        return "unknown", prefix, []  # a key below a plain value
    return "known", "", []


def suggest_key(dotted: str, schema: type) -> str:
    """A "did you mean" for an unknown dotted key of the root dataclass ``schema``, or ''."""
    status, prefix, names = _resolve(dotted, schema)
    if status != "unknown" or not names:
        return ""
    word = dotted[len(prefix) :].split(".", 1)[0]
    return suggest(word, names, prefix)


def is_extension_point(dotted: str, schema: type) -> bool:
    """Keys ``+``/``++`` may add: Hydra's settings and new names of free mappings of ``schema``."""
    return dotted == "hydra" or dotted.startswith("hydra.") or _resolve(dotted, schema)[0] == "free"


# ----------------------------------------------------------------------------- checking
def _groups() -> tuple[str, ...]:
    return USER_GROUPS + INTERNAL_GROUPS


def _value_text(text: str) -> str:
    _, sep, tail = text.partition("=")
    return tail if sep else ""


def _refuse_group_value(key: str, value: Any, text: str) -> None:
    options = group_options(key)
    if key in INTERNAL_GROUPS:
        raise ConfigError(key, f"got {text!r}; allowed: programme options are chosen by the funding options")
    if not isinstance(value, str) or value not in options:
        shown = "null" if value is None else value
        hint = suggest(value, options) if isinstance(value, str) else ""
        raise ConfigError(key, f"got {shown!r}; allowed: one of {list(options)}{hint}")


def parse(overrides: list[str]) -> list[Any]:
    """Hydra's reading of the overrides; ConfigError in one line for text it cannot parse."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    out = []
    for text in overrides:
        try:
            out.append(parser.parse_override(text))
        except (HydraException, ValueError) as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            reason = lines[0] if lines else type(exc).__name__
            reason = reason.removeprefix("Error parsing override").strip(" :'") or "not key=value"
            name = text.lstrip("+~").split("=", 1)[0] or "overrides"
            raise ConfigError(name, f"cannot read {text!r} ({reason}); allowed: key=value") from None
    return out


def check(overrides: list[str], schema: type, multirun: bool = False) -> list[Parsed]:
    """Refuse bad overrides (see the module docstring) before anything is composed.

    ``schema`` is the root dataclass whose keys may be set (:class:`clustersim.config.Config`,
    which passes itself: the configuration depends on these checks, not the reverse).
    """
    from hydra.core.override_parser.types import OverrideType, ValueType

    kinds = {
        OverrideType.CHANGE: "change",
        OverrideType.ADD: "add",
        OverrideType.FORCE_ADD: "force_add",
        OverrideType.DEL: "delete",
    }
    seen: dict[str, str] = {}
    out: list[Parsed] = []
    for text, o in zip(overrides, parse(overrides), strict=True):
        key = o.key_or_group
        kind = kinds[o.type]
        if o.package is not None:
            raise ConfigError(key or "overrides", f"got {text!r}: a package (@...) is not accepted; allowed: key=value")
        if not key:
            raise ConfigError("overrides", f"got {text!r}: no key before '='; allowed: key=value")
        hydra_key = key == "hydra" or key.startswith(("hydra.", "hydra/"))
        if key in seen and not hydra_key and seen[key] != text:  # the same text twice is harmless
            raise ConfigError(key, f"set twice ({seen[key]!r} and {text!r}); allowed: one value per key")
        seen[key] = text
        is_group = key in _groups() or "/" in key
        sweep = o.is_sweep_override()
        if sweep and not multirun:
            raise ConfigError(key, f"got {text!r}: a sweep needs -m; allowed: one value (or clustersim -m ...)")
        if o.value_type in (ValueType.INTERVAL_SWEEP,) or (
            o.value_type == ValueType.GLOB_CHOICE_SWEEP and not is_group
        ):
            raise ConfigError(key, f"got {text!r}; allowed: a list of values (a,b) or range(start,stop)")
        if not hydra_key and "${" in _value_text(text):
            raise ConfigError(key, f"got {_value_text(text)!r}; allowed: a plain value (no ${{...}} interpolation)")
        if kind == "delete":
            values: tuple[Any, ...] = ()
        elif sweep:
            values = tuple(o.sweep_iterator()) if o.value_type != ValueType.GLOB_CHOICE_SWEEP else ()
        else:
            values = (o.value(),)
        if hydra_key:
            out.append(Parsed(text, kind, key, is_group, sweep, values))
            continue
        if is_group:
            if kind == "delete":
                raise ConfigError(
                    key, f"got {text!r}: a group cannot be removed; allowed: one of {list(group_options(key))}"
                )
            if key not in _groups():
                raise ConfigError(key, f"no such group; allowed: one of {list(USER_GROUPS)}{suggest(key, USER_GROUPS)}")
            for v in values:
                _refuse_group_value(key, v, text)
            out.append(Parsed(text, kind, key, True, sweep, values))
            continue
        status, _, names = _resolve(key, schema)
        if status == "unknown":
            head = key.split(".", 1)[0]
            if "." not in key and head not in names:
                hint = suggest(key, [*names, *USER_GROUPS])
            else:
                hint = suggest_key(key, schema)
            raise ConfigError(key, f"no such key; allowed: a key of the schema (clustersim --help){hint}")
        if kind == "delete" and status != "free":
            raise ConfigError(key, f"got {text!r}: a key of the schema cannot be removed; allowed: {key}=<value>")
        if kind in ("add", "force_add") and status != "free":
            raise ConfigError(key, f"got {text!r}: '+' adds a key, and {key} exists; allowed: {key}=<value> (no '+')")
        _refuse_number_for_flag(key, values, schema)
        out.append(Parsed(text, kind, key, False, sweep, values))
    return out


def _refuse_number_for_flag(key: str, values: tuple[Any, ...], schema: type) -> None:
    """A flag takes true or false: OmegaConf would read ``progress=2`` as true, so refuse it here."""
    allowed = allowed_at(schema, key)
    if allowed is None or allowed.kind != "flag":
        return
    for v in values:
        if isinstance(v, int | float) and not isinstance(v, bool):
            raise refused(key, v, allowed.describe())


def check_after_compose(parsed: list[Parsed], cfg: Any) -> None:
    """Refuse a mapping on the command line that was merged into, not replacing, the existing one."""
    from omegaconf import DictConfig, OmegaConf

    for p in parsed:
        if p.is_group or p.kind == "delete" or p.key.startswith("hydra"):
            continue
        for value in p.values:
            if not isinstance(value, dict):
                continue
            node = OmegaConf.select(cfg, p.key, throw_on_missing=False)
            if isinstance(node, DictConfig) and set(node.keys()) != set(value):
                have = sorted(str(k) for k in node.keys())
                raise ConfigError(
                    p.key,
                    f"got {_value_text(p.text)!r} (a mapping is merged into the existing one, which has "
                    f"{len(have)} keys: {', '.join(have)}); allowed: every one of those keys, or one key "
                    f"at a time ({p.key}.<key>=<value>)",
                )
