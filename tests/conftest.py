"""Shared fixtures: real git repos in tmp_path, the real ``qik`` executable in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
QIK = str(BIN / "qik")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "qik tests",
    "GIT_AUTHOR_EMAIL": "tests@qik.invalid",
    "GIT_COMMITTER_NAME": "qik tests",
    "GIT_COMMITTER_EMAIL": "tests@qik.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """No test reads or writes the real $HOME, and no QIK__ setting leaks in."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        # QIK_RUN_ID: the mark of the qik run these tests run in, when qik runs them
        # (`qik` on this repository): the commands they start must not carry it.
        if key.startswith(("QIK__", "PROJECT__")) or key == "QIK_RUN_ID":
            monkeypatch.delenv(key)
    monkeypatch.delenv("CI", raising=False)
    before = _env_snapshot()
    yield
    assert _env_snapshot() == before, "a test leaked environment changes"


def _env_snapshot() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


def git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return out.stdout


def write_files(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """Build a committed git repo from a dict of files."""

    def make(files: Mapping[str, str], *, name: str = "repo", commit: bool = True) -> Path:
        root = tmp_path / name
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        write_files(root, {".gitignore": "._qik/\n", **files})
        if commit:
            git(root, "add", "-A")
            git(root, "commit", "-q", "-m", "initial")
        return root

    return make


def run_qik(
    root: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [QIK, *args],
        cwd=root,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def qik() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_qik
