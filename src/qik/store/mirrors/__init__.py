"""The stores of a run: the local hot store and the mirrors a runnable's result lives in.

``local`` is ``._qik/`` (read first, written always); ``repo`` is ``.qik/``, committed. A hit
in a mirror is copied into the local store before it is replayed, object by object, each
verified on the way.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from qik.store.backend import LocalBackend
from qik.store.cas import Store
from qik.store.manifest import Manifest

__all__ = ["copy_result", "local_store", "publish_to_dirs"]


def local_store(path: Path) -> Store:
    return Store(LocalBackend(path))


def copy_result(source: Store, dest: Store, manifest: Manifest) -> None:
    """Copy a result between stores: objects first (verified), the manifest last.

    Raises the store's ObjectMissing / ObjectCorrupt if the source lacks a good copy.
    """
    for ref in dict.fromkeys(manifest.objects):
        if dest.has(ref):
            continue
        with tempfile.TemporaryFile() as tmp:
            source.copy_to(ref, tmp)
            tmp.seek(0)
            dest.put_stream(tmp)
    dest.write_manifest(manifest)


def publish_to_dirs(store: Store, manifest: Manifest, dirs: Iterable[Path]) -> list[str]:
    """Publish a fresh local result to file-system mirrors; problems come back as warnings."""
    problems = []
    for path in dirs:
        try:
            copy_result(store, local_store(path), manifest)
        except Exception as exc:  # a mirror failing must never fail the run
            problems.append(f"could not write to the cache at {path}: {exc}")
    return problems


def clear(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
