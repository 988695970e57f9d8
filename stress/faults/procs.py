"""Processes the suite started, and the ones they left behind.

The suite makes itself a child subreaper (Linux): a process whose parent dies is re-parented
to us instead of to init, so "did qik leave anything running?" is exactly "do we have a
descendant we didn't expect?", however deep the tree and whoever the parent was.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterable

import psutil

__all__ = [
    "become_subreaper",
    "kill_tree",
    "pool_workers",
    "reap",
    "strays",
    "wait_strays_gone",
]

_PR_SET_CHILD_SUBREAPER = 36
_protected: set[int] = set()  # long-lived helpers of the suite (the S3 server)
# Children a Popen object will wait for: reaping them here would steal their exit status.
owned: set[int] = set()
is_subreaper = False


def become_subreaper() -> bool:
    global is_subreaper
    if sys.platform != "linux":
        return False  # elsewhere orphans go to init: strays() sees only what it can
    libc = ctypes.CDLL(None, use_errno=True)
    is_subreaper = bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    return is_subreaper


def pool_workers(qik: int) -> list[psutil.Process]:
    """qik's pool workers: its children that loky spawned, or the children of its fork
    server (a child of qik's, on Linux: qik.scheduler.pool)."""
    try:
        children = psutil.Process(qik).children()
    except psutil.NoSuchProcess:
        return []
    workers = []
    for child in children:
        line = cmdline(child)
        if "LokyProcess" in line:
            workers.append(child)
        elif "multiprocessing.forkserver" in line:
            with contextlib.suppress(psutil.Error):
                workers.extend(child.children())
    return workers


def protect(pid: int) -> None:
    """A helper of the suite (and its children): never a stray, never killed here."""
    _protected.add(pid)


def _protected_tree() -> set[int]:
    pids = set(_protected)
    for pid in list(_protected):
        with contextlib.suppress(psutil.NoSuchProcess):
            pids.update(p.pid for p in psutil.Process(pid).children(recursive=True))
    return pids


def reap() -> None:
    """Collect exit statuses of adopted orphans, so they don't linger as zombies."""
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error, ChildProcessError):
            if child.pid not in owned and child.status() == psutil.STATUS_ZOMBIE:
                child.wait(timeout=0)


def strays() -> list[psutil.Process]:
    """Live descendants of the suite, except its protected helpers."""
    reap()
    skip = _protected_tree()
    found = []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.pid not in skip and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def cmdline(proc: psutil.Process) -> str:
    """The command line, or "" for a process gone (or a zombie) meanwhile."""
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def describe(procs: Iterable[psutil.Process]) -> str:
    return "; ".join(cmdline(proc)[:80] or f"pid {proc.pid}" for proc in procs)


def wait_strays_gone(grace: float) -> list[psutil.Process]:
    """Wait up to ``grace`` seconds for every stray to exit; return the survivors."""
    deadline = time.monotonic() + grace
    while (left := strays()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants (stopped first, so none forks meanwhile)."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGSTOP)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=5)
    reap()


def kill_strays() -> int:
    """SIGKILL whatever the suite's processes left running; how many there were."""
    left = strays()
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGSTOP)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            os.kill(proc.pid, signal.SIGKILL)
    psutil.wait_procs(left, timeout=5)
    reap()
    return len(left)
