from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qik.store.paths import UnsafePath, check_artifact_path, check_relpath, safe_artifact_path

SAFE = [
    "a",
    "a/b",
    "a/b.txt",
    ".hidden",
    "a/.b",
    "..a",
    "a..",
    "a/...",
    "dir with space/x",
    "ü/ñ.txt",
    "ab:c",
    "a" * 255,
    "/".join(["d"] * 100),
]

UNSAFE = [
    ("", "empty"),
    ("/etc/x", "absolute"),
    ("/", "absolute"),
    ("../x", "'..'"),
    ("a/../b", "'..'"),
    ("a/..", "'..'"),
    ("..", "'..'"),
    ("./a", "'.'"),
    ("a/./b", "'.'"),
    ("a/.", "'.'"),
    ("a//b", "empty segment"),
    ("a/", "empty segment"),
    ("a\\b", "backslash"),
    ("..\\x", "backslash"),
    ("a\x00b", "control"),
    ("a\nb", "control"),
    ("a\x1b[31m", "control"),
    ("C:/x", "drive"),
    ("c:x", "drive"),
    ("x" * 5000, "longer than"),
    ("a/" + "b" * 256, "longer than 255"),
    ("a\ud800", "unicode"),
]


@pytest.mark.parametrize("rel", SAFE)
def test_safe_relpaths_pass(rel: str) -> None:
    check_relpath(rel)
    check_artifact_path(rel)


@pytest.mark.parametrize(("rel", "reason"), UNSAFE)
def test_unsafe_relpaths_fail_with_a_reason(rel: str, reason: str) -> None:
    with pytest.raises(UnsafePath) as info:
        check_relpath(rel)
    assert reason in info.value.reason
    assert info.value.path == rel


@pytest.mark.parametrize("rel", [".git/hooks/post-checkout", "sub/.GIT/config", ".Git"])
def test_artifacts_never_go_into_git(rel: str) -> None:
    check_relpath(rel)
    with pytest.raises(UnsafePath, match=r"\.git"):
        check_artifact_path(rel)


@pytest.mark.parametrize("rel", [".gitignore", ".github/workflows/ci.yml", "a.git/x"])
def test_git_lookalikes_are_fine(rel: str) -> None:
    check_artifact_path(rel)


def test_a_non_string_is_unsafe() -> None:
    with pytest.raises(UnsafePath, match="not a string"):
        check_relpath(b"a")  # type: ignore[arg-type]  # untrusted input can be anything


def test_safe_artifact_path_joins_under_root(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert safe_artifact_path(tmp_path, "a/b/c.txt") == tmp_path / "a" / "b" / "c.txt"


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "a/./b", "a\\b", ".git/config"])
def test_safe_artifact_path_runs_the_pure_check(tmp_path: Path, rel: str) -> None:
    with pytest.raises(UnsafePath):
        safe_artifact_path(tmp_path, rel)


@pytest.mark.parametrize("link_target", ["outside", "inside"])
def test_a_symlinked_parent_is_refused(tmp_path: Path, link_target: str) -> None:
    root = tmp_path / "root"
    target = tmp_path / "outside" if link_target == "outside" else root / "real"
    target.mkdir(parents=True)
    root.mkdir(exist_ok=True)
    (root / "a").mkdir()
    os.symlink(target, root / "a" / "link")
    with pytest.raises(UnsafePath, match="symlink"):
        safe_artifact_path(root, "a/link/file.txt")


def test_a_dangling_symlinked_parent_is_refused(tmp_path: Path) -> None:
    os.symlink(tmp_path / "nowhere", tmp_path / "link")
    with pytest.raises(UnsafePath, match="symlink"):
        safe_artifact_path(tmp_path, "link/file.txt")


def test_a_file_as_parent_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("")
    with pytest.raises(UnsafePath, match="not a directory"):
        safe_artifact_path(tmp_path, "a/b")


def test_the_target_itself_may_be_a_symlink(tmp_path: Path) -> None:
    # Restores rename over the link, replacing it rather than writing through it.
    os.symlink(tmp_path / "elsewhere", tmp_path / "out")
    assert safe_artifact_path(tmp_path, "out") == tmp_path / "out"


@given(st.text(alphabet="ab._-/\\:\x00é" + "0", max_size=300))
@settings(max_examples=2000, deadline=None)
def test_the_plain_path_shortcut_accepts_only_what_the_full_checks_accept(rel: str) -> None:
    from qik.store import paths

    if paths._PLAIN.fullmatch(rel) and len(rel) <= paths._MAX_SEGMENT_BYTES:
        assert paths._any_relpath_problem(rel) is None
