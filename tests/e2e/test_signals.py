"""Stopping a run from outside: whatever qik started stops with it, however it is stopped.

Each case here was found by the stress suite's signals case (``python -m stress --case
signals``), which runs them at random moments and many times.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.conftest import QIK

TOML = """
    [commands.deep]
    exec = "sh -c 'sh -c \\"sleep 60\\"'"
    deps = ["*.txt"]
    cache-when = "finished"
    [commands.stubborn]
    exec = "sh -c 'trap \\"\\" TERM; sleep 60'"
    deps = ["*.txt"]
    cache-when = "finished"
    [commands.detached]
    exec = "sh -c 'sleep 60 & echo $! > bg.pid'; sleep 60"
    deps = ["*.txt"]
    cache-when = "finished"
    """


def _start(root: Path) -> tuple[subprocess.Popen[bytes], list[psutil.Process]]:
    """qik in a session of its own (as a shell job), once all its sleepers are up."""
    proc = subprocess.Popen(
        [QIK, "-n", "3"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    everyone: list[psutil.Process] = []
    while time.monotonic() < deadline:
        everyone = psutil.Process(proc.pid).children(recursive=True)
        if sum(_is_sleep(p) for p in everyone) >= 3 and (root / "bg.pid").exists():
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the commands never started")
    background = psutil.Process(int((root / "bg.pid").read_text()))
    return proc, [*everyone, background]


def _is_sleep(proc: psutil.Process) -> bool:
    try:
        return proc.name() == "sleep"
    except psutil.Error:
        return False


def _worker_of(sleeper: psutil.Process, qik: int) -> psutil.Process | None:
    """The pool worker running the sleeper: its ancestor whose parent is qik, or the
    pool's fork server, a child of qik's (see qik.scheduler.pool)."""
    try:
        parents = {qik} | {
            p.pid
            for p in psutil.Process(qik).children()
            if "multiprocessing.forkserver" in " ".join(p.cmdline())
        }
        proc = sleeper
        while (parent := proc.parent()) is not None:
            if parent.pid in parents:
                return proc
            proc = parent
    except psutil.Error:
        pass
    return None


def _alive(procs: list[psutil.Process], within: float = 8.0) -> list[psutil.Process]:
    deadline = time.monotonic() + within
    while True:
        alive = []
        for p in procs:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            for p in alive:  # don't leave them to the next test
                p.kill()
            return alive
        time.sleep(0.1)


@pytest.fixture
def root(make_repo: Callable[..., Path]) -> Path:
    return make_repo({"qik.toml": TOML, "a.txt": "a"})


@pytest.mark.parametrize(
    ("signals", "to_group", "code"),
    [
        ([signal.SIGINT], False, 130),
        ([signal.SIGINT], True, 130),  # Ctrl-C at a terminal: the whole foreground group
        ([signal.SIGINT, signal.SIGINT], True, 130),  # Ctrl-C pressed twice
        ([signal.SIGTERM], True, 143),  # a CI runner cancelling the job's process group
    ],
)
def test_a_stopped_run_leaves_nothing_running(
    root: Path, signals: list[signal.Signals], to_group: bool, code: int
) -> None:
    proc, everyone = _start(root)
    for sig in signals:
        if to_group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        time.sleep(0.1)
    assert proc.wait(timeout=30) == code
    assert _alive(everyone) == []
    manifests = root / "._qik" / "manifests"
    assert not manifests.exists() or not any(manifests.rglob("*.json"))


def test_commands_stop_when_qik_is_killed(root: Path) -> None:
    # SIGKILL can't be caught; the pool workers notice their parent is gone.
    proc, everyone = _start(root)
    proc.kill()
    proc.wait(timeout=10)
    assert _alive(everyone) == []
    # Nothing stored for the commands the workers stopped (cache-when = "finished").
    manifests = root / "._qik" / "manifests"
    assert not manifests.exists() or not any(manifests.rglob("*.json"))


def test_the_command_of_a_killed_worker_does_not_outlive_the_run(
    make_repo: Callable[..., Path],
) -> None:
    # The OOM killer (or a user) kills a pool worker: its command, in a session of its
    # own, was orphaned and ran on after qik exited. Found by the stress suite.
    toml = '[commands.victim]\nexec = "sh -c \'sleep 60\'"\ndeps = ["*.txt"]\n'
    root = make_repo({"qik.toml": toml, "a.txt": "a"})
    proc = subprocess.Popen(
        [QIK, "-n", "2", "victim"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        kids = psutil.Process(proc.pid).children(recursive=True)
        sleepers = [p for p in kids if _is_sleep(p)]
        busy = [w for s in sleepers if (w := _worker_of(s, proc.pid)) is not None]
        if sleepers and busy:
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the command never started")
    try:
        busy[0].kill()
        assert proc.wait(timeout=30) == 1  # the runnable failed: its worker died
        assert _alive(sleepers, within=5) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_run_with_a_pool_leaves_nothing_behind_in_the_terminal(
    make_repo: Callable[..., Path],
) -> None:
    # qik leaves through os._exit after a pool run; loky's resource tracker, which
    # outlives it by a moment and shares its stderr, then printed "leaked semlock
    # objects" warnings after the prompt was back (about one run in three). The pipe is
    # read to its end, which comes only once the tracker has exited too.
    toml = "".join(f'[commands.c{i}]\nexec = "echo {i}"\n' for i in range(3))
    root = make_repo({"qik.toml": toml})
    for _ in range(15):  # each run had about one chance in four
        result = subprocess.run(
            [QIK, "-f", "-n", "2"], cwd=root, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert "warn" not in result.stderr.lower(), result.stderr


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_in_the_first_moments_of_a_run_exits_as_documented(
    make_repo: Callable[..., Path], signum: int, code: int
) -> None:
    # Found by a black-box audit: Ctrl-C in the first 0.25 s (while git still ran for
    # qik) printed two tracebacks (ChildProcessError reaping git) and exited 1.
    root = make_repo(
        {"qik.toml": '[commands.a]\nexec = "sleep 0.4"\ndeps = ["x"]\n', "x": ""},
    )
    # (Not in the first few hundredths: Python itself is still starting.)
    for delay in (0.06, 0.1, 0.15, 0.2, 0.25, 0.3):
        proc = subprocess.Popen(
            [QIK, "-f"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        time.sleep(delay)
        os.killpg(proc.pid, signum)
        _, err = proc.communicate(timeout=20)
        assert b"Traceback" not in err, (delay, err.decode())
        assert proc.returncode in (code, -signum), (delay, proc.returncode, err.decode())
