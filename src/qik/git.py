"""Typed wrappers around the ``git`` executable: the few plumbing commands qik reads.

Every function takes ``root``, the top level of a work tree (see :func:`repo_root`), and an
optional ``under``: a directory relative to ``root`` that limits the listing and that the
returned paths are relative to (a qik project whose ``qik.toml`` is not at the top of its git
repository). Paths are posix strings, decoded from git's bytes with ``surrogateescape`` so any
file name round-trips to :func:`os.fsencode`.

Nothing here writes to the repository: ``GIT_OPTIONAL_LOCKS=0`` keeps ``git status`` from
taking the index lock to refresh its stat cache, so concurrent qik runs (and a user's own git
commands) never fail on ``index.lock``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from qik import early
from qik.errors import QikError

__all__ = [
    "GitError",
    "HashObjectError",
    "StagedFile",
    "WorktreeChanges",
    "blobs_and_status",
    "hash_objects",
    "ls_files_stage",
    "ls_tree",
    "merge_base",
    "repo_root",
    "rev_exists",
    "show",
    "status_paths",
]

_SUBMODULE_MODE = "160000"

# ``<mode> SP <type> SP <object> TAB <path> NUL``
_LS_TREE_RE = re.compile(r"(\d+) (\w+) ([0-9a-f]+)\t([^\0]*)\0")
# The XY codes of an unmerged path (git-status(1), "Short Format").
_UNMERGED = frozenset({"DD", "AU", "UD", "UA", "DU", "AA", "UU"})
# Which stage of an unmerged path stands for it: "ours", then "theirs", then the base.
_STAGE_RANK = {"2": 0, "3": 1, "1": 2}


class GitError(QikError):
    """A git command failed; the message carries git's own stderr."""

    code = "git-error"


class StagedFile(NamedTuple):
    """One file of the git index (or of a tree): its mode, blob id and path."""

    mode: str
    blob: str
    path: str


@dataclass(frozen=True)
class WorktreeChanges:
    """What ``git status`` says differs from the index in the work tree.

    ``changed`` holds modified, added, unmerged and untracked (not ignored) paths: their
    content must be read from disk. ``deleted`` holds paths gone from the work tree. A path can
    be in both (deleted from the index, then re-created untracked); ``changed`` wins.
    """

    changed: tuple[str, ...]
    deleted: tuple[str, ...]


def repo_root(path: Path) -> Path | None:
    """The top level of the work tree holding ``path``, or None outside any git work tree.

    Also None when git is not installed, so callers fall back to walking the tree.
    """
    if _git() is None:
        return None
    try:
        out = _run(path, early.TOPLEVEL_ARGS)
    except GitError as exc:
        # Matched in the C locale (early.git_env); any other failure, such as git refusing
        # a repository owned by someone else, must not silently turn into "not a repo".
        if "not a git repository" in exc.message or "must be run in a work tree" in exc.message:
            return None
        raise
    return Path(_decode(out).rstrip("\n"))


def ls_files_stage(root: Path, under: str = "") -> Iterator[StagedFile]:
    """The files of the git index, from ``git ls-files -s``.

    Submodules (mode 160000) are skipped. An unmerged path has up to three stages; it is
    yielded once, with "ours" (stage 2) if present, else "theirs" (3), else the base (1).
    ``git status`` reports unmerged paths too, so :class:`~qik.fingerprint.FileIndex` reads
    their work-tree content instead of trusting any stage.
    """
    return _parse_stage(_decode(_run(root, _ls_files_args(under))), under)


def status_paths(root: Path, under: str = "") -> WorktreeChanges:
    """Paths that differ from the index in the work tree, from ``git status --porcelain``."""
    out = _run(root, _status_args(under))
    return _parse_status(_decode(out), under)


def blobs_and_status(root: Path, under: str = "") -> tuple[dict[str, str], WorktreeChanges]:
    """The index's path -> blob id (:func:`ls_files_stage`) and :func:`status_paths`, at once.

    ``git status`` (a stat of every file plus the untracked scan) is the slow one, so it starts
    first and ``ls-files`` is parsed while it runs.
    """
    status = _start(root, _status_args(under))
    try:
        blobs = _parse_blobs(_decode(_run(root, _ls_files_args(under))), under)
    except BaseException:
        status.proc.kill()
        early.collect(status.proc)
        raise
    return blobs, _parse_status(_decode(_finish(status)), under)


