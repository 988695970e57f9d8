"""Commands x modules -> runnables, with their templates resolved.

Only ``{module.*}`` and ``{ctx.*}`` placeholders are templates; any other braces (awk
programs, shell ``${VAR}``) pass through untouched, so a shell line never needs escaping.
A string written for qik 0.2, whose every literal brace is doubled (``${{HOME}}``), renders
as 0.2 rendered it: ``{{`` and ``}}`` are single braces there.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from qik.config.commands import CACHE_WHENS
from qik.config.refs import BUILTIN_CACHES, NO_CACHE
from qik.config.schema import (
    CacheWhen,
    Command,
    CommandDep,
    ConstDep,
    Dep,
    GlobDep,
    Module,
    Project,
    PydistDep,
    PygraphDep,
)
from qik.errors import ConfigError
from qik.pygraph.builtin import builtin_runnables
from qik.spaces import uses_spaces

__all__ = ["Runnable", "UpstreamDep", "arch", "expand", "pyimport", "render"]

_TEMPLATE = re.compile(r"\{(module|ctx)((?:\.[A-Za-z_][A-Za-z0-9_-]*)+)\}")
# A template, a doubled brace, or a single brace (group 1 is None for the last two).
_BRACES = re.compile(r"\{\{|\}\}|" + _TEMPLATE.pattern + r"|[{}]")


@dataclass(frozen=True)
class UpstreamDep:
    """A resolved command dep: the runnable ``name`` must finish first."""

    name: str
    strict: bool
    isolated: bool | None


ResolvedDep = GlobDep | ConstDep | PydistDep | PygraphDep | UpstreamDep


@dataclass(frozen=True)
class Runnable:
    """One invocation of a command: ``lint@a`` for module ``a``, or plain ``lint``."""

    name: str
    command: str
    module: str | None
    exec: str
    deps: tuple[ResolvedDep, ...]
    artifacts: tuple[str, ...]
    cache: str
    cache_when: CacheWhen
    tags: tuple[str, ...]
    space: str
    timeout: float | None
    is_cached: bool
    internal: bool = False  # qik's own (a space's lock and sync): --ls shows it only if named
    hidden: bool = False  # `hidden = true`: left out of "every command", run when named or needed
    # A template it uses can't be resolved (a missing context value): an error only if the
    # runnable is selected, so one command's missing variable doesn't stop the others.
    error: ConfigError | None = field(default=None, compare=False)

    @property
    def upstream(self) -> tuple[UpstreamDep, ...]:
        return tuple(d for d in self.deps if isinstance(d, UpstreamDep))


def arch() -> str:
    """The machine's platform as conda spells it: linux-64, osx-arm64, win-64, ..."""
    system = {"darwin": "osx", "win32": "win"}.get(sys.platform, sys.platform)
    import platform  # rarely asked for: not on every run's imports

    machine = platform.machine().lower()
    bits = {"x86_64": "64", "amd64": "64", "arm64": "arm64", "aarch64": "aarch64"}
    return f"{system}-{bits.get(machine, machine)}"


def render(
    template: str, project: Project, module: Module | None, where: str, *, unset: str = "None"
) -> str:
    """Resolve ``{module.name|dir|pyimport}`` and ``{ctx.var}`` / ``{ctx.qik.arch}``.
    ``unset`` is what an optional variable without a value renders as: ``None`` in a
    command, as in qik 0.2; a cache's settings take ``""``, for "not set"."""
    if "{" not in template and "}}" not in template:
        return template

    def sub(match: re.Match[str]) -> str:
        if match.group(1) is None:  # "{{" or "}}", in a string written for qik 0.2
            return match.group(0)[0]
        kind, path = match.group(1), match.group(2)[1:].replace("-", "_")
        if kind == "module":
            return _module_field(module, path, where, project.python_path)
        return _ctx_field(project, path, where, unset)

    if _written_for_format(template):
        return _BRACES.sub(sub, template)
    _check_near_misses(template, where)
    return _TEMPLATE.sub(sub, template)


_NEAR = re.compile(r"\{\s*(?:module|ctx)\s*\.")


