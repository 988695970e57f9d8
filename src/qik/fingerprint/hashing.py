"""The canonical dep-hash encoding: an ordered list of labelled parts, digested with SHA-256.

Every value is length-prefixed and type-tagged, so no two different part lists encode to the
same bytes: ``[("a", "bc")]`` differs from ``[("ab", "c")]``, a ``str`` from the same
``bytes``, and a nested list from its flattening. :data:`FORMAT_VERSION` opens every encoding;
bump it whenever the meaning of any part changes, and every cached result becomes a miss
instead of a wrong hit.

Worked example, ``digest_parts([("exec", "make")])`` hashes::

    b"qik-dep-hash:1,"  b"1:l," b"4:exec," b"s4:make,"
    (format version)    (one part: its label, then a str of 4 bytes)
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterator, Sequence
from typing import Protocol, TypeAlias

from qik.fingerprint.globs import Indexed, Matcher, match

__all__ = ["FORMAT_VERSION", "FileSource", "Part", "Value", "digest_parts", "glob_digest"]

FORMAT_VERSION = 1
"""Version of the dep-hash encoding and of what enters a dep hash; mixed into every digest."""

Value: TypeAlias = str | bytes | Sequence["Part"]
"""A part's value: text, raw bytes, or a nested list of labelled parts."""

Part: TypeAlias = tuple[str, Value]
"""A labelled value, e.g. ``("exec", "ruff check .")``."""

_HEADER = b"qik-dep-hash:%d," % FORMAT_VERSION

# Per file index (through its matcher, which lives exactly as long): pattern -> glob digest.
# A [base] dep such as "**/*.py" enters every runnable's dep hash; without this, 900
# runnables would encode the same 15,000 files 900 times.
_GLOB_DIGESTS: weakref.WeakKeyDictionary[Matcher, dict[str, str]] = weakref.WeakKeyDictionary()


def digest_parts(parts: Sequence[Part]) -> str:
    """The SHA-256 hex digest of ``parts`` in the canonical encoding (order matters)."""
    return hashlib.sha256(b"".join([_HEADER, *_encode_parts(parts)])).hexdigest()


def glob_digest(index: FileSource, pattern: str) -> str:
    """The digest of the files ``pattern`` matches: their sorted (path, content digest) pairs.

    No match has a digest too (of an empty list), distinct from any file's, so a dep whose
    files all disappear still changes the dep hash. Memoized per index, like matches.
    """
    memo = _GLOB_DIGESTS.setdefault(index.matcher, {})
    digest = memo.get(pattern)
    if digest is None:
        files = [(path, index.digest(path) or "") for path in match(index, pattern)]
        digest = memo[pattern] = digest_parts([("files", files)])
    return digest


class FileSource(Indexed, Protocol):
    """What :func:`glob_digest` reads of a file index (a ``FileIndex`` fits)."""

    def digest(self, path: str) -> str | None: ...


def _encode_parts(parts: Sequence[Part]) -> Iterator[bytes]:
    yield b"%d:l," % len(parts)
    for label, value in parts:
        key = label.encode("utf-8", "surrogateescape")
        if isinstance(value, str):
            # Inlined: a glob digest encodes one (path, blob id) part per matched file, and
            # this is a third of the time of a fully cached run's fingerprinting.
            data = value.encode("utf-8", "surrogateescape")
            yield b"%d:%b,s%d:%b," % (len(key), key, len(data), data)
        elif isinstance(value, bytes):
            yield b"%d:%b,b%d:%b," % (len(key), key, len(value), value)
        else:
            yield b"%d:%b," % (len(key), key)
            yield from _encode_parts(value)