def hash_objects(root: Path, paths: Sequence[str], under: str = "") -> list[str]:
    """The blob id git would store for each file of ``paths`` (relative to ``under``), in
    order: ``git hash-object``, so after the conversions git applies when it adds a file
    (``text``/``eol`` attributes, ``core.autocrlf``, clean filters such as git-lfs'), in one
    process for all. Files must be regular files (git reads through a symlink). ``root``
    may be any directory of the work tree: git reads the paths from the top level.

    Raises :class:`GitError` when git fails, at the first file it can't read: the blob ids
    of the files before it are in the error's ``done``.
    """
    if not paths:
        return []
    # Quoted, every one: --stdin-paths reads lines, drops a trailing "\r", and unquotes a
    # line that starts with '"' (C-style, octal escapes), so any name gets through.
    prefix = _prefix(under)
    listing = b"".join(_c_quoted(prefix + path) + b"\n" for path in paths)
    call = _start(root, ["hash-object", "--stdin-paths"], stdin=listing)
    out, err = early.collect(call.proc)
    if call.proc.returncode != 0:
        raise HashObjectError(
            f"`git hash-object` failed (exit {call.proc.returncode}): {_decode(err).strip()}",
            hint="run `git hash-object FILE` in the repository to see what is wrong",
            done=_decode(out).split(),
        )
    return _decode(out).split()


class HashObjectError(GitError):
    """``git hash-object`` stopped at a file; ``done`` holds the blob ids it printed."""

    def __init__(self, message: str, *, hint: str | None = None, done: list[str]) -> None:
        super().__init__(message, hint=hint)
        self.done = done


def _c_quoted(path: str) -> bytes:
    raw = path.encode("utf-8", "surrogateescape")
    return b'"' + b"".join(_C_ESCAPES[byte] for byte in raw) + b'"'


_C_ESCAPES = [
    bytes([byte]) if 0x20 <= byte < 0x7F and byte not in b'"\\' else b"\\%03o" % byte
    for byte in range(256)
]


def ls_tree(root: Path, rev: str, under: str = "") -> Iterator[StagedFile]:
    """The files of ``rev``'s tree, from ``git ls-tree -r`` (no checkout). Submodules skipped."""
    out = _run(root, ["ls-tree", "-r", "-z", "--full-tree", rev, "--", *_limit(under)])
    return _parse_tree(_decode(out), under)


def merge_base(root: Path, a: str, b: str) -> str:
    """The best common ancestor of ``a`` and ``b``."""
    try:
        out = _run(root, ["merge-base", a, b])
    except GitError as exc:
        raise GitError(
            f"no merge base between {a!r} and {b!r}: {exc.message}",
            hint=f"check that {a!r} and {b!r} name commits with a common history",
        ) from exc
    return _decode(out).strip()


def rev_exists(root: Path, rev: str) -> bool:
    """Whether ``rev`` names a commit in the repository."""
    args = ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"]
    try:
        return bool(_run(root, args).strip())
    except GitError:
        return False


def show(root: Path, rev: str, path: str) -> bytes | None:
    """The content of ``path`` at ``rev``, or None if it is not a file there.

    Raises :class:`GitError` when ``rev`` itself does not exist.
    """
    try:
        return _run(root, ["cat-file", "blob", f"{rev}:{path}"])
    except GitError:
        # cat-file says the same "Not a valid object name" for a bad rev and a missing path;
        # tell them apart only on this (rare) failure path.
        if rev_exists(root, rev):
            return None
        raise GitError(
            f"unknown git revision {rev!r} in {root}",
            hint="use a branch, tag or commit that exists locally (try `git fetch`)",
        ) from None


def _ls_files_args(under: str) -> list[str]:
    return early.ls_files_args(under)


def _status_args(under: str) -> list[str]:
    return early.status_args(under)


def _parse_stage(text: str, under: str) -> Iterator[StagedFile]:
    records, end, skip = _split_stage(text, under)
    for record in records:
        if record[end + 1] == "0" and record[:6] != _SUBMODULE_MODE:
            yield StagedFile(record[:6], record[7:end], record[skip:])
    yield from _unmerged(records, end, skip)


