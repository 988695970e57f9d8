"""``--watch``: touching a dep file re-runs its command; other files re-run nothing."""

from __future__ import annotations

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
