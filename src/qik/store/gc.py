"""``qik :cache gc``: shrink the local store, least recently used results first.

A result's last use is its manifest's mtime (written when stored, touched when replayed).
Deciding is pure (``plan_gc``, table-tested); deleting is ``collect``. Safe while another
qik runs: objects younger than ``GRACE`` are never deleted, since a writer stores (or
touches) objects before it writes the manifest that references them; a result deleted
under a concurrent replay makes that replay a miss, never a wrong byte.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from qik.store.backend import LocalBackend
from qik.store.cas import Store
from qik.store.inventory import Inventory

__all__ = ["GRACE", "GcPlan", "GcResult", "collect", "plan_gc"]

GRACE = 3600.0  # seconds; far longer than storing any one result takes


@dataclass(frozen=True)
class GcPlan:
    manifests: tuple[str, ...]  # dep hashes to delete
    objects: tuple[str, ...]  # digests to delete
    freed_bytes: int  # stored bytes of both
    kept_bytes: int


@dataclass(frozen=True)
class GcResult:
    manifests: int
    objects: int
    freed_bytes: int
    temporary_files: int


def plan_gc(
    inventory: Inventory,
    *,
    now: float,
    max_size: int | None = None,
    max_age: float | None = None,
    grace: float = GRACE,
) -> GcPlan:
    """What to delete so the store holds at most ``max_size`` bytes and no result unused
    for longer than ``max_age`` seconds. Invalid manifests always go, and so do objects
    no remaining manifest references (once older than ``grace``).

    Example: results A (used 3 days ago, objects x, s) and B (used today, objects y, s),
    ``max_age`` 2 days: A goes, then x (only A used it); s stays for B.
    """
    listed = inventory.listed
    doomed = set(inventory.invalid)
    if max_age is not None:
        doomed |= {h for h in inventory.manifests if now - listed[h].mtime > max_age}
    users = _users(inventory, doomed)
    size = _size(inventory, doomed, users)
    for dep_hash in sorted(inventory.manifests.keys() - doomed, key=lambda h: listed[h].mtime):
        if max_size is None or size <= max_size:
            break
        doomed.add(dep_hash)
        size -= listed[dep_hash].stored_size + _release(inventory, dep_hash, users)
    old = {d for d, o in inventory.objects.items() if now - o.mtime > grace}
    return _plan(inventory, tuple(sorted(doomed & listed.keys())), old - users.keys())


def _plan(inventory: Inventory, manifests: tuple[str, ...], objects: set[str]) -> GcPlan:
    freed = sum(inventory.listed[h].stored_size for h in manifests)
    freed += sum(inventory.objects[d].stored_size for d in objects)
    total = sum(m.stored_size for m in inventory.listed.values())
    total += sum(o.stored_size for o in inventory.objects.values())
    return GcPlan(manifests, tuple(sorted(objects)), freed, total - freed)


def _users(inventory: Inventory, doomed: set[str]) -> dict[str, int]:
    """How many surviving manifests reference each object digest (never 0: absent)."""
    users: dict[str, int] = {}
    for dep_hash, manifest in inventory.manifests.items():
        if dep_hash not in doomed:
            for digest in {ref.digest for ref in manifest.objects}:
                users[digest] = users.get(digest, 0) + 1
    return users


def _size(inventory: Inventory, doomed: set[str], users: dict[str, int]) -> int:
    manifests = sum(m.stored_size for h, m in inventory.listed.items() if h not in doomed)
    objects = sum(o.stored_size for d, o in inventory.objects.items() if d in users)
    return manifests + objects


def _release(inventory: Inventory, dep_hash: str, users: dict[str, int]) -> int:
    """Drop one manifest's references; the stored bytes of the objects that freed."""
    freed = 0
    for digest in {ref.digest for ref in inventory.manifests[dep_hash].objects}:
        users[digest] -= 1
        if users[digest] == 0:
            del users[digest]
            if digest in inventory.objects:
                freed += inventory.objects[digest].stored_size
    return freed


def collect(store: Store, plan: GcPlan, *, grace: float = GRACE) -> GcResult:
    """Carry out ``plan``: manifests first, so no manifest is left pointing at nothing."""
    manifests = sum(store.delete_manifest(h) for h in plan.manifests)
    objects = sum(store.delete_object(d) for d in plan.objects)
    temps = 0
    if isinstance(store.backend, LocalBackend):
        temps = store.backend.sweep_temps(older_than=grace)
        _prune_split_records(store.backend, older_than=max(grace, SPLIT_RECORD_AGE))
    return GcResult(manifests, objects, plan.freed_bytes, temps)


# A ``--shard`` split record (``qik.shard``) matters while one CI run's shards, and their
# re-runs, start: a day is plenty.
SPLIT_RECORD_AGE = 86400.0


def _prune_split_records(backend: LocalBackend, *, older_than: float) -> None:
    from qik.shard import RECORD_PREFIX

    cutoff = time.time() - older_than
    for info in list(backend.list(RECORD_PREFIX)):
        if info.mtime < cutoff:
            backend.delete(info.key)
