"""Fingerprints: the file index, glob matching and the canonical dep-hash encoding."""

from __future__ import annotations

from qik.fingerprint.files import FileIndex, FileIndexError
from qik.fingerprint.globs import GlobError, Matcher, match
from qik.fingerprint.hashing import FORMAT_VERSION, Part, Value, digest_parts, glob_digest

__all__ = [
    "FORMAT_VERSION",
    "FileIndex",
    "FileIndexError",
    "GlobError",
    "Matcher",
    "Part",
    "Value",
    "digest_parts",
    "glob_digest",
    "match",
]
