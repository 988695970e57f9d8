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

import errno
import os
import signal
import time
from collections.abc import Sequence

# typing.TYPE_CHECKING's value without importing typing (3 ms) before git starts; mypy
# and ruff read any name TYPE_CHECKING as typing's.
TYPE_CHECKING = False

__all__ = [
    "adopt",
    "argv",
    "collect",
    "discard",
    "find_git",
    "git_env",
    "ls_files_args",
    "project_root",
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


# The exit code of a command something else reaped first: unknown, so not a success.
_REAPED = -1


class Spawned:
    """A command started by :func:`spawn` with ``posix_spawn``, its output and its errors
    going to in-memory files: the few ``subprocess.Popen`` features qik's git calls use,
    without importing ``subprocess`` (and its threading, selectors and locale) before git
    can even start."""

    def __init__(self, pid: int, out: int, err: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._files = (out, err)

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped already (a Ctrl-C's cleanup of children)
                self.returncode = _REAPED
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            if self.returncode is None:
                try:
                    self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
                except ChildProcessError:
                    self.returncode = _REAPED
            return self.returncode
        deadline = time.monotonic() + timeout
        while (code := self.poll()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"git (pid {self.pid}) still runs after {timeout}s")
            time.sleep(0.005)
        return code

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                return  # gone already: wait() reaps it

    def communicate(self) -> tuple[bytes, bytes]:
        """Wait for the command; its output and its errors (once: the files are closed)."""
        self.wait()
        out, err = (_read_all(fd) for fd in self._files)
        self._files = (-1, -1)
        return out, err


if TYPE_CHECKING:  # subprocess is imported only where there are no in-memory files
    import subprocess

    Started = Spawned | subprocess.Popen[bytes]

_Key = tuple[str, tuple[str, ...]]
_started: dict[_Key, tuple[dict[str, str], Started]] = {}
_roots: list[str] = []  # the project found by start()


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


def spawn(command: Sequence[str], cwd: str, env: dict[str, str], stdin: bytes = b"") -> Started:
    """Start a git command whose output (and errors) qik reads with :func:`collect`; its
    input is ``stdin`` (the null device when empty).

    Where there are in-memory files (Linux), the output and the errors go to such files,
    and the command starts with ``posix_spawn`` (a cached run's git commands then need no
    ``subprocess``). A pipe holds 64 KiB, and ``ls-files`` of 15,000 files writes a
    megabyte, so a command started early would otherwise stop after its first 64 KiB until
    qik got round to reading it, and finish only then. Elsewhere the output goes through a
    pipe. The input is a file too (in memory, or a temporary one), so neither side waits
    for the other.
    """
    files = [_memory_file() for _ in range(3 if stdin else 2)]
    try:
        if all(fd is not None for fd in files):
            fds = [fd for fd in files if fd is not None]
            given = _filled(fds[2], stdin) if stdin else None
            return _posix_spawn(command, cwd, env, fds[0], fds[1], given)
    except BaseException:
        _close(files)
        raise
    _close(files)
    import subprocess
    import tempfile

    with tempfile.TemporaryFile() if stdin else open(os.devnull, "rb") as given_file:
        if stdin:
            _filled(given_file.fileno(), stdin)
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=given_file,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )


def _filled(fd: int, data: bytes) -> int:
    """``fd`` (a fresh file) holding ``data``, read from its start."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _close(fds: Sequence[int | None]) -> None:
    for fd in fds:
        if fd is not None:
            os.close(fd)


def _posix_spawn(
    command: Sequence[str],
    cwd: str,
    env: dict[str, str],
    out: int,
    err: int,
    given: int | None = None,
) -> Spawned:
    # posix_spawn can't change directory, and this process must not (another thread may
    # be using relative paths): git's own -C does it, once the directory is known to exist,
    # so a missing one fails here with the OSError that Popen(cwd=...) raised.
    if not os.path.isdir(cwd):
        os.stat(cwd)  # FileNotFoundError, or the reason it can't be looked at
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), cwd)
    argv = [command[0], "-C", cwd, *command[1:]]
    pid = os.posix_spawn(
        command[0],
        argv,
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)
            if given is None
            else (os.POSIX_SPAWN_DUP2, given, 0),
            (os.POSIX_SPAWN_DUP2, out, 1),
            (os.POSIX_SPAWN_DUP2, err, 2),
        ],
        # As Popen's restore_signals: Python ignores SIGPIPE, and children would inherit it.
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
    )
    if given is not None:
        os.close(given)  # the command has its own copy
    return Spawned(pid, out, err)


def collect(proc: Started) -> tuple[bytes, bytes]:
    """Wait for a command :func:`spawn` started; its output and its errors."""
    out, err = proc.communicate()
    return out or b"", err or b""


def _read_all(fd: int) -> bytes:
    if fd < 0:
        return b""
    try:
        size = os.fstat(fd).st_size
        return os.pread(fd, size, 0) if size else b""
    finally:
        os.close(fd)


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


def adopt(cwd: str, args: Sequence[str], env: dict[str, str]) -> Started | None:
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


def project_root() -> str | None:
    """The project's directory as :func:`start` found it, if it found one."""
    return _roots[-1] if _roots else None


def _start_for(cwd: str) -> None:
    root = _project_root(os.path.realpath(cwd))
    if root is not None:
        _roots.append(root)
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
        proc = spawn(command, where, env)
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


def _kill(proc: Started) -> None:
    if proc.poll() is None:
        proc.kill()
    collect(proc)


def _limit(under: str) -> list[str]:
    return ["--", under] if under else []
