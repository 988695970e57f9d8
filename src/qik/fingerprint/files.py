"""The file index: every file of the project and its content digest, built once per run.

In a git repository the digests are git blob ids. Tracked files take theirs from the index
(``git ls-files -s``) for free; only the files ``git status`` names as modified or untracked
(not ignored) are hashed, by one ``git hash-object`` for them all (a symlink here), so a
digest equals what ``git hash-object`` prints and what ``git ls-tree`` shows at any
revision once the file is committed, line-ending conversion and clean filters included.
Outside git every file is hashed here with git's blob scheme (no conversion: there is no
git to say which applies), with a stat-keyed cache in ``._qik/filecache.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

from qik import git
from qik.errors import QikError
from qik.fingerprint.globs import Matcher, subtree
from qik.store.backend import atomic_file

__all__ = ["FileIndex", "FileIndexError", "blob_id", "hash_blob"]

# qik's own stores live in the project; their churn must never change a dep hash.
_QIK_DIRS = ("._qik/", ".qik/")
_SHA256_HEX_LEN = 64
_CHUNK = 1 << 20

# Outside git nothing says what is ignored; these are never project sources.
_SKIP_DIRS = frozenset({".git", "._qik", ".qik", "__pycache__", ".venv", "node_modules"})
_CACHE_FILE = "._qik/filecache.json"
_CACHE_VERSION = 1
# A file rewritten within the file system's timestamp granularity of being hashed can keep
# its size, mtime and inode ("racy git"); such recent files are hashed again next run rather
# than cached. 2s covers FAT and HFS+; ext4 and APFS have ns resolution.
_RACY_NS = 2_000_000_000


class FileIndexError(QikError):
    """A file that git or the tree walk lists can't be read."""

    code = "file-unreadable"


@dataclass(frozen=True)
class FileIndex:
    """An immutable snapshot: repo-relative posix path -> content digest (a git blob id).

    Build it with :meth:`from_worktree`, :meth:`from_rev` or :meth:`of`; ``paths`` is sorted
    (by code point), which :class:`~qik.fingerprint.globs.Matcher` relies on.
    """

    blobs: Mapping[str, str]
    paths: tuple[str, ...]
    # When the digests are git's, of each file's content as ``git add`` would store it (its
    # line endings converted, its clean filter applied), the directory of the paths in the
    # work tree ("" at its top); else None. A file's own bytes may then hash to another id,
    # and only git can tell whether it changed (``git.hash_objects(..., under=git_under)``).
    git_under: str | None = None
    # When the work tree was read (``time.time_ns()``, just before): a file whose ctime is
    # older has not changed since its digest was taken. 0 when not known.
    taken_ns: int = field(default=0, compare=False)

    @classmethod
    def of(
        cls, blobs: Mapping[str, str], *, git_under: str | None = None, taken_ns: int = 0
    ) -> FileIndex:
        """The index of ``blobs``, without qik's own directories."""
        paths = sorted(blobs)
        owned = dict(blobs)
        for prefix in _QIK_DIRS:
            for path in _pop_subtree(paths, prefix):
                del owned[path]
        return cls(
            blobs=MappingProxyType(owned),
            paths=tuple(paths),
            git_under=git_under,
            taken_ns=taken_ns,
        )

    @classmethod
    def from_worktree(cls, root: Path, *, write_cache: bool = True) -> FileIndex:
        """The files under ``root`` now, uncommitted edits and untracked (not ignored) included.

        Outside a git work tree, every file is hashed; ``write_cache=False`` keeps that walk
        from saving its stat cache under ``root/._qik`` (a read-only run).
        """
        # git may have started reading it a little earlier (``qik.early``): the worker's
        # check allows for that, and for coarse file times (``worker._CLOCK_SLACK_NS``).
        taken = time.time_ns()
        top = git.repo_root(root)
        if top is None:
            return cls.of(_hash_tree(root, write_cache=write_cache), taken_ns=taken)
        under = _under(top, root)
        blobs, changes = git.blobs_and_status(top, under)
        _apply_changes(root, blobs, changes, under)
        return cls.of(blobs, git_under=under, taken_ns=taken)

    @classmethod
    def from_rev(cls, root: Path, rev: str) -> FileIndex:
        """The files under ``root`` as committed at ``rev``, from ``git ls-tree`` (no checkout)."""
        top = git.repo_root(root)
        if top is None:
            raise git.GitError(
                f"{root} is not in a git work tree, so it has no revision {rev!r}",
                hint="run qik inside a git repository to compare against a revision",
            )
        under = _under(top, root)
        return cls.of(
            {entry.path: entry.blob for entry in git.ls_tree(top, rev, under)}, git_under=under
        )

    def digest(self, path: str) -> str | None:
        """The content digest of ``path``, or None if the index has no such file."""
        return self.blobs.get(path)

    @cached_property
    def matcher(self) -> Matcher:
        """The glob matcher over ``paths``, built on first use and kept for the run."""
        return Matcher(self.paths)

    def __contains__(self, path: object) -> bool:
        return path in self.blobs

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)


