"""Raw blob storage under posix keys: the seam between the store and where bytes live.

The store's code (``cas.py``) only speaks ``Backend``, so the local directory here and an S3
bucket later share it. A backend knows nothing of digests or compression; it promises that
a write is atomic (a reader sees the old blob, the new blob or none, never part of one).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from qik.store.paths import StoreError, check_relpath

__all__ = [
    "Backend",
    "BackendFailure",
    "FailureKind",
    "KeyInfo",
    "KeyMissing",
    "LocalBackend",
    "ReadOnlyBackend",
    "ReadStream",
    "StoreLinked",
    "atomic_file",
    "ignore_itself",
    "is_temp_name",
    "is_temp_of",
    "linked_folder",
    "open_regular",
    "write_atomic",
]

_TEMP_SUFFIX = ".qik-tmp"
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{16}\.qik-tmp")
# The folders of a store (``store/FORMAT.md``); ``objects/`` holds a folder per first two
# hex digits. None of them, nor the store itself, may be a symbolic link.
_FOLDERS = ("objects", "manifests", "shards")


class KeyMissing(StoreError):
    """No blob under this key (never written, or deleted meanwhile)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no blob at {key}")
        self.key = key


# unreachable: no connection (refused, DNS, reset); timeout: connected, no answer in time;
# denied: credentials or permissions; error: anything else the backend reported.
FailureKind = Literal["unreachable", "timeout", "denied", "error"]


