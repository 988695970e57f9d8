"""Objects as bytes: one zstd frame per file, and the streaming checks every read makes.

A reader never trusts what it reads: the frame must declare the size the reference
expects, decoding stops as soon as the output passes it (a decompression bomb costs one
chunk), and the SHA-256 is checked at the end. ``store/FORMAT.md`` is the contract.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from types import ModuleType
from typing import IO, TYPE_CHECKING, Protocol

from qik.store.backend import ReadStream
from qik.store.manifest import ObjectRef
from qik.store.paths import StoreError

if TYPE_CHECKING:
    import zstandard


def _zstd() -> ModuleType:
    """zstandard, imported on first use: a replay of logs kept inside their manifests
    decodes no object, and a fully cached run should not pay for the import."""
    import zstandard

    return zstandard


__all__ = [
    "CHUNK_SIZE",
    "FRAME_HEADER_MAX",
    "DamagedObject",
    "Discard",
    "ObjectCorrupt",
    "ObjectMissing",
    "SourceChanged",
    "Writable",
    "compressed",
    "compressor",
    "encode",
    "first_block_size",
    "frame_content_size",
    "hash_stream",
    "read_up_to",
    "verified_chunks",
    "verified_frame",
]

CHUNK_SIZE = 1 << 20
_SMALL_READ = 1 << 16
_LEVEL = 3  # zstd's default: fast enough for 1 GB logs, and logs shrink well anyway
FRAME_HEADER_MAX = 18  # ZSTD_FRAMEHEADERSIZE_MAX
# What a raw copy reads past the end of the frame before calling the object damaged.
_MAX_TRAILING = 64 << 10
_FIRST_BLOCK_MAX = 4096  # bytes: early enough that two versions of a file diverge at once


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


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


class DamagedObject(ObjectCorrupt):
    """Corrupt whatever the reference says: the object disagrees with its own name or
    header. Only these are deleted, so a manifest with a wrong size can't make a reader
    delete a good object that other manifests share."""


class SourceChanged(StoreError):
    """A file changed while it was being stored; nothing was stored."""


# -- encoding -------------------------------------------------------------------------


def compressor() -> zstandard.ZstdCompressor:
    # Content size in the frame lets readers reject a size mismatch before decoding.
    return _zstd().ZstdCompressor(level=_LEVEL, write_content_size=True)  # type: ignore[no-any-return]


def hash_stream(source: IO[bytes]) -> ObjectRef:
    hasher = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        hasher.update(chunk)
        size += len(chunk)
    return ObjectRef(hasher.hexdigest(), size)


def first_block_size(ref: ObjectRef) -> int:
    """Where the frame's first block ends: a position in the content picked by its digest
    (0: no early boundary, for contents of fewer than 2 bytes).

    Why: the repo cache lives in git, whose rename detection pairs a deleted file with an
    added one when half their bytes are the same. Two versions of a large artifact that
    differ near its end would compress to frames with a long common prefix, and two
    branches that both replaced the artifact would conflict (rename/rename) on merge.
    Blocks that start at different places give different bytes from the first boundary
    on, while the same content still always gives the same frame.
    """
    if ref.size < 2:
        return 0
    return 1 + int(ref.digest[:8], 16) % min(ref.size - 1, _FIRST_BLOCK_MAX)


def encode(data: bytes, ref: ObjectRef) -> bytes:
    """The zstd frame of ``data``, whose reference is ``ref``."""
    return b"".join(_frame(iter((data,)), ref))


def compressed(source: IO[bytes], ref: ObjectRef) -> Iterator[bytes]:
    """The zstd frame of ``source``, raising ``SourceChanged`` (which aborts the backend
    write) if the content no longer matches ``ref``."""
    return _frame(_checked(source, ref), ref)


def _checked(source: IO[bytes], ref: ObjectRef) -> Iterator[bytes]:
    hasher = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        size += len(chunk)
        if size > ref.size:
            raise SourceChanged(f"grew while being stored (object {ref.digest})")
        hasher.update(chunk)
        yield chunk
    if size != ref.size or hasher.hexdigest() != ref.digest:
        raise SourceChanged(f"changed while being stored (object {ref.digest})")


def _frame(chunks: Iterator[bytes], ref: ObjectRef) -> Iterator[bytes]:
    stream = compressor().compressobj(size=ref.size)
    before_boundary = first_block_size(ref)
    for chunk in chunks:
        if 0 < before_boundary <= len(chunk):
            yield stream.compress(chunk[:before_boundary])
            yield stream.flush(_zstd().COMPRESSOBJ_FLUSH_BLOCK)
            chunk, before_boundary = chunk[before_boundary:], 0
        elif before_boundary:
            before_boundary -= len(chunk)
        yield stream.compress(chunk)
    yield stream.flush()


# -- decoding -------------------------------------------------------------------------


def verified_chunks(stream: ReadStream, ref: ObjectRef) -> Iterator[bytes]:
    """The content of the object in ``stream``, in chunks of at most ``CHUNK_SIZE``.

    The frame must declare ``ref.size``; decoding stops as soon as the output passes it
    (a decompression bomb costs one chunk), and the digest is checked at the end.
    """
    header = read_up_to(stream, FRAME_HEADER_MAX)
    declared = frame_content_size(header)
    if declared is None:
        raise DamagedObject(ref.digest, "not a zstd frame that declares its size")
    if declared != ref.size:
        raise ObjectCorrupt(ref.digest, f"holds {declared} bytes, the reference says {ref.size}")
    source = _Prefixed(header, stream)
    zstd = _zstd()
    reader = zstd.ZstdDecompressor().stream_reader(source, read_size=CHUNK_SIZE, closefd=False)
    hasher = hashlib.sha256()
    size = 0
    try:
        while chunk := reader.read(CHUNK_SIZE):
            size += len(chunk)
            if size > ref.size:
                raise DamagedObject(ref.digest, "decodes past its declared size")
            hasher.update(chunk)
            yield chunk
    except zstd.ZstdError as exc:
        raise DamagedObject(ref.digest, f"zstd: {exc}") from None
    if size != ref.size:
        raise DamagedObject(ref.digest, f"truncated: {size} of {ref.size} bytes")
    if hasher.hexdigest() != ref.digest:
        raise DamagedObject(ref.digest, "content does not match its digest")


def verified_frame(
    stream: ReadStream, ref: ObjectRef, decoded: Writable | None = None
) -> Iterator[bytes]:
    """The stored bytes of the object in ``stream``, as they are, checked as they pass.

    The frame is decoded alongside (and thrown away) with every check of
    ``verified_chunks``; a bad object raises before the last chunk is yielded, so a
    backend write fed by this iterator is aborted and never holds it. Copying the frame
    instead of decoding and re-encoding it makes a transfer cost one decode, not three.
    The decoded content goes to ``decoded``, if given: unverified until this iterator ends.
    """
    tee = _Tee(stream)
    for chunk in verified_chunks(tee, ref):
        if decoded is not None:
            decoded.write(chunk)
        if tee.pending:
            yield tee.take()
    # Bytes after the frame are copied as they are (readers ignore them), but a hostile
    # mirror must not make us download without end.
    if len(read_up_to(tee, _MAX_TRAILING + 1)) > _MAX_TRAILING:
        raise DamagedObject(ref.digest, "has data after its frame")
    yield tee.take()


def frame_content_size(header: bytes) -> int | None:
    try:
        size = _zstd().frame_content_size(header)
    except _zstd().ZstdError:
        return None
    # frame_content_size says -1 for "unknown"; the C constants are the u64 spellings.
    if size < 0 or size >= _zstd().CONTENTSIZE_ERROR:
        return None
    return int(size)


def read_up_to(stream: ReadStream, limit: int) -> bytes:
    """Read until ``limit`` bytes or the end: one ``read`` may return less.

    In small reads: a read allocates the size it asks for, even the one that finds the
    end, and what is read this way (manifests, frame headers) is mostly a few KiB.
    """
    parts: list[bytes] = []
    remaining = limit
    while remaining > 0:
        part = stream.read(min(remaining, _SMALL_READ))
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

    def close(self) -> None:
        self._rest.close()


class _Tee:
    """A stream that keeps what was read from it until ``take``n."""

    def __init__(self, stream: ReadStream) -> None:
        self._stream = stream
        self._parts: list[bytes] = []
        self._pending = 0

    @property
    def pending(self) -> int:
        return self._pending

    def read(self, size: int = -1, /) -> bytes:
        data = self._stream.read(size)
        if data:
            self._parts.append(data)
            self._pending += len(data)
        return data

    def take(self) -> bytes:
        data, self._parts, self._pending = b"".join(self._parts), [], 0
        return data

    def close(self) -> None:
        self._stream.close()


class Discard:
    """A write target that keeps nothing: for reads that only verify."""

    def write(self, data: bytes, /) -> int:
        return len(data)
