"""Everything a store holds, listed and parsed once: what ``qik :cache`` reports on.

Manifests are read in parallel (on S3, one request each). An invalid manifest is kept
with its reason, so ``verify`` can list it and ``gc`` can delete it.
"""

from __future__ import annotations

from dataclasses import dataclass

from qik.store.backend import BackendFailure, FailureKind
from qik.store.cas import Store, StoredManifest, StoredObject
from qik.store.manifest import Manifest, ManifestInvalid, ObjectRef
from qik.store.sync import TRANSFER_THREADS

__all__ = ["Inventory", "take_inventory"]


@dataclass(frozen=True)
class Inventory:
    """``manifests`` and ``invalid`` are keyed by dep hash; a manifest deleted between
    listing and reading is in neither."""

    listed: dict[str, StoredManifest]
    manifests: dict[str, Manifest]
    invalid: dict[str, str]
    objects: dict[str, StoredObject]

    def references(self) -> dict[ObjectRef, list[str]]:
        """Every object reference, with the dep hashes of the manifests that make it."""
        refs: dict[ObjectRef, list[str]] = {}
        for dep_hash, manifest in self.manifests.items():
            for ref in dict.fromkeys(manifest.objects):
                refs.setdefault(ref, []).append(dep_hash)
        return refs


def take_inventory(store: Store, *, threads: int = TRANSFER_THREADS) -> Inventory:
    from concurrent.futures import ThreadPoolExecutor  # gc and verify only, not a run

    listed = {m.dep_hash: m for m in store.list_manifests()}
    objects = {o.digest: o for o in store.iter_objects()}
    manifests: dict[str, Manifest] = {}
    invalid: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="qik-inventory") as pool:
        for dep_hash, found in zip(
            listed, pool.map(lambda h: _read(store, h), listed), strict=True
        ):
            if isinstance(found, Manifest):
                manifests[dep_hash] = found
            elif found is not None:
                invalid[dep_hash] = found
    return Inventory(listed, manifests, invalid, objects)


def _read(store: Store, dep_hash: str) -> Manifest | str | None:
    """The manifest, or why it is invalid. One that can't be read (its permissions) is
    neither: ``BackendFailure``, as gc must not delete what it could not judge."""
    try:
        return store.read_manifest(dep_hash)
    except ManifestInvalid as exc:
        return exc.reason
    except OSError as exc:
        kind: FailureKind = "denied" if isinstance(exc, PermissionError) else "error"
        raise BackendFailure(
            kind, f"can't read manifests/{dep_hash}.json ({exc.strerror})"
        ) from None
