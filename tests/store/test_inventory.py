"""Store statistics and verification, from one inventory."""

from __future__ import annotations

from pathlib import Path

from qik.store import ArtifactEntry, Store, sign
from qik.store.cas import manifest_key, object_key
from qik.store.inventory import take_inventory
from qik.store.stats import RunUsage, StoreStats, read_usage
from qik.store.verify import verify_store
from tests.store.factories import make_manifest


def _store(tmp_path: Path) -> Store:
    store = Store.local(tmp_path)
    shared = store.put_bytes(b"s" * 1000)
    for i in range(3):
        log = store.put_bytes(b"log %d" % i)
        artifact = ArtifactEntry("out/a", shared.digest, shared.size, 0o644)
        store.write_manifest(
            make_manifest(dep_hash=f"{i:02x}" * 32, log=log, artifacts=(artifact,))
        )
    store.put_bytes(b"unreferenced")
    return store


def test_stats(tmp_path: Path) -> None:
    stats = StoreStats.of(take_inventory(_store(tmp_path)))
    assert (stats.manifests, stats.objects, stats.unreferenced_objects) == (3, 5, 1)
    assert stats.referenced_bytes == 3 * 1000 + 3 * 5
    assert stats.content_bytes == 1000 + 3 * 5
    assert stats.dedup_ratio > 2.9
    assert stats.missing_objects == 0


def test_verify_lists_every_problem(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert verify_store(store, take_inventory(store)) == []
    manifest = store.read_manifest("00" * 32)
    assert manifest is not None
    shared = tmp_path / object_key(manifest.artifacts[0].digest)
    shared.write_bytes(shared.read_bytes()[:-2] + b"!!")
    (tmp_path / object_key(manifest.log.digest)).unlink()
    (tmp_path / manifest_key("ff" * 32)).write_text("{}")
    problems = [str(p) for p in verify_store(store, take_inventory(store))]
    assert len(problems) == 5  # 3 users of the corrupt object, 1 missing log, 1 invalid
    assert sum("corrupt" in p for p in problems) == 3
    assert sum("is missing" in p for p in problems) == 1
    assert any(p.startswith(f"manifests/{'ff' * 32}.json: invalid") for p in problems)


def test_verify_with_a_sign_key(tmp_path: Path) -> None:
    store = Store.local(tmp_path)
    log = store.put_bytes(b"log")
    store.write_manifest(sign(make_manifest(dep_hash="aa" * 32, log=log, artifacts=()), b"k"))
    store.write_manifest(make_manifest(dep_hash="bb" * 32, log=log, artifacts=()))
    problems = verify_store(store, take_inventory(store), sign_key=b"k")
    assert [p.dep_hash for p in problems] == ["bb" * 32]


def test_usage_round_trips(tmp_path: Path) -> None:
    usage = RunUsage({"local": 3, "remote": 1}, misses=2)
    usage.save(tmp_path / "last-run.json")
    read = read_usage(tmp_path / "last-run.json")
    assert read is not None and (read.hits, read.misses, read.lookups) == (usage.hits, 2, 6)
    assert read_usage(tmp_path / "missing.json") is None
