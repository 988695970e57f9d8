"""The repo cache: pruning, its git-friendly encodings, publishing outside git."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qik.store import Manifest, Store
from qik.store.cas import manifest_key
from qik.store.mirrors.repo import (
    GITATTRIBUTES_LINE,
    install_merge_driver,
    prune,
    publish_to_repo,
    scattered_json,
    with_attributes_line,
)
from tests.store.factories import make_manifest


def _put(store: Store, runnable: str, created: float, content: bytes, dep_hash: str) -> Manifest:
    manifest = make_manifest(
        runnable=runnable,
        created=created,
        dep_hash=dep_hash,
        log=store.put_bytes(content),
        artifacts=(),
    )
    store.write_manifest(manifest)
    return manifest


def test_prune_keeps_the_newest_manifest_per_runnable(tmp_path: Path) -> None:
    store = Store.local(tmp_path)
    old = _put(store, "lint", 1.0, b"old log", "aa" * 32)
    new = _put(store, "lint", 2.0, b"new log", "bb" * 32)
    other = _put(store, "fmt", 1.0, b"fmt log", "cc" * 32)
    (tmp_path / manifest_key("dd" * 32)).write_bytes(b"garbage")
    changes = prune(store)
    assert sorted(store.iter_manifests()) == sorted([new.dep_hash, other.dep_hash])
    assert {o.digest for o in store.iter_objects()} == {new.log.digest, other.log.digest}
    assert f".qik/{manifest_key(old.dep_hash)}" in changes.removed
    assert len(changes.removed) == 3  # two manifests, one object


def test_prune_keeps_the_result_just_published_whatever_its_date(tmp_path: Path) -> None:
    store = Store.local(tmp_path)
    skewed = _put(store, "lint", 9e9, b"from a machine whose clock runs ahead", "aa" * 32)
    fresh = _put(store, "lint", 2.0, b"ours", "bb" * 32)
    prune(store, keep=fresh.dep_hash)
    assert list(store.iter_manifests()) == [fresh.dep_hash]
    assert not store.has(skewed.log)


def test_publishing_outside_git_still_prunes(tmp_path: Path) -> None:
    local = Store.local(tmp_path / "._qik")
    mirror = tmp_path / ".qik"
    for i, created in enumerate((1.0, 2.0)):
        manifest = _put(local, "gen", created, b"log %d" % i, f"{i:02x}" * 32)
        assert publish_to_repo(local, manifest, mirror) == []
    assert len(list(Store.local(mirror).iter_manifests())) == 1
    assert (mirror / ".gitignore").exists()
    assert (
        ".qik/** -text linguist-generated=true merge=qik"
        in (tmp_path / ".gitattributes").read_text()
    )
    assert not install_merge_driver(tmp_path)


def test_an_existing_whole_manifest_is_not_rewritten(tmp_path: Path) -> None:
    local = Store.local(tmp_path / "._qik")
    first = _put(local, "gen", 1.0, b"log", "aa" * 32)
    publish_to_repo(local, first, tmp_path / ".qik")
    path = tmp_path / ".qik" / manifest_key(first.dep_hash)
    before = path.read_bytes()
    publish_to_repo(local, _put(local, "gen", 5.0, b"log", "aa" * 32), tmp_path / ".qik")
    assert path.read_bytes() == before  # one dep hash, interchangeable results


_labels = st.dictionaries(st.text(min_size=1, max_size=20), st.sampled_from(["ab" * 4, "cd" * 32]))


@settings(max_examples=50, deadline=None)
@given(
    deps=_labels,
    created=st.floats(0, 2**40),
    runnable=st.text(min_size=1, max_size=30).filter(str.isprintable),
)
def test_scattered_json_holds_the_same_values(
    deps: dict[str, str], created: float, runnable: str
) -> None:
    manifest = make_manifest(deps=deps, created=created, runnable=runnable)
    data = scattered_json(manifest)
    assert Manifest.from_bytes(data) == manifest
    assert data.count(b"\n") == 1
    values, canonical = json.loads(data), json.loads(manifest.to_bytes())
    assert values.pop("checksum") != canonical.pop("checksum")  # over the bytes written
    assert values == canonical


OLD_LINE = b".qik/** linguist-generated=true merge=qik"
NEW_LINE = GITATTRIBUTES_LINE.encode()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"", NEW_LINE + b"\n"),
        (b"*.png binary", b"*.png binary\n" + NEW_LINE + b"\n"),
        (b"*.png binary\n" + NEW_LINE + b"\n", b"*.png binary\n" + NEW_LINE + b"\n"),
        # qik's older line (no -text) is replaced where it is, its line end kept
        (b"a x\n" + OLD_LINE + b"\nb y\n", b"a x\n" + NEW_LINE + b"\nb y\n"),
        (b"* text=auto\r\n" + OLD_LINE + b"\r\n", b"* text=auto\r\n" + NEW_LINE + b"\r\n"),
        (OLD_LINE, NEW_LINE),
        # both: left alone
        (OLD_LINE + b"\n" + NEW_LINE + b"\n", OLD_LINE + b"\n" + NEW_LINE + b"\n"),
    ],
)
def test_the_gitattributes_line_is_added_once(before: bytes, after: bytes) -> None:
    assert with_attributes_line(before) == after
    assert with_attributes_line(after) == after
