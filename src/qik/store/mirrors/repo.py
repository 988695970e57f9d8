"""The repo cache: a store in ``.qik/``, committed with the code, that never grows.

After each publish it keeps only the newest manifest per runnable and deletes the objects
no manifest references. New files are staged with ``git add -N`` so ``git diff`` and
``--since`` see them. ``.gitattributes`` marks ``.qik/**`` as generated and names the
``qik`` merge driver, which qik installs in the repository's local git config: two
branches that both updated the cache then merge without conflicts (see ``merge.py``).

Publishes from concurrent workers and concurrent qik runs are serialised by a lock file,
so pruning never deletes an object a half-written result is about to reference.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from qik.store.backend import StoreLinked, linked_folder
from qik.store.cas import Store, manifest_key, object_key
from qik.store.manifest import Manifest, ManifestInvalid
from qik.store.sync import copy_objects

__all__ = [
    "GITATTRIBUTES_LINE",
    "Changes",
    "install_merge_driver",
    "merge_driver_command",
    "prune",
    "prune_gone_runnables",
    "publish_to_repo",
    "scattered_json",
    "unstage",
    "with_attributes_line",
]

# -text: git must store and check out the cache's files byte for byte. A manifest's
# checksum is over its bytes, and `* text=auto eol=crlf` or core.autocrlf would otherwise
# give every clone CRLF manifests.
GITATTRIBUTES_LINE = ".qik/** -text linguist-generated=true merge=qik"
# The line of qik before -text: replaced by the one above where found.
_OLD_GITATTRIBUTES_LINES = frozenset({".qik/** linguist-generated=true merge=qik"})
_GITIGNORE = "# written by qik: lock and temporary files of the repo cache\n.lock\n.*.qik-tmp\n"
_LOCK_RETRIES = 6  # git's index.lock, held briefly by the user's own git commands


@dataclass
class Changes:
    """Files under the project root that a publish created or deleted (posix, relative)."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def extend(self, other: Changes) -> None:
        self.added.extend(other.added)
        self.removed.extend(other.removed)


def publish_to_repo(store: Store, manifest: Manifest, path: Path) -> list[str]:
    """Publish a fresh local result to the repo cache at ``path``; returns warnings.
    ``StoreLinked`` if ``.qik`` or a folder of it is a symbolic link: nothing is written,
    pruned or locked through one."""
    linked = linked_folder(path)
    if linked is not None:
        raise StoreLinked(linked)
    path.mkdir(parents=True, exist_ok=True)
    mirror = Store.local(path)
    with _locked(path / ".lock"):
        changes = _write_result(store, mirror, manifest, path.name)
        changes.extend(prune(mirror, keep=manifest.dep_hash, folder=path.name))
        changes.extend(_ensure_files(path))
        return _update_git(path.parent, changes)


def _write_result(store: Store, mirror: Store, manifest: Manifest, folder: str) -> Changes:
    # A manifest already there for this dep hash stays as it is, as long as it is whole:
    # results of one dep hash are interchangeable, and a committed manifest that is never
    # modified can't cause a modify/delete conflict when branches merge.
    existing = _read_or_none(mirror, manifest.dep_hash)
    if existing is not None and not mirror.missing_objects(existing):
        return Changes()
    transfer = copy_objects(store, mirror, manifest.objects)
    mirror.backend.write_bytes(manifest_key(manifest.dep_hash), scattered_json(manifest))
    added = [f"{folder}/{object_key(ref.digest)}" for ref in transfer.sent]
    if existing is None:
        added.append(f"{folder}/{manifest_key(manifest.dep_hash)}")
    return Changes(added=added)


def scattered_json(manifest: Manifest) -> bytes:
    """The manifest as JSON on one line, with spaces after separators in a pattern picked
    by its dep hash: valid JSON with the same values as the canonical encoding (readers
    and signatures only see values), but not a line in common with another manifest.

    Why: git's rename detection compares files in lines (or 64-byte pieces), and two
    canonical manifests of one runnable share most lines. Pruning the old one and adding
    the new one then reads as a rename, and two branches that both did it conflict on
    merge (rename/rename). Scattered, they share too little to pair up.
    """
    pad = random.Random(manifest.dep_hash).randrange

    def encode(value: object) -> str:
        if isinstance(value, dict):
            pairs = sorted(value.items())
            items = (f"{json.dumps(k)}:{' ' * pad(4)}{encode(v)}" for k, v in pairs)
            return "{" + _joined(items, pad) + "}"
        if isinstance(value, list | tuple):
            return "[" + _joined((encode(v) for v in value), pad) + "]"
        return json.dumps(value, allow_nan=False)

    return manifest.encoded(lambda doc: encode(doc) + "\n")


