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