def _check_near_misses(template: str, where: str) -> None:
    """``{module.dir }``, ``{module.dir!r}``, ``{ctx.x:>4}``: a template by intent (the
    first makes its command parametrized) that isn't one; passed to the shell as written,
    it would run with the braces in. An error, as an unknown template is."""
    for near in _NEAR.finditer(template):
        if not _TEMPLATE.match(template, near.start()):
            end = template.find("}", near.start())
            text = template[near.start() : end + 1 if end >= 0 else len(template)]
            raise ConfigError(
                f"{where}: {text!r} is not a template",
                code="invalid-template",
                hint="templates are {module.name}, {module.dir}, {module.pyimport} and "
                "{ctx.NAME}, with nothing else inside the braces",
            )


def _written_for_format(template: str) -> bool:
    """Is this a string as qik 0.2 required, where every literal brace is doubled (it
    rendered strings with ``str.format``)? Then ``{{`` and ``}}`` are its braces, as
    there. A string with a single literal brace (``awk '{print $1}'``, ``${HOME}``),
    which 0.2 refused, is written for this qik: its braces reach the shell as written."""
    if "{{" not in template and "}}" not in template:
        return False
    return all(match.group(0) not in ("{", "}") for match in _BRACES.finditer(template))


def _module_field(module: Module | None, field: str, where: str, python_path: str) -> str:
    if module is None:
        raise ConfigError(
            f"{where} uses {{module.{field}}} but the command is not parametrized by modules",
            code="invalid-template",
            hint="use {module...} only in commands of a project with modules",
        )
    if field == "name":
        return module.name
    if field in ("dir", "path"):
        return module.path
    if field == "pyimport":
        return pyimport(module.path, python_path)
    raise ConfigError(
        f"{where}: unknown template {{module.{field}}}",
        code="invalid-template",
        hint="module templates are {module.name}, {module.dir} and {module.pyimport}",
    )


def _ctx_field(project: Project, path: str, where: str, unset: str) -> str:
    if path == "qik.arch":
        return arch()
    name = _declared_name(project, path.removeprefix("project."))
    if name.startswith("qik."):
        value: object = _qik_value(project, name[4:], where)
        unset = ""  # an option not set this run (``{ctx.qik.since}``): empty
    elif name in project.ctx_values:
        value = project.ctx_values[name]
    elif name in project.vars:
        raise ConfigError(
            f"{where} uses {{ctx.{name}}} but the context variable {name!r} has no value",
            code="missing-var",
            hint=f"set PROJECT__{name.upper()} or {name.upper()} in the environment, give it "
            "a default in `vars`, or set it in the active profile's [ctx.PROFILE.project]",
        )
    else:
        raise _undeclared(name, where)
    # As qik 0.2 rendered values (``str.format``): True, False, and None for an optional
    # variable without a value (its docs show ``var=None`` printed).
    return unset if value is None else str(value)


def _qik_value(project: Project, option: str, where: str) -> object:
    """``{ctx.qik.OPTION}``: the option's value in this run (``project.qik_options``)."""
    from qik.config.profiles import QIK_OPTIONS

    known = {o.replace("-", "_") for o in QIK_OPTIONS}
    if option not in known:
        raise ConfigError(
            f"{where} uses {{ctx.qik.{option}}}, which qik doesn't know",
            code="unknown-var",
            hint=_QIK_VALUES,
        )
    # A run's options name the default cache ``default_cache``; a profile's table ``cache``.
    other = {"cache": "default_cache", "default_cache": "cache"}.get(option, option)
    value = project.qik_options.get(option, project.qik_options.get(other))
    return ",".join(value) if isinstance(value, list | tuple) else value


def _check_cache_templates(project: Project) -> None:
    """A cache's settings are rendered only when it is read: on a warm machine, never. A
    variable they name must still be declared, so that a typo fails every run alike (a
    declared one without a value fails when the cache is used: ``missing-var``)."""
    for name, conf in project.caches.items():
        for key, value in vars(conf).items():
            if not isinstance(value, str) or "{ctx." not in value:
                continue
            where = f"[caches.{name}] {key.replace('_', '-')}"
            for match in _TEMPLATE.finditer(value):
                path = match.group(2)[1:].replace("-", "_")
                if match.group(1) != "ctx" or path == "qik.arch":
                    continue
                var = _declared_name(project, path.removeprefix("project."))
                if var.startswith("qik."):
                    _qik_value(project, var[4:], where)
                elif var not in project.vars:
                    raise _undeclared(var, where)


def _undeclared(name: str, where: str) -> ConfigError:
    return ConfigError(
        f"{where} uses {{ctx.{name}}} but no context variable {name!r} is declared",
        code="unknown-var",
        hint=_QIK_VALUES if name == "qik" else f'declare it: vars = ["{name}"]',
    )


