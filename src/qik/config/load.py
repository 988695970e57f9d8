"""Loading a project: find its config, parse and validate it into a frozen Project.

This runs on every qik invocation, warm or not: one TOML parse of the root config, one
stat (and, if present, one small parse) per module's qik.toml, and no subprocesses or
heavy imports.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from qik.config.commands import parse_commands, parse_deps
from qik.config.ctx import load_context
from qik.config.find import (
    CONFIG_NAME,
    PYPROJECT_NAME,
    ConfigSource,
    discover,
    read_toml,
    source_in,
)
from qik.config.refs import BUILTIN_CACHES, Refs
from qik.config.schema import (
    CacheConf,
    Command,
    Dep,
    Module,
    Project,
    PydistConf,
    PygraphConf,
)
from qik.config.sections import (
    Defaults,
    parse_caches,
    parse_defaults,
    parse_pydist,
    parse_pygraph,
    parse_uv_plugin,
)
from qik.config.spaces import DEFAULT_SPACE, dotted_path, parse_spaces
from qik.config.validate import Fields, Loc, as_table, fields
from qik.errors import ConfigError

__all__ = ["build_project", "find_root", "load_project"]

TOP_KEYS = (
    "commands",
    "modules",
    "spaces",
    "vars",
    "ctx",
    "base",
    "defaults",
    "pydist",
    "plugins",
    "caches",
)
BASE_KEYS = ("deps",)
MODULE_CONFIG_KEYS = ("commands",)
_CONFIG_NAMES = (CONFIG_NAME, PYPROJECT_NAME)


def find_root(cwd: Path) -> tuple[Path, Path]:
    """The project root and its config file: the nearest at or above ``cwd``.

    A directory holds a project when it has ``qik.toml``, or a ``pyproject.toml`` with a
    ``[tool.qik]`` table. Raises ``ConfigError`` (``config-not-found``) when none does.
    """
    source = _discover(cwd)
    return source.root, source.path


def load_project(
    cwd: Path, *, profile: str | None = None, environ: Mapping[str, str] | None = None
) -> Project:
    """Find, parse and validate the project containing ``cwd``.

    ``profile`` wins over ``QIK__PROFILE`` in ``environ`` (default ``os.environ``). Every
    mistake in the config is a ``ConfigError`` naming the file and key.
    """
    return build_project(
        _discover(cwd), profile=profile, environ=os.environ if environ is None else environ
    )


def _discover(cwd: Path) -> ConfigSource:
    """The nearest config, unless it is a module's own qik.toml: then its project's."""
    source = discover(cwd)
    if source.path.name != CONFIG_NAME:
        return source
    return _enclosing_project(source) or source


def _enclosing_project(source: ConfigSource) -> ConfigSource | None:
    """The config above ``source`` that declares ``source``'s folder as a module, if any.

    Only stats on the way up in the usual case (no config above the project); a config
    found above is parsed, and a broken one leaves ``source`` the project.
    """
    # os.path on str, not pathlib: this walk is on every run, and pathlib costs ~10x more.
    place = str(source.root)
    while (parent := os.path.dirname(place)) != place:
        place = parent
        if not any(os.path.exists(os.path.join(place, name)) for name in _CONFIG_NAMES):
            continue
        try:
            outer = source_in(Path(place))
            if outer is None:
                continue
            modules = build_project(outer, profile=None, environ=os.environ).modules.values()
        except ConfigError:
            return None
        is_module = any(outer.root / module.path == source.root for module in modules)
        return outer if is_module else None
    return None


def build_project(
    source: ConfigSource, *, profile: str | None, environ: Mapping[str, str]
) -> Project:
    top = fields(source.data, source.loc, TOP_KEYS)
    caches: dict[str, CacheConf] = top.get_or("caches", parse_caches, {})
    spaces_table: dict[str, object] = top.get_or("spaces", as_table, {})
    refs = Refs(
        caches=frozenset((*BUILTIN_CACHES, *caches)),
        spaces=frozenset((DEFAULT_SPACE, *spaces_table)),
    )
    defaults = top.get_or("defaults", lambda v, at: parse_defaults(v, at, refs), Defaults())
    spaces = parse_spaces(
        spaces_table,
        _loc(top, "spaces"),
        top.get("modules"),
        refs,
        lambda path: dotted_path(path, source.root, defaults.python_path),
    )
    modules = {module.name: module for space in spaces.values() for module in space.modules}
    ctx = load_context(top.get("vars"), top.get("ctx"), _loc(top, "ctx"), refs, profile, environ)
    commands: dict[str, Command] = top.get_or(
        "commands", lambda v, at: parse_commands(v, at, refs, None), {}
    )
    module_commands, module_files = _module_commands(source, modules.values(), refs)
    pygraph = parse_pygraph(top.get("plugins"), refs)
    return Project(
        root=source.root,
        config_path=source.path,
        commands={**commands, **module_commands},
        modules=modules,
        spaces=spaces,
        base_deps=top.get_or("base", _parse_base, ()),
        default_cache=defaults.cache,
        default_cache_when=defaults.cache_when,
        python_path=defaults.python_path,
        caches=caches,
        vars=ctx.vars,
        ctx_values=ctx.values,
        qik_options=ctx.qik_options,
        profile=ctx.profile,
        pydist=_with_plugin_pydists(top.get_or("pydist", parse_pydist, PydistConf()), pygraph),
        pygraph=pygraph,
        uv=parse_uv_plugin(top.get("plugins"), refs),
        missing_vars=ctx.missing,
        profiles=ctx.profiles,
        default_venv=defaults.venv,
        default_dotenv=defaults.dotenv,
        config_files=(source.path, *module_files),
    )


def _with_plugin_pydists(pydist: PydistConf, pygraph: PygraphConf) -> PydistConf:
    """[pydist] with qik 0.2's ``[plugins.pygraph]`` module-pydists and
    ignore-missing-module-pydists merged in ([pydist] wins)."""
    if not pygraph.modules and not pygraph.ignore_missing_modules:
        return pydist
    return dataclasses.replace(
        pydist,
        modules={**pygraph.modules, **pydist.modules},
        ignore_missing_modules=pydist.ignore_missing_modules or pygraph.ignore_missing_modules,
    )


def _loc(top: Fields, key: str) -> Loc:
    entry = top.get(key)
    return top.loc / key if entry is None else entry[0]


def _parse_base(value: object, loc: Loc) -> tuple[Dep, ...]:
    f = fields(value, loc, BASE_KEYS)
    return f.get_or("deps", parse_deps, ())


def _module_commands(
    source: ConfigSource, modules: Iterable[Module], refs: Refs
) -> tuple[dict[str, Command], tuple[Path, ...]]:
    """Commands from each module folder's own qik.toml, named ``<module>/<command>``."""
    commands: dict[str, Command] = {}
    files: list[Path] = []
    root, own = os.fspath(source.root), os.fspath(source.path)
    for module in modules:
        # Strings, not Paths: a monorepo may have a module per package, and these are
        # checked on every run.
        name = os.path.normpath(os.path.join(root, module.path, CONFIG_NAME))
        # A module at the root (path ".") would otherwise re-read the root config.
        if name == own or not _is_config_file(name, module):
            continue
        path = Path(name)
        commands.update(_read_module_config(path, module, refs))
        files.append(path)
    return commands, tuple(files)


def _is_config_file(name: str, module: Module) -> bool:
    """Does the module's folder hold a qik.toml? One ``stat``, as ``isfile`` made. A
    directory there is ``config-unreadable``, as at the root: skipping it would drop the
    module's commands without a word."""
    try:
        mode = os.stat(name).st_mode
    except (OSError, ValueError):  # absent (or a path the OS refuses): no module config
        return False
    if stat.S_ISDIR(mode):
        display = f"{module.path}/{CONFIG_NAME}"
        raise ConfigError(
            f"{display}: can't be read (it is a directory)",
            hint=f"{name} must be a file: move the directory away",
            code="config-unreadable",
        )
    return stat.S_ISREG(mode)


def _read_module_config(path: Path, module: Module, refs: Refs) -> dict[str, Command]:
    display = f"{module.path}/{CONFIG_NAME}"
    top = fields(read_toml(path, display), Loc(display), MODULE_CONFIG_KEYS)
    return top.get_or("commands", lambda v, at: parse_commands(v, at, refs, module.name), {})
