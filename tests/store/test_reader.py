"""Reading a cache: untrusted manifests, signatures, pulls, and warnings once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from qik.store import Store, sign
from qik.store.backend import ReadOnlyBackend
from qik.store.cas import manifest_key, object_key
from qik.store.mirrors.reader import MirrorMiss, MirrorReader
from qik.store.paths import StoreError
from tests.store.factories import make_manifest


@pytest.fixture
def warnings() -> list[str]:
    return []


def _mirror(tmp_path: Path, payload: bytes = b"log") -> tuple[Store, str]:
    store = Store.local(tmp_path / "mirror")
    manifest = make_manifest(log=store.put_bytes(payload), artifacts=())
    store.write_manifest(manifest)
    return store, manifest.dep_hash


@pytest.mark.parametrize(
    ("written_with", "read_with", "trusted"),
    [
        (None, None, True),
        (b"k", None, True),
        (b"k", b"k", True),
        (None, b"k", False),
        (b"other", b"k", False),
        (b"k", b"", False),  # a key configured but empty here trusts nothing
    ],
)
def test_signatures(
    tmp_path: Path,
    warnings: list[str],
    written_with: bytes | None,
    read_with: bytes | None,
    trusted: bool,
) -> None:
    store = Store.local(tmp_path)
    manifest = make_manifest(log=store.put_bytes(b"log"), artifacts=())
    store.write_manifest(sign(manifest, written_with) if written_with else manifest)
    reader = MirrorReader("remote", store, warnings.append, sign_key=read_with)
    assert (reader.read(manifest.dep_hash) is not None) is trusted
    assert len(warnings) == (0 if trusted or read_with == b"" else 1)


def test_invalid_manifests_warn_once(tmp_path: Path, warnings: list[str]) -> None:
    store = Store.local(tmp_path)
    for dep_hash in ("aa" * 32, "bb" * 32):
        (tmp_path / manifest_key(dep_hash)).parent.mkdir(exist_ok=True)
        (tmp_path / manifest_key(dep_hash)).write_text('{"format": 1}')
    reader = MirrorReader("remote", store, warnings.append)
    assert reader.read("aa" * 32) is None and reader.read("bb" * 32) is None
    assert len(warnings) == 1 and "invalid manifest" in warnings[0]


def test_a_pull_verifies_and_a_bad_object_is_a_miss(tmp_path: Path, warnings: list[str]) -> None:
    mirror, dep_hash = _mirror(tmp_path)
    local = Store.local(tmp_path / "local")
    reader = MirrorReader("repo", mirror, warnings.append)
    manifest = reader.read(dep_hash)
    assert manifest is not None
    path = tmp_path / "mirror" / object_key(manifest.log.digest)
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    with pytest.raises(MirrorMiss):
        reader.pull(manifest, local)
    assert local.read_manifest(dep_hash) is None
    assert not path.exists()  # damaged, so deleted: the next writer stores it again
    assert len(warnings) == 1 and "bad object" in warnings[0]


def test_a_read_only_mirror_keeps_its_damage(tmp_path: Path, warnings: list[str]) -> None:
    mirror, dep_hash = _mirror(tmp_path)
    reader = MirrorReader("repo", Store(ReadOnlyBackend(mirror.backend)), warnings.append)
    manifest = reader.read(dep_hash)
    assert manifest is not None
    path = tmp_path / "mirror" / object_key(manifest.log.digest)
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    with pytest.raises(MirrorMiss):
        reader.pull(manifest, Store.local(tmp_path / "local"))
    assert path.exists()
    with pytest.raises(StoreError):
        reader.store.put_bytes(b"new")


def test_a_pull_copies_the_result(tmp_path: Path, warnings: list[str]) -> None:
    mirror, dep_hash = _mirror(tmp_path, b"the log" * 100)
    local = Store.local(tmp_path / "local")
    reader = MirrorReader("repo", mirror, warnings.append)
    manifest = reader.read(dep_hash)
    assert manifest is not None
    reader.pull(manifest, local)
    assert local.read_manifest(dep_hash) == manifest
    assert local.read_bytes(manifest.log) == b"the log" * 100
    assert warnings == []
