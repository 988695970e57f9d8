"""A space's environment as dep-hash inputs, and its lock as the source of versions.

Implements :class:`qik.deps.SpaceSource`. Each runnable of a space gets labelled digests of
the files that define its environment: ``venv:<lock>`` (or, for an active environment, its
declared requirements and lock) and ``dotenv:<file>`` for each dotenv file. A space's own
``space.lock`` digests its requirements and constraint; its ``space.sync``, the lock.

Files come from the file index when git tracks them; otherwise (a lock under ``._qik/``, a
git-ignored ``.env``) they are read here, since the index never holds ignored files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from qik.config.schema import Project
from qik.deps import DepDigest, FileSource
from qik.fingerprint.files import hash_blob
from qik.graph.expand import Runnable
from qik.spaces import LOCK_COMMAND, uses_spaces
from qik.spaces.envs import Environment, Resolved, resolve
from qik.spaces.lockfile import normalize, pinned_versions

__all__ = ["SpaceDigests", "space_source"]

Versions = Callable[[str], "str | None"]
_MISSING = hashlib.sha256(b"<missing>").hexdigest()
_UNLOCKED = "<not locked yet>"

_last: tuple[Project, SpaceDigests | None] | None = None


def space_source(project: Project) -> SpaceDigests | None:
    """The spaces of ``project`` as dep-hash inputs; None when it has no venv or dotenv."""
    global _last
    if _last is None or _last[0] is not project:
        _last = (
            project,
            SpaceDigests(project, resolve(project)) if uses_spaces(project) else None,
        )
    return _last[1]


class SpaceDigests:
    def __init__(self, project: Project, resolved: Resolved) -> None:
        self.root = project.root
        self.resolved = resolved
        # Lock files parsed, by path, keyed on their stat: a run may re-lock midway.
        self._locks: dict[str, tuple[tuple[int, int], dict[str, str]]] = {}

    def digests(self, runnable: Runnable, files: FileSource) -> list[DepDigest]:
        env = self.resolved.envs.get(runnable.space)
        if env is None:
            return []
        if runnable.internal:
            return self._files("venv", _internal_inputs(runnable, env), files)
        dotenv = self.resolved.dotenv.get(runnable.space, ())
        return [
            *self._files("venv", _env_files(env), files),
            *self._files("dotenv", dotenv, files),
        ]

    def versions(self, runnable: Runnable) -> Versions | None:
        """Versions pinned by the lock of the runnable's environment, if it has one."""
        env = self.resolved.envs.get(runnable.space)
        if env is None or env.lock is None or runnable.internal:
            return None
        pins = self._pins(env.lock)
        if pins is None:
            # A venv not locked yet: its commands are planned again once the lock exists.
            return (lambda name: _UNLOCKED) if env.is_venv else None
        return lambda name: pins.get(normalize(name))

    def _files(self, kind: str, paths: Iterable[str], files: FileSource) -> list[DepDigest]:
        out = []
        for path in paths:
            blob = files.digest(path) or self._read_digest(path)
            out.append(DepDigest(f"{kind}:{path}", blob or _MISSING, ((path, blob or ""),)))
        return out

    def _read_digest(self, path: str) -> str | None:
        try:
            return hash_blob((self.root / path).read_bytes())
        except OSError:
            return None

    def _pins(self, lock: str) -> dict[str, str] | None:
        path = self.root / lock
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (st.st_mtime_ns, st.st_size)
        cached = self._locks.get(lock)
        if cached is None or cached[0] != key:
            cached = (key, pinned_versions(_read_text(path)))
            self._locks[lock] = cached
        return cached[1]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _internal_inputs(runnable: Runnable, env: Environment) -> tuple[str, ...]:
    if runnable.command == LOCK_COMMAND:
        return (*env.reqs, *((env.constraint,) if env.constraint else ()))
    return (env.lock,) if env.lock else ()


def _env_files(env: Environment) -> tuple[str, ...]:
    if env.is_venv:
        return (env.lock,) if env.lock else ()
    # An active environment declared with files: they stand for what is installed.
    return (*env.reqs, *((env.lock,) if env.lock else ()))
