"""Starting and stopping shell commands: the only place a command's process starts.

Each command runs in its own session (process group), so a Ctrl-C at the terminal does not
reach it directly: qik decides when and how to stop it, and kills the whole tree with psutil
so nothing is left behind (a shell that started a shell that sleeps included).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Finished", "kill_all", "kill_tree", "run_shell", "session_env"]

# After SIGTERM, how long a process tree gets before SIGKILL.
_TERM_GRACE = 0.5


@dataclass(frozen=True)
class Finished:
    exit_code: int
    duration: float
    timed_out: bool


def run_shell(
    line: str,
    *,
    cwd: Path,
    out_path: Path,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Finished:
    """Run ``line`` through the shell, stdout and stderr streamed into ``out_path``.

    On timeout the whole process tree is killed and the exit code is 124 (like coreutils'
    ``timeout``).
    """
    out_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            line,
            shell=True,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.wait()
            code, timed_out = 124, True
        except BaseException:
            # Interrupted (SIGTERM/SIGINT in this process): never orphan the command.
            kill_tree(proc.pid)
            proc.wait()
            raise
    if code < 0:  # killed by a signal: report it the way shells do
        code = 128 - code
    return Finished(exit_code=code, duration=time.monotonic() - start, timed_out=timed_out)


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
    import psutil

    # Stop them all first so nothing forks between our reads and kills.
    for proc in procs:
        _signal(proc, signal.SIGSTOP)
    for proc in procs:
        _signal(proc, signal.SIGTERM)
        _signal(proc, signal.SIGCONT)
    _, alive = psutil.wait_procs(procs, timeout=_TERM_GRACE)
    for proc in alive:
        _signal(proc, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=_TERM_GRACE)


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
