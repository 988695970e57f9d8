"""Claims of the seed documents and CONFIG.md's command line, checked through ``qik``."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import QIK

Qik = Callable[..., subprocess.CompletedProcess[str]]

NO_NEWLINE_TOML = """
[commands.a]
exec = "printf out-a"
deps = ["in.txt"]

[commands.b]
exec = "printf out-b"
deps = ["in.txt"]
"""


@pytest.mark.parametrize(
    "args",
    [("a",), ("a", "b"), ("a", "b", "-n", "1")],
    ids=["streamed", "plain", "one-worker"],
)
def test_output_without_newline_never_runs_into_qik_lines(
    make_repo: Callable[..., Path], qik: Qik, args: tuple[str, ...]
) -> None:
    # "The run ends with one line: qik: N ran, ...": also after a command whose output
    # doesn't end in a newline, cold and replayed.
    root = make_repo({"qik.toml": NO_NEWLINE_TOML, "in.txt": ""})
    for replayed in (False, True):
        out = qik(root, *args)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        names = [n for n in args if n in ("a", "b")]
        assert lines[-1].startswith(f"qik: {0 if replayed else len(names)} ran, ")
        for name in names:
            assert f"out-{name}" in lines
            verb = "replayed from local cache" if replayed else "ran in"
            assert any(line.startswith("── ") and f" {name} {verb}" in line for line in lines)


def _wait_for(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


WATCH_TOML = """
[commands.one]
exec = "cat a.txt"
deps = ["a.txt"]
"""


@contextlib.contextmanager
def _watching(root: Path) -> Iterator[Path]:
    """``qik --watch > watch.log 2>&1`` in the project, after its first run; the log.
    Stopped with Ctrl-C on the way out, which must end it cleanly."""
    log = root / "watch.log"
    with log.open("w") as f:
        proc = subprocess.Popen(
            [QIK, "--watch"], cwd=root, stdout=f, stderr=subprocess.STDOUT, text=True
        )
    try:
        assert _wait_for(lambda: "watching for changes" in log.read_text(), 20), "first run"
        yield log
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode in (0, 130)
    assert "Traceback" not in log.read_text()


def test_watch_with_its_output_in_the_repo_settles(make_repo: Callable[..., Path]) -> None:
    # `qik --watch > watch.log 2>&1` in the project: qik's own lines change a watched file;
    # a batch that affects nothing must print nothing, or the watch feeds itself forever.
    root = make_repo({"qik.toml": WATCH_TOML, "a.txt": "one\n"})
    with _watching(root) as log:
        time.sleep(2.0)
        assert log.read_text().count("watching for changes") == 1, log.read_text()
        (root / "a.txt").write_text("two\n")
        assert _wait_for(lambda: "two" in log.read_text(), 10), "a dep change re-runs"
        time.sleep(2.0)
        text = log.read_text()
        assert text.count("watching for changes") == 2, text
        assert text.count("qik: ") == 4, text  # two summaries, two "watching" lines


def test_watch_prints_a_config_error_once(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"qik.toml": WATCH_TOML, "a.txt": "one\n"})
    with _watching(root) as log:
        time.sleep(1.0)  # the watcher starts after the first run
        (root / "qik.toml").write_text(WATCH_TOML + "[commands.two\n")
        assert _wait_for(lambda: "error[" in log.read_text(), 10), "the error is shown"
        time.sleep(2.0)
        text = log.read_text()
        assert text.count("error[") == 1, text


BLOG_LOCK_TOML = """
[commands.lock]
exec = "pip-compile > requirements.txt"
deps = ["requirements.in", {type = "dist", name = "surely-not-installed-dist"}]

[commands.hello]
exec = "echo hello"
"""


def test_a_plain_listing_hashes_nothing(make_repo: Callable[..., Path], qik: Qik) -> None:
    # The blog's lock command depends on a distribution that may not be installed where
    # the commands are only listed: the listing names them; running them needs it.
    root = make_repo({"qik.toml": BLOG_LOCK_TOML, "requirements.in": "pip-tools\n"})
    listed = qik(root, "--ls")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["lock", "hello"]
    assert qik(root, "--ls", "--fail", "hello").returncode == 1
    ran = qik(root, "lock")
    assert ran.returncode == 2 and "pydist-missing" in ran.stderr
    assert qik(root, "hello").returncode == 0
