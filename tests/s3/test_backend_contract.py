"""One suite for every backend: the local directory and an S3 bucket behave the same."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from qik.store import (
    Backend,
    KeyMissing,
    LocalBackend,
    ObjectCorrupt,
    ObjectRef,
    Store,
    UnsafePath,
)
from qik.store.backend import BackendFailure
from qik.store.cas import object_key
from qik.store.s3 import S3Backend, S3Settings

pytestmark = pytest.mark.s3


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return LocalBackend(tmp_path / "store")
    settings: S3Settings = request.getfixturevalue("settings")
    return S3Backend(settings)


def _read(backend: Backend, key: str) -> bytes:
    stream = backend.open(key)
    try:
        return stream.read()
    finally:
        stream.close()


def test_write_read_stat(backend: Backend) -> None:
    backend.write_bytes("a/b/c", b"hello")
    assert _read(backend, "a/b/c") == b"hello"
    assert backend.exists("a/b/c")
    info = backend.stat("a/b/c")
    assert info is not None and info.key == "a/b/c" and info.size == 5


def test_a_write_replaces(backend: Backend) -> None:
    backend.write_bytes("k", b"old")
    backend.write_chunks("k", iter([b"ne", b"w"]))
    assert _read(backend, "k") == b"new"


def test_absent_keys(backend: Backend) -> None:
    assert not backend.exists("nope")
    assert backend.stat("nope") is None
    assert not backend.delete("nope")
    with pytest.raises(KeyMissing):
        backend.open("nope/deeper")


def test_delete_twice(backend: Backend) -> None:
    backend.write_bytes("x/k", b"1")
    assert backend.delete("x/k")
    assert not backend.exists("x/k")
    assert not backend.delete("x/k")


def test_list_by_prefix(backend: Backend) -> None:
    for key in ("objects/ab/1", "objects/cd/2", "manifests/3.json"):
        backend.write_bytes(key, b"x")
    assert sorted(i.key for i in backend.list("objects/")) == ["objects/ab/1", "objects/cd/2"]
    assert len(list(backend.list(""))) == 3
    with pytest.raises(ValueError):
        list(backend.list("objects"))


def test_a_producer_that_raises_stores_nothing(backend: Backend) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"partial"
        raise RuntimeError("verification failed")

    with pytest.raises(RuntimeError):
        backend.write_chunks("k", chunks())
    assert not backend.exists("k")


def test_a_large_blob_goes_up_whole(backend: Backend) -> None:
    data = os.urandom(9 << 20)  # over the single-PUT size: a multipart upload on S3
    backend.write_chunks("big", (data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)))
    assert hashlib.sha256(_read(backend, "big")).digest() == hashlib.sha256(data).digest()


def test_unsafe_keys_are_refused(backend: Backend) -> None:
    for key in ("../x", "/abs", "a//b"):
        with pytest.raises(UnsafePath):
            backend.write_bytes(key, b"x")


def test_the_store_round_trips_and_catches_a_flipped_byte(backend: Backend) -> None:
    store = Store(backend)
    data = os.urandom(300_000)
    ref = store.put_bytes(data)
    assert store.read_bytes(ref) == data
    frame = bytearray(_read(backend, object_key(ref.digest)))
    frame[len(frame) // 2] ^= 0xFF
    backend.write_bytes(object_key(ref.digest), bytes(frame))
    with pytest.raises(ObjectCorrupt):
        store.read_bytes(ref)
    assert not store.has(ref)  # a damaged object is deleted, so the next writer repairs it


def test_send_object_copies_the_frame(backend: Backend, tmp_path: Path) -> None:
    source = Store.local(tmp_path / "src")
    ref = source.put_bytes(b"payload" * 1000)
    dest = Store(backend)
    source.send_object(ref, dest)
    assert _read(backend, object_key(ref.digest)) == (
        (tmp_path / "src" / object_key(ref.digest)).read_bytes()
    )
    assert dest.read_bytes(ref) == b"payload" * 1000


def test_send_object_refuses_a_bad_object(backend: Backend, tmp_path: Path) -> None:
    source = Store.local(tmp_path / "src")
    ref = source.put_bytes(b"payload" * 1000)
    lie = ObjectRef(hashlib.sha256(b"other").hexdigest(), ref.size)
    (tmp_path / "src" / object_key(lie.digest)).parent.mkdir(parents=True)
    (tmp_path / "src" / object_key(ref.digest)).rename(tmp_path / "src" / object_key(lie.digest))
    with pytest.raises(ObjectCorrupt):
        source.send_object(lie, Store(backend))
    assert not backend.exists(object_key(lie.digest))


def test_a_stopped_server_is_a_backend_failure(tmp_path: Path) -> None:
    from tests.s3.server import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"
    settings = S3Settings("bucket", "", "x", endpoint, "key", "secret")
    with pytest.raises(BackendFailure) as caught:
        S3Backend(settings).exists("k")
    assert caught.value.kind == "unreachable"
    assert endpoint in str(caught.value)


def test_no_credentials_is_denied() -> None:
    settings = S3Settings("bucket", endpoint_url="http://127.0.0.1:9", region_name="x")
    with pytest.raises(BackendFailure) as caught:
        S3Backend(settings).exists("k")
    assert caught.value.kind == "denied"


def test_a_server_that_never_answers_times_out() -> None:
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings = S3Settings("bucket", "", "x", endpoint, "key", "secret", read_timeout=0.3)
    start = time.monotonic()
    try:
        with pytest.raises(BackendFailure) as caught:
            S3Backend(settings).exists("k")
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    assert caught.value.kind == "timeout"
    assert time.monotonic() - start < 10  # three attempts, bounded by the read timeout


@pytest.mark.parametrize(
    ("code", "kind"),
    [("AccessDenied", "denied"), ("InvalidAccessKeyId", "denied"), ("SlowDown", "error")],
)
def test_client_errors_are_classified(code: str, kind: str) -> None:
    from botocore.exceptions import ClientError

    from qik.store.s3 import translate

    response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": 403}}
    failure = translate(ClientError(response, "HeadObject"), S3Settings("bucket"))
    assert failure is not None and failure.kind == kind
    assert "403" in failure.detail  # by status: a HEAD and a GET in one outage read the same
    missing = ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
    assert translate(missing, S3Settings("bucket")) is None
