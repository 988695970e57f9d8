"""The canonical dep-hash encoding and glob digests."""

from __future__ import annotations

import hashlib

import pytest

from qik.fingerprint import FORMAT_VERSION, FileIndex, digest_parts, glob_digest
from qik.fingerprint.hashing import Part


def test_encoding_is_pinned() -> None:
    """The worked example of the module docstring; changing it invalidates every cache."""
    expected = hashlib.sha256(b"qik-dep-hash:%d,1:l,4:exec,s4:make," % FORMAT_VERSION)
    assert digest_parts([("exec", "make")]) == expected.hexdigest()


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ([("ab", "c")], [("a", "bc")]),
        ([("x", "ab"), ("y", "c")], [("x", "a"), ("y", "bc")]),
        ([("x", "1")], [("x", b"1")]),
        ([("x", "")], []),
        ([("x", "")], [("x", [])]),
        ([("x", [("a", "b")])], [("x", "a"), ("a", "b")]),
        ([("x", [("a", "b"), ("c", "d")])], [("x", [("a", "b")]), ("c", "d")]),
        ([("a", "1"), ("b", "2")], [("b", "2"), ("a", "1")]),
        ([("s", "1:l,")], [("s", [])]),
    ],
)
def test_distinct_parts_digest_differently(left: list[Part], right: list[Part]) -> None:
    assert digest_parts(left) != digest_parts(right)


def test_digest_is_deterministic_and_hex_sha256() -> None:
    parts: list[Part] = [("exec", "ruff check ."), ("deps", [("src/a.py", "00" * 20)])]
    digest = digest_parts(parts)
    assert digest == digest_parts(list(parts))
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_unicode_and_unencodable_names() -> None:
    assert digest_parts([("p", "ç")]) != digest_parts([("p", "c")])
    # A non-UTF-8 file name decoded with surrogateescape still encodes (to its raw bytes).
    assert digest_parts([("p", b"\xff".decode("utf-8", "surrogateescape"))])


INDEX = FileIndex.of({"a/x.py": "1" * 40, "a/y.py": "2" * 40, "b/z.py": "3" * 40})


def test_glob_digest_follows_matched_content_only() -> None:
    base = glob_digest(INDEX, "a/**.py")
    assert glob_digest(INDEX, "./a/**/*.py") == base
    changed = FileIndex.of({**INDEX.blobs, "a/x.py": "9" * 40})
    assert glob_digest(changed, "a/**.py") != base
    other = FileIndex.of({**INDEX.blobs, "b/z.py": "9" * 40})
    assert glob_digest(other, "a/**.py") == base


def test_glob_digest_sees_renames() -> None:
    renamed = FileIndex.of({"a/w.py": "1" * 40, "a/y.py": "2" * 40})
    assert glob_digest(renamed, "a/**.py") != glob_digest(INDEX, "a/**.py")


def test_empty_match_has_a_stable_distinct_digest() -> None:
    empty = glob_digest(INDEX, "c/**")
    assert empty == glob_digest(FileIndex.of({}), "**")
    assert empty != glob_digest(INDEX, "b/**")
    assert empty not in {digest_parts([]), *INDEX.blobs.values()}


def test_glob_digest_is_memoized_per_index() -> None:
    index = FileIndex.of(dict(INDEX.blobs))
    first = glob_digest(index, "**/*.py")
    assert glob_digest(index, "**/*.py") is first
    assert glob_digest(FileIndex.of({"a/x.py": "0" * 40}), "**/*.py") != first
