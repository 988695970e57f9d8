"""Local gc: least recently used results first, shared objects kept, young objects spared."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from qik.cli.cache import parse_age, parse_size
from qik.errors import CacheError
from qik.store import ArtifactEntry, ObjectRef, Store
from qik.store.cas import StoredManifest, StoredObject
from qik.store.gc import GcPlan, collect, plan_gc
from qik.store.inventory import Inventory, take_inventory
from tests.store.factories import make_manifest

DAY = 86400.0
NOW = 100 * DAY


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _inventory(
    results: dict[str, tuple[float, list[str]]], objects: dict[str, float]
) -> Inventory:
    """``results``: name -> (last use, object names); ``objects``: name -> mtime.
    Every manifest stores 10 bytes, every object 100."""
    listed, manifests = {}, {}
    for name, (used, names) in results.items():
        dep_hash = _digest(name)
        refs = [ObjectRef(_digest(o), 1) for o in names]
        artifacts = tuple(
            ArtifactEntry(f"f{i}", r.digest, 1, 0o644) for i, r in enumerate(refs[1:])
        )
        manifests[dep_hash] = make_manifest(dep_hash=dep_hash, log=refs[0], artifacts=artifacts)
        listed[dep_hash] = StoredManifest(dep_hash, 10, used)
    stored = {_digest(o): StoredObject(_digest(o), 100, mtime) for o, mtime in objects.items()}
    return Inventory(listed, manifests, {}, stored)


OLD = NOW - 2 * DAY
CASES = [
    # (results, max_size, max_age, manifests removed, objects removed)
    ({"a": (NOW - 3 * DAY, ["x", "s"]), "b": (NOW, ["y", "s"])}, None, 2 * DAY, ["a"], ["x"]),
    ({"a": (NOW - DAY, ["x"]), "b": (NOW, ["y"])}, None, None, [], []),
    ({"a": (NOW - DAY, ["x"]), "b": (NOW, ["y"])}, 110, None, ["a"], ["x"]),
    ({"a": (NOW - DAY, ["x"]), "b": (NOW, ["y"])}, 0, None, ["a", "b"], ["x", "y"]),
    ({"a": (NOW - DAY, ["s"]), "b": (NOW, ["s"])}, 115, None, ["a"], []),  # s still used
]


@pytest.mark.parametrize(("results", "max_size", "max_age", "gone", "freed"), CASES)
def test_plan_gc(
    results: dict[str, tuple[float, list[str]]],
    max_size: int | None,
    max_age: float | None,
    gone: list[str],
    freed: list[str],
) -> None:
    names = {o for _, objects in results.values() for o in objects} | {"orphan"}
    inventory = _inventory(results, {name: OLD for name in names})
    plan = plan_gc(inventory, now=NOW, max_size=max_size, max_age=max_age)
    assert plan.manifests == tuple(sorted(_digest(n) for n in gone))
    assert plan.objects == tuple(sorted(_digest(n) for n in [*freed, "orphan"]))


def test_young_objects_are_spared() -> None:
    inventory = _inventory({"a": (NOW, ["x"])}, {"x": OLD, "young": NOW - 60})
    assert plan_gc(inventory, now=NOW).objects == ()


def test_collect_deletes_manifests_then_objects(tmp_path: Path) -> None:
    store = Store.local(tmp_path)
    keep, drop = store.put_bytes(b"keep"), store.put_bytes(b"drop")
    store.write_manifest(make_manifest(dep_hash="aa" * 32, log=keep, artifacts=()))
    store.write_manifest(make_manifest(dep_hash="bb" * 32, log=drop, artifacts=()))
    inventory = take_inventory(store)
    plan = GcPlan(("bb" * 32,), (drop.digest,), 0, 0)
    result = collect(store, plan)
    assert (result.manifests, result.objects) == (1, 1)
    assert list(store.iter_manifests()) == ["aa" * 32]
    assert store.has(keep) and not store.has(drop)
    assert len(inventory.manifests) == 2


def test_collect_prunes_old_shard_split_records(tmp_path: Path) -> None:
    store = Store.local(tmp_path)
    store.backend.write_bytes("shards/old.json", b"{}")
    store.backend.write_bytes("shards/new.json", b"{}")
    two_days_ago = time.time() - 2 * DAY
    os.utime(tmp_path / "shards" / "old.json", (two_days_ago, two_days_ago))
    collect(store, GcPlan((), (), 0, 0))
    assert [p.name for p in (tmp_path / "shards").iterdir()] == ["new.json"]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("100", 100),
        ("1K", 1024),
        ("500M", 500 << 20),
        ("2g", 2 << 30),
        ("1.5GiB", 3 << 29),
        ("8MB", 8 << 20),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45s", 45), ("90m", 5400), ("12h", 43200), ("30d", 30 * DAY), ("2w", 14 * DAY)],
)
def test_parse_age(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "lots", "5 parsecs", "-1M"])
def test_bad_sizes_and_ages(text: str) -> None:
    with pytest.raises(CacheError):
        parse_size(text)
    with pytest.raises(CacheError):
        parse_age(text)
