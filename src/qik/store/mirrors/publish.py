"""Publishing a fresh result from the local store to its mirrors, in a pool worker.

The worker that ran the command publishes (rather than the main process) because it
already holds the result, and a publish then overlaps with the other runnables in the pool
instead of adding a flush at the end of the run; the cost is one boto3 client per worker
process, made once and reused across the runnables it runs. Failures come back as
warnings, under the same per-run policy as reads (``guard.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from qik.store.cas import Store
from qik.store.manifest import Manifest, sign
from qik.store.mirrors.guard import worker_guard
from qik.store.mirrors.repo import publish_to_repo
from qik.store.mirrors.spec import Mirror, RepoMirror, S3Mirror
from qik.store.paths import StoreError
from qik.store.sync import Transfer, copy_result

__all__ = ["publish", "publish_to_s3"]


def publish(store: Store, manifest: Manifest, mirrors: Iterable[Mirror]) -> list[str]:
    """Copy ``manifest``'s result from ``store`` to every mirror; returns warnings."""
    warnings: list[str] = []
    for mirror in mirrors:
        if isinstance(mirror, RepoMirror):
            warnings += _guarded_repo(store, manifest, mirror)
        else:
            warnings += publish_to_s3(store, manifest, mirror)[1]
    return warnings


def _guarded_repo(store: Store, manifest: Manifest, mirror: RepoMirror) -> list[str]:
    try:
        return publish_to_repo(store, manifest, Path(mirror.path))
    except (OSError, StoreError) as exc:
        return [f"could not write to the repo cache at {mirror.path}: {exc}"]


def publish_to_s3(
    store: Store, manifest: Manifest, mirror: S3Mirror
) -> tuple[Transfer | None, list[str]]:
    """Objects the bucket lacks, then the manifest (signed if the mirror has a key)."""
    from qik.store.s3 import S3Backend

    guard = worker_guard(mirror.run_id, mirror.name)
    if guard.is_tripped:
        return None, []
    if mirror.sign_key:
        manifest = sign(manifest, mirror.sign_key.encode())
    try:
        return copy_result(store, Store(S3Backend(mirror.settings)), manifest), []
    except StoreError as exc:
        warning = guard.record(exc)
        return None, [warning] if warning else []
