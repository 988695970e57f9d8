"""Spaces at run time: the environment each command runs in.

A space's ``venv`` is either the active environment (what qik itself runs in) or a virtual
environment built with uv under ``._qik/venv/<space>``. Building one is two runnables that
qik adds to the graph, cached like any other (see :mod:`qik.spaces.runnables`):

- ``space.lock@NAME``: ``uv pip compile`` of the space's requirements into its lock file,
  an artifact of the repo cache by default, so a fresh clone replays it instead of resolving;
- ``space.sync@NAME``: creates the venv and syncs it to the lock. Its result lives outside
  the store (the venv), so a stored result counts only while the venv is synced to the lock.

Every command of the space depends on its ``space.sync``, and the lock's digest (and each
dotenv file's) enters its dep hash. Distribution versions for ``pydist`` deps come from the
lock, so planning never needs the venv.

The modules of this package are imported only by projects that use venvs or dotenv files
(and :mod:`qik.spaces.roots`, which checks ``-s``): the predicates here are all that a
project without them pays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from qik.config.schema import Project, SpaceVenv
from qik.errors import QikError

if TYPE_CHECKING:
    from qik.deps import SpaceSource
    from qik.graph.expand import Runnable

__all__ = [
    "LOCK_COMMAND",
    "SYNC_COMMAND",
    "SpaceError",
    "has_roots",
    "is_built",
    "space_envs",
    "space_source",
    "uses_spaces",
]

LOCK_COMMAND = "space.lock"
SYNC_COMMAND = "space.sync"


class SpaceError(QikError):
    """A space's environment can't be resolved or built (always raised with a code)."""


_last: tuple[Project, bool] | None = None


def uses_spaces(project: Project) -> bool:
    """Does any space have a venv other than the bare active one, or dotenv files?

    Remembers the last project it saw: the plan asks once per runnable.
    """
    global _last
    if _last is None or _last[0] is not project:
        _last = (project, _uses_spaces(project))
    return _last[1]


def _uses_spaces(project: Project) -> bool:
    if project.default_dotenv or _is_configured(project.default_venv):
        return True
    return any(s.dotenv or _is_configured(s.venv) for s in project.spaces.values())


def has_roots(project: Project) -> bool:
    return any(space.root is not None for space in project.spaces.values())


def _is_configured(venv: SpaceVenv | None) -> bool:
    if venv is None:
        return False
    return venv.type != "active" or bool(venv.reqs or venv.lock)


def space_source(project: Project) -> SpaceSource | None:
    """The spaces as dep-hash inputs (lock and dotenv digests, lock versions), if any."""
    if not uses_spaces(project):
        return None
    from qik.spaces.digests import space_source

    return space_source(project)


def space_envs(project: Project) -> Callable[[Runnable], tuple[tuple[str, str], ...] | None]:
    """The environment each runnable runs with; None: inherit qik's."""
    if not uses_spaces(project):
        return lambda runnable: None
    from qik.spaces.environ import SpaceEnvs

    return SpaceEnvs(project)


def is_built(project: Project, runnable: Runnable) -> bool:
    """Is what a space's internal runnable builds still there (a sync's venv)?"""
    from qik.spaces.environ import is_present

    return is_present(project, runnable)
