"""``qik.filenames``: long names are cut with a digest, short ones kept as they are."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from qik.filenames import MAX_STEM, bounded


@pytest.mark.parametrize(
    "name",
    ["lint", "lint@api", "bb/lint", "c" * MAX_STEM, "日本" * 11],
)
def test_a_short_name_keeps_its_escaped_spelling(name: str) -> None:
    escaped = quote(name, safe="@-_.")
    assert len(escaped) <= MAX_STEM
    assert bounded(escaped, name) == escaped


@pytest.mark.parametrize(
    "name",
    ["c" * (MAX_STEM + 1), "c" * 1000, "日本" * 15, "a/" * 200, "é" * 100],
)
def test_a_long_name_is_cut_with_a_digest(name: str) -> None:
    escaped = quote(name, safe="@-_.")
    short = bounded(escaped, name)
    assert len(short.encode()) <= MAX_STEM
    assert short.isascii() and "/" not in short
    assert short.rsplit("~", 1)[0] == escaped[: len(short.rsplit("~", 1)[0])]
    assert not short.rsplit("~", 1)[0].endswith("%")


def test_long_names_that_share_a_head_get_different_file_names() -> None:
    a, b = "c" * 300 + "a", "c" * 300 + "b"
    assert bounded(a, a) != bounded(b, b)
