"""``--watch``: touching a dep file re-runs its command; other files re-run nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import QIK


def _count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _wait_for(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_watch_reruns_only_what_is_affected(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    a, b = tmp_path / "a-count", tmp_path / "b-count"
    toml = f"""
        [commands.a]
        exec = "echo a >> {a}"
        deps = ["a/**.py"]
        [commands.b]
        exec = "echo b >> {b}; exit 1"
        deps = ["b/**.py"]
        """
    root = make_repo({"qik.toml": toml, "a/x.py": "", "b/y.py": "", "other.txt": ""})
    proc = subprocess.Popen(
        [QIK, "--watch"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert _wait_for(lambda: _count(a) == 1 and _count(b) == 1, 20), "first run"
        time.sleep(0.5)  # let the watcher settle after the first run's own writes
        (root / "other.txt").write_text("unrelated\n")
        time.sleep(1.0)
        assert (_count(a), _count(b)) == (1, 1)
        start = time.monotonic()
        (root / "a/x.py").write_text("x = 1\n")
        assert _wait_for(lambda: _count(a) == 2, 2.5), "a dep change re-runs within 2 s"
        assert time.monotonic() - start < 2.5
        (root / "b/y.py").write_text("y = 2\n")  # b fails: watching goes on
        assert _wait_for(lambda: _count(b) == 2, 5)
        (root / "a/x.py").write_text("x = 3\n")
        assert _wait_for(lambda: _count(a) == 3, 5)
        assert _count(b) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode in (0, 130)
    assert "Traceback" not in err


def test_watch_with_ls_lists_once(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {"qik.toml": '[commands.c]\nexec = "echo c"\ndeps = ["f.txt"]\n', "f.txt": ""}
    )
    listed = subprocess.run(
        [QIK, "--watch", "--ls"], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "c\n", "")


def test_watch_without_watchfiles_says_what_to_install(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    """Before the first run, not after it; with the error's code, not a traceback."""
    shadow = tmp_path / "shadow" / "watchfiles"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('not installed here')\n")
    count = tmp_path / "count"
    root = make_repo({"qik.toml": f'[commands.c]\nexec = "echo c >> {count}"\n'})
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    out = subprocess.run(
        [QIK, "--watch"], cwd=root, capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 2
    assert "watch-not-installed" in out.stderr and "qik[watch]" in out.stderr
    assert "Traceback" not in out.stderr
    assert not count.exists()


def test_watch_follows_strict_command_deps_only(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    """As CONFIG.md says of ``strict``: when ``up`` is selected by ``--watch``, a strict
    downstream runnable is too; a non-strict one re-runs only for its own inputs."""
    up, down, strict = tmp_path / "up", tmp_path / "down", tmp_path / "strict"
    toml = f"""
        [commands.up]
        exec = "echo up >> {up}"
        deps = ["up.txt"]
        [commands.down]
        exec = "echo down >> {down}"
        deps = ["down.txt", {{type = "command", name = "up"}}]
        [commands.strictdown]
        exec = "echo strict >> {strict}"
        deps = ["down.txt", {{type = "command", name = "up", strict = true}}]
        """
    root = make_repo({"qik.toml": toml, "up.txt": "", "down.txt": ""})
    proc = subprocess.Popen(
        [QIK, "--watch"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert _wait_for(lambda: (_count(up), _count(down), _count(strict)) == (1, 1, 1), 20)
        time.sleep(0.5)
        (root / "up.txt").write_text("changed\n")
        assert _wait_for(lambda: _count(up) == 2 and _count(strict) == 2, 5)
        time.sleep(1.0)
        assert _count(down) == 1, "a non-strict downstream runnable is not selected"
        (root / "down.txt").write_text("changed\n")
        assert _wait_for(lambda: _count(down) == 2 and _count(strict) == 3, 5)
        assert _count(up) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 143, "SIGTERM ends a watch with 143, as it ends a run"
    assert "Traceback" not in err


def test_a_file_the_round_itself_wrote_is_no_change(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # gen writes gen.txt, which use reads: after a round that ran both, the watcher sees
    # gen.txt change, but use already ran on it (a re-lock, then its sync, in spaces).
    toml = """
        [commands.gen]
        exec = "cat src.txt > gen.txt"
        deps = ["src.txt"]
        artifacts = ["gen.txt"]
        [commands.use]
        exec = "cat gen.txt"
        deps = ["gen.txt", {type = "command", name = "gen", strict = true}]
        """
    root = make_repo({"qik.toml": toml, "src.txt": "1\n", ".gitignore": "._qik/\n"})
    out = tmp_path / "out"
    with out.open("w") as stdout:
        proc = subprocess.Popen([QIK, "--watch"], cwd=root, stdout=stdout, stderr=subprocess.PIPE)
        try:
            summaries = lambda: out.read_text().count("\nqik: ")  # noqa: E731
            assert _wait_for(lambda: summaries() == 1, 20), "first run"
            time.sleep(0.5)
            (root / "src.txt").write_text("2\n")
            assert _wait_for(lambda: summaries() == 2, 5), "the change's round"
            time.sleep(1.5)
            assert summaries() == 2, out.read_text()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=10)
