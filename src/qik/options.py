"""qik's own options: flags, then ``QIK__<OPTION>`` environment variables, then the active
profile's ``[ctx.PROFILE.qik]`` table, then defaults, merged into one frozen ``Options``."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal, get_args

from qik.errors import QikError

__all__ = ["CacheStatus", "Options", "merge_options", "option_values"]

CacheStatus = Literal["warm", "cold"]
_LIST_FIELDS = {"commands", "modules", "spaces", "tags", "caches"}
# Spellings of options in env vars and profiles that differ from the field name.
# In env vars and profiles, `cache` is the cache of commands that name none (the CI guide's
# `[ctx.ci.qik] cache = "remote"`); the `--cache` flag selects by cache instead.
_ALIASES = {"cache": "default_cache", "module": "modules", "space": "spaces", "tag": "tags"}


# QIK__ variables that are no options: qik 0.2's ``logger`` (its choice of output, which qik
# now makes from the terminal), so that a CI environment carried over keeps working; and
# those qik sets for each command, which a command running qik passes on.
_RETIRED = frozenset({"logger", "cmd", "runnable", "worker"})


@dataclass(frozen=True)
class Options:
    """Every runner option of one run: the command line over ``QIK__<OPTION>`` over the
    profile's ``[ctx.NAME.qik]`` over the defaults (``merge_options``)."""

    commands: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    spaces: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    caches: tuple[str, ...] = ()
    workers: int | None = None  # None: loky.cpu_count()
    isolated: bool = False
    force: bool = False
    ls: bool = False
    json: bool = False
    fail: bool = False
    since: str | None = None
    cache_status: CacheStatus | None = None
    cache_when: str | None = None
    default_cache: str | None = None
    cache_read_only: bool = False
    profile: str | None = None
    verbosity: int = 1
    watch: bool = False
    shard: str | None = None
    report: str | None = None


def option_values(options: Options) -> dict[str, str | int | bool | list[str]]:
    """Every option that has a value, by field name (``workers`` resolved)."""
    values = {f.name: getattr(options, f.name) for f in fields(Options)}
    if values["workers"] is None:
        values["workers"] = os.cpu_count() or 1
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items() if v is not None}


def _field_types() -> dict[str, str]:
    return {f.name: str(f.type) for f in fields(Options)}


def _convert(name: str, value: object, source: str) -> object:
    kind = _field_types()[name]
    try:
        if name in _LIST_FIELDS:
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            if isinstance(value, list | tuple):
                return tuple(str(v) for v in value)
            raise ValueError
        if kind.startswith("bool"):
            return _to_bool(value)
        if kind.startswith("int"):
            if isinstance(value, bool):
                raise ValueError
            return _in_range(name, int(str(value)), source)
        if name == "cache_status" and value not in get_args(CacheStatus):
            raise ValueError
        if name == "cache_when" and value not in _CACHE_WHEN:
            raise ValueError
        return str(value)
    except ValueError:
        raise QikError(
            f"{source}: {value!r} is not a valid value for option {name.replace('_', '-')}",
            code="invalid-option",
            hint=f"expected {_expected(name, kind)}",
        ) from None


_CACHE_WHEN = ("success", "failed", "finished")


def _expected(name: str, kind: str) -> str:
    """What an option's value looks like, in words."""
    if name == "cache_status":
        return "warm or cold"
    if name == "cache_when":
        return "success, failed or finished"
    if name in _LIST_FIELDS:
        return "a comma-separated list"
    if kind.startswith("bool"):
        return "true or false (also yes/no, 1/0)"
    if kind.startswith("int"):
        return "a whole number"
    return "a value"


# Integer options and their bounds (None: no upper bound), as a profile's are checked.
# (4096 workers: beyond any machine's cores, below what the process pool can take.)
_RANGES: dict[str, tuple[int, int | None]] = {"workers": (1, 4096), "verbosity": (0, 2)}


def _in_range(name: str, value: int, source: str) -> int:
    low, high = _RANGES.get(name, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"{low} to {high}"
        raise QikError(
            f"{source}: {value} is out of range for option {name.replace('_', '-')}",
            code="invalid-option",
            hint=f"use a value of {bounds}",
        )
    return value


def _to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError


def env_options(
    environ: Mapping[str, str] | None = None, overridden: frozenset[str] = frozenset()
) -> dict[str, object]:
    """``QIK__WORKERS=4`` → ``{"workers": 4}``. An unknown ``QIK__`` name is warned
    about and ignored, as qik 0.2 ignored it: a stray variable in a CI job's environment
    (``QIK__ARCH``, from 0.2's docs) must not stop every run. The value of an option in
    ``overridden`` (given as a flag) is neither read nor checked. An empty value counts as
    unset, as for ``QIK__PROFILE`` (a CI template exports a variable whether or not it
    has a value)."""
    environ = os.environ if environ is None else environ
    names = _field_types()
    found: dict[str, object] = {}
    for key, value in environ.items():
        if not key.startswith("QIK__"):
            continue
        name = key[5:].lower().replace("-", "_")
        name = _ALIASES.get(name, name)
        if name in _RETIRED:
            continue
        if name not in names:
            _warn_unknown(key)
            continue
        if name not in overridden and value != "":
            found[name] = _convert(name, value, key)
    return found


_WARNED: set[str] = set()  # options are merged more than once a run: one warning


def _warn_unknown(key: str) -> None:
    if key in _WARNED:
        return
    _WARNED.add(key)
    print(
        f"warning: environment variable {key} names no qik option; ignored "
        "(options are listed by `qik --help`)",
        file=sys.stderr,
        flush=True,
    )


def profile_options(
    values: Mapping[str, object], profile: str, overridden: frozenset[str] = frozenset()
) -> dict[str, object]:
    found: dict[str, object] = {}
    names = _field_types()
    for key, value in values.items():
        name = _ALIASES.get(key.replace("-", "_"), key.replace("-", "_"))
        if name not in names:
            raise QikError(
                f"[ctx.{profile}.qik] sets {key!r}, which is not a qik option",
                code="unknown-key",
                hint="remove it; options are listed by `qik --help`",
            )
        if name not in overridden:
            found[name] = _convert(name, value, f"[ctx.{profile}.qik]")
    return found


def merge_options(
    flags: Mapping[str, object],
    profile_values: Mapping[str, object] | None = None,
    profile: str = "default",
    environ: Mapping[str, str] | None = None,
) -> Options:
    """Flags win over ``QIK__*`` env vars, which win over the profile, then defaults.

    ``flags`` holds only what was given on the command line (None values are dropped).
    """
    given = {k: v for k, v in flags.items() if v is not None and v != ()}
    # A flag wins: the same option's env var or profile value is not even checked.
    overridden = frozenset(given)
    merged: dict[str, object] = {}
    merged.update(profile_options(profile_values or {}, profile, overridden))
    merged.update(env_options(environ, overridden))
    for name, value in given.items():
        if name in _RANGES and isinstance(value, int):
            _in_range(name, value, f"--{name.replace('_', '-')}")
    merged.update(given)
    return dataclasses.replace(Options(), **merged)  # type: ignore[arg-type]  # checked above
