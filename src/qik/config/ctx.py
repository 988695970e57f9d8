"""Context: project variables, profiles, and the values they resolve to.

A project var ``x`` resolves from ``PROJECT__X``, then ``X`` in the environment, then
the active profile's ``[ctx.PROFILE.project]``, then its default. A required var with
no value stays unresolved (listed in ``missing``): only a template that uses it fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qik.config.commands import CACHE_WHENS
from qik.config.refs import Refs
from qik.config.schema import QikOptionValues, Var, VarType
from qik.config.validate import (
    Convert,
    Loc,
    as_bool,
    as_list,
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
from qik.errors import ConfigError

__all__ = ["BUILTIN_PROFILES", "QIK_OPTIONS", "Context", "load_context"]

VarValue = str | int | bool
OptionValue = str | int | bool | list[str]

# qik 0.2 always knew these two, configured or not.
BUILTIN_PROFILES = ("default", "ci")
VAR_KEYS = ("name", "type", "default", "required")
# qik 0.2 also had per-module and per-plugin namespaces; accepted and ignored.
PROFILE_KEYS = ("qik", "project", "modules", "plugins")
VAR_TYPES: dict[str, VarType] = {"str": "str", "int": "int", "bool": "bool"}
RESERVED_VAR_NAMES = ("qik",)  # {ctx.qik.arch} is qik's own namespace
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
_TRUE = ("yes", "true", "1")
_FALSE = ("no", "false", "0")


@dataclass(frozen=True)
class Context:
    vars: dict[str, Var]
    profile: str
    profiles: tuple[str, ...]  # declared under [ctx]
    qik_options: QikOptionValues
    values: dict[str, VarValue | None]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class _Profile:
    qik: QikOptionValues = field(default_factory=dict)
    project: dict[str, VarValue] = field(default_factory=dict)


def load_context(
    vars_entry: tuple[Loc, object] | None,
    ctx_entry: tuple[Loc, object] | None,
    ctx_loc: Loc,
    refs: Refs,
    requested: str | None,
    environ: Mapping[str, str],
) -> Context:
    """Parse ``vars``/``ctx``, pick the active profile and resolve every var."""
    var_lists = [vars_entry] if vars_entry is not None else []
    profile_table: dict[str, object] = {}
    if ctx_entry is not None:
        # qik 0.2: `ctx = [...]` declared the vars; a `[ctx.*]` table holds profiles.
        if isinstance(ctx_entry[1], list):
            var_lists.append(ctx_entry)
        else:
            profile_table = _as_profiles(*ctx_entry)
    declared = _parse_vars(var_lists)
    profiles = {
        name: _parse_profile(spec, ctx_loc / name, declared, refs)
        for name, spec in profile_table.items()
    }
    active = _active_profile(requested, environ, profiles, ctx_loc)
    chosen = profiles.get(active, _Profile())
    values, missing = _resolve(declared, chosen.project, environ)
    return Context(
        vars={name: var for name, (var, _) in declared.items()},
        profile=active,
        profiles=tuple(profiles),
        qik_options=chosen.qik,
        values=values,
        missing=missing,
    )


def _as_profiles(loc: Loc, value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise wrong_type(loc, "an array of vars or a table of profiles", value, "[ctx.ci.qik]")
    return value


# ---- vars


def _parse_vars(var_lists: list[tuple[Loc, object]]) -> dict[str, tuple[Var, Loc]]:
    declared: dict[str, tuple[Var, Loc]] = {}
    for list_loc, value in var_lists:
        for i, item in enumerate(as_list(value, list_loc)):
            var = _parse_var(item, list_loc / i)
            if var.name in declared:
                raise _duplicate_var(var.name, list_loc / i, declared[var.name][1])
            declared[var.name] = (var, list_loc / i)
    return declared


def _duplicate_var(name: str, loc: Loc, first: Loc) -> ConfigError:
    return config_error(
        "duplicate-var",
        loc,
        f'var "{name}" is already declared at {first.dotted}',
        "remove one of the two declarations",
    )


def _parse_var(value: object, loc: Loc) -> Var:
    if isinstance(value, str):
        return Var(name=_var_name(value, loc))
    if not isinstance(value, dict):
        raise wrong_type(loc, "a var name or a var table", value, '{name = "x", type = "int"}')
    f = fields(value, loc, VAR_KEYS)
    var_type: VarType = f.get_or("type", _as_var_type, "str")
    return Var(
        name=_var_name(f.req("name", as_str), loc / "name"),
        type=var_type,
        default=f.opt("default", lambda v, at: _as_var_value(v, at, var_type)),
        required=f.get_or("required", as_bool, True),
    )


def _var_name(name: str, loc: Loc) -> str:
    if not name or name != name.strip() or "." in name or name in RESERVED_VAR_NAMES:
        raise config_error(
            "invalid-value",
            loc,
            f'"{name}" is not a valid var name',
            'name vars like identifiers, e.g. "aws_region" ("qik" is reserved)',
        )
    return name


def _as_var_type(value: object, loc: Loc) -> VarType:
    return VAR_TYPES[choice(VAR_TYPES)(value, loc)]


def _as_var_value(value: object, loc: Loc, var_type: VarType) -> VarValue:
    if var_type == "bool":
        return as_bool(value, loc)
    if var_type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong_type(loc, "an integer", value, "4")
        return value
    return as_str(value, loc)


# ---- profiles


def _parse_profile(
    spec: object, loc: Loc, declared: dict[str, tuple[Var, Loc]], refs: Refs
) -> _Profile:
    f = fields(spec, loc, PROFILE_KEYS)
    return _Profile(
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
        ("commands", "modules", "module", "spaces", "space", "tags", "tag", "caches"),
        lambda v, at: list(as_strs(v, at)),
    )
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
        values[var.name] = _as_var_value(item, loc / key, var.type)
    return values


def _active_profile(
    requested: str | None, environ: Mapping[str, str], profiles: Mapping[str, _Profile], loc: Loc
) -> str:
    source = "-p/--profile"
    if not requested:
        requested, source = environ.get("QIK__PROFILE"), "QIK__PROFILE"
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


# ---- resolution


def _resolve(
    declared: dict[str, tuple[Var, Loc]],
    profile_values: Mapping[str, VarValue],
    environ: Mapping[str, str],
) -> tuple[dict[str, VarValue | None], tuple[str, ...]]:
    values: dict[str, VarValue | None] = {}
    missing: list[str] = []
    for name, (var, loc) in declared.items():
        found, value = _resolve_var(var, loc, profile_values, environ)
        if found:
            values[name] = value
        else:
            missing.append(name)
    return values, tuple(missing)


def _resolve_var(
    var: Var, loc: Loc, profile_values: Mapping[str, VarValue], environ: Mapping[str, str]
) -> tuple[bool, VarValue | None]:
    env_name = var.name.upper().replace("-", "_")
    for env_key in (f"PROJECT__{env_name}", env_name):
        raw = environ.get(env_key)
        if raw is not None:
            return True, _from_env(raw, var, env_key, loc)
    if var.name in profile_values:
        return True, profile_values[var.name]
    if var.default is not None:
        return True, var.default
    # An optional var without a default resolves to None (qik 0.2 did the same).
    return not var.required, None


def _from_env(raw: str, var: Var, env_key: str, loc: Loc) -> VarValue:
    text = raw.strip()
    if var.type == "int":
        try:
            return int(text)
        except ValueError:
            raise _invalid_env(raw, var, env_key, loc, "an integer, e.g. 4") from None
    if var.type == "bool":
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise _invalid_env(raw, var, env_key, loc, "one of yes, true, 1, no, false, 0")
    return raw


def _invalid_env(raw: str, var: Var, env_key: str, loc: Loc, expected: str) -> ConfigError:
    shown = raw if len(raw) <= 40 else raw[:37] + "..."
    return config_error(
        "invalid-var-value",
        loc,
        f'environment variable {env_key}="{shown}" is not a valid {var.type} for var "{var.name}"',
        f"set {env_key} to {expected}, or unset it",
    )
