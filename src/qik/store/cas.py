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
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import zstandard

from qik.store.backend import Backend, KeyMissing, LocalBackend, ReadStream, atomic_file
from qik.store.manifest import (
    MAX_MANIFEST_BYTES,
    MAX_OBJECT_SIZE,
    ArtifactEntry,
    Manifest,
    ObjectRef,
    check_dep_hash,
    check_digest,
)
from qik.store.paths import StoreError, check_artifact_path, safe_artifact_path

__all__ = [
    "CHUNK_SIZE",
    "ObjectCorrupt",
    "ObjectMissing",
    "SourceChanged",
    "Store",
    "StoredObject",
    "Writable",
    "manifest_key",
    "object_key",
]

CHUNK_SIZE = 1 << 20
_LEVEL = 3  # zstd's default: fast enough for 1 GB logs, and logs shrink well anyway
_FRAME_HEADER_MAX = 18  # ZSTD_FRAMEHEADERSIZE_MAX
_DEFAULT_READ_LIMIT = 64 << 20
_OBJECT_KEY = re.compile(r"objects/([0-9a-f]{2})/(\1[0-9a-f]{62})")
_MANIFEST_KEY = re.compile(r"manifests/([0-9a-f]{16,128})\.json")


class ObjectMissing(StoreError):
    """The store has no object with this digest."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"object {digest} is missing")
        self.digest = digest


class ObjectCorrupt(StoreError):
    """The stored bytes don't decode to the referenced content. Nothing unverified is
    returned; ``copy_to`` may have written part of it to its target, which is garbage."""

    def __init__(self, digest: str, reason: str) -> None:
        super().__init__(f"object {digest} is corrupt: {reason}")
        self.digest = digest
        self.reason = reason


class _DamagedObject(ObjectCorrupt):
    """Corrupt whatever the reference says: the object disagrees with its own name or
    header. Only these are deleted, so a manifest with a wrong size can't make a reader
    delete a good object that other manifests share."""


class SourceChanged(StoreError):
    """A file changed while it was being stored; nothing was stored."""


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True)
class StoredObject:
    """An object as listed: digest, compressed size on the backend, last-modified time."""

    digest: str
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

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def local(cls, root: Path) -> Store:
        return cls(LocalBackend(root))

    def __repr__(self) -> str:
        return f"Store({self.backend!r})"

    # -- writing objects --------------------------------------------------------------

    def put_bytes(self, data: bytes) -> ObjectRef:
        ref = ObjectRef(hashlib.sha256(data).hexdigest(), len(data))
        if not self.has(ref):
            self.backend.write_bytes(object_key(ref.digest), _compressor().compress(data))
        return ref

    def put_file(self, path: Path) -> ObjectRef:
        with path.open("rb") as source:
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
        ref = _hash_stream(source)
        if not self.has(ref):
            source.seek(start)
            self.backend.write_chunks(object_key(ref.digest), _compressed(source, ref))
        return ref

    # -- reading objects --------------------------------------------------------------

    def has(self, ref: ObjectRef) -> bool:
        """Is the object present? Its content is verified only when read."""
        return self.backend.exists(object_key(ref.digest))

    def missing_objects(self, manifest: Manifest) -> tuple[ObjectRef, ...]:
        return tuple(ref for ref in dict.fromkeys(manifest.objects) if not self.has(ref))

    def copy_to(self, ref: ObjectRef, target: Writable) -> None:
        """Write the object's content to ``target`` in chunks, verifying as it goes.

        Raises ``ObjectMissing`` or ``ObjectCorrupt``. After ``ObjectCorrupt`` the bytes
        already written are garbage (write to a temporary file when that matters, as
        ``restore_file`` does), and an object found damaged has been deleted so that the
        next writer of that content stores it again.
        """
        key = object_key(ref.digest)
        try:
            stream = self.backend.open(key)
        except KeyMissing:
            raise ObjectMissing(ref.digest) from None
        try:
            with closing(stream):
                for chunk in _verified_chunks(stream, ref):
                    target.write(chunk)
        except _DamagedObject:
            # A concurrent writer may have just replaced it with a good copy; deleting
            # that costs one miss, never a wrong byte.
            self.backend.delete(key)
            raise

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
            size = self._declared_size(digest)
            self.copy_to(ObjectRef(digest, size), _Discard())
        except (ObjectMissing, ObjectCorrupt):
            return False
        return True

    def _declared_size(self, digest: str) -> int:
        key = object_key(check_digest(digest))
        try:
            stream = self.backend.open(key)
        except KeyMissing:
            raise ObjectMissing(digest) from None
        with closing(stream):
            header = _read_up_to(stream, _FRAME_HEADER_MAX)
        size = _frame_content_size(header)
        if size is None or size > MAX_OBJECT_SIZE:
            self.backend.delete(key)
            raise ObjectCorrupt(digest, "its frame does not declare a valid size")
        return size

    # -- manifests --------------------------------------------------------------------

    def read_manifest(self, dep_hash: str) -> Manifest | None:
        """The manifest for ``dep_hash``, or None. ``ManifestInvalid`` if it is corrupt
        or hostile (or ``dep_hash`` is not a valid dep hash)."""
        key = manifest_key(check_dep_hash(dep_hash))
        try:
            stream = self.backend.open(key)
        except KeyMissing:
            return None
        with closing(stream):
            data = _read_up_to(stream, MAX_MANIFEST_BYTES + 1)
        return Manifest.from_bytes(data, expected_dep_hash=dep_hash)

    def write_manifest(self, manifest: Manifest) -> None:
        """Write (or replace) the manifest of ``manifest.dep_hash``. Raises
        ``ObjectMissing`` instead if an object it references is not in this store."""
        missing = self.missing_objects(manifest)
        if missing:
            raise ObjectMissing(missing[0].digest)
        self.backend.write_bytes(manifest_key(manifest.dep_hash), manifest.to_bytes())

    def delete_manifest(self, dep_hash: str) -> bool:
        return self.backend.delete(manifest_key(check_dep_hash(dep_hash)))

    def iter_manifests(self) -> Iterator[str]:
        """The dep hash of every manifest (read each with ``read_manifest``)."""
        for info in self.backend.list("manifests/"):
            match = _MANIFEST_KEY.fullmatch(info.key)
            if match:
                yield match.group(1)

    # -- listing and deleting objects -------------------------------------------------

    def iter_objects(self) -> Iterator[StoredObject]:
        for info in self.backend.list("objects/"):
            match = _OBJECT_KEY.fullmatch(info.key)
            if match:
                yield StoredObject(match.group(2), info.size, info.mtime)

    def delete_object(self, digest: str) -> bool:
        """Delete an object. Only gc should: a manifest may still reference it."""
        return self.backend.delete(object_key(check_digest(digest)))


# -- encoding -------------------------------------------------------------------------


def _compressor() -> zstandard.ZstdCompressor:
    # Content size in the frame lets readers reject a size mismatch before decoding.
    return zstandard.ZstdCompressor(level=_LEVEL, write_content_size=True)


def _hash_stream(source: IO[bytes]) -> ObjectRef:
    hasher = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        hasher.update(chunk)
        size += len(chunk)
    return ObjectRef(hasher.hexdigest(), size)


def _compressed(source: IO[bytes], ref: ObjectRef) -> Iterator[bytes]:
    """The zstd frame of ``source``, raising ``SourceChanged`` (which aborts the backend
    write) if the content no longer matches ``ref``."""
    compressor = _compressor().compressobj(size=ref.size)
    hasher = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        size += len(chunk)
        if size > ref.size:
            raise SourceChanged(f"grew while being stored (object {ref.digest})")
        hasher.update(chunk)
        yield compressor.compress(chunk)
    if size != ref.size or hasher.hexdigest() != ref.digest:
        raise SourceChanged(f"changed while being stored (object {ref.digest})")
    yield compressor.flush()


# -- decoding -------------------------------------------------------------------------


def _verified_chunks(stream: ReadStream, ref: ObjectRef) -> Iterator[bytes]:
    """The content of the object in ``stream``, in chunks of at most ``CHUNK_SIZE``.

    The frame must declare ``ref.size``; decoding stops as soon as the output passes it
    (a decompression bomb costs one chunk), and the digest is checked at the end.
    """
    header = _read_up_to(stream, _FRAME_HEADER_MAX)
    declared = _frame_content_size(header)
    if declared is None:
        raise _DamagedObject(ref.digest, "not a zstd frame that declares its size")
    if declared != ref.size:
        raise ObjectCorrupt(ref.digest, f"holds {declared} bytes, the reference says {ref.size}")
    source = _Prefixed(header, stream)
    reader = zstandard.ZstdDecompressor().stream_reader(
        source,  # type: ignore[arg-type]  # the stub wants IO[bytes]; only read() is used
        read_size=CHUNK_SIZE,
        closefd=False,
    )
    hasher = hashlib.sha256()
    size = 0
    try:
        while chunk := reader.read(CHUNK_SIZE):
            size += len(chunk)
            if size > ref.size:
                raise _DamagedObject(ref.digest, "decodes past its declared size")
            hasher.update(chunk)
            yield chunk
    except zstandard.ZstdError as exc:
        raise _DamagedObject(ref.digest, f"zstd: {exc}") from None
    if size != ref.size:
        raise _DamagedObject(ref.digest, f"truncated: {size} of {ref.size} bytes")
    if hasher.hexdigest() != ref.digest:
        raise _DamagedObject(ref.digest, "content does not match its digest")


def _frame_content_size(header: bytes) -> int | None:
    try:
        size = zstandard.frame_content_size(header)
    except zstandard.ZstdError:
        return None
    # frame_content_size says -1 for "unknown"; the C constants are the u64 spellings.
    if size < 0 or size >= zstandard.CONTENTSIZE_ERROR:
        return None
    return int(size)


def _read_up_to(stream: ReadStream, limit: int) -> bytes:
    """Read until ``limit`` bytes or the end: one ``read`` may return less."""
    parts: list[bytes] = []
    remaining = limit
    while remaining > 0:
        part = stream.read(min(remaining, CHUNK_SIZE))
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


class _Prefixed:
    """``rest`` with ``prefix`` put back in front (the header, read ahead to check it)."""

    def __init__(self, prefix: bytes, rest: ReadStream) -> None:
        self._prefix = prefix
        self._rest = rest

    def read(self, size: int = -1, /) -> bytes:
        if not self._prefix:
            return self._rest.read(size)
        if size < 0:
            head, self._prefix = self._prefix, b""
            return head + self._rest.read()
        head, self._prefix = self._prefix[:size], self._prefix[size:]
        return head


class _Discard:
    def write(self, data: bytes, /) -> int:
        return len(data)
