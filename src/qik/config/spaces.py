"""``[spaces]``, their modules, venvs and fences; plus qik 0.2's top-level ``modules``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Literal

from qik.config.refs import Refs
from qik.config.schema import Module, Space, SpaceVenv
from qik.config.validate import (
    Loc,
    as_file_path,
    as_file_paths,
    as_list,
    as_rel_path,
    as_rel_paths,
    as_str,
    as_strs,
    choice,
    config_error,
    fields,
    wrong_type,
)

__all__ = ["DEFAULT_SPACE", "dotted_path", "parse_spaces", "parse_venv"]

DEFAULT_SPACE = "default"
SPACE_KEYS = ("root", "modules", "fence", "venv", "dotenv")
VENV_KEYS = ("type", "reqs", "lock", "constraint", "python", "name", "cache")
VENV_TYPES = ("active", "space", "uv", "pip")
# A bare requirements file (or list of them) is built into a venv; qik 0.2 left the
# tool to a plugin, we record "pip" and let the spaces code pick uv when it can.
BARE_VENV_TYPE = "pip"

FenceEntry = str | tuple[Literal["space"], str]
_Located = tuple[Module, Loc]


def parse_spaces(
    spaces: dict[str, object],
    loc: Loc,
    legacy_modules: tuple[Loc, object] | None,
    refs: Refs,
    module_path: Callable[[str], str] = str,
) -> dict[str, Space]:
    """All spaces by name; "default" always exists and gets the top-level modules first.

    ``module_path`` turns a module's path as written into its folder (see ``dotted_path``).
    """
    located: dict[str, tuple[Space, tuple[_Located, ...]]] = {
        name: _parse_space(name, spec, loc / name, refs, module_path)
        for name, spec in spaces.items()
    }
    default, default_modules = located.get(DEFAULT_SPACE, (Space(DEFAULT_SPACE), ()))
    if legacy_modules is not None:
        legacy = _parse_modules(legacy_modules[1], legacy_modules[0], DEFAULT_SPACE, module_path)
        default_modules = (*legacy, *default_modules)
        default = replace(default, modules=tuple(module for module, _ in default_modules))
    # "default" first: its top-level modules are usually written first, and errors about
    # a duplicate should point at the later declaration.
    others = {name: entry for name, entry in located.items() if name != DEFAULT_SPACE}
    located = {DEFAULT_SPACE: (default, default_modules), **others}
    _check_unique_modules(entry for _, modules in located.values() for entry in modules)
    return {name: space for name, (space, _) in located.items()}


def _parse_space(
    name: str, spec: object, loc: Loc, refs: Refs, module_path: Callable[[str], str]
) -> tuple[Space, tuple[_Located, ...]]:
    # qik 0.2: `[spaces] app = "requirements-app.txt"` is a space with only a venv.
    if isinstance(spec, str | list):
        return Space(name=name, venv=parse_venv(spec, loc, refs)), ()
    f = fields(spec, loc, SPACE_KEYS)
    no_modules: tuple[_Located, ...] = ()
    modules = f.get_or(
        "modules", lambda v, at: _parse_modules(v, at, name, module_path), no_modules
    )
    no_fence: bool | tuple[FenceEntry, ...] = False
    space = Space(
        name=name,
        root=f.opt("root", as_rel_path),
        modules=tuple(module for module, _ in modules),
        fence=f.get_or("fence", lambda v, at: _parse_fence(v, at, refs), no_fence),
        venv=f.opt("venv", lambda v, at: parse_venv(v, at, refs)),
        dotenv=f.get_or("dotenv", as_file_paths, ()),
    )
    return space, modules


def _parse_modules(
    value: object, loc: Loc, space: str, module_path: Callable[[str], str]
) -> tuple[_Located, ...]:
    return tuple(
        (_parse_module(item, loc / i, space, module_path), loc / i)
        for i, item in enumerate(as_list(value, loc))
    )


def _parse_module(
    value: object, loc: Loc, space: str, module_path: Callable[[str], str]
) -> Module:
    # qik 0.2: a string is both the module's name and its path.
    if isinstance(value, str):
        path = module_path(as_rel_path(value, loc))
        return Module(name=_module_name(value, loc), path=path, space=space)
    if not isinstance(value, dict):
        raise wrong_type(loc, "a path string or a {name, path} table", value, '"app/api"')
    f = fields(value, loc, ("name", "path"))
    name = _module_name(f.req("name", as_str), loc / "name")
    return Module(name=name, path=module_path(f.req("path", as_rel_path)), space=space)


def dotted_path(path: str, root: Path, python_path: str) -> str:
    """A module's folder from the root. A dotted import path (``my.module.a``, as qik's
    first releases and its blog post wrote modules) is the folder ``my/module/a`` under
    ``[defaults] python-path``, unless a folder named exactly ``my.module.a`` exists.
    A plain name (``pkg``) is a folder at the root, else (when only that exists) the one
    under python-path, as its dotted submodules (``pkg.sub``) are. Anything with a ``/``,
    or that isn't a dotted name, is a path as written."""
    parts = path.split(".")
    if len(parts) == 1 and path.isidentifier():
        below = PurePosixPath(python_path.removeprefix("./"), path)
        moved = str(below) != path and not (root / path).exists() and (root / below).is_dir()
        return str(below) if moved else path
    if "/" in path or len(parts) < 2 or parts[-1] in ("py", "pyi"):
        return path
    if not all(part.isidentifier() for part in parts) or (root / path).is_dir():
        return path
    return str(PurePosixPath(python_path.removeprefix("./"), *parts))


