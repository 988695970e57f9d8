"""Starting and stopping commands (``qik.proc``): nothing a command started outlives it."""

from __future__ import annotations

import time
from pathlib import Path

import psutil

from qik.proc import run_shell


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_a_timeout_stops_a_child_whose_parent_already_exited(tmp_path: Path) -> None:
    # The inner shell exits at once: its background sleep is no longer in the command's
    # process tree, only in its process group. Found by the stress suite's signals case.
    line = "sh -c 'sleep 60 & echo $! > bg.pid'; sleep 60"
    done = run_shell(line, cwd=tmp_path, out_path=tmp_path / "out.log", timeout=1.0)
    assert done.timed_out and done.exit_code == 124
    assert _gone(int((tmp_path / "bg.pid").read_text()))


def test_a_timed_out_tree_that_dies_of_sigterm_stops_at_once(tmp_path: Path) -> None:
    # The shell forks sleep: when both die, sleep's zombie is an orphan, PID 1's to reap,
    # which in a container without an init (and on this project's CI machines) doesn't
    # happen soon. Waiting for it to vanish cost each stop the whole grace, twice (1 s).
    started = time.monotonic()
    done = run_shell(
        "sleep 60; echo never", cwd=tmp_path, out_path=tmp_path / "out.log", timeout=0.5
    )
    assert done.timed_out and done.exit_code == 124
    assert time.monotonic() - started < 1.2


def test_a_command_starts_with_no_signal_blocked(tmp_path: Path) -> None:
    # run_shell holds SIGINT and SIGTERM while it spawns; the command must not inherit that.
    line = "grep SigBlk /proc/self/status > mask.txt || echo none > mask.txt"
    run_shell(line, cwd=tmp_path, out_path=tmp_path / "out.log")
    mask = (tmp_path / "mask.txt").read_text().split()
    assert mask == ["none"] or int(mask[-1], 16) == 0


def test_kill_marked_stops_only_the_processes_of_that_run(tmp_path: Path) -> None:
    import os
    import subprocess

    from qik.proc import RUN_MARKER, kill_marked

    def sleeper(run_id: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, RUN_MARKER: run_id}
        return subprocess.Popen(["sh", "-c", "sleep 60"], env=env, start_new_session=True)

    ours, theirs = sleeper("run-a"), sleeper("run-b")
    try:
        time.sleep(0.2)  # the shell's environment is readable once it has started
        assert kill_marked("run-a") >= 1
        assert _gone(ours.pid)
        assert theirs.poll() is None
    finally:
        for proc in (ours, theirs):
            proc.kill()
            proc.wait()


_STOPPED = """
import sys, threading, time
from pathlib import Path
from qik.proc import CommandsStopped, run_shell, running_commands, stop_all_commands

seen = []
def run():
    try:
        seen.append(run_shell("sleep 30", cwd=Path("."), out_path=Path(sys.argv[1])))
    except CommandsStopped:
        seen.append("stopped")
thread = threading.Thread(target=run)
thread.start()
while not running_commands():
    time.sleep(0.01)
stop_all_commands()
thread.join(10)
print(seen)
"""


def test_a_command_stopped_by_stop_all_commands_has_no_exit_code(tmp_path: Path) -> None:
    # A pool worker whose qik was SIGKILLed stopped its command, then stored its result
    # (cache-when "finished": exit code 143) before it could end: the stress suite's
    # crash case. In a process of its own: stop_all_commands starts nothing ever after.
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _STOPPED, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "['stopped']", done.stderr
