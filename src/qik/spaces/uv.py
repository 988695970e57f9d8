"""The uv command lines that lock a space's requirements and sync its venv.

The command lines name ``uv`` bare and paths relative to the root: they enter dep hashes,
which must not depend on the machine. The uv to run is put on ``PATH`` by the environment
these runnables get (:func:`uv_dir`), with qik's own ``uv`` distribution first.
"""

from __future__ import annotations

import os
import shlex
import shutil

from qik.spaces import SpaceError
from qik.spaces.envs import Environment

__all__ = ["MARKER", "lock_exec", "sync_exec", "uv_dir"]

# Written into the venv as the last step of a sync: a copy of the lock it was synced to.
MARKER = ".qik-lock"


def lock_exec(env: Environment) -> str:
    """``uv pip compile``: universal, so one lock serves every platform the cache reaches."""
    assert env.lock is not None
    line = ["uv", "pip", "compile", "--quiet", "--universal", *env.reqs, "-o", env.lock]
    if env.constraint:
        line += ["--constraint", env.constraint]
    if env.python:
        line += ["--python-version", env.python]
    return shlex.join([*line, *_indexes(env)])


def _indexes(env: Environment) -> list[str]:
    """``[plugins.uv]`` index-url and extra-index-url, for both locking and syncing."""
    given = [("--index-url", env.index_url), ("--extra-index-url", env.extra_index_url)]
    return [part for flag, url in given if url for part in (flag, url)]


def sync_exec(env: Environment) -> str:
    """Create the venv (kept if it exists: syncing is faster than rebuilding), sync it to the
    lock, then leave the marker that says which lock it holds."""
    assert env.lock is not None
    venv, lock = env.venv_dir, env.lock
    create = ["uv", "venv", "--quiet", "--allow-existing", venv]
    if env.python:
        create += ["--python", env.python]
    sync = ["uv", "pip", "sync", "--allow-empty-requirements", "--python", venv, lock]
    sync += _indexes(env)
    mark = ["cp", lock, f"{venv}/{MARKER}"]
    return " && ".join(shlex.join(part) for part in (create, sync, mark))


def uv_dir() -> str:
    """The directory of the uv executable: qik's ``uv`` distribution, else uv on PATH."""
    try:
        from uv import find_uv_bin

        return os.path.dirname(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found is None:
        raise SpaceError(
            "uv is needed to build the virtual environments of spaces, and it isn't installed",
            code="uv-not-found",
            hint="install it with qik: pip install 'qik[uv]' (or put uv on PATH)",
        )
    return os.path.dirname(found)