def _apply_changes(
    root: Path, blobs: dict[str, str], changes: git.WorktreeChanges, under: str
) -> None:
    """Update the index's ``blobs`` in place to the work tree's content, as git status lists it.

    A changed file's digest is the blob id git would give it on ``git add``: after the
    conversions of its attributes and config (``eol``, ``core.autocrlf``, a clean filter),
    which a checked-out file's bytes may differ by. Its own bytes' hash would not be the
    index's blob id of the same content, so a result committed with the file would be
    stale in every clone.
    """
    for path in changes.deleted:
        blobs.pop(path, None)
    algorithm = _algorithm(blobs)
    regular: list[str] = []
    for path in changes.changed:
        if path.startswith(_QIK_DIRS):
            continue  # dropped by `of` anyway; don't read a store that isn't ignored
        try:
            mode = os.lstat(root / path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            mode = 0
        except OSError as exc:
            raise _unreadable(root / path, exc) from exc
        if stat.S_ISREG(mode):
            regular.append(path)
            continue
        # git stores a symlink's text, hashed here: git hash-object would read its target.
        digest = blob_id(root / path, algorithm) if stat.S_ISLNK(mode) else None
        if digest is None:
            blobs.pop(path, None)  # deleted since git status, or no longer a file
        else:
            blobs[path] = digest
    blobs.update(_git_blob_ids(root, regular, algorithm, under))


def _git_blob_ids(root: Path, paths: list[str], algorithm: str, under: str) -> dict[str, str]:
    """path -> blob id of regular files, from one ``git hash-object`` for them all.

    A file git can't read stops it: one deleted since it was listed is left out and git
    hashes the rest; one that git can't hash but qik can read (a clean filter whose
    program is missing, say) is hashed as its bytes, as are the files after it.
    """
    found: dict[str, str] = {}
    rest = paths
    while rest:
        try:
            ids = git.hash_objects(root, rest, under)
        except git.HashObjectError as exc:
            if len(exc.done) >= len(rest):
                break
            found.update(zip(rest, exc.done, strict=False))
            failed, rest = rest[len(exc.done)], rest[len(exc.done) + 1 :]
            if blob_id(root / failed, algorithm) is None:
                continue  # deleted since git status listed it
            rest.insert(0, failed)
            break
        if len(ids) == len(rest):
            found.update(zip(rest, ids, strict=True))
            return found
        break
    # git can't hash what qik can read: hashed as it is, as outside git.
    for path in rest:
        digest = blob_id(root / path, algorithm)
        if digest is not None:
            found[path] = digest
    return found


def hash_blob(data: bytes, algorithm: str = "sha1") -> str:
    """Git's blob id of ``data``: ``sha1(b"blob <len>\\0" + data)``."""
    return hashlib.new(algorithm, b"blob %d\0%b" % (len(data), data)).hexdigest()


def blob_id(path: Path, algorithm: str = "sha1") -> str | None:
    """Git's blob id of the file at ``path`` (a symlink hashes its target, as git stores it).

    None when ``path`` is missing or is not a regular file or symlink (a directory, say).
    """
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            return hash_blob(os.fsencode(os.readlink(path)), algorithm)
        return _hash_regular_file(path, algorithm) if stat.S_ISREG(mode) else None
    except (FileNotFoundError, NotADirectoryError):
        return None  # deleted since git listed it
    except OSError as exc:
        raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: OSError) -> FileIndexError:
    return FileIndexError(
        f"can't read {path}: {exc.strerror}",
        hint="fix its permissions, or add it to .gitignore if it is not a project file",
    )


