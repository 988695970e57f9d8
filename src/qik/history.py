"""The newest stored result of each runnable, whatever its dep hash.

``:explain`` compares a cold runnable with its last result, and ``--shard`` balances by the
durations results recorded. Manifests are named by dep hash, so finding a runnable's means
reading manifests, newest first; this is for those commands, never for the warm path.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass

from qik.store.backend import BackendFailure
from qik.store.cas import Store
from qik.store.manifest import Manifest
from qik.store.paths import StoreError

__all__ = ["Found", "latest_results"]


@dataclass(frozen=True)
class Found:
    manifest: Manifest
    cache: str


def latest_results(
    stores: Iterable[tuple[str, Store]],
    names: Collection[str],
    *,
    limit: int = 20000,
    warn: Callable[[str], None] = lambda message: None,
) -> dict[str, Found]:
    """For each of ``names``, its newest manifest across ``stores`` (by recorded time). A
    cache that fails (unreachable, denied) is warned about and left, not read further."""
    found: dict[str, Found] = {}
    wanted = set(names)
    for cache, store in stores:
        try:
            for manifest in _newest_first(store, limit):
                if manifest.runnable not in wanted:
                    continue
                current = found.get(manifest.runnable)
                if current is None or manifest.created > current.manifest.created:
                    found[manifest.runnable] = Found(manifest, cache)
        except BackendFailure as exc:
            warn(f"cache {cache!r} is unavailable: {exc}; continuing without it")
    return found


def _newest_first(store: Store, limit: int) -> Iterator[Manifest]:
    """The store's manifests, most recently written first. Raises ``BackendFailure``."""
    try:
        infos = sorted(store.backend.list("manifests/"), key=lambda i: i.mtime, reverse=True)
    except OSError:  # a local store that can't be listed
        return
    for info in infos[:limit]:
        dep_hash = info.key.rsplit("/", 1)[-1].removesuffix(".json")
        try:
            manifest = store.read_manifest(dep_hash)
        except BackendFailure:
            raise
        except (StoreError, OSError):
            continue  # one bad manifest must not hide the others
        if manifest is not None:
            yield manifest
