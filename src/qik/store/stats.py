"""Numbers about caches: what a store holds (``StoreStats``) and how the last run used
its caches (``RunUsage``, saved in ``._qik/last-run.json``)."""

from __future__ import annotations

import atexit
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qik.store.backend import atomic_file

if TYPE_CHECKING:  # a run counts its usage here; only ``:cache stats`` takes an inventory
    from qik.store.inventory import Inventory

__all__ = ["RunUsage", "StoreStats", "read_usage", "save_usage_at_exit"]


@dataclass(frozen=True)
class StoreStats:
    """``referenced_bytes`` counts content once per manifest that references it;
    ``content_bytes`` once per distinct object. Their ratio is what deduplication saves,
    and ``content_bytes`` over ``stored_bytes`` what compression saves."""

    manifests: int  # every manifest read, the invalid ones included
    invalid_manifests: int
    objects: int
    stored_bytes: int  # every object, compressed, as the backend reports it
    referenced_bytes: int
    content_bytes: int
    missing_objects: int  # referenced by a manifest, absent from the store
    unreferenced_objects: int
    unreferenced_bytes: int

    @property
    def dedup_ratio(self) -> float:
        return self.referenced_bytes / self.content_bytes if self.content_bytes else 1.0

    @property
    def compression_ratio(self) -> float:
        stored = self.stored_bytes - self.unreferenced_bytes
        return self.content_bytes / stored if stored > 0 else 1.0

    @classmethod
    def of(cls, inventory: Inventory) -> StoreStats:
        refs = inventory.references()
        referenced = {ref.digest for ref in refs}
        unreferenced = [o for d, o in inventory.objects.items() if d not in referenced]
        return cls(
            manifests=len(inventory.manifests) + len(inventory.invalid),
            invalid_manifests=len(inventory.invalid),
            objects=len(inventory.objects),
            stored_bytes=sum(o.stored_size for o in inventory.objects.values()),
            referenced_bytes=sum(ref.size * len(users) for ref, users in refs.items()),
            content_bytes=sum(ref.size for ref in refs if ref.digest in inventory.objects),
            missing_objects=len(referenced - inventory.objects.keys()),
            unreferenced_objects=len(unreferenced),
            unreferenced_bytes=sum(o.stored_size for o in unreferenced),
        )


@dataclass
class RunUsage:
    """Lookups of one run: replays by the cache they came from, and misses (cached
    runnables that ran)."""

    hits: dict[str, int] = field(default_factory=dict)
    misses: int = 0
    finished: float = 0.0
    _saved_at: float = field(default=-1e9, repr=False, compare=False)

    @property
    def lookups(self) -> int:
        return sum(self.hits.values()) + self.misses

    def hit(self, cache: str) -> None:
        self.hits[cache] = self.hits.get(cache, 0) + 1

    def save(self, path: Path) -> None:
        self.finished = time.time()
        with atomic_file(path) as fh:
            doc = {"hits": self.hits, "misses": self.misses, "finished": self.finished}
            fh.write(json.dumps(doc, sort_keys=True).encode())
        self._saved_at = time.monotonic()

    def save_if_due(self, path: Path, every: float = 1.0) -> None:
        """``save``, unless the last save was less than ``every`` seconds ago."""
        if time.monotonic() - self._saved_at >= every:
            with contextlib.suppress(OSError):
                self.save(path)


def read_usage(path: Path) -> RunUsage | None:
    """The usage saved by the last run, or None (no run yet, or an unreadable file)."""
    try:
        doc = json.loads(path.read_text())
        hits = {str(k): int(v) for k, v in dict(doc["hits"]).items()}
        return RunUsage(hits, int(doc["misses"]), float(doc["finished"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


_latest: list[tuple[Path, RunUsage]] = []


def save_usage_at_exit(path: Path, usage: RunUsage) -> None:
    """Save ``usage`` to ``path`` when the process exits: the run's last result is only
    known then. One hook per process; a later run (``--watch``) replaces the earlier."""
    if not _latest:
        atexit.register(_save_latest)
    _latest[:] = [(path, usage)]


def _save_latest() -> None:
    path, usage = _latest[0]
    # Never recreate a store removed meanwhile; statistics aren't worth an error at exit.
    if path.parent.is_dir():
        with contextlib.suppress(OSError):
            usage.save(path)
