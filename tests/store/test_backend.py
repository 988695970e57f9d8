from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qik.store import KeyMissing, LocalBackend, UnsafePath
from qik.store.backend import atomic_file, write_atomic


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "store")


def _read(backend: LocalBackend, key: str) -> bytes:
    stream = backend.open(key)
    try:
        return stream.read()
    finally:
        stream.close()


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_write_then_read(backend: LocalBackend) -> None:
    backend.write_bytes("a/b/c", b"hello")
    assert _read(backend, "a/b/c") == b"hello"
    assert backend.exists("a/b/c")
    info = backend.stat("a/b/c")
    assert info is not None and info.key == "a/b/c" and info.size == 5


def test_a_write_replaces(backend: LocalBackend) -> None:
    backend.write_bytes("k", b"old")
    backend.write_chunks("k", iter([b"ne", b"w"]))
    assert _read(backend, "k") == b"new"


def test_absent_keys(backend: LocalBackend) -> None:
    assert not backend.exists("nope")
    assert backend.stat("nope") is None
    assert not backend.delete("nope")
    with pytest.raises(KeyMissing):
        backend.open("nope/deeper")


def test_delete(backend: LocalBackend) -> None:
    backend.write_bytes("x/k", b"1")
    assert backend.delete("x/k")
    assert not backend.exists("x/k")
    assert not backend.delete("x/k")


def test_list_is_recursive_under_a_prefix(backend: LocalBackend) -> None:
    for key in ("objects/ab/1", "objects/cd/2", "manifests/m.json"):
        backend.write_bytes(key, b"x")
    assert sorted(i.key for i in backend.list("objects/")) == ["objects/ab/1", "objects/cd/2"]
    assert len(list(backend.list(""))) == 3
    assert list(backend.list("missing/")) == []


def test_list_needs_a_directory_prefix(backend: LocalBackend) -> None:
    with pytest.raises(ValueError, match="ends with"):
        list(backend.list("objects"))


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a\\b", "", "a/.hidden"])
def test_unsafe_keys_are_refused(backend: LocalBackend, key: str) -> None:
    with pytest.raises((UnsafePath, ValueError)):
        backend.write_bytes(key, b"x")
    assert not (backend.root.parent / "x").exists()


def test_an_aborted_write_leaves_nothing(backend: LocalBackend) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"partial"
        raise RuntimeError("producer gave up")

    with pytest.raises(RuntimeError):
        backend.write_chunks("a/k", chunks())
    assert _files(backend.root) == []


def test_an_aborted_write_keeps_the_old_blob(backend: LocalBackend) -> None:
    backend.write_bytes("k", b"old")

    def chunks() -> Iterator[bytes]:
        yield b"new"
        raise RuntimeError("producer gave up")

    with pytest.raises(RuntimeError):
        backend.write_chunks("k", chunks())
    assert _read(backend, "k") == b"old"
    assert _files(backend.root) == ["k"]


def test_a_failed_rename_leaves_no_temporary(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir()  # a directory where the file goes: the rename fails
    (tmp_path / "k" / "inside").write_bytes(b"")
    with pytest.raises(OSError):
        write_atomic(str(tmp_path / "k"), b"data")
    assert _files(tmp_path) == ["k/inside"]


def test_a_directory_where_a_blob_goes_is_replaced(backend: LocalBackend) -> None:
    for key in ("k", "c"):
        (backend.root / key / "planted").mkdir(parents=True)
    backend.write_bytes("k", b"data")
    backend.write_chunks("c", iter([b"da", b"ta"]))
    assert _read(backend, "k") == _read(backend, "c") == b"data"


def test_a_large_blob_is_written_whole(backend: LocalBackend) -> None:
    data = os.urandom(3 << 20)  # larger than one write() may take
    backend.write_bytes("big", data)
    assert _read(backend, "big") == data


def test_temporary_files_are_not_listed(backend: LocalBackend) -> None:
    backend.write_bytes("a/k", b"x")
    (backend.root / "a" / ".k.0123.qik-tmp").write_bytes(b"partial")
    assert [i.key for i in backend.list("")] == ["a/k"]


def test_sweep_removes_only_old_temporaries(backend: LocalBackend) -> None:
    backend.write_bytes("a/k", b"x")
    old = backend.root / "a" / ".k.old.qik-tmp"
    young = backend.root / "a" / ".k.young.qik-tmp"
    old.write_bytes(b"")
    young.write_bytes(b"")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert backend.sweep_temps(older_than=60) == 1
    assert not old.exists() and young.exists() and (backend.root / "a" / "k").exists()


def test_a_blob_deleted_while_open_stays_readable(backend: LocalBackend) -> None:
    if os.name == "nt":
        pytest.skip("Windows refuses to delete an open file")
    backend.write_bytes("k", b"content")
    stream = backend.open("k")
    try:
        assert backend.delete("k")
        assert stream.read() == b"content"
    finally:
        stream.close()


def test_files_follow_the_umask(backend: LocalBackend) -> None:
    old = os.umask(0o022)
    try:
        backend.write_bytes("k", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((backend.root / "k").stat().st_mode) == 0o644


def test_atomic_file_sets_the_mode_before_the_rename(tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir" / "f"
    with atomic_file(target, mode=0o600) as fh:
        fh.write(b"x")
    assert target.read_bytes() == b"x"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _files(tmp_path) == ["new/dir/f"]


@pytest.mark.parametrize("plant", ["symlink", "fifo", "directory"])
def test_anything_but_a_regular_file_is_absent(
    backend: LocalBackend, tmp_path: Path, plant: str
) -> None:
    """A symlink committed to .qik/ or a FIFO could make a read hang (/dev/stdin) or read
    outside the store; what qik never writes counts as absent, and a write replaces it."""
    (tmp_path / "elsewhere").write_bytes(b"secret")
    path = Path(backend.file("manifests/x.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    if plant == "symlink":
        path.symlink_to(tmp_path / "elsewhere")
    elif plant == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    assert not backend.exists("manifests/x.json")
    with pytest.raises(KeyMissing):
        backend.open("manifests/x.json")  # at once: a FIFO with no writer must not block
    if plant != "directory":
        backend.write_bytes("manifests/x.json", b"{}")
        assert _read(backend, "manifests/x.json") == b"{}"
        assert (tmp_path / "elsewhere").read_bytes() == b"secret"
