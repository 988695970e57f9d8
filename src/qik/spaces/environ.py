"""The process environment of a runnable: its space's venv active, then its dotenv files.

Layers, in order: qik's own environment; the venv (``VIRTUAL_ENV``, its ``bin`` first on
``PATH``); each dotenv file of the space, later files winning. A space with neither a venv
nor dotenv files inherits qik's environment unchanged (``None``: nothing is copied).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from qik.config.schema import Project
from qik.graph.expand import Runnable
from qik.spaces import SYNC_COMMAND, SpaceError
from qik.spaces.envs import Environment, Resolved, resolve
from qik.spaces.uv import MARKER, uv_dir

__all__ = ["EnvItems", "SpaceEnvs", "is_present", "is_synced"]

EnvItems = tuple[tuple[str, str], ...]


class SpaceEnvs:
    """Environments per space, built once per run (dotenv files are read once)."""

    def __init__(self, project: Project, base: Mapping[str, str] | None = None) -> None:
        self.root = project.root
        self.resolved: Resolved = resolve(project)
        self.base = dict(os.environ if base is None else base)
        self._built: dict[str, dict[str, str] | None] = {}

    def __call__(self, runnable: Runnable) -> EnvItems | None:
        if runnable.internal:
            return tuple(self.for_uv().items())
        env = self.for_space(runnable.space)
        return None if env is None else tuple(env.items())

    def for_space(self, space: str) -> dict[str, str] | None:
        if space not in self._built:
            self._built[space] = self._build(space)
        return self._built[space]

    def for_uv(self) -> dict[str, str]:
        """uv (qik's, if installed with it) first on PATH; the venv's Python defaults to the
        one running qik, so a space gets the Python its project was set up with."""
        env = dict(self.base)
        env["PATH"] = os.pathsep.join(filter(None, (uv_dir(), env.get("PATH"))))
        env.setdefault("UV_PYTHON", sys.executable)
        return env

    def _build(self, space: str) -> dict[str, str] | None:
        env = self.resolved.envs.get(space)
        dotenv = self.resolved.dotenv.get(space, ())
        if (env is None or not env.is_venv) and not dotenv:
            return None
        result = dict(self.base)
        if env is not None and env.is_venv:
            result.update(_venv_vars(self.root, env, result))
            result.pop("PYTHONHOME", None)  # would point the venv's Python at another stdlib
        for path in dotenv:
            result.update(_dotenv_values(self.root, path, space, result))
        return result


def _venv_bin(root: Path, env: Environment) -> Path:
    return root / env.venv_dir / ("Scripts" if os.name == "nt" else "bin")


def _venv_vars(root: Path, env: Environment, base: Mapping[str, str]) -> dict[str, str]:
    path = os.pathsep.join(filter(None, (str(_venv_bin(root, env)), base.get("PATH"))))
    return {"VIRTUAL_ENV": str(root / env.venv_dir), "PATH": path}


def _dotenv_values(
    root: Path, path: str, space: str, layered: Mapping[str, str]
) -> dict[str, str]:
    """A dotenv file's values, ``${VAR}`` expanded as python-dotenv does, but against the
    environment as layered so far (the venv's ``PATH``, earlier files' values), not qik's
    own: ``PATH="/opt/x:${PATH}"`` keeps the venv first, and a later file can build on an
    earlier one's value."""
    file = root / path
    if not file.is_file():
        raise SpaceError(
            f"space {space!r}: dotenv file {path!r} does not exist",
            code="dotenv-not-found",
            hint=f"create {path}, or remove it from the dotenv list of [spaces.{space}] "
            "(or [defaults])",
        )
    try:
        from dotenv import parser, variables
    except ImportError:
        raise SpaceError(
            f"space {space!r} has dotenv files, and python-dotenv isn't installed",
            code="dotenv-not-installed",
            hint="qik depends on python-dotenv: pip install python-dotenv",
        ) from None
    env: dict[str, str | None] = dict(layered)
    values: dict[str, str] = {}
    with open(file, encoding="utf-8") as stream:
        for binding in parser.parse_stream(stream):  # in order, a key set twice included
            if binding.key is None or binding.value is None:
                continue  # a line that isn't KEY=VALUE (python-dotenv skips it too)
            atoms = variables.parse_variables(binding.value)
            value = "".join(atom.resolve(env) for atom in atoms)
            env[binding.key] = values[binding.key] = value
    return values


def is_synced(root: Path, env: Environment) -> bool:
    """Is the venv there and synced to the lock as it is now? (The sync's last step copies
    the lock into the venv; comparing the two needs no uv and no Python.)"""
    if env.lock is None:
        return False
    try:
        marker = (root / env.venv_dir / MARKER).read_bytes()
        return marker == (root / env.lock).read_bytes()
    except OSError:
        return False


def is_present(project: Project, runnable: Runnable) -> bool:
    """A sync's result is its venv: present while the venv is synced to today's lock."""
    if runnable.command != SYNC_COMMAND:
        return True
    env = resolve(project).envs.get(runnable.space)
    return env is not None and is_synced(project.root, env)
