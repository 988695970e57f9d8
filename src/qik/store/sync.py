"""Copying results between stores: objects in parallel, each only if absent, manifest last.

The same code pulls a hit from a mirror into the local store and publishes a fresh result
to a mirror. Objects travel as stored (the zstd frame), verified on the way
(``Store.send_object``); an object the destination already holds costs one existence
check and no bytes, which is what makes identical artifacts from any runnable, branch or
team cost one upload. In a bucket, one of another size than the frame sent is damaged and
is replaced (``Store.has``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import glob
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from qik.store.backend import LocalBackend, atomic_file, is_temp_name, is_temp_of
from qik.store.cas import Store, object_key
from qik.store.manifest import ArtifactEntry, Manifest, ObjectRef
from qik.store.paths import safe_artifact_path

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = [
    "TRANSFER_THREADS",
    "RestoredFile",
    "Transfer",
    "copy_objects",
    "copy_result",
    "restore_artifacts",
    "undeclared_artifact",
]

_T = TypeVar("_T")

# Transfers wait on the network (or the disk) far more than on the CPU; zstd and hashlib
# release the GIL on large buffers, so threads overlap well even on two cores.
TRANSFER_THREADS = 16


@dataclass(frozen=True)
class Transfer:
    """What a copy did: the objects it sent, those the destination already had, and the
    artifacts it restored on the way (see ``copy_result``)."""

    sent: tuple[ObjectRef, ...] = ()
    present: tuple[ObjectRef, ...] = ()
    restored: tuple[RestoredFile, ...] = ()

    @property
    def bytes_sent(self) -> int:
        return sum(ref.size for ref in self.sent)


@dataclass(frozen=True)
class RestoredFile:
    """An artifact written (verified) by a copy, and the file it became: ``is_intact``
    tells, without reading it again, that nothing has replaced or changed it since."""

    path: Path
    entry: ArtifactEntry
    stamp: tuple[int, int, int]  # inode, size, mtime in ns, right after the rename

    def is_intact(self) -> bool:
        return _stamp(self.path) == self.stamp


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def copy_result(
    source: Store,
    dest: Store,
    manifest: Manifest,
    *,
    threads: int = TRANSFER_THREADS,
    restore_root: Path | None = None,
) -> Transfer:
    """Copy one result: every object ``dest`` lacks, then the manifest.

    With ``restore_root``, an artifact whose object is sent is also written under it as the
    object streams by (decoded once, for both), and renamed into place once verified: a
    pull before a replay then costs one pass over the bytes, not two.

    Raises the first error of any object (``ObjectMissing`` / ``ObjectCorrupt`` from
    ``source``, a ``StoreError`` or ``OSError`` from either side); the manifest is then
    not written, so ``dest`` never holds a manifest that points at nothing.
    """
    targets = {} if restore_root is None else _first_paths(manifest.artifacts)
    unique = tuple(dict.fromkeys(manifest.objects))
    restored: list[RestoredFile] = []  # appended from threads: list.append is atomic
    leftovers = _Leftovers()

    def copy(ref: ObjectRef) -> bool:
        entry = targets.get(ref)
        if entry is None or restore_root is None:
            return _copy_if_absent(source, dest, ref)
        return _copy_and_restore(source, dest, entry, restore_root, restored, leftovers)

    sent = _map(copy, unique, threads)
    dest.write_manifest(manifest, check_objects=False)
    transfer = _transfer(unique, sent)
    return Transfer(transfer.sent, transfer.present, tuple(restored))


def copy_objects(
    source: Store, dest: Store, refs: Iterable[ObjectRef], *, threads: int = TRANSFER_THREADS
) -> Transfer:
    """Copy the objects ``dest`` lacks, up to ``threads`` at a time."""
    unique = tuple(dict.fromkeys(refs))
    return _transfer(unique, _map(lambda ref: _copy_if_absent(source, dest, ref), unique, threads))


def _transfer(refs: tuple[ObjectRef, ...], sent: list[bool]) -> Transfer:
    return Transfer(
        sent=tuple(ref for ref, was_sent in zip(refs, sent, strict=True) if was_sent),
        present=tuple(ref for ref, was_sent in zip(refs, sent, strict=True) if not was_sent),
    )


def _first_paths(artifacts: Sequence[ArtifactEntry]) -> dict[ObjectRef, ArtifactEntry]:
    """The first artifact of each object (others with the same content: ``_restore``)."""
    firsts: dict[ObjectRef, ArtifactEntry] = {}
    for entry in artifacts:
        firsts.setdefault(entry.ref, entry)
    return firsts


def _copy_and_restore(
    source: Store,
    dest: Store,
    entry: ArtifactEntry,
    root: Path,
    restored: list[RestoredFile],
    leftovers: _Leftovers,
) -> bool:
    if dest.has(entry.ref):
        return False
    path = safe_artifact_path(root, entry.path)
    leftovers.remove(path)
    with atomic_file(path, mode=entry.mode & 0o777) as fh:
        source.send_object(entry.ref, dest, decoded=fh)
    stamp = _stamp(path)
    if stamp is not None:
        restored.append(RestoredFile(path, entry, stamp))
    return True


def _copy_if_absent(source: Store, dest: Store, ref: ObjectRef) -> bool:
    if dest.has(ref, stored_size=_stored_size(source, dest, ref)):
        return False
    source.send_object(ref, dest)
    return True


def _stored_size(source: Store, dest: Store, ref: ObjectRef) -> int | None:
    """The size of the frame ``source`` would send, when ``dest`` is a bucket and asking
    costs no request (a local ``source``: one ``stat``). A local ``dest`` needs none: its
    readers delete a damaged object (a bucket's read-only readers can't)."""
    if isinstance(dest.backend, LocalBackend) or not isinstance(source.backend, LocalBackend):
        return None
    info = source.backend.stat(object_key(ref.digest)) if ref.stored else None
    return None if info is None else info.size


def restore_artifacts(
    store: Store,
    root: Path,
    artifacts: Sequence[ArtifactEntry],
    *,
    is_current: Callable[[Path, ArtifactEntry], bool],
    threads: int = TRANSFER_THREADS,
) -> bool:
    """Write every artifact under ``root`` unless ``is_current`` says the file there already
    holds it; True if any file was written. Each is checked with ``safe_artifact_path`` and
    written atomically once verified (``Store.restore_file``); decoding, hashing and
    writing release the GIL, so a replay with many artifacts uses every core."""

    leftovers = _Leftovers()

    def restore(entry: ArtifactEntry) -> bool:
        dest = safe_artifact_path(root, entry.path)
        if is_current(dest, entry):
            return False
        leftovers.remove(dest)
        store.restore_file(entry.ref, dest, entry.mode)
        return True

    return any(_map(restore, tuple(artifacts), threads))


class _Leftovers:
    """Temporary files a killed restore left beside an artifact (``.<name>.<16 hex>.qik-tmp``,
    a partial file that stayed in the work tree for good): removed before the artifact is
    restored again. Each folder is listed once per restore, and only when an artifact in
    it is written: a replay whose files are current lists nothing. (A concurrent restore
    of the same file loses its temporary file, and that replay runs its command again.)"""

    def __init__(self) -> None:
        self._temps: dict[Path, list[str]] = {}  # folder -> the temporary files in it
        self._lock = threading.Lock()

    def remove(self, dest: Path) -> None:
        with self._lock:
            temps = self._temps.get(dest.parent)
            if temps is None:
                temps = self._temps[dest.parent] = _temp_files(dest.parent)
        for name in temps:
            if is_temp_of(name, dest.name):
                with contextlib.suppress(OSError):
                    os.unlink(dest.parent / name)


def _temp_files(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return [e.name for e in entries if e.name[:1] == "." and is_temp_name(e.name)]
    except OSError:  # not there yet: nothing left in it
        return []


def _map(fn: Callable[[_T], bool], items: tuple[_T, ...], threads: int) -> list[bool]:
    """``[fn(item) for item in items]``, in parallel; the first error stops what hasn't
    started."""
    if threads <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor  # not on a run that replays only

    pool = ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="qik-sync")
    try:
        futures: list[Future[bool]] = [pool.submit(fn, item) for item in items]
        return [future.result() for future in futures]
    finally:
        # On an error, cancel the queue and still wait for running copies: a thread left
        # writing after we return could race a retry of the same object.
        pool.shutdown(wait=True, cancel_futures=True)


def undeclared_artifact(patterns: Sequence[str], artifacts: Sequence[ArtifactEntry]) -> str | None:
    """The first artifact of a result that none of the command's ``artifacts`` globs
    covers, if any. A result restores only what its command declares: a manifest naming
    ``qik.toml`` (a poisoned cache, a hand-made commit to ``.qik/``) must not rewrite it."""
    compiled = [_glob_parts(p) for p in patterns]
    # A pattern without wildcards also covers what is below it (a directory artifact).
    compiled += [(*_glob_parts(p), "**") for p in patterns if not glob.has_magic(p)]
    for entry in artifacts:
        parts = tuple(entry.path.split("/"))
        if not any(_matches(pattern, parts) for pattern in compiled):
            return entry.path
    return None


def _glob_parts(pattern: str) -> tuple[str, ...]:
    return tuple(p for p in pattern.replace("\\", "/").split("/") if p not in ("", "."))


@functools.lru_cache(maxsize=4096)
def _matches(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """``glob.glob(pattern, recursive=True)`` would find ``parts`` (or, leniently, would
    if it also matched hidden names): ``**`` is any number of folders, ``*`` ``?`` ``[]``
    match within a name."""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _matches(rest, parts[1:])