def _joined(parts: Iterator[str], pad: Callable[[int], int]) -> str:
    return "".join(("," + " " * pad(8) if i else "") + part for i, part in enumerate(parts))


def prune(
    mirror: Store,
    *,
    keep: str | None = None,
    folder: str = ".qik",
    runnables: Collection[str] | None = None,
    in_use: Collection[str] = (),
) -> Changes:
    """Delete every manifest but the newest of each runnable (and invalid ones), then
    every object no remaining manifest references. ``keep`` is a dep hash that stays
    whatever its date: the result just published, even if another machine's clock made
    an older result look newer. Given ``runnables`` (every runnable the project has),
    the results of any other (a command renamed or removed) go too, unless their dep
    hash is ``in_use`` (an identical runnable of the run shares the result)."""
    newest: dict[str, tuple[bool, float, str]] = {}
    doomed: list[str] = []
    manifests: dict[str, Manifest] = {}
    for dep_hash in mirror.iter_manifests():
        manifest = _read_or_none(mirror, dep_hash)
        if manifest is None or (
            runnables is not None and manifest.runnable not in runnables and dep_hash not in in_use
        ):
            doomed.append(dep_hash)
            continue
        manifests[dep_hash] = manifest
        rank = (dep_hash == keep, manifest.created, dep_hash)
        best = newest.get(manifest.runnable)
        if best is not None:
            doomed.append(min(best, rank)[2])
        newest[manifest.runnable] = rank if best is None else max(best, rank)
    removed = [f"{folder}/{manifest_key(h)}" for h in doomed if mirror.delete_manifest(h)]
    live = {ref.digest for h, m in manifests.items() if h not in doomed for ref in m.objects}
    for stored in list(mirror.iter_objects()):
        if stored.digest not in live and mirror.delete_object(stored.digest):
            removed.append(f"{folder}/{object_key(stored.digest)}")
    return Changes(removed=removed)


def prune_gone_runnables(
    path: Path, runnables: Collection[str], in_use: Collection[str]
) -> list[str]:
    """At the end of a run that wrote to the repo cache at ``path``: delete the results of
    runnables the project no longer has, which no publish would ever replace (see
    ``prune``); returns warnings."""
    if not (path / "manifests").is_dir():
        return []
    mirror = Store.local(path)
    with _locked(path / ".lock"):
        changes = prune(mirror, folder=path.name, runnables=runnables, in_use=in_use)
        return _update_git(path.parent, changes) if changes.removed else []


def _read_or_none(mirror: Store, dep_hash: str) -> Manifest | None:
    try:
        return mirror.read_manifest(dep_hash)
    except ManifestInvalid:
        return None


def _ensure_files(path: Path) -> Changes:
    """``.qik/.gitignore`` (lock and temporary files) and the ``.gitattributes`` line."""
    added: list[str] = []
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text(_GITIGNORE)
        added.append(f"{path.name}/.gitignore")
    attributes = path.parent / ".gitattributes"
    text = attributes.read_bytes() if attributes.exists() else b""
    updated = with_attributes_line(text)
    if updated != text:
        attributes.write_bytes(updated)
        if not text:
            added.append(".gitattributes")
    return Changes(added=added)


def with_attributes_line(text: bytes) -> bytes:
    """``.gitattributes`` (its bytes) with :data:`GITATTRIBUTES_LINE`: as it is if the
    line is there, else with qik's older line replaced by it, else with it appended.
    Other lines keep their bytes and their line ends."""
    new = GITATTRIBUTES_LINE.encode()
    lines = text.split(b"\n")
    stripped = [line.rstrip(b"\r") for line in lines]
    if new in stripped:
        return text
    old = {line.encode() for line in _OLD_GITATTRIBUTES_LINES}
    if old.intersection(stripped):
        # Where the old line was, with its line end.
        return b"\n".join(
            new + line[len(bare) :] if bare in old else line
            for line, bare in zip(lines, stripped, strict=True)
        )
    separator = b"" if not text or text.endswith(b"\n") else b"\n"
    return text + separator + new + b"\n"


