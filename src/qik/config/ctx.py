"""Context: project variables, profiles, and the values they resolve to.

A project var ``x`` resolves from ``PROJECT__X``, then ``X`` in the environment, then
the active profile's ``[ctx.PROFILE.project]``, then its default. A required var with
no value stays unresolved (listed in ``missing``): only a template that uses it fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qik.config.profiles import Profile, active_profile, parse_profile
from qik.config.refs import Refs
from qik.config.schema import QikOptionValues, Var
from qik.config.validate import Loc, config_error, wrong_type
from qik.config.variables import VarValue, parse_vars
from qik.errors import ConfigError

__all__ = ["Context", "load_context"]

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
    declared = parse_vars(var_lists)
    profiles = {
        name: parse_profile(spec, ctx_loc / name, declared, refs)
        for name, spec in profile_table.items()
    }
    active = active_profile(requested, environ, profiles, ctx_loc)
    chosen = profiles.get(active, Profile())
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
