"""One cold runnable, in a pool worker: run it, store its log and artifacts, write the manifest.

The worker gets a small frozen request and returns a small outcome; everything it needs
(paths, the dep hash, the per-dep digests) is in the request, so it imports little and
shares nothing with the main process but the file system.
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qik import __version__
from qik.config.schema import CacheWhen
from qik.proc import run_shell

if TYPE_CHECKING:
    from qik.store.mirrors.spec import Mirror

__all__ = ["ColdOutcome", "ColdRequest", "run_cold", "should_store"]


@dataclass(frozen=True)
class ColdRequest:
    name: str
    exec: str
    root: str
    out_path: str
    timeout: float | None = None
    env: tuple[tuple[str, str], ...] | None = None  # full environment, or None: inherit
    dep_hash: str | None = None  # None: not cached
    deps: tuple[tuple[str, str], ...] = ()  # label -> digest, as stored in the manifest
    artifacts: tuple[str, ...] = ()
    cache_when: CacheWhen = "success"
    store_dir: str = ""  # the local store
    mirrors: tuple[Mirror, ...] = ()  # where to publish the result (repo, S3), in order
    inputs: tuple[tuple[str, str], ...] = ()  # (path, blob) of every file covered, for :explain


@dataclass(frozen=True)
class ColdOutcome:
    name: str
    exit_code: int
    duration: float
    timed_out: bool = False
    stored: bool = False
    warnings: tuple[str, ...] = ()


def should_store(exit_code: int, cache_when: CacheWhen) -> bool:
    if cache_when == "finished":
        return True
    if cache_when == "failed":
        return exit_code != 0
    return exit_code == 0


def run_cold(req: ColdRequest) -> ColdOutcome:
    root = Path(req.root)
    if req.store_dir:
        _ignore_store(Path(req.store_dir))
    env = dict(req.env) if req.env is not None else None
    done = run_shell(req.exec, cwd=root, out_path=Path(req.out_path), env=env, timeout=req.timeout)
    outcome = ColdOutcome(req.name, done.exit_code, done.duration, done.timed_out)
    if req.dep_hash is None or done.timed_out or not should_store(done.exit_code, req.cache_when):
        return outcome
    from qik.store.paths import StoreError

    try:
        warnings = _store_result(req, done.exit_code, done.duration)
    except (OSError, StoreError) as exc:  # a full disk, an unwritable store, a bad artifact
        return _with(outcome, stored=False, warnings=(f"{req.name}: result not cached: {exc}",))
    return _with(outcome, stored=True, warnings=warnings)


def _with(outcome: ColdOutcome, *, stored: bool, warnings: tuple[str, ...]) -> ColdOutcome:
    return ColdOutcome(
        outcome.name, outcome.exit_code, outcome.duration, outcome.timed_out, stored, warnings
    )


def _store_result(req: ColdRequest, exit_code: int, duration: float) -> tuple[str, ...]:
    from qik.store.manifest import Manifest
    from qik.store.mirrors import local_store
    from qik.store.mirrors.publish import publish

    store = local_store(Path(req.store_dir))
    log = store.put_file(Path(req.out_path))
    paths, warnings = collect_artifacts(Path(req.root), req.artifacts)
    entries = [store.put_artifact(Path(req.root), rel) for rel in paths]
    inputs = store.put_bytes(_encode_inputs(req.inputs)) if req.inputs else None
    manifest = Manifest(
        runnable=req.name,
        dep_hash=req.dep_hash or "",
        exit_code=exit_code,
        duration=round(duration, 6),
        qik_version=__version__,
        created=time.time(),
        log=log,
        artifacts=tuple(entries),
        deps=dict(req.deps),
        inputs=inputs,
    )
    store.write_manifest(manifest)
    warnings += publish(store, manifest, req.mirrors)
    return tuple(warnings)


def _ignore_store(path: Path) -> None:
    """``._qik/`` ignores itself: in a repo whose .gitignore lacks it, git status (and
    so every run's file index) would otherwise list every stored object."""
    marker = path / ".gitignore"
    if marker.exists():
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        tmp = path / f".gitignore.{os.getpid()}"
        tmp.write_text("*\n")
        tmp.replace(marker)
    except OSError:
        pass  # an unwritable ._qik: the run goes on, and storing will say why


def _encode_inputs(inputs: tuple[tuple[str, str], ...]) -> bytes:
    return "".join(f"{blob} {path}\n" for path, blob in inputs).encode()


def collect_artifacts(root: Path, patterns: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Files under ``root`` matching the artifact globs, as sorted posix paths."""
    found: set[str] = set()
    warnings: list[str] = []
    for pattern in patterns:
        matches = [
            m
            for m in glob.glob(pattern, root_dir=root, recursive=True)
            if os.path.isfile(root / m) and not os.path.islink(root / m)
        ]
        if not matches:
            warnings.append(f"artifact pattern {pattern!r} matched no file")
        found.update(Path(m).as_posix() for m in matches)
    return sorted(found), warnings