def _hash_regular_file(path: Path, algorithm: str) -> str:
    # Streamed, so a large data file doesn't have to fit in memory; the blob header needs the
    # size up front, so a file that changes size while being read is re-read whole.
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        digest = hashlib.new(algorithm, b"blob %d\0" % size)
        read = 0
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
            read += len(chunk)
    return digest.hexdigest() if read == size else hash_blob(path.read_bytes(), algorithm)


def _algorithm(blobs: Mapping[str, str]) -> str:
    # A repository with objectFormat=sha256 lists 64-digit blob ids; hash edited files the
    # same way so they compare equal to the blobs of `git ls-tree` at a base revision.
    first = next(iter(blobs.values()), "")
    return "sha256" if len(first) == _SHA256_HEX_LEN else "sha1"


def _under(top: Path, root: Path) -> str:
    """``root`` relative to the work tree's top level ("" when they are the same)."""
    relative = root.resolve().relative_to(top.resolve()).as_posix()
    return "" if relative == "." else relative


def _pop_subtree(paths: list[str], prefix: str) -> list[str]:
    """Remove and return the paths under ``prefix`` (ending in "/") from sorted ``paths``."""
    lo, hi = subtree(paths, prefix)
    removed = paths[lo:hi]
    del paths[lo:hi]
    return removed


# A stat-cache entry: size, mtime_ns, inode, blob id.
_CacheEntry = tuple[int, int, int, str]


def _hash_tree(root: Path, *, write_cache: bool) -> dict[str, str]:
    """Blob id of every file under ``root`` (no git), reusing digests of unchanged files."""
    trust_before_ns = time.time_ns() - _RACY_NS
    # Never read or written through a symbolic link ``._qik``: it could point anywhere.
    linked = os.path.islink(root / "._qik")
    write_cache = write_cache and not linked
    cache = {} if linked else _load_cache(root / _CACHE_FILE)
    fresh: dict[str, _CacheEntry] = {}
    blobs: dict[str, str] = {}
    rehashed = False
    for path, st in _walk(root):
        entry = cache.get(path)
        if entry is None or entry[:3] != (st.st_size, st.st_mtime_ns, st.st_ino):
            digest = blob_id(root / path)
            if digest is None:
                continue
            entry, rehashed = (st.st_size, st.st_mtime_ns, st.st_ino, digest), True
        blobs[path] = entry[3]
        if st.st_mtime_ns < trust_before_ns:
            fresh[path] = entry
    # Unchanged unless a digest was computed or a file went away.
    if write_cache and (rehashed or len(fresh) != len(cache)):
        _save_cache(root / _CACHE_FILE, fresh)
    return blobs


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(posix path relative to ``root``, lstat) of every file, symlink included, not followed."""
    # Plain strings, not Path objects: this runs for every directory and file of the tree.
    base = os.path.join(root, "")
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            entries = list(os.scandir(base + rel))
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed while we walk
        for entry in entries:
            path = rel + entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in _SKIP_DIRS:
                    stack.append(f"{path}/")
                continue
            try:
                yield path, entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue


def _load_cache(file: Path) -> dict[str, _CacheEntry]:
    # A missing, truncated or foreign cache is only a cold start, and a malformed entry only
    # a miss.
    try:
        data = json.loads(file.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
        return {}
    entries = data.get("entries")
    if not isinstance(entries, dict):
        return {}
    return {path: entry for path, raw in entries.items() if (entry := _as_entry(raw))}


def _as_entry(raw: object) -> _CacheEntry | None:
    if isinstance(raw, list) and len(raw) == 4:  # the four fields of _CacheEntry
        size, mtime_ns, inode, digest = raw
        if all(type(field) is int for field in (size, mtime_ns, inode)) and isinstance(
            digest, str
        ):
            return (size, mtime_ns, inode, digest)
    return None


def _save_cache(file: Path, entries: dict[str, _CacheEntry]) -> None:
    # Written to a temporary name and renamed, so a concurrent run reads the old cache or the
    # new one, never half of one. Failing to save (read-only checkout) only costs speed.
    payload = json.dumps({"version": _CACHE_VERSION, "entries": entries}).encode()
    with contextlib.suppress(OSError), atomic_file(file) as out:
        out.write(payload)
