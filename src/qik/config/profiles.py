"""Context profiles: ``[ctx.PROFILE.qik]`` option defaults and ``[ctx.PROFILE.project]`` values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qik.config.commands import CACHE_WHENS
from qik.config.refs import Refs
from qik.config.schema import QikOptionValues, Var
from qik.config.validate import (
    Convert,
    Loc,
    as_bool,
    as_str,
    as_strs,
    as_table,
    choice,
    config_error,
    duplicate_key,
    fields,
    unknown_key,
    wrong_type,
)
from qik.config.variables import VarValue, as_var_value

__all__ = ["BUILTIN_PROFILES", "QIK_OPTIONS", "Profile", "active_profile", "parse_profile"]

OptionValue = str | int | bool | list[str]

# qik 0.2 always knew these two, configured or not.
BUILTIN_PROFILES = ("default", "ci")
# qik 0.2 also had per-module and per-plugin namespaces; accepted and ignored.
PROFILE_KEYS = ("qik", "project", "modules", "plugins")
# qik's own options settable in [ctx.PROFILE.qik] (kebab-case; stored snake_case). Kept in
# step with qik.options.Options, which merges them under flags and QIK__* env vars.
QIK_OPTIONS = (
    "workers",
    "verbosity",
    "cache",
    "default-cache",
    "cache-when",
    "cache-status",
    "cache-read-only",
    "since",
    "shard",
    "report",
    "profile",
    "ls",
    "json",
    "fail",
    "isolated",
    "force",
    "watch",
    "commands",
    "modules",
    "module",
    "spaces",
    "space",
    "tags",
    "tag",
    "caches",
)


@dataclass(frozen=True)
class Profile:
    qik: QikOptionValues = field(default_factory=dict)
    project: dict[str, VarValue] = field(default_factory=dict)


def parse_profile(
    spec: object, loc: Loc, declared: dict[str, tuple[Var, Loc]], refs: Refs
) -> Profile:
    f = fields(spec, loc, PROFILE_KEYS)
    return Profile(
        qik=f.get_or("qik", lambda v, at: _parse_qik_options(v, at, refs), {}),
        project=f.get_or("project", lambda v, at: _parse_project_values(v, at, declared), {}),
    )


def _parse_qik_options(value: object, loc: Loc, refs: Refs) -> QikOptionValues:
    converters = _option_converters(refs)
    f = fields(value, loc, QIK_OPTIONS)
    return {
        key.replace("-", "_"): converters[key](item, at) for key, (at, item) in f.entries.items()
    }


def _option_converters(refs: Refs) -> dict[str, Convert[OptionValue]]:
    flags: dict[str, Convert[OptionValue]] = dict.fromkeys(
        ("ls", "json", "fail", "isolated", "force", "watch", "cache-read-only"), as_bool
    )
    texts: dict[str, Convert[OptionValue]] = dict.fromkeys(
        ("since", "shard", "report", "profile"), as_str
    )
    lists: dict[str, Convert[OptionValue]] = dict.fromkeys(
        ("commands", "modules", "module", "spaces", "space", "tags", "tag"),
        lambda v, at: list(as_strs(v, at)),
    )
    # Checked as `cache` is, whichever profile is chosen (was not: an audit).
    lists["caches"] = lambda v, at: [refs.cache(name, at) for name in as_strs(v, at)]
    return {
        "workers": _int_in(1, None),
        "verbosity": _int_in(0, 2),
        "cache": refs.cache,
        "default-cache": refs.cache,
        "cache-when": choice(CACHE_WHENS),
        "cache-status": choice(("warm", "cold")),
        **flags,
        **texts,
        **lists,
    }


def _int_in(low: int, high: int | None) -> Convert[int]:
    def convert(value: object, loc: Loc) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong_type(loc, "an integer", value, str(low))
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise config_error(
                "invalid-value", loc, f"must be {bounds}", f"set {loc.dotted} to {bounds}"
            )
        return value

    return convert


def _parse_project_values(
    value: object, loc: Loc, declared: dict[str, tuple[Var, Loc]]
) -> dict[str, VarValue]:
    # Keys may be kebab-case (qik 0.2 renamed them) or written as declared.
    by_key = {name.replace("-", "_"): var for name, (var, _) in declared.items()}
    values: dict[str, VarValue] = {}
    written: dict[str, Loc] = {}
    for key, item in as_table(value, loc).items():
        var = by_key.get(key.replace("-", "_"))
        if var is None:
            raise unknown_key(loc, key, tuple(declared))
        if var.name in written:
            raise duplicate_key(loc / key, written[var.name])
        written[var.name] = loc / key
        values[var.name] = as_var_value(item, loc / key, var.type)
    return values


def active_profile(
    requested: str | None, environ: Mapping[str, str], profiles: Mapping[str, Profile], loc: Loc
) -> str:
    source = "-p/--profile"
    if not requested or requested == environ.get("QIK__PROFILE"):
        # (Callers may have read QIK__PROFILE already: then it is named as the source too.)
        source = "QIK__PROFILE" if not requested else "-p/--profile or QIK__PROFILE"
        requested = requested or environ.get("QIK__PROFILE")
    name = requested or "default"
    if name in profiles or name in BUILTIN_PROFILES:
        return name
    known = ", ".join(sorted({*profiles, *BUILTIN_PROFILES}))
    raise config_error(
        "unknown-profile",
        loc,
        f'no profile named "{name}" (asked for by {source}); known profiles: {known}',
        f"use one of {known}, or add a [ctx.{name}.qik] or [ctx.{name}.project] table "
        f"to {loc.file}",
    )