def _module_name(name: str, loc: Loc) -> str:
    # "@" separates command from module in runnable names (lint@a).
    if not name or "@" in name or name != name.strip():
        raise config_error(
            "invalid-value",
            loc,
            f'"{name}" is not a valid module name',
            'name modules without "@" or surrounding spaces, '
            'e.g. {name = "api", path = "app/api"}',
        )
    return name


def _check_unique_modules(modules: Iterable[_Located]) -> None:
    seen: dict[str, Loc] = {}
    for module, loc in modules:
        first = seen.setdefault(module.name, loc)
        if first is not loc:
            raise config_error(
                "duplicate-module",
                loc,
                f'module "{module.name}" is already declared at {first.dotted}',
                "give one of them another name with the {name = ..., path = ...} form",
            )


def _parse_fence(value: object, loc: Loc, refs: Refs) -> bool | tuple[FenceEntry, ...]:
    if isinstance(value, bool):
        return value
    if not isinstance(value, list):
        raise wrong_type(loc, "a boolean or an array", value, 'fence = true or fence = ["lib"]')
    return tuple(_parse_fence_entry(item, loc / i, refs) for i, item in enumerate(value))


def _parse_fence_entry(value: object, loc: Loc, refs: Refs) -> FenceEntry:
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise wrong_type(loc, "a path string or a {type, name} table", value, '"lib"')
    f = fields(value, loc, ("type", "name"))
    f.req("type", choice(("space",)))
    return ("space", f.req("name", refs.space))


def _as_reqs(value: object, loc: Loc) -> tuple[str, ...]:
    """Requirements files: each a path that names a file (its lock goes beside it)."""
    reqs = as_strs(value, loc)
    for req in reqs:
        if req.endswith("/") or PurePosixPath(req).name in ("", ".", ".."):
            # else a ValueError when planning (found by the stress config fuzzer)
            raise config_error(
                "invalid-value",
                loc,
                f"{req!r} is not a requirements file",
                'name a file, e.g. "requirements.txt"',
            )
    return as_rel_paths(value, loc)  # a lock is written beside each: inside the project


def parse_venv(value: object, loc: Loc, refs: Refs) -> SpaceVenv:
    """A requirements file, a list of them, or a ``{type = ..., ...}`` table."""
    if isinstance(value, str | list):
        reqs = _as_reqs(value, loc)
        if not reqs:  # else an IndexError when planning (found by the stress config fuzzer)
            raise config_error(
                "invalid-value",
                loc,
                "a venv needs at least one requirements file",
                'name one, e.g. "requirements.txt", or leave the venv out',
            )
        return SpaceVenv(type=BARE_VENV_TYPE, reqs=reqs)
    if not isinstance(value, dict):
        raise wrong_type(loc, "a requirements file or a venv table", value, '"requirements.txt"')
    f = fields(value, loc, VENV_KEYS)
    venv_type = f.req("type", choice(VENV_TYPES))
    venv = SpaceVenv(
        type=venv_type,
        reqs=f.get_or("reqs", _as_reqs, ()),
        lock=f.opt("lock", as_rel_path),  # an artifact: it must stay inside the project
        constraint=f.opt("constraint", as_file_path),
        python=f.opt("python", as_str),
        name=f.req("name", refs.space) if venv_type == "space" else f.opt("name", as_str),
        cache=f.opt("cache", refs.cache),
    )
    if venv_type in ("uv", "pip") and not venv.reqs:
        f.req("reqs", as_strs)  # raises missing-key when absent
        raise config_error(
            "invalid-value",
            loc / "reqs",
            f'a "{venv_type}" venv needs at least one requirements file',
            'list the files to install, e.g. reqs = ["requirements.txt"]',
        )
    return venv
