"""The git commands of a run's file index, started before qik imports the rest of itself.

A run's file index asks git three things: the work tree's top (``git rev-parse``), the
index (``git ls-files -s``) and what differs from it (``git status``, a stat of every file
and a scan for untracked ones: on 15,000 files about 40 ms, most of a cached run's floor).
They depend on nothing but the project's directory, which a few ``stat`` calls find; so a
plain ``qik ...`` starts them first, and they run on another CPU while Python imports qik
and loads the configuration.

:mod:`qik.git` adopts a started command when it is about to start the very same one (same
directory, same arguments, same environment) and otherwise starts its own, so a wrong guess
here costs a process, never a wrong answer. A command nobody adopted is killed when qik
exits (:func:`discard`).

This module imports nothing of qik's and little else: it runs before everything.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

__all__ = [
    "adopt",
    "argv",
    "collect",
    "discard",
    "find_git",
    "git_env",
    "ls_files_args",
    "spawn",
    "start",
    "status_args",
]

TOPLEVEL_ARGS = ("rev-parse", "--show-toplevel")

# Variables that point git at another repository, index or object store. qik always
# addresses a repository by path, and inside a git hook (pre-commit runs qik there) these are
# set for the outer command; pre-commit's ``no_git_env`` drops them for the same reason.
_REDIRECTING_ENV = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_PREFIX",
    }
)

_Key = tuple[str, tuple[str, ...]]
_started: dict[_Key, tuple[dict[str, str], subprocess.Popen[bytes]]] = {}
_memory: dict[int, int] = {}  # pid -> the in-memory file its output goes to


def git_env() -> dict[str, str]:
    """The environment qik runs git with."""
    env = {key: val for key, val in os.environ.items() if key not in _REDIRECTING_ENV}
    # Nothing qik runs writes to the repository: git status doesn't take the index lock to
    # refresh its stat cache, so concurrent qik runs (and a user's own git commands) never
    # fail on ``index.lock``.
    env["GIT_OPTIONAL_LOCKS"] = "0"
    # English messages, so repo_root can recognise "not a git repository"; output paths are
    # unaffected (-z output is raw bytes whatever the locale).
    env["LC_ALL"] = "C"
    return env


def find_git() -> str | None:
    """The ``git`` executable on ``PATH`` (what ``shutil.which("git")`` finds), or None."""
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or os.curdir, "git")
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def ls_files_args(under: str) -> list[str]:
    return ["ls-files", "-s", "-z", "--full-name", *_limit(under)]


def status_args(under: str) -> list[str]:
    return [
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--no-renames",
        # Submodules are not part of the file index; skipping them also skips a recursive
        # status of each one.
        "--ignore-submodules=all",
        *_limit(under),
    ]


def argv(git: str, args: Sequence[str]) -> list[str]:
    return [git, "--literal-pathspecs", *args]


def spawn(
    command: Sequence[str], cwd: str, env: dict[str, str], *, to_memory: bool = False
) -> subprocess.Popen[bytes]:
    """Start a git command whose output (and errors) qik reads with :func:`collect`.

    With ``to_memory``, the output goes to an in-memory file (Linux) instead of a pipe: a
    pipe holds 64 KiB, and ``ls-files`` of 15,000 files writes a megabyte, so a command
    started early would otherwise stop after its first 64 KiB until qik got round to
    reading it, and finish only then.
    """
    memory = _memory_file() if to_memory else None
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if memory is None else memory,
            stderr=subprocess.PIPE,
        )
    except BaseException:
        if memory is not None:
            os.close(memory)
        raise
    if memory is not None:
        _memory[proc.pid] = memory
    return proc


def collect(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """Wait for a command :func:`spawn` started; its output and its errors."""
    out, err = proc.communicate()
    memory = _memory.pop(proc.pid, None)
    if memory is not None:
        with os.fdopen(memory, "rb") as file:
            file.seek(0)
            out = file.read()
    return out or b"", err or b""


def _memory_file() -> int | None:
    create = getattr(os, "memfd_create", None)  # Linux only
    if create is None:
        return None
    try:
        fd: int = create("qik-git")
    except OSError:  # not allowed here (a sandbox): a pipe will do
        return None
    return fd


def start(cwd: str) -> None:
    """Start the file index's git commands for the project at or above ``cwd``, if it
    looks like one in a git work tree. Never raises: this only saves time, and anything
    odd (an unreadable directory, git missing) is the run's to meet and report."""
    try:
        _start_for(cwd)
    except Exception:  # see above
        discard()


def adopt(cwd: str, args: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes] | None:
    """The command ``args`` started in ``cwd`` with ``env`` by :func:`start`, if it was."""
    found = _started.pop((cwd, tuple(args)), None)
    if found is None:
        return None
    started_env, proc = found
    if started_env != env:
        _kill(proc)
        return None
    return proc


def discard() -> None:
    """Kill and reap the commands nobody adopted."""
    while _started:
        _, (_, proc) = _started.popitem()
        _kill(proc)


def _start_for(cwd: str) -> None:
    root = _project_root(os.path.realpath(cwd))
    top = None if root is None else _work_tree_top(root)
    git = find_git()
    if root is None or top is None or git is None:
        return
    under = os.path.relpath(root, top).replace(os.sep, "/")
    under = "" if under == "." else under
    env = git_env()
    # The slow one first.
    for where, args in (
        (top, status_args(under)),
        (top, ls_files_args(under)),
        (root, list(TOPLEVEL_ARGS)),
    ):
        command = argv(git, args)
        proc = spawn(command, where, env, to_memory=args[0] != TOPLEVEL_ARGS[0])
        _started[(where, tuple(command))] = (env, proc)


def _project_root(start: str) -> str | None:
    """Where ``qik.config.find.discover`` will find the project, as far as a stat tells:
    the nearest directory with ``qik.toml``, or a ``pyproject.toml`` that mentions qik."""
    directory = start
    while True:
        if os.path.isfile(os.path.join(directory, "qik.toml")):
            return directory
        pyproject = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(pyproject):
            with open(pyproject, "rb") as file:
                if b"qik" in file.read():
                    return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _work_tree_top(root: str) -> str | None:
    directory = root
    while True:
        if os.path.lexists(os.path.join(directory, ".git")):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    collect(proc)


def _limit(under: str) -> list[str]:
    return ["--", under] if under else []
