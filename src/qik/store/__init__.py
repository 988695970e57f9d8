"""The content-addressed store: objects by content digest, manifests by dep hash.

The on-disk format is specified in ``store/FORMAT.md``. Every error raised here is a
``StoreError``: cache trouble, which the caller reports as a warning and a miss.
"""

from __future__ import annotations

from qik.store.backend import Backend, KeyInfo, KeyMissing, LocalBackend, ReadStream
from qik.store.cas import (
    ObjectCorrupt,
    ObjectMissing,
    SourceChanged,
    Store,
    StoredObject,
    Writable,
)
from qik.store.manifest import (
    FORMAT_VERSION,
    ArtifactEntry,
    Manifest,
    ManifestInvalid,
    ObjectRef,
    check_dep_hash,
    check_digest,
    sign,
    verify_signature,
)
from qik.store.paths import StoreError, UnsafePath, check_artifact_path, safe_artifact_path

__all__ = [
    "FORMAT_VERSION",
    "ArtifactEntry",
    "Backend",
    "KeyInfo",
    "KeyMissing",
    "LocalBackend",
    "Manifest",
    "ManifestInvalid",
    "ObjectCorrupt",
    "ObjectMissing",
    "ObjectRef",
    "ReadStream",
    "SourceChanged",
    "Store",
    "StoreError",
    "StoredObject",
    "UnsafePath",
    "Writable",
    "check_artifact_path",
    "check_dep_hash",
    "check_digest",
    "safe_artifact_path",
    "sign",
    "verify_signature",
]
