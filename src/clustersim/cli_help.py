"""``clustersim --help``: groups, options and keys in one screen, without starting Hydra.

The text is built from what the project declares: each option's ``# help:`` line in its
YAML file, each schema's docstring, each field's ``doc`` and what it allows
(:mod:`clustersim.schema`). ``clustersim --help <group or key>`` lists the keys of a group
or a section (``clustersim --help staffing``, ``clustersim --help behaviour.ties``).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from clustersim.confdir import safe_load
from clustersim.errors import ConfigError

EXIT_STATUSES = "0 done; 1 a run, the merge or the report failed; 2 bad input; 130 interrupted (Ctrl-C)"


def option_help(group: str, option: str) -> str:
    """The ``# help:`` line of ``conf/<group>/<option>.yaml`` ('' if it has none)."""
    from clustersim.config import config_dir

    path = Path(config_dir()) / group / f"{option}.yaml"
    for line in path.read_text().splitlines()[:5]:
        if line.startswith("# help:"):
            return line.removeprefix("# help:").strip()
    return ""


def _defaults() -> dict[str, str]:
    """The default option of each group, read from conf/config.yaml's defaults list."""
    from clustersim.config import config_dir

    data = safe_load((Path(config_dir()) / "config.yaml").read_text())
    out = {}
    for item in data.get("defaults", []):
        if isinstance(item, dict):
            for k, v in item.items():
                if not k.startswith("override") and isinstance(v, str):
                    out[k] = v
    return out


def _wrap(label: str, text: str, width: int = 28) -> str:
    return f"  {label:<{width}} {text}".rstrip()


def overview() -> str:
    """The whole help screen."""
    from clustersim.config import SCHEMAS, Config
    from clustersim.overrides import USER_GROUPS, group_options

    defaults = _defaults()
    lines = [
        "clustersim: an agent-based model of regional innovation-cluster policy (Piedmont, 12 vs 7 clusters)",
        "",
        "Usage:",
        _wrap("clustersim [group=option] [key=value] ...", "one run, written to results/runs/<run>/", 44),
        _wrap("clustersim -m experiment=<name> ...", "a sweep (or an experiment), results/sweeps/<name>/", 44),
        _wrap("clustersim -m experiment=<name> --replications N", "the same with N replications (pairs)", 44),
        _wrap("clustersim --help <group or key>", "the keys of a group or section, with what each allows", 44),
        _wrap("clustersim --hydra-help", "Hydra's own flags (--cfg job, --info, ...)", 44),
        "",
        "Groups (group=option; * marks the default):",
    ]
    for group in USER_GROUPS:
        if group == "experiment":
            continue
        schema = SCHEMAS.get(group)
        title = (schema.__doc__ or "").strip().splitlines()[0] if schema else ""
        lines.append(f"  {group}: {title}")
        for option in group_options(group):
            star = "*" if defaults.get(group) == option else " "
            lines.append(_wrap(f"  {option}{star}", option_help(group, option)))
    lines += ["", "Experiments (clustersim -m experiment=<name>):"]
    for option in group_options("experiment"):
        lines.append(_wrap(option, option_help("experiment", option)))
    lines += ["", "Keys (key=value; a group's keys: clustersim --help <group>):"]
    for f in dataclasses.fields(Config):
        if "allowed" in f.metadata:
            lines.append(_wrap(f.name, _field_line(f)))
        elif f.name not in SCHEMAS:
            lines.append(_wrap(f"{f.name}.*", f.metadata.get("doc", "")))
    lines += [
        "",
        "Bad input (an unknown key or option, a wrong type, a value out of range) stops with one line",
        "naming the key and what is allowed. Exit status: " + EXIT_STATUSES + ".",
    ]
    return "\n".join(lines)


def _field_line(f: dataclasses.Field) -> str:
    doc = f.metadata.get("doc", "")
    allowed = f.metadata.get("allowed")
    return f"{doc}; {allowed.describe()}" if allowed is not None else doc


def keys_of(topic: str) -> str:
    """The keys of a group or a section (``staffing``, ``behaviour.ties``), with what each allows."""
    from clustersim.config import Config
    from clustersim.overrides import USER_GROUPS, group_options, suggest, suggest_key

    node: typing.Any = Config
    for part in topic.split("."):
        if dataclasses.is_dataclass(node):
            node = typing.get_type_hints(node).get(part)
        elif typing.get_origin(node) in (list, dict):
            node = typing.get_args(node)[-1]  # an item of a list, a value of a mapping
        else:
            node = None
        if node is None:
            break
    while typing.get_origin(node) in (list, dict):
        node = typing.get_args(node)[-1]
    if not dataclasses.is_dataclass(node):
        known = [f.name for f in dataclasses.fields(Config)]
        hint = suggest(topic, [*known, *USER_GROUPS]) or suggest_key(topic, Config)
        raise ConfigError(topic, f"no such group or section; allowed: one of {known}{hint}")
    assert isinstance(node, type)
    lines = [f"{topic}: {(node.__doc__ or '').strip().splitlines()[0]}"]
    if topic in USER_GROUPS:
        lines.append(f"  options: {', '.join(group_options(topic))}")
    lines.append("")
    hints = typing.get_type_hints(node)
    for f in dataclasses.fields(node):
        tp = hints.get(f.name)
        element = typing.get_args(tp)[-1] if typing.get_args(tp) else None
        label = f"{topic}.{f.name}"
        if dataclasses.is_dataclass(tp):
            lines.append(_wrap(label + ".*", f"{f.metadata.get('doc', '')} (clustersim --help {label})", 44))
        elif dataclasses.is_dataclass(element):
            marker = "0" if typing.get_origin(tp) is list else "<name>"
            more = f"(clustersim --help {label}.{marker})".replace(".<name>", "")
            lines.append(_wrap(f"{label}.{marker}.*", f"{f.metadata.get('doc', '')} {more}", 44))
        else:
            lines.append(_wrap(label, _field_line(f), 44))
    return "\n".join(lines)


def help_text(topic: str | None = None) -> str:
    """The help screen, or the keys of ``topic``."""
    return overview() if not topic else keys_of(topic.replace("[", ".").replace("]", ""))