_QIK_VALUES = (
    "qik's own values are {ctx.qik.arch} and its options, such as {ctx.qik.workers} "
    "or {ctx.qik.cache}"
)


def _declared_name(project: Project, name: str) -> str:
    """The var as declared: templates read ``{ctx.my-var}`` as ``my_var``, and a var may be
    declared either way (its environment variable is ``MY_VAR`` for both)."""
    if name in project.vars or "_" not in name:
        return name
    return next((var for var in project.vars if var.replace("-", "_") == name), name)


def pyimport(path: str, python_path: str) -> str:
    """The dotted import path of a folder, relative to ``[defaults] python-path``."""
    prefix = python_path.strip("/").removeprefix("./")
    if prefix not in ("", ".") and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix) :].lstrip("/")
    return path.replace("/", ".")


def is_parametrized(command: Command, base_deps: tuple[Dep, ...]) -> bool:
    texts = [command.exec, *command.artifacts]
    for dep in command.deps:
        texts.extend(_dep_texts(dep))
    return any("{module." in text for text in texts)


def _dep_texts(dep: Dep) -> list[str]:
    if isinstance(dep, GlobDep):
        return [dep.pattern]
    if isinstance(dep, ConstDep):
        return [dep.val]
    if isinstance(dep, CommandDep | PydistDep):
        return [dep.name]
    return [dep.pyimport]


def expand(project: Project) -> dict[str, Runnable]:
    """Every runnable of the project, by name, in config order."""
    _check_cache_templates(project)
    project = _rendered_defaults(project)
    modules = tuple(project.modules.values())
    runnables: dict[str, Runnable] = {}
    # The modules each parametrized command runs over, by command name.
    parametrized = {
        name: frozenset(module.name for module in _command_modules(project, cmd, modules))
        for name, cmd in project.commands.items()
        if is_parametrized(cmd, project.base_deps) and cmd.module is None
    }
    for name, cmd in project.commands.items():
        if cmd.module is not None:
            targets: tuple[Module | None, ...] = (project.modules.get(cmd.module),)
        elif name in parametrized:
            if not modules:
                raise ConfigError(
                    f"command {name!r} uses {{module...}} but the project declares no modules",
                    code="invalid-template",
                    hint='declare modules (modules = ["a", "b"] or [spaces.NAME] modules), '
                    "or remove {module...} from the command",
                )
            targets = _command_modules(project, cmd, modules)
        else:
            targets = (None,)
        for module in targets:
            runnable = _runnable_or_error(project, cmd, module, name in parametrized, parametrized)
            runnables[runnable.name] = runnable
    for runnable in builtin_runnables(project):  # pygraph.check@SPACE for each fenced space
        runnables.setdefault(runnable.name, runnable)
    if uses_spaces(project):  # a venv's lock and sync runnables join the graph
        from qik.spaces.runnables import with_space_runnables

        return with_space_runnables(project, runnables)
    return runnables


def _command_modules(
    project: Project, cmd: Command, modules: tuple[Module, ...]
) -> tuple[Module, ...]:
    """The modules a parametrized command runs over: those of its ``space`` when that space
    declares modules (as qik 0.2 did), else every module of the project."""
    space = project.spaces.get(cmd.space) if cmd.space is not None else None
    return space.modules if space is not None and space.modules else modules


def _runnable_or_error(
    project: Project,
    cmd: Command,
    module: Module | None,
    is_param: bool,
    parametrized: Mapping[str, frozenset[str]],
) -> Runnable:
    try:
        return _runnable(project, cmd, module, is_param, parametrized)
    except ConfigError as exc:
        if exc.code != "missing-var":
            raise
        name = f"{cmd.name}@{module.name}" if is_param and module else cmd.name
        return Runnable(
            name=name,
            command=cmd.name,
            module=module.name if module else None,
            exec="",
            deps=(),
            artifacts=(),
            cache="local",
            cache_when="success",
            tags=cmd.tags,
            space=cmd.space or "default",
            timeout=None,
            is_cached=False,
            hidden=cmd.hidden,
            error=exc,
        )


