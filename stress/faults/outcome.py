"""What a run produced, in a form two runs can be compared by: exit codes, per-runnable
status, dep hashes, the artifact files in the work tree, and the results in a store.

"The next run gives exactly the results of an uninterrupted run" is checked as equality of
these between the run under test and a reference run of the same repository content.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Outcome",
    "StoredResult",
    "differences",
    "file_digests",
    "outcome",
    "stored_results",
    "tree_digests",
]


@dataclass(frozen=True)
class Outcome:
    code: int | None
    statuses: dict[str, str]  # runnable -> "ok", "failed(3)" or "skipped"
    dep_hashes: dict[str, str]
    replays: dict[str, bool]  # runnable -> was it replayed from a cache?
    files: dict[str, str]  # artifact path -> "<sha256> <mode>"


@dataclass(frozen=True)
class StoredResult:
    """A manifest's meaning, without the fields that legitimately differ between runs."""

    exit_code: int
    log: str  # sha256 of the log's content
    artifacts: tuple[tuple[str, str, int], ...]  # (path, sha256, mode & 0o777)


def file_digests(root: Path, folders: tuple[str, ...]) -> dict[str, str]:
    """``<sha256> <mode>`` of every regular file under the given folders of ``root``."""
    found: dict[str, str] = {}
    for pattern in folders:
        for path in sorted(root.glob(pattern)):
            # Dot files are temporary files of a killed command, not artifacts.
            if path.name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            mode = path.stat().st_mode & 0o777
            found[path.relative_to(root).as_posix()] = f"{digest} {mode:o}"
    return found


def tree_digests(root: Path) -> dict[str, str]:
    """Every file of the work tree but git's and qik's own folders: a restore that wrote
    anywhere unexpected shows here."""
    skip = {".git", "._qik", ".qik"}
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in skip or not path.is_file():
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found[rel.as_posix()] = f"{digest} {path.stat().st_mode & 0o777:o}"
    return found


def outcome(code: int | None, report: Path, root: Path, folders: tuple[str, ...]) -> Outcome:
    """The outcome of a run made with ``--report report`` in ``root``."""
    statuses: dict[str, str] = {}
    hashes: dict[str, str] = {}
    replays: dict[str, bool] = {}
    if report.exists():
        for row in json.loads(report.read_text())["runnables"]:
            name = row["name"]
            statuses[name] = _status(row)
            hashes[name] = row.get("dep_hash", "")
            replays[name] = bool(row.get("replayed"))
    return Outcome(code, statuses, hashes, replays, file_digests(root, folders))


def _status(row: dict[str, object]) -> str:
    status = row.get("status")
    if status in ("ran", "replayed"):
        return "ok"
    if status == "failed":
        return f"failed({row.get('exit_code')})"
    return str(status)


def differences(expected: Outcome, got: Outcome, *, files: bool = True) -> list[str]:
    """How ``got`` differs from ``expected`` (empty: the same results)."""
    found = []
    if got.code != expected.code:
        found.append(f"exit code {got.code}, expected {expected.code}")
    for name in sorted(expected.statuses.keys() | got.statuses.keys()):
        want, have = expected.statuses.get(name), got.statuses.get(name)
        if want != have:
            found.append(f"{name}: {have}, expected {want}")
        elif expected.dep_hashes.get(name) != got.dep_hashes.get(name):
            found.append(f"{name}: another dep hash than the reference run's")
    if files:
        for path in sorted(expected.files.keys() | got.files.keys()):
            if expected.files.get(path) != got.files.get(path):
                have = "missing" if path not in got.files else "different"
                found.append(f"artifact {path} is {have}")
    return found


def stored_results(store_dir: Path, dep_hashes: list[str]) -> dict[str, StoredResult | None]:
    """The results stored for these dep hashes, read and verified with the store's own
    API (None: no manifest, or one that does not read back whole)."""
    from qik.store.cas import Store
    from qik.store.paths import StoreError

    store = Store.local(store_dir)
    found: dict[str, StoredResult | None] = {}
    for dep_hash in dep_hashes:
        try:
            manifest = store.read_manifest(dep_hash)
            if manifest is None:
                found[dep_hash] = None
                continue
            log = hashlib.sha256(store.read_bytes(manifest.log, max_size=1 << 31)).hexdigest()
        except (StoreError, OSError):
            found[dep_hash] = None
            continue
        artifacts = tuple((a.path, a.digest, a.mode & 0o777) for a in manifest.artifacts)
        found[dep_hash] = StoredResult(manifest.exit_code, log, artifacts)
    return found
