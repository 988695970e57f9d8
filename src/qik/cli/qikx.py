"""``qikx TOOL[@SPACE] ARGS...``: run any executable inside a space's environment.

Without ``@SPACE``, the space is the one whose root holds the working directory, else
"default". A space with a venv is locked and synced first if it needs to be (through the
same cached ``space.lock``/``space.sync`` runnables as ``qik``, their output on stderr so
the tool's stdout stays its own); then qikx replaces itself with the tool.
``qikx --install`` syncs every space's venv.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from qik.config.schema import Project
from qik.errors import QikError
from qik.options import Options

__all__ = ["run_qikx"]

_USAGE = "usage: qikx TOOL[@SPACE] ARGS...   |   qikx --install"


def run_qikx(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(_USAGE)
        return 0
    if not argv:
        from qik.errors import usage_error

        raise usage_error("qikx", f"name a tool to run ({_USAGE})")
    if argv[0] == "--install":
        return _install(_project(), quiet=False)
    if argv[0] == "--":  # the end of qikx's options: what follows is the tool and its own
        argv = argv[1:]
    elif argv[0].startswith("-"):
        from qik.errors import usage_error

        raise usage_error("qikx", f"no option {argv[0]} ({_USAGE})")
    if not argv:
        from qik.errors import usage_error

        raise usage_error("qikx", f"name a tool to run ({_USAGE})")
    tool, _, space = argv[0].partition("@")
    project = _project(required=bool(space))
    env: Mapping[str, str] = os.environ
    if project is not None:
        space = space or _space_here(project)
        code, space_env = _prepare(project, space)
        if code:
            return code
        env = space_env or env
    os.execve(_which(tool, space or "default", env), [tool, *argv[1:]], env)
    return 0  # not reached: execve replaces this process


def _project(*, required: bool = True) -> Project | None:
    from qik.config.load import load_project

    try:
        return load_project(Path.cwd())
    except QikError as exc:
        # Outside any project, a bare `qikx TOOL` still runs TOOL in the active environment.
        if exc.code == "config-not-found" and not required:
            return None
        raise


def _space_here(project: Project) -> str:
    from qik.spaces.roots import space_at

    return space_at(project, Path.cwd()) or "default"


def _prepare(project: Project, space: str) -> tuple[int, dict[str, str] | None]:
    """Install the space's venv if it needs it; then its environment (None: qik's own)."""
    if space not in project.spaces:
        raise QikError(
            f"no space named {space!r}",
            code="unknown-space",
            hint="spaces are declared under [spaces.NAME]: " + ", ".join(sorted(project.spaces)),
        )
    from qik.spaces import uses_spaces

    if not uses_spaces(project):
        return 0, None
    from qik.spaces.environ import SpaceEnvs
    from qik.spaces.envs import resolve

    env = resolve(project).envs[space]
    code = _install(project, quiet=True, only=env.name) if env.is_venv else 0
    return code, SpaceEnvs(project).for_space(space)


def _install(project: Project | None, *, quiet: bool, only: str | None = None) -> int:
    """Run the sync runnables (and the locks they need) of every venv, or of ``only``."""
    from qik.spaces.envs import resolve
    from qik.spaces.runnables import sync_name

    if project is None:
        return 0
    envs = [env for env in resolve(project).venvs() if only in (None, env.name)]
    if not envs:
        return 0
    names = tuple(sync_name(env) for env in envs)
    if quiet and _is_built(project, Options(commands=names)):
        return 0
    return _qik(project.root, names, quiet=quiet)


def _is_built(project: Project, options: Options) -> bool:
    from qik.runner import make_plan

    plan = make_plan(project, options, lambda message: None)
    return all(plan.entries[name].is_warm for name in plan.names)


def _qik(root: Path, names: tuple[str, ...], *, quiet: bool) -> int:
    """``qik NAMES`` in a child process: qikx is about to become the tool, and a process that
    exec()s away must not have started a worker pool (its resource tracker would complain).
    Run from the root, so no space root narrows the selection; quiet sends stdout to stderr.
    """
    import subprocess

    argv = [sys.executable, "-c", "from qik.cli import main; main()", *names]
    out = sys.stderr if quiet else None
    sys.stdout.flush()
    return subprocess.run(argv, cwd=root, stdout=out, check=False).returncode


def _which(tool: str, space: str, env: Mapping[str, str]) -> str:
    path = shutil.which(tool, path=env.get("PATH"))
    if path is None:
        raise QikError(
            f"no executable named {tool!r} in the environment of space {space!r}",
            code="tool-not-found",
            hint="add the tool to the space's requirements, or check its name",
        )
    return path
