"""The graph as a cached step: loaded from the stores by its key, or built and stored.

The serialized graph is an object in the CAS and a manifest named by the graph key (runnable
``pygraph.build``, exit code 0), so it travels through mirrors like any command's result:
``[plugins.pygraph] cache = "repo"`` commits it under ``.qik/``, and a fresh clone loads it
instead of running grimp. Cache trouble is only a miss: the graph is built again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qik import __version__
from qik.config.schema import Project
from qik.fingerprint.files import FileIndex
from qik.pygraph.layout import Layout, graph_key
from qik.pygraph.model import GraphInvalid, ImportGraph
from qik.store.cas import Store
from qik.store.manifest import Manifest
from qik.store.paths import StoreError

if TYPE_CHECKING:
    from qik.graph.expand import Runnable
    from qik.runner import Caches

__all__ = ["GRAPH_RUNNABLE", "load_graph"]

GRAPH_RUNNABLE = "pygraph.build"
_MAX_GRAPH_BYTES = 1 << 30


def load_graph(
    project: Project, index: FileIndex, lay: Layout, extra: Sequence[str] = ()
) -> ImportGraph:
    """The import graph of the project as ``index`` sees it, from a cache when possible.
    ``extra``: namespace directories to scan beyond those the project names."""
    key = graph_key(project, lay, index, extra)
    local = _local(project)
    graph = _read(local, key)
    if graph is not None:
        _fill_repo_cache(project, local, key)
    else:
        graph = _from_mirror(project, local, key)
    if graph is None:
        graph = _build_and_store(project, lay, extra, local, key)
    return graph


def _local(project: Project) -> Store:
    return Store.local(project.root / "._qik")


def _mirror_cache(project: Project) -> tuple[Caches, Runnable] | None:
    """The run's cache registry, and the graph build as the runnable it reads and publishes
    for: mirrors (the repo cache, S3, signatures, failure policy) work as for commands."""
    name = project.pygraph.cache
    if name is None or name == "local":
        return None
    from qik.graph.expand import Runnable
    from qik.runner import Caches

    build = Runnable(
        name=GRAPH_RUNNABLE,
        command=GRAPH_RUNNABLE,
        module=None,
        exec="",
        deps=(),
        artifacts=(),
        cache=name,
        cache_when="success",
        tags=(),
        space="default",
        timeout=None,
        is_cached=True,
    )
    # A mirror in trouble only means building the graph here: no warning to show.
    return Caches(project, warn=lambda message: None), build


def _read(store: Store, key: str) -> ImportGraph | None:
    try:
        manifest = store.read_manifest(key)
        if manifest is None or manifest.runnable != GRAPH_RUNNABLE:
            return None
        return ImportGraph.from_bytes(store.read_bytes(manifest.log, max_size=_MAX_GRAPH_BYTES))
    except (StoreError, OSError, GraphInvalid, ValueError):
        return None


def _from_mirror(project: Project, local: Store, key: str) -> ImportGraph | None:
    found = _mirror_cache(project)
    if found is None:
        return None
    caches, build = found
    hit = caches.lookup(key, build)
    if hit is None or hit[0].runnable != GRAPH_RUNNABLE:
        return None
    if hit[1] != "local":
        from qik.store.mirrors.reader import MirrorMiss

        try:
            caches.pull(hit[1], hit[0])
        except (MirrorMiss, StoreError, OSError):
            return None
    return _read(local, key)


def _build_and_store(
    project: Project, lay: Layout, extra: Sequence[str], local: Store, key: str
) -> ImportGraph:
    from qik.pygraph.build import build_graph  # and grimp: only when the graph is not cached

    start = time.monotonic()
    graph = build_graph(project, lay, extra)
    manifest = _store(local, key, graph, time.monotonic() - start)
    found = _mirror_cache(project) if manifest is not None else None
    if manifest is not None and found is not None:
        _publish(local, manifest, *found)
    return graph


def _store(store: Store, key: str, graph: ImportGraph, duration: float) -> Manifest | None:
    try:
        manifest = Manifest(
            runnable=GRAPH_RUNNABLE,
            dep_hash=key,
            exit_code=0,
            duration=round(duration, 6),
            qik_version=__version__,
            created=time.time(),
            log=store.put_bytes(graph.to_bytes()),
            deps={"pygraph:sources": key},
        )
        store.write_manifest(manifest)
    except (StoreError, OSError):  # a read-only checkout: the graph is rebuilt next time
        return None
    return manifest


def _fill_repo_cache(project: Project, local: Store, key: str) -> None:
    """A graph built before ``cache = "repo"`` was set (or after ``.qik/`` was cleared)
    goes there too, or no clone would ever load it. One ``stat`` when it is there; an S3
    cache is not checked (a request every run), only written when the graph is built."""
    if project.pygraph.cache != "repo":
        return
    import os

    from qik.store.cas import manifest_key

    if os.path.isfile(os.path.join(project.root, ".qik", manifest_key(key))):
        return
    found = _mirror_cache(project)
    try:
        manifest = local.read_manifest(key)
    except (StoreError, OSError):
        return
    if manifest is not None and found is not None:
        _publish(local, manifest, *found)


def _publish(local: Store, manifest: Manifest, caches: Caches, build: Runnable) -> None:
    from qik.store.mirrors.publish import publish

    try:
        publish(local, manifest, caches.mirrors(build))  # problems come back as warnings
    except Exception:  # a mirror failing must never fail the run
        return
