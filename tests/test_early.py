"""qik.early: the file index's git commands, started before qik imports the rest of itself."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from qik import early
from qik.fingerprint import FileIndex
from tests.conftest import QIK, git, run_qik, write_files


@pytest.fixture(autouse=True)
def _nothing_left() -> Iterator[None]:
    yield
    early.discard()


def _monorepo(tmp_path: Path) -> Path:
    """A git repo whose qik project is a subdirectory, with an edit and an untracked file."""
    top = tmp_path.resolve() / "top"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    write_files(
        top,
        {
            "outside.txt": "not ours\n",
            "proj/qik.toml": '[commands]\nhello = "echo hi"\n',
            "proj/a.py": "a = 1\n",
            "proj/pkg/b.py": "b = 1\n",
        },
    )
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "initial")
    (top / "proj" / "a.py").write_text("a = 2\n")
    (top / "proj" / "new.py").write_text("new = 1\n")
    return top / "proj"


def _started() -> list[str]:
    return sorted(command[2] for _, command in early._started)


def test_start_then_adopt_gives_the_same_index(tmp_path: Path) -> None:
    root = _monorepo(tmp_path)
    expected = FileIndex.from_worktree(root)
    early.start(str(root / "pkg"))  # from a subdirectory, as a user would
    assert _started() == ["ls-files", "rev-parse", "status"]
    procs = [proc for _, proc in early._started.values()]
    index = FileIndex.from_worktree(root)
    assert early._started == {}, "every command started early was adopted"
    assert all(proc.returncode == 0 for proc in procs)
    assert dict(index.blobs) == dict(expected.blobs)
    assert {"a.py", "new.py", "pkg/b.py", "qik.toml"} <= set(index.paths)
    assert "outside.txt" not in index.paths


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="in-memory files are Linux's")
def test_a_long_listing_finishes_before_anyone_reads_it(tmp_path: Path) -> None:
    """``ls-files`` writes far more than a pipe holds: started early, it must run to its
    end while qik is still importing, not stall until qik reads it."""
    root = tmp_path.resolve()
    git(root, "init", "-q", "-b", "main")
    names = {
        f"src/package_{i:03}/module_with_a_long_name_{i:04}.py": f"x = {i}\n" for i in range(1500)
    }
    write_files(root, {"qik.toml": '[commands]\nhello = "echo hi"\n', **names})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    expected = FileIndex.from_worktree(root)
    early.start(str(root))
    ls_files = next(
        proc for (_, command), (_, proc) in early._started.items() if "ls-files" in command
    )
    assert ls_files.wait(timeout=10) == 0  # with a 64 KiB pipe and no reader: never
    index = FileIndex.from_worktree(root)
    assert early._started == {}
    assert len(index.blobs) == len(names) + 1 and dict(index.blobs) == dict(expected.blobs)


def test_a_different_environment_is_not_adopted(tmp_path: Path) -> None:
    root = _monorepo(tmp_path)
    early.start(str(root))
    procs = [proc for _, proc in early._started.values()]
    os.environ["GIT_CONFIG_PARAMETERS"] = "'core.quotepath=false'"
    try:
        index = FileIndex.from_worktree(root)
    finally:
        del os.environ["GIT_CONFIG_PARAMETERS"]
    assert early._started == {}
    assert "new.py" in index.paths
    # The early ones were killed (or had finished) and reaped, not left running.
    assert all(proc.returncode is not None for proc in procs)


def test_discard_kills_and_reaps(tmp_path: Path) -> None:
    root = _monorepo(tmp_path)
    early.start(str(root))
    procs = [proc for _, proc in early._started.values()]
    early.discard()
    assert early._started == {}
    assert all(proc.returncode is not None for proc in procs)
    assert not any(psutil.pid_exists(proc.pid) and _is_child(proc.pid) for proc in procs)


def _is_child(pid: int) -> bool:
    try:
        return psutil.Process(pid).ppid() == os.getpid()
    except psutil.NoSuchProcess:
        return False


def test_nothing_starts_outside_a_project_or_a_work_tree(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    early.start(str(plain))  # no qik.toml anywhere above (tmp_path has none)
    assert early._started == {}
    (plain / "qik.toml").write_text('[commands]\nhello = "echo hi"\n')
    early.start(str(plain))  # a project, but not in a git work tree
    assert early._started == {}
    early.start(str(tmp_path / "missing"))  # a directory that doesn't exist
    assert early._started == {}


def test_a_pyproject_without_qik_is_passed_over(tmp_path: Path) -> None:
    root = _monorepo(tmp_path)
    sub = root / "sub"
    sub.mkdir()
    (sub / "pyproject.toml").write_text('[project]\nname = "x"\n')
    early.start(str(sub))
    assert {where for where, _ in early._started} == {str(root), str(root.parent)}


def test_the_cli_runs_with_and_without_the_early_start(tmp_path: Path) -> None:
    root = _monorepo(tmp_path)
    listed = run_qik(root, "--ls", "--json")
    assert listed.returncode == 0, listed.stderr
    # A config error right after the start: a coded error, as without it.
    (root / "qik.toml").write_text("[commands\n")
    broken = run_qik(root)
    assert broken.returncode == 2
    assert "Traceback" not in broken.stderr


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="in-memory files are Linux's")
def test_a_cached_run_imports_no_subprocess(tmp_path: Path) -> None:
    """Where git's output goes to in-memory files, its commands start with posix_spawn: a
    cached run never imports ``subprocess`` (3-4 ms, before git could even start)."""
    root = _monorepo(tmp_path)
    (root / "qik.toml").write_text('[commands.hello]\nexec = "echo hi"\ndeps = ["*.py"]\n')
    assert run_qik(root).returncode == 0
    report = subprocess.run(
        [sys.executable, "-X", "importtime", QIK],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert report.returncode == 0 and "replayed" in report.stdout, report.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in report.stderr.splitlines()}
    assert "qik.early" in imported and "subprocess" not in imported


def test_a_command_started_here_reports_like_popen(tmp_path: Path) -> None:
    root = _monorepo(tmp_path)
    git_path = early.find_git()
    assert git_path is not None
    env = early.git_env()
    good = early.spawn(early.argv(git_path, ["rev-parse", "--show-toplevel"]), str(root), env)
    assert early.collect(good) == (str(root.parent).encode() + b"\n", b"")
    assert good.returncode == 0
    bad = early.spawn(early.argv(git_path, ["rev-parse", "--verify", "nope"]), str(root), env)
    out, err = early.collect(bad)
    assert bad.returncode == 128 and out == b"" and b"fatal" in err
    with pytest.raises(FileNotFoundError):
        early.spawn(early.argv(git_path, ["status"]), str(root / "missing"), env)
    with pytest.raises(NotADirectoryError):
        early.spawn(early.argv(git_path, ["status"]), str(root / "a.py"), env)
    slow = early.spawn(["/bin/sh", "-c", "sleep 30"], str(root), env)
    slow.kill()
    early.collect(slow)
    assert slow.returncode == -9


def test_without_in_memory_files_commands_go_through_pipes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """macOS has no memfd_create: there, git's output comes through a pipe (Popen)."""
    monkeypatch.delattr(os, "memfd_create", raising=False)
    root = _monorepo(tmp_path)
    expected = FileIndex.from_worktree(root)
    early.start(str(root))
    assert _started() == ["ls-files", "rev-parse", "status"]
    assert all(isinstance(proc, subprocess.Popen) for _, proc in early._started.values())
    index = FileIndex.from_worktree(root)
    assert early._started == {}
    assert dict(index.blobs) == dict(expected.blobs)
    git_path = early.find_git()
    assert git_path is not None
    bad = early.spawn(early.argv(git_path, ["rev-parse", "--verify", "nope"]), str(root), {})
    out, err = early.collect(bad)
    assert bad.returncode == 128 and out == b"" and b"fatal" in err