def _parse_tree(text: str, under: str) -> Iterator[StagedFile]:
    skip = len(_prefix(under))
    for mode, kind, blob, path in _LS_TREE_RE.findall(text):
        if kind == "blob":  # not "commit": a submodule
            yield StagedFile(mode, blob, path[skip:])


def _parse_blobs(text: str, under: str) -> dict[str, str]:
    """``_parse_stage`` as path -> blob, with no object per file: this is the hot path."""
    records, end, skip = _split_stage(text, under)
    blobs = {
        record[skip:]: record[7:end]
        for record in records
        if record[end + 1] == "0" and record[:6] != _SUBMODULE_MODE
    }
    blobs.update((entry.path, entry.blob) for entry in _unmerged(records, end, skip))
    return blobs


def _split_stage(text: str, under: str) -> tuple[list[str], int, int]:
    """The records of ``ls-files -s -z``, where each blob id ends, and where each path starts.

    Records are ``%06o <blob> <stage> TAB <path>``: slicing fixed-width fields is several times
    faster than a regex or a split per record over 15,000 records.
    """
    records = text.split("\0")
    records.pop()  # after the last NUL
    if not records:
        return records, 0, 0
    end = records[0].index(" ", 7)  # blob ids are 40 (sha1) or 64 (sha256) hex digits
    return records, end, end + 3 + len(_prefix(under))


def _unmerged(records: list[str], end: int, skip: int) -> list[StagedFile]:
    """One entry per unmerged path: "ours" (stage 2), else "theirs" (3), else the base (1)."""
    best: dict[str, tuple[int, StagedFile]] = {}
    for record in [record for record in records if record[end + 1] != "0"]:
        entry = StagedFile(record[:6], record[7:end], record[skip:])
        rank = _STAGE_RANK[record[end + 1]]
        if entry.mode != _SUBMODULE_MODE and rank < best.get(entry.path, (3, entry))[0]:
            best[entry.path] = (rank, entry)
    return [entry for _, entry in best.values()]


def _parse_status(text: str, under: str) -> WorktreeChanges:
    prefix = _prefix(under)
    changed: list[str] = []
    deleted: list[str] = []
    for record in text.split("\0"):
        xy, path = record[:2], record[3:]
        # An untracked nested repository shows as one "dir/" entry: not a file of ours.
        if not path or path.endswith("/"):
            continue
        is_deleted = xy not in _UNMERGED and xy != "??" and "D" in xy
        (deleted if is_deleted else changed).append(path[len(prefix) :])
    return WorktreeChanges(changed=tuple(changed), deleted=tuple(deleted))


def _limit(under: str) -> list[str]:
    return ["--", under] if under else []


def _prefix(under: str) -> str:
    return f"{under.rstrip('/')}/" if under else ""


def _run(cwd: Path, args: Sequence[str]) -> bytes:
    return _finish(_start(cwd, args))


class _Call(NamedTuple):
    args: Sequence[str]
    proc: early.Started


def _start(cwd: Path, args: Sequence[str], stdin: bytes = b"") -> _Call:
    # TODO(proc.py): STYLE.md wants every subprocess to start in qik.proc, which so far only
    # runs shell commands into a log file; move _start and _finish there when it can capture.
    git = _git()
    if git is None:
        raise GitError("git is not installed or not on PATH", hint="install git (2.25 or newer)")
    command, env = early.argv(git, args), early.git_env()
    # Started already, before qik's imports (qik.early), if it is a file index's command.
    proc = None if stdin else early.adopt(str(cwd), command, env)
    if proc is not None:
        return _Call(args, proc)
    try:
        proc = early.spawn(command, str(cwd), env, stdin)
    except OSError as exc:  # cwd missing or not a directory
        raise GitError(
            f"can't run `git {' '.join(args)}` in {cwd}: {exc.strerror}",
            hint="check that the project directory exists",
        ) from exc
    return _Call(args, proc)


def _finish(call: _Call) -> bytes:
    out, err = early.collect(call.proc)
    if call.proc.returncode != 0:
        raise GitError(
            f"`git {' '.join(call.args)}` failed (exit {call.proc.returncode}): "
            f"{_decode(err).strip()}",
            hint="run the same git command in the repository to see what is wrong",
        )
    return out


@functools.cache
def _git() -> str | None:
    return early.find_git()


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")
