"""On a terminal: the live view, with failures' logs printed whole and one summary."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import QIK


def _start_on_a_tty(root: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    """qik on a terminal of its own (in a session of its own); the terminal's other end."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    proc = subprocess.Popen(
        [QIK, *args],
        cwd=root,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        start_new_session=True,
    )
    os.close(follower)
    return proc, leader


def _read_to_the_end(leader: int) -> bytes:
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
    return b"".join(chunks)


def _run_on_a_tty(root: Path, *args: str) -> tuple[int, str]:
    proc, leader = _start_on_a_tty(root, *args)
    out = _read_to_the_end(leader)
    return proc.wait(timeout=30), out.decode(errors="replace")


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


def test_quiet_on_a_tty_draws_nothing_but_failures(make_repo: Callable[..., Path]) -> None:
    """``-v 0``: no live view, no summary; a failed runnable still gets its line."""
    toml = '[commands.ok]\nexec = "echo fine"\n[commands.bad]\nexec = "exit 3"\n'
    code, out = _run_on_a_tty(make_repo({"qik.toml": toml}), "-n", "2", "-v", "0")
    assert code == 1
    assert "✗ bad" in out and "exit code 3" in out
    assert "ok" not in out and "qik:" not in out and "\x1b[" not in out, out


def test_verbose_live_view_shows_successes(make_repo: Callable[..., Path]) -> None:
    toml = '[commands.ok]\nexec = "echo fine-output"\n[commands.ok2]\nexec = "echo two"\n'
    code, out = _run_on_a_tty(make_repo({"qik.toml": toml}), "-n", "2", "-v", "2")
    assert code == 0
    assert "fine-output" in out and "two" in out


def test_ctrl_c_on_a_tty_leaves_the_terminal_as_it_was(make_repo: Callable[..., Path]) -> None:
    """The live view hides the cursor: a Ctrl-C must show it again, and take the view off
    the screen rather than have it redrawn below "qik: interrupted"."""
    toml = '[commands.one]\nexec = "sleep 60"\n[commands.two]\nexec = "sleep 60"\n'
    root = make_repo({"qik.toml": toml})
    proc, leader = _start_on_a_tty(root, "-n", "2")
    out = b""
    deadline = time.monotonic() + 30
    while b"two" not in out or b"one" not in out:  # both shown as running
        assert time.monotonic() < deadline, out
        out += os.read(leader, 65536)
    os.killpg(proc.pid, signal.SIGINT)  # as the terminal does on Ctrl-C
    out += _read_to_the_end(leader)
    assert proc.wait(timeout=30) == 130
    text = out.decode(errors="replace")
    assert text.rindex("\x1b[?25h") > text.rindex("\x1b[?25l")  # the cursor is back
    assert text.rstrip().endswith("qik: interrupted"), repr(text[-300:])


def _screen(out: bytes, columns: int = 100, lines: int = 40) -> list[str]:
    """What a terminal shows once ``out`` is written to it."""
    import pyte

    screen = pyte.Screen(columns, lines)
    stream = pyte.ByteStream(screen)
    stream.feed(out.replace(b"\n", b"\r\n") if b"\r\n" not in out else out)
    return [line.rstrip() for line in screen.display]


def test_the_live_view_never_erases_a_log_it_printed(make_repo: Callable[..., Path]) -> None:
    # Found by a black-box audit on a real terminal: a view started again after printing
    # a log remembered its old height, and its first frame erased that many lines.
    toml = """
        [commands.slow]
        exec = "sleep 1.5; echo slow done"
        [commands.bad]
        exec = "sleep 0.3; echo line1 of failure; echo line2 of failure; exit 1"
        [commands.also]
        exec = "sleep 0.2"
        """
    proc, leader = _start_on_a_tty(make_repo({"qik.toml": toml}), "-n", "3")
    out = _read_to_the_end(leader)
    assert proc.wait(timeout=30) == 1
    shown = _screen(out)
    assert "line1 of failure" in shown and "line2 of failure" in shown, "\n".join(shown)
    assert any(line.startswith("qik: 3 ran") for line in shown)


def test_a_skipped_runnable_is_named(make_repo: Callable[..., Path]) -> None:
    toml = """
        [commands.a]
        exec = "exit 1"
        [commands.b]
        exec = "echo b"
        deps = [{type = "command", name = "a"}]
        """
    proc, leader = _start_on_a_tty(make_repo({"qik.toml": toml}))
    shown = _screen(_read_to_the_end(leader))
    assert proc.wait(timeout=30) == 1
    assert "- b skipped (an upstream runnable failed)" in shown, "\n".join(shown)