class BackendFailure(StoreError):
    """The place the blobs live failed (network, permission, server error), as opposed to
    a blob that is missing or bad. ``detail`` names the place, not the key, so that one
    outage reads the same from every runnable and is warned about once."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class StoreLinked(BackendFailure):
    """The store's root or one of its folders is a symbolic link: the store is not used.

    A link committed as ``.qik/objects`` (or ``._qik`` itself) would have qik write
    objects outside the repository and, pruning them as unreferenced, delete whatever
    files there look like objects."""

    def __init__(self, path: Path) -> None:
        super().__init__("error", f"{path} is a symbolic link, which qik does not follow")
        self.path = path


@dataclass(frozen=True)
class KeyInfo:
    """A stored blob: its key, stored size in bytes and last-modified unix time."""

    key: str
    size: int
    mtime: float


class ReadStream(Protocol):
    """What the store needs to read a blob: a file object or an S3 response body."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class Backend(Protocol):
    """Blobs under posix keys (``objects/ab/ab12…``, ``manifests/<dep hash>.json``)."""

    def open(self, key: str) -> ReadStream:
        """A stream over the blob; raises ``KeyMissing``. The caller closes it."""
        ...

    def write_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically, replacing any blob there."""
        ...

    def write_chunks(self, key: str, chunks: Iterable[bytes]) -> None:
        """Store the concatenated ``chunks`` atomically. If iterating raises, nothing is
        stored and the exception propagates: a producer aborts a write by raising."""
        ...

    def exists(self, key: str) -> bool: ...

    def stat(self, key: str) -> KeyInfo | None: ...

    def delete(self, key: str) -> bool:
        """Remove the blob; False if there was none (deleting twice is not an error)."""
        ...

    def list(self, prefix: str) -> Iterator[KeyInfo]:
        """Every blob whose key starts with ``prefix`` (``""`` or ending in ``/``), in no
        particular order. Blobs written or deleted meanwhile may or may not appear."""
        ...


class LocalBackend:
    """Blobs as files under ``root``, written to a temporary name beside the target and
    renamed into place. Directories are created on first write.

    Files are not fsynced: a blob lost or truncated by a power cut reads as corrupt and
    becomes a miss, which is cheaper than a disk flush per object on every run.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = os.fspath(root)
        self._is_safe = False  # no link among the store's folders (``_check_links``)

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.root)!r})"

    def linked(self) -> Path | None:
        """The store's root or folder that is a symbolic link, if any (``linked_folder``):
        then every operation raises ``StoreLinked``."""
        linked = linked_folder(self.root)
        self._is_safe = linked is None  # checked: the first operation need not again
        return linked

    def _check_links(self) -> None:
        """Once per backend: a few ``lstat`` calls and a listing of ``objects/``, not a
        check per key (a fully cached run reads a manifest per runnable)."""
        linked = linked_folder(self.root)
        if linked is not None:
            raise StoreLinked(linked)
        self._is_safe = True

    def open(self, key: str) -> ReadStream:
        try:
            fd = open_regular(self.file(key))
        except (FileNotFoundError, NotADirectoryError):
            raise KeyMissing(key) from None
        return _FileStream(fd)  # the caller closes it

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self.file(key)
        try:
            write_atomic(path, data)
        except IsADirectoryError:  # only then look: a write per cold runnable comes here
            _clear_planted(path)
            write_atomic(path, data)

    def write_chunks(self, key: str, chunks: Iterable[bytes]) -> None:
        path = self.file(key)
        _clear_planted(path)
        with atomic_file(Path(path)) as fh:
            for chunk in chunks:
                fh.write(chunk)

    def exists(self, key: str) -> bool:
        try:
            return stat.S_ISREG(os.lstat(self.file(key)).st_mode)
        except OSError:
            return False

    def stat(self, key: str) -> KeyInfo | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return KeyInfo(key, st.st_size, st.st_mtime)

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def list(self, prefix: str) -> Iterator[KeyInfo]:
        if prefix and not prefix.endswith("/"):
            raise ValueError(f"a prefix is empty or ends with '/': {prefix!r}")
        if prefix:
            check_relpath(prefix.rstrip("/"))
        if not self._is_safe:
            self._check_links()
        yield from _walk(self.root / prefix, prefix)

    def touch(self, key: str) -> bool:
        """Set the blob's mtime to now; False if there is none. The local store's gc
        reads mtimes as last use, and spares young objects a writer may be relying on.
        Anything but a regular file there is no blob (``open_regular``): a writer then
        stores the blob over it."""
        path = self.file(key)
        if not self.exists(key):
            return False
        try:
            os.utime(path, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError:  # a read-only store (a frozen example, a read-only checkout)
            return True
        return True

    def sweep_temps(self, older_than: float) -> int:
        """Delete temporary files left by crashed writers, if older than ``older_than``
        seconds (younger ones may belong to a live writer). Returns how many went."""
        if not self._is_safe:
            self._check_links()
        cutoff = time.time() - older_than
        removed = 0
        for dirpath, _, names in os.walk(self.root):
            for name in names:
                if name.startswith(".") and name.endswith(_TEMP_SUFFIX):
                    removed += _remove_if_older(Path(dirpath, name), cutoff)
        return removed

    def _path(self, key: str) -> Path:
        return Path(self.file(key))

    def file(self, key: str) -> str:
        """The file of ``key``, as a string: a fully cached run opens one per runnable,
        and pathlib's joins cost more than the opens. ``StoreLinked`` if the store's root
        or a folder of it is a symbolic link: nothing is read, written or deleted there."""
        if not self._is_safe:
            self._check_links()
        check_relpath(key)
        if key.rsplit("/", 1)[-1].startswith("."):
            # Dot names are where temporary files live; keys stay out of their way.
            raise ValueError(f"a key's last segment must not start with '.': {key!r}")
        return os.path.join(self._root, key)


class _FileStream:
    """A file read with plain ``os.read`` calls. A fully cached run opens a manifest per
    runnable, and a buffered file object cost more than the bytes it read (its buffer,
    and the whole-size allocation of each ``read``)."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def read(self, size: int = -1, /) -> bytes:
        if size >= 0:
            return os.read(self._fd, size)
        parts = []
        while part := os.read(self._fd, _READ_ALL_CHUNK):
            parts.append(part)
        return b"".join(parts)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


_READ_ALL_CHUNK = 1 << 16


class ReadOnlyBackend:
    """Another backend, never modified: for caches a run may read but not write
    (``read-only = true``, ``--cache-read-only``). Writes raise ``StoreError``; deletes
    (a reader dropping a damaged object) do nothing, and the damage stays for a trusted
    writer to repair."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    def __repr__(self) -> str:
        return f"ReadOnlyBackend({self.inner!r})"

    def open(self, key: str) -> ReadStream:
        return self.inner.open(key)

    def write_bytes(self, key: str, data: bytes) -> None:
        raise StoreError(f"{self.inner!r} is read-only: not writing {key}")

    def write_chunks(self, key: str, chunks: Iterable[bytes]) -> None:
        raise StoreError(f"{self.inner!r} is read-only: not writing {key}")

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def stat(self, key: str) -> KeyInfo | None:
        return self.inner.stat(key)

    def delete(self, key: str) -> bool:
        return False

    def list(self, prefix: str) -> Iterator[KeyInfo]:
        return self.inner.list(prefix)


@contextmanager
def atomic_file(path: Path, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary file in the same directory, renamed into place
    on success (after a chmod to ``mode``, if given) and removed on any exception.

    Missing parent directories are created. The rename is what makes the write atomic:
    readers of ``path`` see the old file or the whole new one.
    """
    temp, fd = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _clear_planted(path: str) -> None:
    """Remove a directory where a blob belongs: nothing qik writes makes one there, and a
    rename can't replace it, so the store would fail to write that blob on every run."""
    try:
        planted = stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return
    if planted:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def write_atomic(path: str, data: bytes) -> None:
    """``atomic_file`` for content already in memory, with plain ``os`` calls: a pool
    worker writes a manifest per cold runnable this way, and the context manager, the
    buffered file object and pathlib's joins cost more than the writes."""
    temp, fd = _open_temp(path)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise


def is_temp_name(name: str) -> bool:
    """Is ``name`` that of a temporary file of ``atomic_file`` or ``write_atomic``
    (``.<target name>.<16 hex>.qik-tmp``)?"""
    return name.endswith(_TEMP_SUFFIX) and _TEMP_NAME.fullmatch(name) is not None


def is_temp_of(name: str, target: str) -> bool:
    """Is ``name`` a temporary file of a write of ``target`` (a name in the same folder)?"""
    prefix = f".{target}."
    return (
        name.startswith(prefix)
        and len(name) == len(prefix) + 16 + len(_TEMP_SUFFIX)
        and is_temp_name(name)
    )


def _create_temp(path: Path) -> tuple[Path, int]:
    temp, fd = _open_temp(os.fspath(path))
    return Path(temp), fd


def _open_temp(path: str) -> tuple[str, int]:
    """A new temporary file beside ``path``, open for writing; missing parent
    directories are created."""
    directory, name = os.path.split(path)
    temp = os.path.join(directory, f".{name}.{os.urandom(8).hex()}{_TEMP_SUFFIX}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(temp, flags, 0o666)  # the umask decides, as for any file we write
    except FileNotFoundError:
        os.makedirs(directory or os.curdir, exist_ok=True)
        fd = os.open(temp, flags, 0o666)
    return temp, fd


def linked_folder(root: Path) -> Path | None:
    """``root`` (a store, ``._qik`` or ``.qik``) or the first of its folders that is a
    symbolic link, or None. Such a store is not used: writing through the link would put
    files outside the repository, and maintenance (pruning, gc, clear) would delete files
    there."""
    for path in (root, *(root / name for name in _FOLDERS)):
        if os.path.islink(path):
            return path
    try:
        with os.scandir(root / "objects") as entries:
            for entry in entries:
                if entry.is_symlink():
                    return Path(entry.path)
    except OSError:  # no objects yet, or not a folder: nothing linked there
        pass
    return None


def ignore_itself(store: Path) -> bool:
    """Make ``store`` (``._qik``) hold a ``.gitignore`` of ``*``, so that git never lists
    what it holds; False if it can't be written (the run goes on regardless), or if
    ``store`` is a symbolic link (nothing is written through one)."""
    marker = store / ".gitignore"
    try:
        if os.path.islink(store):
            return False
        if marker.exists():
            return True
        store.mkdir(parents=True, exist_ok=True)
        tmp = store / f".gitignore.{os.getpid()}"
        tmp.write_text("*\n")
        tmp.replace(marker)
    except OSError:
        return False
    return True


def open_regular(path: str | Path) -> int:
    """A read-only descriptor of ``path`` if it is a regular file, else FileNotFoundError.

    What a store holds is written by qik as regular files; anything else there (a symlink
    committed to ``.qik/``, a FIFO, a device) was planted, and reading it could hang (a
    FIFO, ``/dev/stdin``) or read outside the store. So such an entry counts as absent: the
    next write replaces it (a rename replaces the entry, never writing through it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink (O_NOFOLLOW)
            raise FileNotFoundError(errno.ENOENT, "not a regular file", str(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FileNotFoundError(errno.ENOENT, "not a regular file", str(path))
    return fd


def _walk(directory: Path, prefix: str) -> Iterator[KeyInfo]:
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return  # not created yet, or removed meanwhile
    except OSError as exc:  # a folder qik can't enter (``chmod 000``): the store fails
        kind: FailureKind = "denied" if isinstance(exc, PermissionError) else "error"
        raise BackendFailure(kind, f"can't list {directory} ({exc.strerror})") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), f"{prefix}{entry.name}/")
        else:
            info = _entry_info(entry, f"{prefix}{entry.name}")
            if info is not None:
                yield info


def _entry_info(entry: os.DirEntry[str], key: str) -> KeyInfo | None:
    try:
        st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None  # deleted between listing and stat
    return KeyInfo(key, st.st_size, st.st_mtime)


def _remove_if_older(path: Path, cutoff: float) -> int:
    try:
        if path.stat().st_mtime >= cutoff:
            return 0
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1
