"""Starting and stopping shell commands: the only place a command's process starts.

Each command runs in its own session (process group), so a Ctrl-C at the terminal does not
reach it directly: qik decides when and how to stop it, and kills the whole tree with psutil
so nothing is left behind (a shell that started a shell that sleeps included).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "RUN_MARKER",
    "CommandsStopped",
    "Finished",
    "kill_all",
    "kill_marked",
    "kill_tree",
    "run_shell",
    "running_commands",
    "session_env",
    "stop_all_commands",
    "stop_command",
]

_SHELL = "/bin/sh"
# An environment variable every command of a run gets, holding the run's id: whatever a
# command starts inherits it, so ``kill_marked`` finds processes no tree or group leads
# to (the commands of a pool worker that was killed, a child that left the group).
RUN_MARKER = "QIK_RUN_ID"
# After SIGTERM, how long a process tree gets before SIGKILL.
_TERM_GRACE = 0.5
# The commands this process is running, for a pool worker that must stop them when qik is
# gone (see ``qik.scheduler.worker.stop_with_qik``).
_running: set[int] = set()
# Held while a command is spawned and registered; a worker stopping for good takes it and
# never gives it back, so no command starts after it looked at ``_running``.
_spawning = threading.Lock()
# Set by ``stop_all_commands`` before it stops anything: an exit code seen after that may
# be the stop's, not the command's own.
_stopping = threading.Event()


class CommandsStopped(BaseException):
    """Raised by ``run_shell`` once ``stop_all_commands`` began: the command may have
    ended by that stop, so its exit code says nothing, and nothing may be stored for it.
    (A worker whose qik was SIGKILLed stored a "finished" result with exit code 143 for
    the command it stopped: the stress suite's crash case.)"""


@dataclass(frozen=True)
class Finished:
    exit_code: int
    duration: float
    timed_out: bool


def run_shell(
    line: str,
    *,
    cwd: str | Path,
    out_path: str | Path,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    out_fd: int | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> Finished:
    """Run ``line`` through the shell, stdout and stderr streamed into ``out_path`` (or
    into ``out_fd``, a file already open for writing, which the caller closes).

    On timeout the whole process tree is killed and the exit code is 124 (like coreutils'
    ``timeout``). A command killed by a signal exits 128 + the signal, as shells report it.
    ``env`` is passed as is (not copied): the command's whole environment, or None for
    this process's. ``meanwhile`` is called once the command has run for ``MOMENT``
    seconds (at once where that can't be waited for); not if it ended before.
    """
    start = time.monotonic()
    fd = out_fd
    if fd is None:
        out_path = Path(out_path)
        _ensure_dir(out_path.parent)
        fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    pid = None
    try:
        # A stop signal between the spawn and the bookkeeping would leave a command
        # nobody knows to stop: it waits until the command is registered.
        with _spawning:
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
            try:
                pid = _spawn(line, cwd, fd, os.environ if env is None else env)
                _running.add(pid)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if meanwhile is not None and not _ends_within(pid, MOMENT):
            meanwhile()
        code, timed_out = _wait(pid, timeout)
    except BaseException:
        # Interrupted (SIGTERM/SIGINT in this process): never orphan the command.
        if pid is not None:
            stop_command(pid)
            _reap(pid)
        raise
    finally:
        _running.discard(pid or 0)
        if out_fd is None:
            os.close(fd)
    if _stopping.is_set():
        raise CommandsStopped
    return Finished(exit_code=code, duration=time.monotonic() - start, timed_out=timed_out)


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
MOMENT = 0.02


def _ends_within(pid: int, seconds: float) -> bool:
    """Whether the child ``pid`` ends within ``seconds`` (it is not reaped); False at
    once where a process can't be waited for with a time limit (no pidfd: macOS)."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return False
    try:
        fd = pidfd_open(pid)
    except OSError:
        return False
    try:
        import select

        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(seconds * 1000))
    finally:
        os.close(fd)


_MADE_DIRS: set[Path] = set()


def _ensure_dir(path: Path) -> None:
    """mkdir once per process: on a busy disk each call costs as much as spawning."""
    if path not in _MADE_DIRS:
        path.mkdir(parents=True, exist_ok=True)
        _MADE_DIRS.add(path)


def _spawn(line: str, cwd: str | Path, out_fd: int, env: Mapping[str, str]) -> int:
    """Start ``sh -c line`` in a session of its own, output to ``out_fd``, stdin closed.

    posix_spawn costs a third of what subprocess.Popen's fork does from a big process,
    which is most of qik's own cost per cold runnable. It can't change directory, so the
    calling process does, around the call (a pool worker runs one command at a time), and
    only if it is elsewhere (a pool worker runs every command of a run in the same one).
    """
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, out_fd, 1),
        (os.POSIX_SPAWN_DUP2, out_fd, 2),
    ]
    previous = os.getcwd()
    target = os.fspath(cwd)
    moved = previous != target
    if moved:
        os.chdir(target)
    try:
        return os.posix_spawn(
            _SHELL,
            [_SHELL, "-c", line],
            env,
            file_actions=actions,
            setsid=True,
            setsigmask=(),  # not the signals ``run_shell`` blocks around the call
            # A pool worker ignores SIGINT (worker.stop_with_qik); its commands don't.
            setsigdef=(signal.SIGINT,),
        )
    finally:
        if moved:
            os.chdir(previous)


def _wait(pid: int, timeout: float | None) -> tuple[int, bool]:
    """The exit code of ``pid``, and whether it was killed for running past ``timeout``."""
    if timeout is None:
        return _reap(pid), False
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return _exit_code(status), False
        left = deadline - time.monotonic()
        if left <= 0:
            stop_command(pid)
            _reap(pid)
            return 124, True
        # Short sleeps first (most commands are quick), then at most 50 ms of lateness.
        time.sleep(min(delay, left))
        delay = min(delay * 2, 0.05)


def _reap(pid: int) -> int:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 1
    return _exit_code(status)


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def running_commands() -> list[int]:
    """The session leaders (shells) of the commands this process is running."""
    return list(_running)


def stop_all_commands() -> None:
    """Stop every command this process runs, and start no other, ever: for a process on
    its way out (a pool worker whose qik is gone). A ``run_shell`` waiting on one of them
    raises ``CommandsStopped`` instead of returning its exit code."""
    _stopping.set()
    _spawning.acquire()
    for pid in running_commands():
        stop_command(pid)


def stop_command(pid: int) -> None:
    """Kill a command started by ``run_shell``: its process tree, then its process group.

    The tree misses a child whose parent has exited (``sh -c 'sleep 300 &'``): it is
    re-parented away, but stays in the command's process group, which belongs to the
    command alone (a session of its own). Call this before reaping ``pid``: while the
    leader is a zombie, its id can't be reused, so the group can't be someone else's.
    """
    kill_tree(pid)
    kill_group(pid)


def kill_group(pgid: int) -> None:
    """SIGKILL every process left in a process group (POSIX only)."""
    if hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def kill_marked(run_id: str) -> int:
    """Stop every process carrying ``RUN_MARKER=run_id`` in its environment (ours only:
    others' environments can't be read); how many there were. A scan of the process
    table, about as costly as listing a process's children: for the way out, not a loop."""
    import psutil

    marked = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get(RUN_MARKER) == run_id:
                marked.append(proc)
        except (psutil.Error, OSError):
            continue  # gone, a zombie, or someone else's
    if marked:
        kill_all(marked)
    return len(marked)


def kill_tree(pid: int, *, include_root: bool = True) -> None:
    """Terminate a process and all its descendants; SIGKILL whatever outlives the grace."""
    import psutil  # only on the stop path

    try:
        root = psutil.Process(pid)
        procs = root.children(recursive=True)
        if include_root:
            procs.append(root)
    except psutil.NoSuchProcess:
        return
    kill_all(procs)


def kill_all(procs: list[Any]) -> None:
    """SIGTERM a set of psutil processes at once, then SIGKILL the ones still alive."""
    # Stop them all first so nothing forks between our reads and kills.
    for proc in procs:
        _signal(proc, signal.SIGSTOP)
    for proc in procs:
        _signal(proc, signal.SIGTERM)
        _signal(proc, signal.SIGCONT)
    alive = _running_after(procs, _TERM_GRACE)
    for proc in alive:
        _signal(proc, signal.SIGKILL)
    _running_after(alive, _TERM_GRACE)


def _running_after(procs: list[Any], timeout: float) -> list[Any]:
    """Those of ``procs`` still running after at most ``timeout`` seconds.

    A zombie counts as gone. Our own children are reaped here, but an orphan's zombie is
    PID 1's to reap, and in a container whose PID 1 is no init (``docker run`` without
    ``--init``) that can take long or never happen: ``psutil.wait_procs`` waited out its
    whole timeout for it, twice, so a timed-out command took a second longer to stop.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        procs = [proc for proc in procs if _is_running(proc)]
        left = deadline - time.monotonic()
        if not procs or left <= 0:
            return procs
        time.sleep(min(delay, left))
        delay = min(delay * 2, 0.02)


def _is_running(proc: Any) -> bool:
    import psutil

    try:
        proc.wait(timeout=0)  # reaps it if it is our child and has exited
    except psutil.TimeoutExpired:
        try:
            return bool(proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return False
    return False


def _signal(proc: object, sig: int) -> None:
    import psutil

    assert isinstance(proc, psutil.Process)
    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        proc.send_signal(sig)


def session_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment commands run with: ours, plus ``extra``."""
    env = dict(os.environ)
    if extra:
        env.update(extra)
    return env
