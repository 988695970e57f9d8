"""The manifests a local store has validated, kept decoded, so a cached run parses none again.

A fully cached run reads a manifest per runnable, and parsing and validating them (JSON,
the checksum, inline content against its digest, every field) was a fifth of its time.
The memo keeps each manifest the store read and accepted, under its file's identity:
inode, size and modification time in nanoseconds. While ``stat`` gives the same identity,
the file holds the bytes that were validated (a store replaces a file by renaming a new
one over it, which is a new inode), and its decoded fields come from the memo. A manifest
rewritten, deleted by gc or marked used (a new mtime) no longer matches and is read again.

The memo is a single local file beside the store (never in a mirror), rewritten
atomically when a run read something new. It starts with a CRC of the rest, and holds
this qik's version: a damaged or foreign memo is ignored, as if empty. An entry not used
in the last ``_KEEP`` rewrites is dropped, so the memo holds about what recent runs read.
"""

from __future__ import annotations

import marshal
import os
import sys
import zlib
from pathlib import Path

from qik import __version__
from qik.store.backend import atomic_file, open_regular
from qik.store.manifest import Manifest, from_memo_fields, memo_fields

__all__ = ["MEMO_NAME", "Identity", "ManifestMemo", "file_identity"]

# inode, size, mtime in ns
Identity = tuple[int, int, int]

MEMO_NAME = "manifest-memo"
_MAGIC = b"qik-manifest-memo 1\n"
_KEEP = 8


def file_identity(path: str) -> Identity | None:
    """The identity of the file at ``path``, or None if there is none."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class ManifestMemo:
    """Decoded manifests by dep hash, each valid while its file keeps its identity."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, tuple[Identity, int, tuple[object, ...]]] | None = None
        self._generation = 0
        self._used: set[str] = set()
        self._changed = False

    def get(self, dep_hash: str, identity: Identity) -> Manifest | None:
        entry = self._load().get(dep_hash)
        if entry is None or entry[0] != identity:
            return None
        try:
            manifest = from_memo_fields(entry[2])
        except (TypeError, ValueError):  # not what this qik writes: start afresh
            self._entries, self._changed = {}, True
            return None
        self._used.add(dep_hash)
        return manifest

    def put(self, dep_hash: str, identity: Identity, manifest: Manifest) -> None:
        self._load()[dep_hash] = (identity, self._generation, memo_fields(manifest))
        self._used.add(dep_hash)
        self._changed = True

    def save(self) -> None:
        """Write the memo if this run read a manifest it lacked. Never raises: the memo
        only saves time."""
        if not self._changed or self._entries is None:
            return
        generation = self._generation + 1
        oldest = generation - _KEEP
        shared: dict[object, object] = {}
        entries = {
            dep_hash: (
                identity,
                generation if dep_hash in self._used else seen,
                # Equal parts (a module's commands share one inputs listing) as one
                # object, which marshal writes once: the memo is smaller and loads faster.
                tuple(shared.setdefault(f, f) if isinstance(f, tuple) else f for f in fields),
            )
            for dep_hash, (identity, seen, fields) in self._entries.items()
            if dep_hash in self._used or seen > oldest
        }
        try:
            payload = marshal.dumps((__version__, sys.version_info[:2], generation, entries))
            with atomic_file(self.path) as fh:
                fh.write(_MAGIC + zlib.crc32(payload).to_bytes(4, "big") + payload)
        except (OSError, ValueError):
            return
        self._changed = False

    def _load(self) -> dict[str, tuple[Identity, int, tuple[object, ...]]]:
        if self._entries is None:
            self._entries, self._generation = _read(self.path)
        return self._entries


def _read(path: Path) -> tuple[dict[str, tuple[Identity, int, tuple[object, ...]]], int]:
    try:
        with os.fdopen(open_regular(path), "rb") as fh:
            data = fh.read()
    except OSError:
        return {}, 0
    head = len(_MAGIC) + 4
    if not data.startswith(_MAGIC) or len(data) < head:
        return {}, 0
    payload = data[head:]
    if zlib.crc32(payload) != int.from_bytes(data[len(_MAGIC) : head], "big"):
        return {}, 0
    try:
        version, python, generation, entries = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return {}, 0
    if version != __version__ or python != sys.version_info[:2] or not isinstance(entries, dict):
        return {}, 0
    return entries, int(generation)
