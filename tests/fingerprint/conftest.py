"""Real git repositories in tmp_path, built from a dict of files."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

# Identity and defaults on the command line, so nothing depends on (or writes) the user's
# git config or the process environment.
_GIT = (
    "git",
    "-c",
    "user.name=qik tests",
    "-c",
    "user.email=tests@qik.invalid",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "init.defaultBranch=main",
    "-c",
    "core.autocrlf=false",
)

Files = Mapping[str, "str | bytes"]
MakeGitRepo = Callable[..., Path]


def git(root: Path, *args: str, input_: str | None = None) -> str:
    return subprocess.run(
        [*_GIT, *args], cwd=root, check=True, capture_output=True, text=True, input=input_
    ).stdout


def write_files(root: Path, files: Files) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@pytest.fixture
def make_git_repo(tmp_path: Path) -> MakeGitRepo:
    """``make_git_repo(files, commit=True)``: a git repo of ``files``, committed by default."""

    def make(files: Files, *, name: str = "repo", commit: bool = True) -> Path:
        root = tmp_path / name
        root.mkdir()
        git(root, "init", "-q")
        write_files(root, files)
        if commit:
            git(root, "add", "-A")
            git(root, "commit", "-q", "--allow-empty", "-m", "initial")
        return root

    return make
