"""Which environment each space runs in: inheritance followed, identical settings shared.

A space's venv is its own ``venv``, else ``[defaults] venv``, else the active environment.
``{type = "space", name = "x"}`` means "whatever x runs in". Spaces that end up with the same
settings share one environment, named after the first of them in config order ("default"
first): two spaces locking the same requirements the same way need one lock and one venv.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Literal

from qik.config.schema import Project, SpaceVenv
from qik.spaces import SpaceError

__all__ = ["Environment", "Resolved", "resolve"]

Kind = Literal["active", "uv"]
VENV_ROOT = "._qik/venv"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Environment:
    """The settings of one environment; ``name`` is the space it is named after."""

    name: str
    kind: Kind = "active"
    reqs: tuple[str, ...] = ()
    lock: str | None = None  # always set for a venv: the default derives from reqs[0]
    constraint: str | None = None
    python: str | None = None
    cache: str = "repo"
    index_url: str | None = None  # [plugins.uv] (qik 0.2), rendered
    extra_index_url: str | None = None

    @property
    def is_venv(self) -> bool:
        return self.kind == "uv"

    @property
    def venv_dir(self) -> str:
        """``._qik/venv/<space>``, relative to the root; odd characters %-escaped, and a
        long name cut with a digest (``qik.filenames``)."""
        from qik.filenames import bounded

        safe = _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), self.name)
        return f"{VENV_ROOT}/{bounded(safe, self.name)}"

    def settings(self) -> Environment:
        return replace(self, name="")


@dataclass(frozen=True)
class Resolved:
    """Every space's environment and dotenv files."""

    envs: Mapping[str, Environment]  # by space name
    dotenv: Mapping[str, tuple[str, ...]]  # by space name

    def venvs(self) -> list[Environment]:
        """The distinct virtual environments, in config order."""
        unique = {env.name: env for env in self.envs.values() if env.is_venv}
        return list(unique.values())


_last: tuple[Project, Resolved] | None = None


def resolve(project: Project) -> Resolved:
    """The environments of ``project``'s spaces; raises SpaceError on cycles and conflicts.

    Remembers the last project it saw: the plan asks once per runnable.
    """
    global _last
    if _last is None or _last[0] is not project:
        _last = (project, _resolve(project))
    return _last[1]


def _resolve(project: Project) -> Resolved:
    shared: dict[Environment, Environment] = {}
    envs: dict[str, Environment] = {}
    default_locks: dict[str, Environment] = {}  # a default lock path -> its first user
    unlocked: dict[Environment, Environment] = {}  # settings but the default lock -> env
    for name in project.spaces:
        venv = _effective(project, name)
        env = _environment(name, venv, project)
        if env.is_venv and venv is not None and venv.lock is None:
            # Spaces whose settings differ but whose requirements start with the same file
            # (app = ["requirements.txt", "app.txt"], dev = ["requirements.txt", ...]):
            # the first keeps the default lock, the others get one named after them. Spaces
            # with the same settings still share one, whichever lock that is.
            key = replace(env.settings(), lock=None)
            if key in unlocked:
                envs[name] = unlocked[key]
                continue
            first = default_locks.setdefault(str(env.lock), env)
            if first.settings() != env.settings():
                env = replace(env, lock=default_lock(venv.reqs[0], name))
        envs[name] = shared.setdefault(env.settings(), env)
        if env.is_venv and venv is not None and venv.lock is None:
            unlocked[replace(env.settings(), lock=None)] = envs[name]
    _check_locks(project, envs.values())
    dotenv = {
        name: space.dotenv or project.default_dotenv for name, space in project.spaces.items()
    }
    return Resolved(envs=envs, dotenv=dotenv)


def _effective(project: Project, space: str) -> SpaceVenv | None:
    """The venv settings ``space`` runs with, ``type = "space"`` links followed."""
    trail: list[str] = []
    while True:
        own = project.spaces[space].venv
        venv, where = (own, f"spaces.{space}.venv") if own else (project.default_venv, "")
        if venv is None or venv.type != "space" or venv.name is None:
            return venv
        where = where or "defaults.venv"
        if where in trail:
            raise _cycle(project, [*trail[trail.index(where) :], where])
        trail.append(where)
        space = venv.name


def _cycle(project: Project, trail: list[str]) -> SpaceError:
    return SpaceError(
        f"{project.config_path.name}: venv inheritance cycle: {' -> '.join(trail)}",
        code="venv-cycle",
        hint='give one of these a venv of its own, e.g. venv = "requirements.txt", '
        'or point it at a space that has one: venv = {type = "space", name = "..."}',
    )


def _environment(name: str, venv: SpaceVenv | None, project: Project) -> Environment:
    if venv is None:
        return Environment(name=name)
    if venv.type == "active":
        return Environment(name=name, reqs=venv.reqs, lock=venv.lock)
    plugin = project.uv  # qik 0.2's [plugins.uv]: defaults for every uv venv
    return Environment(
        name=name,
        kind="uv",
        reqs=venv.reqs,
        lock=venv.lock or default_lock(venv.reqs[0]),
        constraint=venv.constraint or plugin.constraint,
        python=venv.python or plugin.python,
        cache=venv.cache or plugin.cache or "repo",
        index_url=_rendered(project, plugin.index_url, "index-url"),
        extra_index_url=_rendered(project, plugin.extra_index_url, "extra-index-url"),
    )


def _rendered(project: Project, value: str | None, key: str) -> str | None:
    if not value:
        return None
    from qik.graph.expand import render

    return render(value, project, None, f"[plugins.uv] {key}", unset="") or None


def default_lock(reqs: str, space: str | None = None) -> str:
    """``requirements-app.txt`` -> ``requirements-app.lock``, beside the requirements
    (``requirements-app-<space>.lock`` for a space that shares that file with another)."""
    path = PurePosixPath(reqs)
    suffix = f"-{_UNSAFE.sub('_', space)}" if space else ""
    return str(path.with_name(path.stem + suffix + ".lock"))


def _check_locks(project: Project, envs: Iterable[Environment]) -> None:
    owners: dict[str, str] = {}
    for env in envs:
        if not env.is_venv or env.lock is None:
            continue
        owner = owners.setdefault(env.lock, env.name)
        if owner != env.name or env.lock in env.reqs:
            raise _lock_conflict(project, env, owner)


def _lock_conflict(project: Project, env: Environment, owner: str) -> SpaceError:
    what = (
        f"is also a requirements file of space {env.name!r}"
        if owner == env.name
        else f"is the lock of both space {owner!r} and space {env.name!r}"
    )
    return SpaceError(
        f"{project.config_path.name}: lock file {env.lock!r} {what}",
        code="venv-lock-conflict",
        hint=f'set a lock file of its own: [spaces.{env.name}] venv = {{type = "uv", '
        f'reqs = [...], lock = "{env.name}.lock"}}',
    )
