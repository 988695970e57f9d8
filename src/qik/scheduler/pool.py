"""How the pool's workers start: forked from one fork server on Linux, spawned elsewhere.

loky's own start method spawns every worker as a new interpreter, and each imports loky,
cloudpickle, psutil and qik's worker modules before its first command: 100-150 ms of CPU
a worker, paid again for every worker of a 64-core CI box, on the cold path. A fork
server (``multiprocessing``'s ``forkserver``, which loky's reusable executor accepts) is one
fresh, single-threaded interpreter that imports all that once; each worker is then a
``fork`` of it, with every module in place. Forking that clean process is safe (it is
not the main process, with its threads and locks); forking on macOS is not (system
frameworks), so macOS keeps loky's default.

``QIK_POOL_START=loky`` picks loky's default anywhere (a way around, should a fork server
ever misbehave somewhere).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["FORK_SERVER", "pool_context", "prestart_if_all_cold", "sigint_ignored_by_children"]

FORK_SERVER = "forkserver"

# What a worker imports before and while it runs its first command: loaded once, in the
# fork server. ``__main__`` first: the fork server then runs qik's own entry point once,
# instead of every worker importing it to prepare.
_PRELOAD = [
    "__main__",
    "loky.process_executor",
    "qik.scheduler.worker",
    "qik.store.manifest",
    "qik.store.paths",
    "qik.store.mirrors.publish",
]


def start_method() -> str:
    chosen = os.environ.get("QIK_POOL_START", "")
    if chosen in ("loky", FORK_SERVER):
        return chosen
    return FORK_SERVER if sys.platform.startswith("linux") else "loky"


def pool_context() -> Any:
    """The context to give ``loky.get_reusable_executor``, or None for loky's default:
    also where the fork server can't start (it needs a socket in a temporary folder)."""
    if start_method() != FORK_SERVER:
        return None
    import multiprocessing

    context = multiprocessing.get_context(FORK_SERVER)
    context.set_forkserver_preload(_PRELOAD)
    return context if _start_server() else None


def prestart_if_all_cold(
    root: str, *, ls: bool | None, watch: bool | None, cache_status: str | None, force: bool | None
) -> None:
    """Start the fork server now, without waiting for it to load, if this run will
    certainly start the pool: with ``--force``, or with no local cache at all (a fresh
    clone, a cleared cache), unless it only lists (``--ls``), watches, or runs nothing
    cold (``--cache-status warm``). The server then loads on another CPU while qik
    plans the run, and the first worker forks at once instead of waiting for it (0.1 to
    0.2 s). A remote cache may still replay everything: the server started for nothing.
    """
    if ls or watch or cache_status == "warm":
        return
    if not force and os.path.isdir(os.path.join(root, "._qik", "manifests")):
        return
    pool_context()


def _start_server() -> bool:
    """Start the fork server if it is not running; False if it can't be. It starts with
    SIGINT ignored, as loky's workers do (``cli.run``): the server and its forks inherit
    that, so a Ctrl-C never interrupts one mid-import (qik stops them itself)."""
    from multiprocessing import forkserver, resource_tracker

    if _STARTED:
        # Started already this run (planning prestarts it; the pool asks again): no second
        # window with SIGINT ignored, in which a Ctrl-C meant for qik could be lost.
        return True
    # The server's resource tracker first: starting it unblocks SIGINT when done, which
    # inside the window below would let a Ctrl-C reach qik while it is ignored.
    resource_tracker.ensure_running()
    with sigint_ignored_by_children():
        try:
            forkserver.ensure_running()
        except OSError:
            return False
    _STARTED.append(True)
    return True


_STARTED: list[bool] = []


@contextlib.contextmanager
def sigint_ignored_by_children() -> Iterator[None]:
    """SIGINT ignored while processes start, so they inherit that (a handler is reset by
    exec; an ignored signal stays ignored), and blocked meanwhile in this thread: Linux
    keeps a blocked signal pending even while it is ignored, so a Ctrl-C pressed in
    between stops qik once its handler is back (ignored alone, it was lost, and the run
    went on: found by a black-box audit)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield  # signals are the main thread's to handle
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
