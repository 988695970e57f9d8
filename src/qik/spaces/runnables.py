"""The runnables that build a space's venv, and the deps that tie commands to them.

For each venv (see :mod:`qik.spaces.envs`) the graph gains ``space.lock@NAME`` and
``space.sync@NAME``; every runnable of a space in that venv depends on the sync, which
depends on the lock. The deps are ``strict`` (a changed lock selects the space's commands
under ``--since`` and ``--watch``) and never ``isolated``: a command can't run in a venv
that was not built, whatever ``--isolated`` says. They are ``internal``: ``--ls`` shows them
only when named.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from qik.config.schema import Project
from qik.graph.expand import Runnable, UpstreamDep
from qik.spaces import LOCK_COMMAND, SYNC_COMMAND
from qik.spaces.envs import Environment, resolve
from qik.spaces.uv import lock_exec, sync_exec

__all__ = ["lock_name", "sync_name", "with_space_runnables"]


def lock_name(env: Environment) -> str:
    return f"{LOCK_COMMAND}@{env.name}"


def sync_name(env: Environment) -> str:
    return f"{SYNC_COMMAND}@{env.name}"


def with_space_runnables(
    project: Project, runnables: Mapping[str, Runnable]
) -> dict[str, Runnable]:
    """``runnables`` with each venv's lock and sync added, and commands depending on them."""
    resolved = resolve(project)
    added: dict[str, Runnable] = {}
    for env in resolved.venvs():
        for runnable in (_lock(env), _sync(env)):
            added[runnable.name] = runnable
    commands = {
        name: _in_env(runnable, resolved.envs.get(runnable.space))
        for name, runnable in runnables.items()
    }
    return {**added, **commands}


def _in_env(runnable: Runnable, env: Environment | None) -> Runnable:
    if env is None or not env.is_venv:
        return runnable
    dep = UpstreamDep(sync_name(env), strict=True, isolated=False)
    return dataclasses.replace(runnable, deps=(*runnable.deps, dep))


def _lock(env: Environment) -> Runnable:
    assert env.lock is not None
    return _internal(env, LOCK_COMMAND, lock_exec(env), artifacts=(env.lock,), cache=env.cache)


def _sync(env: Environment) -> Runnable:
    # Local only: a venv is built for this machine and lives outside the store.
    up = UpstreamDep(lock_name(env), strict=True, isolated=False)
    return _internal(env, SYNC_COMMAND, sync_exec(env), deps=(up,), cache="local")


def _internal(
    env: Environment,
    command: str,
    exec: str,
    *,
    deps: tuple[UpstreamDep, ...] = (),
    artifacts: tuple[str, ...] = (),
    cache: str,
) -> Runnable:
    # Their file inputs (requirements, constraint, lock) are digested by qik.spaces.digests,
    # which also reads files git ignores: a lock may live in an ignored directory.
    return Runnable(
        name=f"{command}@{env.name}",
        command=command,
        module=None,
        exec=exec,
        deps=deps,
        artifacts=artifacts,
        cache=cache,
        cache_when="success",
        tags=(),
        space=env.name,
        timeout=None,
        is_cached=True,
        internal=True,
    )
