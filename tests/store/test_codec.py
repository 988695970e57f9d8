"""Frames: the digest-placed first block, raw verified copies, bombs and trailing bytes."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
import zstandard

from qik.store import ObjectCorrupt, ObjectRef
from qik.store.codec import encode, first_block_size, verified_frame


def _ref(data: bytes) -> ObjectRef:
    return ObjectRef(hashlib.sha256(data).hexdigest(), len(data))


@pytest.mark.parametrize("size", [0, 1, 2, 100, 5000, 300_000])
def test_a_frame_decodes_and_declares_its_size(size: int) -> None:
    data = os.urandom(size)
    frame = encode(data, _ref(data))
    assert zstandard.frame_content_size(frame) == size
    assert zstandard.ZstdDecompressor().decompress(frame) == data
    assert encode(data, _ref(data)) == frame  # same content, same bytes, on every machine


def test_the_first_block_ends_inside_the_content() -> None:
    for size in (2, 3, 10, 10_000):
        data = os.urandom(size)
        assert 1 <= first_block_size(_ref(data)) < size


def test_two_versions_of_a_file_share_little_but_the_header() -> None:
    text = b"".join(b"package-%d==1.%d\n" % (i, i) for i in range(20_000))
    a, b = text, text + b"one-more==1\n"
    frame_a, frame_b = encode(a, _ref(a)), encode(b, _ref(b))
    common = next(i for i, (x, y) in enumerate(zip(frame_a, frame_b, strict=False)) if x != y)
    assert common < 4200


def test_verified_frame_copies_the_bytes_it_checked() -> None:
    data = os.urandom(3 << 20)
    frame = encode(data, _ref(data))
    assert b"".join(verified_frame(io.BytesIO(frame), _ref(data))) == frame


def test_verified_frame_raises_before_its_last_chunk() -> None:
    data = os.urandom(100_000)
    frame = bytearray(encode(data, _ref(data)))
    frame[-10] ^= 1
    with pytest.raises(ObjectCorrupt):
        list(verified_frame(io.BytesIO(bytes(frame)), _ref(data)))


def test_verified_frame_stops_a_bomb_early() -> None:
    zeros = bytes(64 << 20)
    bomb = zstandard.ZstdCompressor(write_content_size=False).compress(zeros)
    fake = ObjectRef(hashlib.sha256(b"x").hexdigest(), 10)
    with pytest.raises(ObjectCorrupt):
        list(verified_frame(io.BytesIO(bomb), fake))


@pytest.mark.parametrize("trailing", [b"x" * 10, bytes(3 << 20)])
def test_data_after_the_frame_is_refused(trailing: bytes) -> None:
    data = b"content"
    frame = encode(data, _ref(data))
    with pytest.raises(ObjectCorrupt):
        list(verified_frame(io.BytesIO(frame + trailing), _ref(data)))
