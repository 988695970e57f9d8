"""Run one command, timed or under memory sampling, and never let it outlive its timeout."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = ["Outcome", "Peak", "sample_peak_rss", "timed"]

_TAIL = 2000


@dataclass(frozen=True)
class Outcome:
    seconds: float
    returncode: int | None  # None: killed at the timeout
    tail: str  # the end of stdout+stderr, kept to explain a failure

    @property
    def is_ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True)
class Peak:
    """Peak memory in MB: RSS summed over the process tree, RSS of the root, PSS of the tree."""

    tree_mb: float
    root_mb: float
    tree_pss_mb: float | None  # None where the OS gives no PSS (macOS)
    outcome: Outcome


def _popen(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path, stdin: Path | None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out, stdin.open("rb") if stdin else contextlib.nullcontext() as inp:
        # A new session so that a timeout can kill the whole tree (loky workers, npm, sh).
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=inp if inp is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(log: Path) -> str:
    data = log.read_bytes()[-_TAIL:]
    return data.decode(errors="replace")


def timed(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    log: Path,
    stdin: Path | None = None,
) -> Outcome:
    """Wall-clock time of one run; output goes to ``log`` so the timing excludes a pipe reader."""
    start = time.perf_counter()
    try:
        proc = _popen(argv, cwd, env, log, stdin)
    except OSError as exc:
        return Outcome(0.0, None, f"cannot start {argv[0]}: {exc}")
    # A blocking wait, with the timeout in another thread: Popen.wait(timeout=...) polls
    # with sleeps growing to 50 ms, which rounded every measurement up to its next poll
    # (a 65 ms run read as 65 or 114 ms).
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        _kill_tree(proc)

    watchdog = threading.Timer(timeout, kill)
    watchdog.start()
    try:
        code: int | None = proc.wait()
    finally:
        watchdog.cancel()
    seconds = time.perf_counter() - start
    if killed.is_set():
        code = None
    return Outcome(seconds, code, _tail(log) + ("\n[killed at timeout]" if code is None else ""))


def _pss(proc: psutil.Process) -> int:
    """Proportional set size: shared pages (libpython, mapped wheels) split between processes.

    Summing RSS over qik and its pool counts the shared pages once per process, so the tree's
    RSS overstates what the run costs the machine; PSS does not. Linux only (0 elsewhere).
    """
    info = proc.memory_full_info()
    return int(getattr(info, "pss", 0))


def _memory(proc: psutil.Process) -> tuple[int, int, int]:
    """(tree RSS, root RSS, tree PSS) bytes now; processes that vanish mid-walk count as 0."""
    try:
        root = proc.memory_info().rss
        tree_pss = _pss(proc)
        children = proc.children(recursive=True)
    except psutil.Error:
        return 0, 0, 0
    tree = root
    for child in children:
        with contextlib.suppress(psutil.Error):
            tree += child.memory_info().rss
            tree_pss += _pss(child)
    return tree, root, tree_pss


def sample_peak_rss(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    log: Path,
    interval: float = 0.01,
) -> Peak:
    """Poll the process tree's RSS every ``interval`` seconds.

    This run is separate from the timed ones: polling costs CPU, which on a 2-core machine
    would slow the command it watches. A process shorter than ``interval`` can be missed, so
    the figure is a lower bound; the tree of interest (qik and its pool) lives far longer.
    """
    start = time.perf_counter()
    proc = _popen(argv, cwd, env, log, None)
    watched = psutil.Process(proc.pid)
    tree_peak = root_peak = pss_peak = 0
    is_killed = False
    while proc.poll() is None:
        if time.perf_counter() - start > timeout:
            _kill_tree(proc)
            is_killed = True
            break
        tree, root, pss = _memory(watched)
        tree_peak, root_peak, pss_peak = (
            max(tree_peak, tree),
            max(root_peak, root),
            max(pss_peak, pss),
        )
        time.sleep(interval)
    code = None if is_killed else proc.wait()
    outcome = Outcome(time.perf_counter() - start, code, _tail(log))
    mb = 1024 * 1024
    return Peak(tree_peak / mb, root_peak / mb, pss_peak / mb if pss_peak else None, outcome)
