"""Copying results between stores: parallel, only what is absent, manifest last."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qik.store import ArtifactEntry, Manifest, ObjectCorrupt, Store
from qik.store.cas import manifest_key, object_key
from qik.store.sync import copy_objects, copy_result
from tests.store.factories import make_manifest


def _result(store: Store, payloads: list[bytes], dep_hash: str = "ab" * 32) -> Manifest:
    refs = [store.put_bytes(p) for p in payloads]
    artifacts = tuple(
        ArtifactEntry(f"out/{i}", ref.digest, ref.size, 0o644) for i, ref in enumerate(refs[1:])
    )
    return make_manifest(dep_hash=dep_hash, log=refs[0], artifacts=artifacts)


def test_copy_result_sends_each_object_once_then_the_manifest(tmp_path: Path) -> None:
    source, dest = Store.local(tmp_path / "a"), Store.local(tmp_path / "b")
    payloads = [os.urandom(50_000) for _ in range(20)]
    manifest = _result(source, [*payloads, payloads[0]])
    transfer = copy_result(source, dest, manifest)
    assert len(transfer.sent) == 20 and not transfer.present
    assert dest.read_manifest(manifest.dep_hash) == manifest
    for ref in transfer.sent:
        assert dest.read_bytes(ref) in payloads


def test_identical_content_under_a_new_dep_hash_sends_no_object(tmp_path: Path) -> None:
    source, dest = Store.local(tmp_path / "a"), Store.local(tmp_path / "b")
    payloads = [os.urandom(10_000) for _ in range(5)]
    copy_result(source, dest, _result(source, payloads, "ab" * 32))
    again = copy_result(source, dest, _result(source, payloads, "cd" * 32))
    assert again.sent == () and again.bytes_sent == 0
    assert len(again.present) == 5
    assert dest.backend.exists(manifest_key("cd" * 32))


@pytest.mark.parametrize("threads", [1, 8])
def test_a_bad_object_stops_the_copy_before_the_manifest(tmp_path: Path, threads: int) -> None:
    source, dest = Store.local(tmp_path / "a"), Store.local(tmp_path / "b")
    manifest = _result(source, [os.urandom(1000) for _ in range(6)])
    bad = manifest.artifacts[2]
    path = tmp_path / "a" / object_key(bad.digest)
    path.write_bytes(path.read_bytes()[:-4] + b"oops")
    with pytest.raises(ObjectCorrupt):
        copy_result(source, dest, manifest, threads=threads)
    assert not dest.backend.exists(manifest_key(manifest.dep_hash))
    assert not dest.has(bad.ref)


def test_copy_objects_deduplicates_refs(tmp_path: Path) -> None:
    source, dest = Store.local(tmp_path / "a"), Store.local(tmp_path / "b")
    ref = source.put_bytes(b"one")
    assert copy_objects(source, dest, [ref, ref, ref]).sent == (ref,)


def test_a_pull_can_restore_artifacts_as_they_stream(tmp_path: Path) -> None:
    source, dest = Store.local(tmp_path / "a"), Store.local(tmp_path / "b")
    payloads = [b"log", os.urandom(300_000), b"same", b"same"]
    manifest = _result(source, payloads)
    transfer = copy_result(source, dest, manifest, restore_root=tmp_path / "tree")
    restored = sorted(transfer.restored, key=lambda r: r.entry.path)
    # out/2 has out/1's content: writing it is _restore's job
    assert [r.entry.path for r in restored] == ["out/0", "out/1"]
    assert (tmp_path / "tree" / "out" / "0").read_bytes() == payloads[1]
    assert not (tmp_path / "tree" / "out" / "2").exists()
    assert dest.read_manifest(manifest.dep_hash) == manifest
    assert all(r.is_intact() for r in restored)
    (tmp_path / "tree" / "out" / "0").write_bytes(b"changed since")
    assert not restored[0].is_intact()


def test_a_bad_object_restores_nothing(tmp_path: Path) -> None:
    source, dest = Store.local(tmp_path / "a"), Store.local(tmp_path / "b")
    manifest = _result(source, [b"log", os.urandom(300_000)])
    path = tmp_path / "a" / object_key(manifest.artifacts[0].digest)
    path.write_bytes(path.read_bytes()[:-4] + b"oops")
    with pytest.raises(ObjectCorrupt):
        copy_result(source, dest, manifest, restore_root=tmp_path / "tree")
    assert list((tmp_path / "tree").rglob("*")) in ([], [tmp_path / "tree" / "out"])
