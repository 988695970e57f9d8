"""The stores of a run: the local hot store and the mirrors a runnable's result lives in.

``local`` is ``._qik/`` (read first, written always); ``repo`` is ``.qik/``, committed
(``repo.py``); an S3 cache is a bucket prefix (``qik.store.s3``). A hit in a mirror is
copied into the local store before it is replayed, object by object, each verified on the
way (``reader.py``); a fresh result is published from the pool worker that made it
(``publish.py``). Mirrors fail softly: a warning once per run and a miss (``guard.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from qik.store.backend import LocalBackend
from qik.store.cas import Store
from qik.store.manifest import Manifest

__all__ = ["clear", "local_store", "publish_to_dirs"]


def local_store(path: Path) -> Store:
    return Store(LocalBackend(path))


def publish_to_dirs(store: Store, manifest: Manifest, dirs: Iterable[Path]) -> list[str]:
    """Publish a fresh local result to plain file-system mirrors (no pruning, no git);
    problems come back as warnings."""
    from qik.store.sync import copy_result

    problems = []
    for path in dirs:
        try:
            copy_result(store, local_store(path), manifest)
        except Exception as exc:  # a mirror failing must never fail the run
            problems.append(f"could not write to the cache at {path}: {exc}")
    return problems


def clear(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
