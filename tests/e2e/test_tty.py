"""On a terminal: the live view, with failures' logs printed whole and one summary."""

from __future__ import annotations

import os
import pty
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import QIK


def _run_on_a_tty(root: Path, *args: str) -> tuple[int, str]:
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    proc = subprocess.Popen(
        [QIK, *args], cwd=root, stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=30), b"".join(chunks).decode(errors="replace")


def test_live_view_shows_failures_whole(make_repo: Callable[..., Path]) -> None:
    toml = """
        [commands.ok]
        exec = "echo fine-output"
        [commands.bad]
        exec = "echo broken-output; exit 3"
        [commands.slow]
        exec = "sleep 0.5"
        """
    code, out = _run_on_a_tty(make_repo({"qik.toml": toml}), "-n", "2")
    assert code == 1
    assert "broken-output" in out
    assert "fine-output" not in out  # successes' logs only with -v 2
    assert "qik: 3 ran, 0 replayed, 1 failed, 0 skipped" in out
    assert "Traceback" not in out


def test_verbose_live_view_shows_successes(make_repo: Callable[..., Path]) -> None:
    toml = '[commands.ok]\nexec = "echo fine-output"\n[commands.ok2]\nexec = "echo two"\n'
    code, out = _run_on_a_tty(make_repo({"qik.toml": toml}), "-n", "2", "-v", "2")
    assert code == 0
    assert "fine-output" in out and "two" in out
