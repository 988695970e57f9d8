"""The git wrappers, against real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from qik import git as qgit
from qik.git import GitError, StagedFile, WorktreeChanges
from tests.fingerprint.conftest import git, write_files

EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    write_files(root, {"a.txt": "a\n", "d/b.txt": "", ".gitignore": "*.log\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def test_repo_root(repo: Path, tmp_path: Path) -> None:
    assert qgit.repo_root(repo / "d") == repo.resolve()
    assert qgit.repo_root(repo) == repo.resolve()
    outside = tmp_path / "outside"
    outside.mkdir()
    assert qgit.repo_root(outside) is None


def test_ls_files_stage(repo: Path) -> None:
    entries = sorted(qgit.ls_files_stage(repo))
    assert StagedFile("100644", EMPTY_BLOB, "d/b.txt") in entries
    assert [e.path for e in entries] == [".gitignore", "a.txt", "d/b.txt"]
    assert [e.path for e in qgit.ls_files_stage(repo, "d")] == ["b.txt"]


def test_ls_files_stage_skips_submodules(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},sub")
    assert "sub" not in [e.path for e in qgit.ls_files_stage(repo)]
    git(repo, "commit", "-q", "-m", "gitlink")
    assert "sub" not in [e.path for e in qgit.ls_tree(repo, "HEAD")]


def test_ls_files_stage_collapses_unmerged_stages(repo: Path) -> None:
    base, ours, theirs = ("1" * 40, "2" * 40, "3" * 40)
    index_info = "".join(
        f"100644 {blob} {stage}\tc.txt\n" for stage, blob in ((1, base), (2, ours), (3, theirs))
    )
    git(repo, "update-index", "--index-info", input_=index_info)
    assert [e for e in qgit.ls_files_stage(repo) if e.path == "c.txt"] == [
        StagedFile("100644", ours, "c.txt")
    ]


def test_status_paths(repo: Path) -> None:
    (repo / "a.txt").write_text("changed\n")
    (repo / "d/b.txt").unlink()
    write_files(repo, {"new dir/n.txt": "n", "x.log": "ignored"})
    git(repo, "rm", "-q", "--cached", ".gitignore")
    status = qgit.status_paths(repo)
    assert sorted(status.changed) == [".gitignore", "a.txt", "new dir/n.txt"]
    assert sorted(status.deleted) == [".gitignore", "d/b.txt"]


def test_status_paths_under_a_directory(repo: Path) -> None:
    (repo / "a.txt").write_text("changed\n")
    (repo / "d/b.txt").write_text("changed\n")
    assert qgit.status_paths(repo, "d") == WorktreeChanges(changed=("b.txt",), deleted=())


def test_blobs_and_status(repo: Path) -> None:
    (repo / "a.txt").write_text("changed\n")
    blobs, status = qgit.blobs_and_status(repo)
    assert blobs["d/b.txt"] == EMPTY_BLOB
    assert status.changed == ("a.txt",)


def test_ls_tree(repo: Path) -> None:
    entries = list(qgit.ls_tree(repo, "HEAD"))
    assert StagedFile("100644", EMPTY_BLOB, "d/b.txt") in entries
    assert list(qgit.ls_tree(repo, "HEAD", "d")) == [StagedFile("100644", EMPTY_BLOB, "b.txt")]


def test_merge_base_and_rev_exists(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "feature")
    git(repo, "commit", "-q", "--allow-empty", "-m", "feature")
    git(repo, "checkout", "-q", "-")
    git(repo, "commit", "-q", "--allow-empty", "-m", "main")
    assert qgit.merge_base(repo, "feature", "HEAD") == first
    assert qgit.rev_exists(repo, "feature")
    assert not qgit.rev_exists(repo, "nope")
    assert not qgit.rev_exists(repo, EMPTY_BLOB)  # an object, but not a commit


def test_merge_base_without_common_history(repo: Path) -> None:
    git(repo, "checkout", "-q", "--orphan", "island")
    git(repo, "commit", "-q", "--allow-empty", "-m", "island")
    with pytest.raises(GitError) as info:
        qgit.merge_base(repo, "island", "HEAD@{1}")
    assert info.value.code == "git-error" and info.value.hint


def test_show(repo: Path) -> None:
    assert qgit.show(repo, "HEAD", "a.txt") == b"a\n"
    assert qgit.show(repo, "HEAD", "missing.txt") is None
    assert qgit.show(repo, "HEAD", "d") is None
    with pytest.raises(GitError) as info:
        qgit.show(repo, "nope", "a.txt")
    assert "nope" in info.value.message


def test_errors_carry_git_stderr(repo: Path) -> None:
    with pytest.raises(GitError) as info:
        qgit.ls_tree(repo, "no-such-rev")  # raises at the call, not on iteration
    assert info.value.code == "git-error"
    assert "no-such-rev" in info.value.message
    assert "ls-tree" in info.value.message


def test_redirecting_environment_is_ignored(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as env:
        env.setenv("GIT_DIR", str(repo / "nowhere"))
        env.setenv("GIT_INDEX_FILE", str(repo / "nowhere-index"))
        assert [e.path for e in qgit.ls_files_stage(repo)] == [".gitignore", "a.txt", "d/b.txt"]


NAMES = ["plain.txt", 'q"uote', "new\nline", "ends\r", "back\\slash", "tab\there", "é.txt"]


def test_hash_objects_matches_git_hash_object_for_any_name(repo: Path) -> None:
    (repo / ".gitattributes").write_text("*.txt text eol=crlf\n")
    names = [*NAMES, "bad\udcff.bin"]
    for name in names:
        (repo / "d" / name).write_bytes(b"x\r\ny\r\n")
    ids = qgit.hash_objects(repo, [f"d/{name}" for name in names])
    # .txt: stored as git would, line ends converted ("x\ny\n"); the rest as they are.
    converted = git(repo, "hash-object", "--stdin", input_="x\ny\n").strip()
    raw = git(repo, "hash-object", "--stdin", input_="x\r\ny\r\n").strip()
    assert ids == [converted if name.endswith(".txt") else raw for name in names]
    # Paths relative to a directory of the work tree, git run from anywhere in it.
    assert qgit.hash_objects(repo / "d", ["plain.txt"], "d") == [converted]
    assert qgit.hash_objects(repo, ["plain.txt"], "d") == [converted]
    assert qgit.hash_objects(repo, []) == []


def test_hash_objects_stops_at_a_missing_file(repo: Path) -> None:
    with pytest.raises(qgit.HashObjectError) as info:
        qgit.hash_objects(repo, ["a.txt", "gone", "a.txt"])
    assert info.value.done == [git(repo, "hash-object", "a.txt").strip()]
