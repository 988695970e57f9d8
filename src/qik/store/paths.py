"""Safe relative paths: artifact paths from manifests and keys of a backend.

Manifests may come from a shared mirror, so every artifact path in them is untrusted. A path
is accepted only in one spelling (relative, posix, normalised), which makes the pure check
enough to keep it inside the root; ``safe_artifact_path`` adds the filesystem check that no
existing parent directory is a symlink, so a restore never writes through one.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

__all__ = [
    "MAX_PATH_CHARS",
    "StoreError",
    "UnsafePath",
    "check_artifact_path",
    "check_relpath",
    "safe_artifact_path",
]

MAX_PATH_CHARS = 4096
_MAX_SEGMENT_BYTES = 255  # NAME_MAX on Linux and macOS
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# "C:x" is a relative posix path but names a drive on Windows.
_DRIVE = re.compile(r"^[A-Za-z]:")
# Segments of ASCII letters, digits, "_", "-" and ".", none empty or starting with ".":
# nothing the checks below reject.
_PLAIN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")


class StoreError(Exception):
    """Base of every store error: the caller turns it into a warning and a cache miss.

    It lives in this module because every other store module imports this one.
    """


class UnsafePath(StoreError):
    """A relative path that could escape its root, or write through a symlink."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"unsafe path {path!r}: {reason}")
        self.path = path
        self.reason = reason


def check_relpath(rel: str) -> None:
    """Raise ``UnsafePath`` unless ``rel`` is a relative, posix, normalised path.

    Normalised means one spelling per path: no ``.`` or ``..`` segments, no empty segments
    (so no leading, trailing or doubled ``/``), no backslashes and no control characters.
    """
    reason = _relpath_problem(rel)
    if reason is not None:
        raise UnsafePath(rel, reason)


def check_artifact_path(rel: str) -> None:
    """``check_relpath``, and no ``.git`` segment in any letter case.

    Restoring into ``.git`` (hooks, config) would let a hostile mirror run code; no real
    artifact lives there. Any case, because macOS and Windows file systems fold it.
    """
    check_relpath(rel)
    if any(segment.lower() == ".git" for segment in rel.split("/")):
        raise UnsafePath(rel, "writes into a .git directory")


def safe_artifact_path(root: Path, rel: str) -> Path:
    """Return ``root / rel`` once ``rel`` is a safe artifact path and no existing parent
    directory of it under ``root`` is a symlink (or not a directory).

    ``root`` itself is trusted. The target may be a symlink: a restore renames over it,
    which replaces the link rather than writing through it. A concurrent local process
    could still swap a directory for a symlink after this check; the threat guarded
    against is a hostile manifest, not a hostile local user.
    """
    check_artifact_path(rel)
    parent = root
    for segment in rel.split("/")[:-1]:
        parent = parent / segment
        try:
            mode = parent.lstat().st_mode
        except FileNotFoundError:
            break  # nothing below a missing directory can exist yet
        if stat.S_ISLNK(mode):
            raise UnsafePath(rel, f"parent {parent} is a symlink")
        if not stat.S_ISDIR(mode):
            raise UnsafePath(rel, f"parent {parent} is not a directory")
    return root / rel


def _relpath_problem(rel: str) -> str | None:
    if not isinstance(rel, str):
        return "not a string"
    if len(rel) <= _MAX_SEGMENT_BYTES and _PLAIN.fullmatch(rel):
        return None  # the usual key or path, at once (a cached run checks one per runnable)
    return _any_relpath_problem(rel)


def _any_relpath_problem(rel: str) -> str | None:
    if not rel:
        return "empty"
    if len(rel) > MAX_PATH_CHARS:
        return f"longer than {MAX_PATH_CHARS} characters"
    if "\\" in rel:
        return "contains a backslash"
    if _CONTROL_CHARS.search(rel):
        return "contains a control character"
    if rel.startswith("/"):
        return "absolute"
    if _DRIVE.match(rel):
        return "starts with a drive letter"
    return _segments_problem(rel)


def _segments_problem(rel: str) -> str | None:
    for segment in rel.split("/"):
        if not segment:
            return "has an empty segment"
        if segment in (".", ".."):
            return f"has a {segment!r} segment"
        try:
            encoded = segment.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid unicode"
        if len(encoded) > _MAX_SEGMENT_BYTES:
            return f"has a segment longer than {_MAX_SEGMENT_BYTES} bytes"
    return None
