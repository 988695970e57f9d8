"""The content-addressed store: objects named by digest, manifests named by dep hash.

Objects are single zstd frames of one file's content, at ``objects/<2 hex>/<sha256>``,
where the SHA-256 is of the uncompressed content. Every read is verified while it
streams; a manifest is written only once its objects are in place. ``store/FORMAT.md``
is the full contract.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from qik.store.backend import Backend, KeyMissing, LocalBackend, ReadStream, atomic_file
from qik.store.codec import (
    CHUNK_SIZE,
    FRAME_HEADER_MAX,
    DamagedObject,
    ObjectCorrupt,
    ObjectMissing,
    SourceChanged,
    Writable,
    compressed,
    encode,
    frame_content_size,
    hash_stream,
    read_up_to,
    verified_chunks,
    verified_frame,
)
from qik.store.manifest import (
    INLINE_MAX,
    MAX_MANIFEST_BYTES,
    MAX_OBJECT_SIZE,
    ArtifactEntry,
    Manifest,
    ObjectRef,
    check_dep_hash,
    check_digest,
)
from qik.store.memo import ManifestMemo, file_identity
from qik.store.paths import check_artifact_path, safe_artifact_path

__all__ = [
    "CHUNK_SIZE",
    "ObjectCorrupt",
    "ObjectMissing",
    "SourceChanged",
    "Store",
    "StoredManifest",
    "StoredObject",
    "Writable",
    "manifest_key",
    "object_key",
]

_DEFAULT_READ_LIMIT = 64 << 20
_OBJECT_KEY = re.compile(r"objects/([0-9a-f]{2})/(\1[0-9a-f]{62})")
_MANIFEST_KEY = re.compile(r"manifests/([0-9a-f]{16,128})\.json")


@dataclass(frozen=True)
class StoredObject:
    """An object as listed: digest, compressed size on the backend, last-modified time."""

    digest: str
    stored_size: int
    mtime: float


@dataclass(frozen=True)
class StoredManifest:
    """A manifest as listed: dep hash, size on the backend, last-modified time (on a local
    store, the last time the result was used: see ``touch_manifest``)."""

    dep_hash: str
    stored_size: int
    mtime: float


def object_key(digest: str) -> str:
    return f"objects/{digest[:2]}/{digest}"


def manifest_key(dep_hash: str) -> str:
    return f"manifests/{dep_hash}.json"


class Store:
    """Objects and manifests over a ``Backend``. Safe to share between processes: writes
    are atomic and reads are verified, so concurrent writers and readers never see part
    of an object or a manifest."""

    def __init__(self, backend: Backend, *, memo: ManifestMemo | None = None) -> None:
        """``memo``: keep the manifests read from a ``LocalBackend`` decoded there, and
        read each again only when its file changes (``qik.store.memo``)."""
        self.backend = backend
        self.memo = memo if isinstance(backend, LocalBackend) else None
        # dep hash -> the mtime of its manifest file, for those read through the memo: when
        # the result was stored or last marked used.
        self.last_used: dict[str, float] = {}

    @classmethod
    def local(cls, root: Path) -> Store:
        return cls(LocalBackend(root))

    def __repr__(self) -> str:
        return f"Store({self.backend!r})"

    # -- writing objects --------------------------------------------------------------

    def put_bytes(self, data: bytes) -> ObjectRef:
        ref = ObjectRef(hashlib.sha256(data).hexdigest(), len(data))
        if not self.has(ref):
            self.backend.write_bytes(object_key(ref.digest), encode(data, ref))
        return ref

    def put_file(self, path: Path) -> ObjectRef:
        with path.open("rb") as source:
            return self.put_stream(source)

    def put_small(self, data: bytes) -> ObjectRef:
        """A manifest's log or inputs: kept inline when small UTF-8, else an object."""
        return ObjectRef.inline(data) or self.put_bytes(data)

    def put_small_file(self, path: str | Path) -> ObjectRef:
        """``put_small`` for a file's content, streamed into an object when large."""
        with open(path, "rb") as source:
            head = source.read(INLINE_MAX + 1)
            ref = ObjectRef.inline(head) if len(head) <= INLINE_MAX else None
            if ref is not None:
                return ref
            source.seek(0)
            return self.put_stream(source)

    def put_stream(self, source: IO[bytes]) -> ObjectRef:
        """Store what ``source`` holds from its position on, streaming in chunks.

        The content is hashed first, so an object already present costs no compression
        or upload; it is then read again to compress it, and ``SourceChanged`` is raised
        (nothing stored) if it changed in between. A source that can't seek is spooled
        to a temporary file first.
        """
        if source.seekable():
            return self._put_seekable(source)
        import shutil
        import tempfile

        with tempfile.TemporaryFile() as spool:
            shutil.copyfileobj(source, spool, CHUNK_SIZE)
            spool.seek(0)
            return self._put_seekable(spool)

    def put_artifact(self, root: Path, rel: str) -> ArtifactEntry:
        """Store the file at ``root/rel`` and describe it for a manifest."""
        check_artifact_path(rel)
        with (root / rel).open("rb") as source:
            mode = stat.S_IMODE(os.fstat(source.fileno()).st_mode)
            ref = self.put_stream(source)
        return ArtifactEntry(rel, ref.digest, ref.size, mode)

    def _put_seekable(self, source: IO[bytes]) -> ObjectRef:
        start = source.tell()
        ref = hash_stream(source)
        if not self.has(ref):
            source.seek(start)
            self.backend.write_chunks(object_key(ref.digest), compressed(source, ref))
        return ref

    # -- reading objects --------------------------------------------------------------

    def has(self, ref: ObjectRef, *, stored_size: int | None = None) -> bool:
        """Is the object present? Its content is verified only when read.

        On a local store this also marks the object as just used: a writer that finds its
        object present writes a manifest pointing at it moments later, and gc spares
        objects used within its grace period.

        ``stored_size``, the size of the frame the caller would write: on another backend
        (a bucket), an object of another size counts as absent, so that the caller's write
        replaces it. It is damaged (5 bytes of junk, a truncated upload), and skipping it
        published a manifest its readers could never use, a read-only reader never
        repairing it. The size comes with the existence check (a HEAD): no request more.
        """
        if not ref.stored:
            return True
        key = object_key(ref.digest)
        if isinstance(self.backend, LocalBackend):
            return self.backend.touch(key)
        if stored_size is None:
            return self.backend.exists(key)
        info = self.backend.stat(key)
        return info is not None and info.size == stored_size

    def exists(self, ref: ObjectRef) -> bool:
        """Is the object present? Unlike ``has``, never marks it as used: for a check
        beside a manifest whose own use is recorded (a replay's inputs listing; gc keeps
        every object a kept manifest refers to)."""
        return not ref.stored or self.backend.exists(object_key(ref.digest))

    def missing_objects(self, manifest: Manifest) -> tuple[ObjectRef, ...]:
        return tuple(ref for ref in dict.fromkeys(manifest.objects) if not self.has(ref))

    def copy_to(self, ref: ObjectRef, target: Writable) -> None:
        """Write the object's content to ``target`` in chunks, verifying as it goes.

        Raises ``ObjectMissing`` or ``ObjectCorrupt``. After ``ObjectCorrupt`` the bytes
        already written are garbage (write to a temporary file when that matters, as
        ``restore_file`` does), and an object found damaged has been deleted so that the
        next writer of that content stores it again.
        """
        if ref.text is not None:  # verified when the manifest was read
            target.write(ref.text.encode("utf-8"))
            return
        stream = self._open_object(ref)
        try:
            with closing(stream):
                for chunk in verified_chunks(stream, ref):
                    target.write(chunk)
        except DamagedObject:
            self._drop_damaged(ref)
            raise
        except ObjectCorrupt:
            self._judge(ref)
            raise

    def send_object(self, ref: ObjectRef, dest: Store, *, decoded: Writable | None = None) -> None:
        """Copy the object into ``dest`` as stored (the same zstd frame), verifying it on
        the way: ``dest`` receives it whole and good, or not at all. The content also goes
        to ``decoded`` if given (garbage, like ``copy_to``'s target, if this raises).

        Raises ``ObjectMissing`` or ``ObjectCorrupt`` like ``copy_to`` (and deletes a
        damaged object the same way); ``dest``'s own write errors propagate.
        """
        stream = self._open_object(ref)
        frame = verified_frame(stream, ref, decoded)
        try:
            with closing(stream):
                dest.backend.write_chunks(object_key(ref.digest), frame)
        except DamagedObject:
            self._drop_damaged(ref)
            raise
        except ObjectCorrupt:
            self._judge(ref)
            raise

    def _open_object(self, ref: ObjectRef) -> ReadStream:
        try:
            return self.backend.open(object_key(ref.digest))
        except KeyMissing:
            raise ObjectMissing(ref.digest) from None

    def _judge(self, ref: ObjectRef) -> None:
        """The frame and the reference disagree on the size, and either may be wrong: the
        object is checked against its own header and name (``verify_object``), and deleted
        only if it fails that (a flipped bit in its size field). A manifest with a wrong
        size costs a decode and never deletes a good object other manifests share; a
        damaged one no longer stays for the next writer of its content to find present
        and trust (the stress suite's corruption case)."""
        self.verify_object(ref.digest)

    def _drop_damaged(self, ref: ObjectRef) -> None:
        # A concurrent writer may have just replaced it with a good copy; deleting that
        # costs one miss, never a wrong byte.
        self.backend.delete(object_key(ref.digest))

    def read_bytes(self, ref: ObjectRef, *, max_size: int = _DEFAULT_READ_LIMIT) -> bytes:
        """The whole content in memory, for small objects. ``ValueError`` if the reference
        says it is larger than ``max_size``: use ``copy_to`` for those."""
        if ref.size > max_size:
            raise ValueError(f"object {ref.digest} has {ref.size} bytes, over {max_size}")
        buffer = io.BytesIO()
        self.copy_to(ref, buffer)
        return buffer.getvalue()

    def restore_file(self, ref: ObjectRef, dest: Path, mode: int) -> None:
        """Write the object to ``dest`` atomically with permission bits ``mode & 0o777``.

        The content goes to a temporary file beside ``dest``, is verified, chmodded and
        renamed over ``dest``, so ``dest`` never holds unverified bytes. Setuid, setgid
        and sticky bits are dropped: a hostile mirror must not plant a setuid program.
        ``dest``'s directory is created if missing; check ``dest`` with
        ``safe_artifact_path`` first (``restore_artifact`` does both).
        """
        with atomic_file(dest, mode=mode & 0o777) as fh:
            self.copy_to(ref, fh)

    def restore_artifact(self, root: Path, entry: ArtifactEntry) -> Path:
        """Restore one artifact of a manifest under ``root``; returns where it went."""
        dest = safe_artifact_path(root, entry.path)
        self.restore_file(entry.ref, dest, entry.mode)
        return dest

    def verify_object(self, digest: str) -> bool:
        """Decode the whole object against its own header and name; delete it if damaged.
        For store checks and gc: readers verify anyway."""
        try:
            ref = ObjectRef(digest, self._declared_size(digest))
            stream = self._open_object(ref)
        except (ObjectMissing, ObjectCorrupt):
            return False
        try:
            with closing(stream):
                for _ in verified_chunks(stream, ref):
                    pass
        except DamagedObject:
            self._drop_damaged(ref)
            return False
        except ObjectCorrupt:  # replaced meanwhile by a frame of another size
            return False
        return True

    def _declared_size(self, digest: str) -> int:
        key = object_key(check_digest(digest))
        try:
            stream = self.backend.open(key)
        except KeyMissing:
            raise ObjectMissing(digest) from None
        with closing(stream):
            header = read_up_to(stream, FRAME_HEADER_MAX)
        size = frame_content_size(header)
        if size is None or size > MAX_OBJECT_SIZE:
            self.backend.delete(key)
            raise ObjectCorrupt(digest, "its frame does not declare a valid size")
        return size

    # -- manifests --------------------------------------------------------------------

    def read_manifest(self, dep_hash: str) -> Manifest | None:
        """The manifest for ``dep_hash``, or None. ``ManifestInvalid`` if it is corrupt
        or hostile (or ``dep_hash`` is not a valid dep hash)."""
        key = manifest_key(check_dep_hash(dep_hash))
        if self.memo is not None:
            return self._read_memoized(key, dep_hash, self.memo)
        return self._parse_manifest(key, dep_hash)

    def _read_memoized(self, key: str, dep_hash: str, memo: ManifestMemo) -> Manifest | None:
        assert isinstance(self.backend, LocalBackend)
        path = self.backend.file(key)
        identity = file_identity(path)
        if identity is None:
            return None
        self.last_used[dep_hash] = identity[2] / 1e9
        manifest = memo.get(dep_hash, identity)
        if manifest is not None:
            return manifest
        manifest = self._parse_manifest(key, dep_hash)
        # Kept only if the file is still the one stat saw: then these are its bytes.
        if manifest is not None and file_identity(path) == identity:
            memo.put(dep_hash, identity, manifest)
        return manifest

    def _parse_manifest(self, key: str, dep_hash: str) -> Manifest | None:
        try:
            stream = self.backend.open(key)
        except KeyMissing:
            return None
        with closing(stream):
            data = read_up_to(stream, MAX_MANIFEST_BYTES + 1)
        return Manifest.from_bytes(data, expected_dep_hash=dep_hash)

    def write_manifest(self, manifest: Manifest, *, check_objects: bool = True) -> None:
        """Write (or replace) the manifest of ``manifest.dep_hash``. Raises
        ``ObjectMissing`` instead if an object it references is not in this store.

        ``check_objects=False`` is for a caller that has just put every object itself
        (a transfer), where checking again would cost a round trip per object on S3.
        """
        missing = self.missing_objects(manifest) if check_objects else ()
        if missing:
            raise ObjectMissing(missing[0].digest)
        self.backend.write_bytes(manifest_key(manifest.dep_hash), manifest.to_bytes())

    def touch_manifest(self, dep_hash: str) -> None:
        """Mark a local result as just used (gc removes the least recently used first).
        A no-op on other backends: their listing dates say when a result was written."""
        if isinstance(self.backend, LocalBackend):
            self.backend.touch(manifest_key(check_dep_hash(dep_hash)))

    def delete_manifest(self, dep_hash: str) -> bool:
        return self.backend.delete(manifest_key(check_dep_hash(dep_hash)))

    def iter_manifests(self) -> Iterator[str]:
        """The dep hash of every manifest (read each with ``read_manifest``)."""
        for stored in self.list_manifests():
            yield stored.dep_hash

    def list_manifests(self) -> Iterator[StoredManifest]:
        for info in self.backend.list("manifests/"):
            match = _MANIFEST_KEY.fullmatch(info.key)
            if match:
                yield StoredManifest(match.group(1), info.size, info.mtime)

    # -- listing and deleting objects -------------------------------------------------

    def iter_objects(self) -> Iterator[StoredObject]:
        for info in self.backend.list("objects/"):
            match = _OBJECT_KEY.fullmatch(info.key)
            if match:
                yield StoredObject(match.group(2), info.size, info.mtime)

    def delete_object(self, digest: str) -> bool:
        """Delete an object. Only gc should: a manifest may still reference it."""
        return self.backend.delete(object_key(check_digest(digest)))
