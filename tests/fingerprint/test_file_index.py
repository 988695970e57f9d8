"""FileIndex in real git repositories (and outside one): what counts, and digests equal git's."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from qik.fingerprint import FileIndex
from qik.fingerprint.files import hash_blob
from qik.git import GitError

from .conftest import MakeGitRepo, git, write_files

BASE = {
    ".gitignore": "*.log\nbuild/\n",
    "README.md": "hello\n",
    "src/pkg/__init__.py": "",
    "src/pkg/mod.py": "x = 1\n",
}


def hash_object(root: Path, path: str) -> str:
    return git(root, "hash-object", "--no-filters", "--", path).strip()


def test_clean_repo_digests_are_index_blobs(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo(BASE)
    index = FileIndex.from_worktree(root)
    assert index.paths == (".gitignore", "README.md", "src/pkg/__init__.py", "src/pkg/mod.py")
    assert index.digest("src/pkg/mod.py") == git(root, "rev-parse", "HEAD:src/pkg/mod.py").strip()
    assert index.digest("missing") is None
    assert "README.md" in index and "src" not in index
    assert len(index) == 4


def test_modified_file_is_rehashed_like_git(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo(BASE)
    before = FileIndex.from_worktree(root).digest("src/pkg/mod.py")
    (root / "src/pkg/mod.py").write_text("x = 2\n")
    after = FileIndex.from_worktree(root).digest("src/pkg/mod.py")
    assert after != before
    assert after == hash_object(root, "src/pkg/mod.py")


def test_untracked_counts_and_ignored_does_not(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo(BASE)
    write_files(root, {"src/new.py": "y = 1\n", "run.log": "noise\n", "build/out.py": "z\n"})
    index = FileIndex.from_worktree(root)
    assert index.digest("src/new.py") == hash_object(root, "src/new.py")
    assert "run.log" not in index
    assert "build/out.py" not in index


def test_deleted_files_drop_out(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo(BASE)
    (root / "README.md").unlink()
    git(root, "rm", "-q", "src/pkg/__init__.py")
    index = FileIndex.from_worktree(root)
    assert index.paths == (".gitignore", "src/pkg/mod.py")


def test_staged_delete_then_recreated_counts(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo(BASE)
    git(root, "rm", "-q", "--cached", "README.md")  # "D " and "?? README.md"
    (root / "README.md").write_text("changed\n")
    assert FileIndex.from_worktree(root).digest("README.md") == hash_object(root, "README.md")


def test_staged_and_then_edited_again_uses_the_work_tree(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo(BASE)
    (root / "src/pkg/mod.py").write_text("staged\n")
    (root / "src/added.py").write_text("added\n")
    git(root, "add", "src/pkg/mod.py", "src/added.py")
    index = FileIndex.from_worktree(root)
    assert index.digest("src/pkg/mod.py") == hash_object(root, "src/pkg/mod.py")
    assert index.digest("src/added.py") == hash_object(root, "src/added.py")
    (root / "src/pkg/mod.py").write_text("edited after staging\n")
    assert FileIndex.from_worktree(root).digest("src/pkg/mod.py") == hash_object(
        root, "src/pkg/mod.py"
    )


@pytest.mark.parametrize(
    "name",
    [
        "dir with space/a b.py",
        "ünïcödé/ç.py",
        'quo"te.txt',
        "tab\there.txt",
        "new\nline.txt",
        "-dash",
    ],
)
def test_odd_file_names(make_git_repo: MakeGitRepo, name: str) -> None:
    root = make_git_repo({**BASE, f"tracked/{name}": "t\n"})
    write_files(root, {f"untracked/{name}": "u\n"})
    (root / "tracked" / name).write_text("modified\n")
    index = FileIndex.from_worktree(root)
    assert index.digest(f"tracked/{name}") == hash_blob(b"modified\n")
    assert index.digest(f"untracked/{name}") == hash_blob(b"u\n")


def test_symlinks_hash_their_target_like_git(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo(BASE)
    (root / "link").symlink_to("README.md")
    git(root, "add", "link")
    git(root, "commit", "-q", "-m", "link")
    assert FileIndex.from_worktree(root).digest("link") == hash_blob(b"README.md")
    (root / "link").unlink()
    (root / "link").symlink_to("src/pkg/mod.py")
    digest = FileIndex.from_worktree(root).digest("link")
    git(root, "add", "link")
    assert digest == git(root, "ls-files", "-s", "link").split()[1]


def test_qik_dirs_are_excluded(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo({**BASE, ".qik/manifests/x.json": "{}"})
    write_files(root, {"._qik/objects/ab/cd": "blob", ".qik/new": "n", "._qikish/kept": "k"})
    index = FileIndex.from_worktree(root)
    assert not [p for p in index.paths if p.startswith((".qik/", "._qik/"))]
    assert "._qikish/kept" in index


def test_untracked_nested_repository_is_not_listed(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo(BASE)
    nested = root / "vendor" / "lib"
    nested.mkdir(parents=True)
    git(nested, "init", "-q")
    write_files(nested, {"x.py": "x\n"})
    assert not [p for p in FileIndex.from_worktree(root).paths if p.startswith("vendor")]


def test_unmerged_file_takes_its_work_tree_content(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo(BASE)
    git(root, "checkout", "-q", "-b", "other")
    (root / "README.md").write_text("theirs\n")
    git(root, "commit", "-q", "-am", "theirs")
    git(root, "checkout", "-q", "main")
    (root / "README.md").write_text("ours\n")
    git(root, "commit", "-q", "-am", "ours")
    with pytest.raises(subprocess.CalledProcessError):  # the merge conflicts, as intended
        git(root, "merge", "-q", "other")
    assert "<<<<<<<" in (root / "README.md").read_text()
    assert FileIndex.from_worktree(root).digest("README.md") == hash_object(root, "README.md")


def test_reading_never_writes_the_git_index(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo(BASE)
    index_file = root / ".git" / "index"
    old = index_file.stat().st_mtime_ns
    # A touched file makes `git status` refresh its stat cache, which it would write back to
    # .git/index if it were allowed to take the lock.
    os.utime(root / "README.md", ns=(time.time_ns(), time.time_ns()))
    FileIndex.from_worktree(root)
    assert index_file.stat().st_mtime_ns == old


def test_index_lock_held_by_someone_else_is_fine(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo(BASE)
    (root / ".git" / "index.lock").write_bytes(b"")
    (root / "README.md").write_text("edited\n")
    assert FileIndex.from_worktree(root).digest("README.md") == hash_blob(b"edited\n")


def test_project_in_a_subdirectory_of_the_repo(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo({**BASE, "proj/qik.toml": "", "proj/a.py": "a\n", "proj/b.py": "b\n"})
    project = root / "proj"
    (project / "a.py").write_text("a2\n")
    (project / "b.py").unlink()
    write_files(root, {"proj/c.py": "c\n", "outside.py": "o\n"})
    index = FileIndex.from_worktree(project)
    assert index.paths == ("a.py", "c.py", "qik.toml")
    assert index.digest("a.py") == hash_blob(b"a2\n")
    assert FileIndex.from_rev(project, "HEAD").paths == ("a.py", "b.py", "qik.toml")


def test_empty_repository(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo({}, commit=False)
    assert FileIndex.from_worktree(root).paths == ()
    write_files(root, {"a.py": "a\n"})
    assert FileIndex.from_worktree(root).digest("a.py") == hash_blob(b"a\n")


def test_sha256_repository(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "--object-format=sha256")
    write_files(root, BASE)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    (root / "README.md").write_text("edited\n")
    index = FileIndex.from_worktree(root)
    assert index.digest("README.md") == hash_object(root, "README.md")
    assert len(index.digest("src/pkg/mod.py") or "") == 64


def test_from_rev_equals_worktree_of_a_clean_checkout(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo({**BASE, "a b/ç.py": "u\n"})
    (root / "link").symlink_to("README.md")
    git(root, "add", "link")
    git(root, "commit", "-q", "-m", "link")
    assert FileIndex.from_rev(root, "HEAD") == FileIndex.from_worktree(root)


def test_from_rev_sees_the_past(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo(BASE)
    first = git(root, "rev-parse", "HEAD").strip()
    (root / "README.md").write_text("v2\n")
    write_files(root, {"new.py": "n\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "second")
    old, now = FileIndex.from_rev(root, first), FileIndex.from_worktree(root)
    assert "new.py" not in old
    assert old.digest("README.md") != now.digest("README.md")
    assert old.digest("src/pkg/mod.py") == now.digest("src/pkg/mod.py")


def test_from_rev_unknown_revision(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo(BASE)
    with pytest.raises(GitError) as info:
        FileIndex.from_rev(root, "no-such-branch")
    assert info.value.code == "git-error"
    assert "no-such-branch" in info.value.message


def test_from_rev_outside_git(tmp_path: Path) -> None:
    with pytest.raises(GitError):
        FileIndex.from_rev(tmp_path, "HEAD")


# Outside git: walk and hash, with a stat cache in ._qik/.

OLD_NS = time.time_ns() - 3_600_000_000_000  # an hour ago: past the racy-timestamp window


def make_tree(root: Path) -> None:
    write_files(
        root,
        {
            "a.py": "a\n",
            "pkg/b.py": "b\n",
            "pkg/__pycache__/b.cpython-311.pyc": "x",
            ".venv/lib/site.py": "x",
            "node_modules/x/index.js": "x",
            "._qik/objects/ab": "x",
            ".qik/manifests/m.json": "x",
        },
    )
    (root / "ln").symlink_to("a.py")
    for path in (root / "a.py", root / "pkg/b.py"):
        os.utime(path, ns=(OLD_NS, OLD_NS))


def test_outside_git_walks_and_hashes_like_git(tmp_path: Path) -> None:
    make_tree(tmp_path)
    index = FileIndex.from_worktree(tmp_path)
    assert index.paths == ("a.py", "ln", "pkg/b.py")
    assert index.digest("a.py") == hash_blob(b"a\n")
    assert index.digest("ln") == hash_blob(b"a.py")


def test_outside_git_reuses_the_stat_cache(tmp_path: Path) -> None:
    make_tree(tmp_path)
    FileIndex.from_worktree(tmp_path)
    assert (tmp_path / "._qik/filecache.json").is_file()
    # Same size, mtime and inode: the cached digest is trusted, so the file isn't read again.
    (tmp_path / "a.py").write_text("A\n")
    os.utime(tmp_path / "a.py", ns=(OLD_NS, OLD_NS))
    assert FileIndex.from_worktree(tmp_path).digest("a.py") == hash_blob(b"a\n")
    # A new mtime invalidates the entry.
    os.utime(tmp_path / "a.py", ns=(OLD_NS + 1, OLD_NS + 1))
    assert FileIndex.from_worktree(tmp_path).digest("a.py") == hash_blob(b"A\n")


def test_outside_git_does_not_cache_racily_recent_files(tmp_path: Path) -> None:
    make_tree(tmp_path)
    FileIndex.from_worktree(tmp_path)
    cached = json.loads((tmp_path / "._qik/filecache.json").read_text())["entries"]
    assert sorted(cached) == ["a.py", "pkg/b.py"]  # "ln" was just created


@pytest.mark.parametrize(
    "content", [b"", b"{not json", b"[]", b'{"version": 1, "entries": {"a.py": [1, 2]}}', b"\xff"]
)
def test_outside_git_tolerates_a_corrupt_cache(tmp_path: Path, content: bytes) -> None:
    make_tree(tmp_path)
    write_files(tmp_path, {"._qik/filecache.json": content})
    assert FileIndex.from_worktree(tmp_path).digest("a.py") == hash_blob(b"a\n")
    assert json.loads((tmp_path / "._qik/filecache.json").read_text())["version"] == 1


def test_outside_git_without_writing_the_cache(tmp_path: Path) -> None:
    make_tree(tmp_path)
    FileIndex.from_worktree(tmp_path, write_cache=False)
    assert not (tmp_path / "._qik/filecache.json").exists()


def test_of_drops_qik_dirs_and_sorts() -> None:
    index = FileIndex.of({"b": "1", "a": "2", "._qik/x": "3", ".qik/y": "4", ".qikz": "5"})
    assert index.paths == (".qikz", "a", "b")
    assert dict(index.blobs) == {".qikz": "5", "a": "2", "b": "1"}


@pytest.mark.parametrize("under", ["", "proj/"])
def test_changed_files_hash_as_git_stores_them(make_git_repo: MakeGitRepo, under: str) -> None:
    """With line-ending conversion a file's bytes are not what git stores: "b\\r\\n" under
    eol=crlf is the blob "b\\n", which the index lists once the file is committed."""
    root = make_git_repo({".gitattributes": "*.txt text eol=crlf\n", f"{under}a.txt": "a\n"})
    project = root / under
    (project / "a.txt").write_bytes(b"b\r\n")
    (project / "new.txt").write_bytes(b"c\r\n")
    (project / "raw.bin").write_bytes(b"d\r\n")
    index = FileIndex.from_worktree(project)
    assert index.digest("a.txt") == hash_blob(b"b\n")
    assert index.digest("new.txt") == hash_blob(b"c\n")
    assert index.digest("raw.bin") == hash_blob(b"d\r\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "converted")
    assert FileIndex.from_worktree(project).blobs == index.blobs
    assert FileIndex.from_rev(project, "HEAD").blobs == index.blobs


def test_a_clean_filter_git_cannot_run_leaves_the_bytes(make_git_repo: MakeGitRepo) -> None:
    root = make_git_repo({".gitattributes": "*.bad filter=bad\n*.txt text eol=crlf\n"})
    git(root, "config", "filter.bad.clean", "false")
    git(root, "config", "filter.bad.required", "true")
    write_files(root, {"a.txt": "a\r\n", "x.bad": "x\r\n", "z.txt": "z\r\n"})
    index = FileIndex.from_worktree(root)
    assert index.digest("a.txt") == hash_blob(b"a\n")
    assert index.digest("x.bad") == hash_blob(b"x\r\n")  # as outside git: no conversion
    assert index.digest("z.txt") is not None