def _runnable(
    project: Project,
    cmd: Command,
    module: Module | None,
    is_param: bool,
    parametrized: Mapping[str, frozenset[str]],
) -> Runnable:
    name = f"{cmd.name}@{module.name}" if is_param and module else cmd.name
    where = f"command {cmd.name!r}"
    deps = (*cmd.deps, *project.base_deps) if cmd.deps else ()
    resolved = tuple(_resolve_dep(dep, project, module, where, parametrized) for dep in deps)
    space = cmd.space or (module.space if module else None) or "default"
    cache = _cache(cmd.cache, project, module, where) or project.default_cache
    return Runnable(
        name=name,
        command=cmd.name,
        module=module.name if module else None,
        exec=render(cmd.exec, project, module, where),
        deps=resolved,
        artifacts=tuple(render(a, project, module, where) for a in cmd.artifacts),
        cache=cache,
        cache_when=_cache_when(cmd.cache_when, project, module, where)
        or project.default_cache_when,
        tags=cmd.tags,
        space=space,
        timeout=cmd.timeout,
        is_cached=bool(cmd.deps) and cache != NO_CACHE,
        hidden=cmd.hidden,
    )


def _rendered_defaults(project: Project) -> Project:
    """``[defaults]`` cache and cache-when as rendered, when qik 0.2's templates there."""
    cache = _cache(project.default_cache, project, None, "[defaults]")
    cache_when = _cache_when(project.default_cache_when, project, None, "[defaults]")
    if (cache, cache_when) == (project.default_cache, project.default_cache_when):
        return project
    return dataclasses.replace(
        project, default_cache=cache or "local", default_cache_when=cache_when or "success"
    )


def _cache(value: str | None, project: Project, module: Module | None, where: str) -> str | None:
    """A cache's name, rendered if a template (qik 0.2: ``cache = "{ctx.bundle_cache}"``),
    then checked as a name written out is when the config loads."""
    if value is None or "{ctx." not in value:
        return value
    name = render(value, project, module, f"{where} cache", unset="")
    if not name:  # an optional variable without a value: the default cache
        return None
    if name not in (*BUILTIN_CACHES, NO_CACHE, *project.caches):
        declared = ", ".join(sorted((*BUILTIN_CACHES, *project.caches)))
        raise ConfigError(
            f"{where}: cache {value!r} is {name!r}, which names no cache; declared: {declared}",
            code="unknown-cache",
            hint=f'give the variable one of {declared}, or declare [caches.{name}] type = "s3"',
        )
    return name


def _cache_when(
    value: CacheWhen | None, project: Project, module: Module | None, where: str
) -> CacheWhen | None:
    if value is None or "{ctx." not in value:
        return value
    when = render(value, project, module, f"{where} cache-when", unset="")
    if not when:
        return None
    if when not in CACHE_WHENS:
        raise ConfigError(
            f"{where}: cache-when {value!r} is {when!r}, not success, failed or finished",
            code="invalid-value",
            hint="give the variable one of success, failed, finished",
        )
    return CACHE_WHENS[when]


def _resolve_dep(
    dep: Dep,
    project: Project,
    module: Module | None,
    where: str,
    parametrized: Mapping[str, frozenset[str]],
) -> ResolvedDep:
    if isinstance(dep, GlobDep):
        return GlobDep(_normalize_glob(render(dep.pattern, project, module, where)))
    if isinstance(dep, ConstDep):
        return ConstDep(render(dep.val, project, module, where))
    if isinstance(dep, PydistDep):
        return PydistDep(render(dep.name, project, module, where))
    if isinstance(dep, PygraphDep):
        return PygraphDep(render(dep.pyimport, project, module, where))
    target = render(dep.name, project, module, where)
    # A dep on a parametrized command from a command of a module it runs over means that
    # module's runnable; from anywhere else it means all of that command's runnables,
    # which the graph resolves from the bare command name.
    if module is not None and module.name in parametrized.get(target, ()) and "@" not in target:
        target = f"{target}@{module.name}"
    return UpstreamDep(name=target, strict=dep.strict, isolated=dep.isolated)


def _normalize_glob(pattern: str) -> str:
    """``./x`` is ``/x``: the root's own, as the docs promise (``./*.py`` the Python files
    at the root only; stripping the ``./`` made it match at any depth, as ``*.py`` does)."""
    negated = pattern.startswith("!")
    body = pattern[1:] if negated else pattern
    if body.startswith("./"):
        body = body[2:].lstrip("/")
        # With a slash left, the pattern is anchored as it is (and keeps its dep hash).
        body = body if "/" in body.rstrip("/") else "/" + body
    return ("!" if negated else "") + body
