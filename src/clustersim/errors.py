"""The error every bad input raises: :class:`ConfigError`, naming the key and what is allowed.

A leaf module (it imports nothing of clustersim), so that the schema, the month arithmetic
and the command line can all raise and catch the same error.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong kind or out of range.

    Its text is one line: ``invalid configuration: <key>: got <value>; allowed: <...>``.
    """

    def __init__(self, key: str, message: str) -> None:
        """Name the offending key and say what is allowed."""
        self.key = key
        super().__init__(f"invalid configuration: {key}: {message}")


def describe_os_error(err: OSError) -> str:
    """One line for an operating-system error: what, on which path."""
    what = err.strerror or str(err) or type(err).__name__
    where = err.filename if err.filename is not None else ""
    where2 = f" -> {err.filename2}" if getattr(err, "filename2", None) else ""
    return f"{what}: {where}{where2}" if where else what


def refused(key: str, value: Any, allowed: str) -> ConfigError:
    """The error for ``value`` at ``key``: ``got <value>; allowed: <allowed>``."""
    return ConfigError(key, f"got {value!r}; allowed: {allowed}")


class SpecError(ConfigError):
    """A study specification (``conf/calibration``, ``conf/validation``) or a study command's argument is unusable.

    Its text is one line: ``invalid specification: <key>: <what is wrong>; allowed: <...>``.
    A :class:`ConfigError`, so the commands report it the same way (exit status 2).
    """

    def __init__(self, key: str, message: str) -> None:
        """Name the offending key of the specification and say what is allowed."""
        self.key = key
        ValueError.__init__(self, f"invalid specification: {key}: {message}")