# -- git ------------------------------------------------------------------------------
#
# qik.git only reads (it runs git without optional locks); these are the only commands
# with which qik writes to a repository's index or config, so they live beside their one
# caller and retry while the user's own git holds index.lock.

_installed: set[Path] = set()


def merge_driver_command() -> str:
    """The driver line for ``merge.qik.driver``: this interpreter, so neither PATH nor
    the location of the ``qik`` script matters when git runs it."""
    return f"{shlex.quote(sys.executable)} -m qik.store.mirrors.merge %O %A %B %P"


def install_merge_driver(root: Path) -> bool:
    """Set ``merge.qik.*`` in the local git config of the repository holding ``root``,
    if not set already. False when ``root`` is not in a git repository."""
    if root in _installed:
        return True
    current = _git(root, "config", "--local", "--get", "merge.qik.driver")
    if current is None:
        return False
    if current.stdout.strip() != merge_driver_command():
        _git(root, "config", "--local", "merge.qik.name", "qik cache (keeps the newest result)")
        _git(root, "config", "--local", "merge.qik.driver", merge_driver_command())
    _installed.add(root)
    return True


def _update_git(root: Path, changes: Changes) -> list[str]:
    if not install_merge_driver(root):
        return []  # not a git repository (or no git): nothing to stage
    problems: list[str] = []
    added = [p for p in dict.fromkeys(changes.added) if (root / p).exists()]
    # A path in a merge conflict is the user's to resolve: staging it would drop the
    # conflict's stages, and `git merge --abort` then fails.
    conflicted = _unmerged(root, [*added, *changes.removed])
    added = [p for p in added if p not in conflicted]
    if added:
        problems += _check(_git(root, "add", "-N", "--", *added))
    removed = [p for p in changes.removed if p not in conflicted]
    if removed:
        problems += unstage(root, removed)
    return [f"the repo cache's files could not be staged: {p}" for p in problems[:1]]


def unstage(root: Path, removed: Sequence[str]) -> list[str]:
    """Drop intent-to-add entries of deleted files: git would show them as deleted and
    refuse ``commit -a``. Files committed before stay as ordinary unstaged deletions."""
    indexed = _paths(_git(root, "ls-files", "-z", "--", ".qik"))
    committed = _paths(_git(root, "ls-tree", "-r", "-z", "--name-only", "HEAD", "--", ".qik"))
    stale = [p for p in removed if p in indexed and p not in committed]
    if not stale:
        return []
    return _check(_git(root, "rm", "--cached", "-q", "--ignore-unmatch", "--", *stale))


def _unmerged(root: Path, paths: Sequence[str]) -> set[str]:
    """Those of ``paths`` with conflict stages in the index."""
    if not paths:
        return set()
    done = _git(root, "ls-files", "-u", "-z", "--", *paths)
    if done is None or done.returncode != 0:
        return set()
    return {entry.partition("\t")[2] for entry in done.stdout.split("\0") if "\t" in entry}


def _paths(done: subprocess.CompletedProcess[str] | None) -> set[str]:
    if done is None or done.returncode != 0:
        return set()
    return {p for p in done.stdout.split("\0") if p}


def _check(done: subprocess.CompletedProcess[str] | None) -> list[str]:
    if done is None or done.returncode == 0:
        return []
    return [done.stderr.strip().splitlines()[0] if done.stderr.strip() else "git failed"]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    """Run git in ``root``; None if git is missing or ``root`` is not in a repository."""
    git = shutil.which("git")
    if git is None:
        return None
    env = {**os.environ, "LC_ALL": "C"}
    for attempt in range(_LOCK_RETRIES):
        done = subprocess.run(
            [git, "--literal-pathspecs", *args],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if "not a git repository" in done.stderr or "inside a git repository" in done.stderr:
            return None
        if "index.lock" not in done.stderr:
            return done
        time.sleep(0.05 * 2**attempt)
    return done


# -- the lock -------------------------------------------------------------------------


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes, released when the block ends."""
    with path.open("a+b") as fh:
        _lock(fh.fileno())
        try:
            yield
        finally:
            _unlock(fh.fileno())


if sys.platform == "win32":  # pragma: no cover - CI is Linux; kept portable by habit
    import msvcrt

    def _lock(fd: int) -> None:
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:  # LK_LOCK gives up after 10 s; a publish can take longer
                continue

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
