"""How the pool's workers start: forked from a fork server on Linux (``qik.scheduler.pool``),
spawned by loky elsewhere or with ``QIK_POOL_START=loky``; and when the server starts early."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import QIK, git

# The command prints the command line of its worker's parent: the fork server, or qik.
_GRANDPARENT = "tr '\\0' ' ' < /proc/$(cut -d' ' -f4 /proc/$PPID/stat)/cmdline"
TOML = f"""
[commands.who]
exec = '''{_GRANDPARENT}'''
[commands.other]
exec = "echo other"
"""

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork server: Linux")


def _grandparent(root: Path, **env: str) -> str:
    result = subprocess.run(
        [QIK, "-n", "2", "-f", "-v", "2"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    assert "warn" not in result.stderr.lower(), result.stderr
    return result.stdout


@linux
def test_workers_fork_from_a_fork_server_on_linux(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"qik.toml": TOML})
    out = _grandparent(root)
    assert "multiprocessing.forkserver" in out
    assert "other" in out


@linux
def test_qik_pool_start_loky_spawns_workers_from_qik(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"qik.toml": TOML})
    out = _grandparent(root, QIK_POOL_START="loky")
    assert "multiprocessing.forkserver" not in out
    assert "qik" in out  # the worker's parent is qik itself


_PROBE = """
import sys
from multiprocessing import forkserver
from qik.scheduler.pool import prestart_if_all_cold
prestart_if_all_cold(sys.argv[1], ls={ls}, watch=None, cache_status={status!r}, force={force})
print(forkserver._forkserver._forkserver_pid is not None)
"""


def _prestarted(
    root: Path, *, ls: bool = False, status: str | None = None, force: bool = False
) -> bool:
    code = _PROBE.format(ls=ls, status=status, force=force)
    result = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip() == "True"


@linux
def test_the_fork_server_starts_early_only_when_every_runnable_is_cold(tmp_path: Path) -> None:
    assert _prestarted(tmp_path)  # no local cache: all cold
    assert not _prestarted(tmp_path, ls=True)  # only lists
    assert not _prestarted(tmp_path, status="warm")  # runs only what is cached
    (tmp_path / "._qik" / "manifests").mkdir(parents=True)
    assert not _prestarted(tmp_path)  # a local cache may replay anything
    assert _prestarted(tmp_path, force=True)


def test_loky_start_is_the_default_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    from qik.scheduler import pool

    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.delenv("QIK_POOL_START", raising=False)
    assert pool.start_method() == "loky"
    assert pool.pool_context() is None


def test_a_forked_worker_checks_its_lineage() -> None:
    from qik.scheduler.worker import _is_child_of

    assert _is_child_of(os.getpid(), os.getppid())
    assert not _is_child_of(os.getpid(), os.getpid())
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert not _is_child_of(gone.pid, os.getpid())  # no such process


@pytest.mark.parametrize("pidfd", [True, False])
def test_a_forked_worker_sees_qik_exit(pidfd: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from qik.scheduler import worker

    if not pidfd or not hasattr(os, "pidfd_open"):

        def no_pidfd(pid: int) -> int:
            raise OSError(38, "Function not implemented")

        monkeypatch.setattr(os, "pidfd_open", no_pidfd, raising=False)
    qik = subprocess.Popen(["sleep", "0.5"])
    start = time.monotonic()
    try:
        # Waited by another thread (the role of a worker's watch), reaped here meanwhile.
        import threading

        watch = threading.Thread(target=worker._wait_for_exit, args=(qik.pid,))
        watch.start()
        qik.wait()
        watch.join(timeout=10)
        assert not watch.is_alive()
        assert 0.4 < time.monotonic() - start < 5
    finally:
        qik.kill()
        qik.wait()


@linux
def test_loky_starts_the_workers_where_the_fork_server_cant_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from multiprocessing import forkserver

    from qik.scheduler import pool

    def no_socket() -> None:
        raise OSError(13, "Permission denied")

    monkeypatch.delenv("QIK_POOL_START", raising=False)
    monkeypatch.setattr(forkserver, "ensure_running", no_socket)
    assert pool.start_method() == "forkserver"
    assert pool.pool_context() is None


def _session_left(sid: int, within: float = 10.0) -> list[str]:
    """The command lines of processes still in session ``sid`` after ``within`` s."""
    import time

    import psutil

    deadline = time.monotonic() + within
    while True:
        left = []
        for proc in psutil.process_iter():
            try:
                if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(" ".join(proc.cmdline()))
            except (OSError, psutil.Error):
                continue
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@linux
def test_a_fork_server_started_for_nothing_leaves_with_qik(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # A fresh clone has no local cache, so the fork server starts first thing; the repo
    # cache then replays everything and no worker is ever forked.
    toml = "".join(
        f'[commands.c{i}]\nexec = "echo {i}"\ndeps = ["*.txt"]\ncache = "repo"\n' for i in range(2)
    )
    root = make_repo({"qik.toml": toml, "a.txt": "a"})
    first = subprocess.run([QIK], cwd=root, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "cache")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    assert not (clone / "._qik").exists()
    proc = subprocess.Popen(
        [QIK, "-n", "2"],
        cwd=clone,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "0 ran, 2 replayed" in err + out
    assert "warn" not in err.lower(), err
    assert _session_left(proc.pid) == []
