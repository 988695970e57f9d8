"""The repo cache's git merge driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from qik.store.mirrors.merge import main, merge_manifests
from tests.store.factories import make_manifest

OLD = make_manifest(created=1000.0).to_bytes()
NEW = make_manifest(created=2000.0).to_bytes()
BAD = b"{not json"


@pytest.mark.parametrize(
    ("ours", "theirs", "kept"),
    [
        (OLD, NEW, NEW),
        (NEW, OLD, NEW),
        (OLD, OLD, OLD),
        (BAD, NEW, NEW),
        (NEW, BAD, NEW),
        (BAD, BAD, BAD),
    ],
)
def test_the_newer_valid_manifest_wins(ours: bytes, theirs: bytes, kept: bytes) -> None:
    assert merge_manifests(ours, theirs) == kept


def test_main_writes_the_result_over_ours(tmp_path: Path) -> None:
    base, ours, theirs = (tmp_path / n for n in ("base", "ours", "theirs"))
    base.write_bytes(b"")
    ours.write_bytes(OLD)
    theirs.write_bytes(NEW)
    args = [str(base), str(ours), str(theirs), ".qik/manifests/ab.json"]
    assert main(args) == 0
    assert ours.read_bytes() == NEW


def test_main_keeps_ours_for_objects(tmp_path: Path) -> None:
    for name, data in (("base", b""), ("ours", b"frame-a"), ("theirs", b"frame-b")):
        (tmp_path / name).write_bytes(data)
    args = [str(tmp_path / n) for n in ("base", "ours", "theirs")]
    assert main([*args, ".qik/objects/ab/abcd"]) == 0
    assert (tmp_path / "ours").read_bytes() == b"frame-a"
