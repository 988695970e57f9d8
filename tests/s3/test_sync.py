"""Publishing to a bucket (``qik.store.sync``): what "already present" means there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qik.store import Store
from qik.store.cas import object_key
from qik.store.manifest import ObjectRef
from qik.store.s3 import S3Backend, S3Settings
from qik.store.sync import copy_objects

pytestmark = pytest.mark.s3


def _local_object(tmp_path: Path) -> tuple[Store, ObjectRef, bytes]:
    source = Store.local(tmp_path / "local")
    ref = source.put_bytes(os.urandom(50_000))
    return source, ref, (tmp_path / "local" / object_key(ref.digest)).read_bytes()


def test_an_object_of_another_size_in_the_bucket_is_replaced(
    settings: S3Settings, tmp_path: Path
) -> None:
    # A HEAD said "present" and the manifest went up over 5 bytes of junk: readers warned
    # and ran again for good, and a read-only reader never repaired it.
    source, ref, frame = _local_object(tmp_path)
    bucket = S3Backend(settings)
    bucket.write_bytes(object_key(ref.digest), b"junk!")
    transfer = copy_objects(source, Store(bucket), [ref])
    assert transfer.sent == (ref,)
    stream = bucket.open(object_key(ref.digest))
    assert stream.read() == frame
    stream.close()


def test_an_object_of_the_same_size_in_the_bucket_is_not_sent_again(
    settings: S3Settings, tmp_path: Path
) -> None:
    source, ref, frame = _local_object(tmp_path)
    bucket = S3Backend(settings)
    bucket.write_bytes(object_key(ref.digest), frame)
    transfer = copy_objects(source, Store(bucket), [ref])
    assert (transfer.sent, transfer.present) == ((), (ref,))
