"""Project variables: ``vars = [...]`` (and qik 0.2's ``ctx = [...]``) and their values."""

from __future__ import annotations

from qik.config.schema import Var, VarType
from qik.config.validate import (
    Loc,
    as_bool,
    as_list,
    as_str,
    choice,
    config_error,
    fields,
    wrong_type,
)
from qik.errors import ConfigError

__all__ = ["VarValue", "as_var_value", "parse_vars"]

VarValue = str | int | bool
VAR_KEYS = ("name", "type", "default", "required")
VAR_TYPES: dict[str, VarType] = {"str": "str", "int": "int", "bool": "bool"}
RESERVED_VAR_NAMES = ("qik",)  # {ctx.qik.arch} is qik's own namespace


def parse_vars(var_lists: list[tuple[Loc, object]]) -> dict[str, tuple[Var, Loc]]:
    declared: dict[str, tuple[Var, Loc]] = {}
    spellings: dict[str, str] = {}  # my-var and my_var are one variable (MY_VAR)
    for list_loc, value in var_lists:
        for i, item in enumerate(as_list(value, list_loc)):
            var = _parse_var(item, list_loc / i)
            key = var.name.replace("-", "_")
            if key in spellings:
                first = spellings[key]
                raise _duplicate_var(var.name, list_loc / i, declared[first][1])
            spellings[key] = var.name
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
        default=f.opt("default", lambda v, at: as_var_value(v, at, var_type)),
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


def as_var_value(value: object, loc: Loc, var_type: VarType) -> VarValue:
    if var_type == "bool":
        return as_bool(value, loc)
    if var_type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong_type(loc, "an integer", value, "4")
        return value
    return as_str(value, loc)
