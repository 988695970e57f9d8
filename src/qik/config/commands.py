"""``[commands]`` tables and their deps."""

from __future__ import annotations

import re
from collections.abc import Callable

from qik.config.refs import Refs
from qik.config.schema import (
    CacheWhen,
    Command,
    CommandDep,
    ConstDep,
    Dep,
    GlobDep,
    PydistDep,
    PygraphDep,
)
from qik.config.validate import (
    Fields,
    Loc,
    as_bool,
    as_list,
    as_number,
    as_str,
    as_str_list,
    as_table,
    choice,
    config_error,
    fields,
    wrong_type,
)

__all__ = [
    "CACHE_WHENS",
    "COMMAND_KEYS",
    "as_cache_when",
    "as_cache_when_or_template",
    "parse_commands",
    "parse_dep",
    "parse_deps",
]

COMMAND_KEYS = (
    "exec",
    "deps",
    "artifacts",
    "cache",
    "cache-when",
    "tags",
    "space",
    "timeout",
    "hidden",
)
# Why this shape: "@" separates command from module in runnable names, "/" separates
# module from command, and a leading ":" marks meta commands (:explain).
_COMMAND_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")

CACHE_WHENS: dict[str, CacheWhen] = {
    "success": "success",
    "failed": "failed",
    "finished": "finished",
}


def as_cache_when(value: object, loc: Loc) -> CacheWhen:
    return CACHE_WHENS[choice(CACHE_WHENS)(value, loc)]


def as_cache_when_or_template(value: object, loc: Loc) -> CacheWhen:
    """``as_cache_when``, or a ``{ctx.*}`` template (qik 0.2 rendered it), checked once
    rendered, when runnables are made."""
    if isinstance(value, str) and "{ctx." in value:
        return value  # type: ignore[return-value]  # checked by graph.expand
    return as_cache_when(value, loc)


def parse_commands(value: object, loc: Loc, refs: Refs, module: str | None) -> dict[str, Command]:
    """``[commands]`` of the root (``module=None``) or of one module's qik.toml."""
    prefix = "" if module is None else f"{module}/"
    commands: dict[str, Command] = {}
    for name, spec in as_table(value, loc).items():
        _check_name(name, loc / name)
        full_name = prefix + name
        commands[full_name] = _parse_command(full_name, spec, loc / name, refs, module)
    return commands


def _check_name(name: str, loc: Loc) -> None:
    if not _COMMAND_NAME.fullmatch(name):
        raise config_error(
            "invalid-value",
            loc,
            f'"{name}" is not a valid command name',
            "name commands with letters, digits, _, - and . (no spaces, @, / or leading :), "
            "e.g. [commands.check-types]",
        )


def _as_artifacts(value: object, loc: Loc) -> tuple[str, ...]:
    """Artifact globs: files the command writes inside the project, so never absolute and
    never through ``..`` (a stored result could not restore them)."""
    patterns = as_str_list(value, loc)
    for i, pattern in enumerate(patterns):
        if not pattern or pattern.startswith("/") or ".." in pattern.split("/"):
            raise config_error(
                "invalid-value",
                loc / i,
                f'"{pattern}" is not a pattern of files inside the project',
                'write artifacts relative to the project root, without "..", '
                'e.g. artifacts = ["requirements.txt"]',
            )
    return patterns


def _parse_command(name: str, spec: object, loc: Loc, refs: Refs, module: str | None) -> Command:
    if isinstance(spec, str):
        return Command(name=name, exec=spec, module=module)
    if not isinstance(spec, dict):
        raise wrong_type(loc, "a string or a table", spec, f'{name.split("/")[-1]} = "ruff ."')
    f = fields(spec, loc, COMMAND_KEYS)
    return Command(
        name=name,
        # qik 0.2 allows no exec: such a command only groups its command deps.
        exec=f.get_or("exec", as_str, ""),
        deps=f.get_or("deps", parse_deps, ()),
        artifacts=f.get_or("artifacts", _as_artifacts, ()),
        cache=f.opt("cache", refs.cache_or_template),
        cache_when=f.opt("cache-when", as_cache_when_or_template),
        tags=f.get_or("tags", as_str_list, ()),
        space=f.opt("space", refs.space),
        timeout=f.opt("timeout", as_number),
        module=module,
        hidden=f.get_or("hidden", as_bool, False),
    )


def parse_deps(value: object, loc: Loc) -> tuple[Dep, ...]:
    return tuple(parse_dep(item, loc / i) for i, item in enumerate(as_list(value, loc)))


def parse_dep(value: object, loc: Loc) -> Dep:
    """A string is a glob; a table is dispatched on its ``type``."""
    if isinstance(value, str):
        return GlobDep(pattern=value)
    table = _as_dep_table(value, loc)
    if "type" not in table:
        raise config_error(
            "missing-key",
            loc,
            'a dep table needs a "type"',
            f'add type = one of {_dep_types()}, e.g. {{type = "glob", pattern = "src/**.py"}}',
        )
    dep_type = as_str(table["type"], loc / "type")
    entry = _DEP_PARSERS.get(dep_type)
    if entry is None:
        raise config_error(
            "unknown-dep-type",
            loc / "type",
            f'unknown dep type "{dep_type}"; valid types: {_dep_types()}',
            f"set type to one of {_dep_types()}",
        )
    keys, build = entry
    return build(fields(table, loc, ("type", *keys)))


def _as_dep_table(value: object, loc: Loc) -> dict[str, object]:
    if not isinstance(value, dict):
        raise wrong_type(
            loc, "a string (a glob) or a dep table", value, '"src/**.py" or {type = "pydist", ...}'
        )
    return value


def _dep_types() -> str:
    return ", ".join(_DEP_PARSERS)


def _command_dep(f: Fields) -> Dep:
    return CommandDep(
        name=f.req("name", as_str),
        strict=f.get_or("strict", as_bool, False),
        isolated=f.opt("isolated", as_bool),
    )


_DEP_PARSERS: dict[str, tuple[tuple[str, ...], Callable[[Fields], Dep]]] = {
    "glob": (("pattern",), lambda f: GlobDep(pattern=f.req("pattern", as_str))),
    "const": (("val",), lambda f: ConstDep(val=f.req("val", as_str))),
    "command": (("name", "strict", "isolated"), _command_dep),
    "pydist": (("name",), lambda f: PydistDep(name=f.req("name", as_str))),
    "pygraph": (("pyimport",), lambda f: PygraphDep(pyimport=f.req("pyimport", as_str))),
    # qik 0.2 spellings of pydist and pygraph.
    "dist": (("name",), lambda f: PydistDep(name=f.req("name", as_str))),
    "module": (("name",), lambda f: PygraphDep(pyimport=f.req("name", as_str))),
}
