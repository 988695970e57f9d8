"""The S3 backend: blobs under ``<prefix>/`` in a bucket of any S3-compatible server.

boto3 is imported only when a client is made, so a run that never touches an S3 cache
never pays for it. Every botocore and transport error becomes a ``BackendFailure`` (a
``StoreError``), which callers turn into a warning and a miss; a key that isn't there is
``KeyMissing`` / ``False`` / ``None`` as for any backend.

Timeouts are bounded and retries use botocore's ``standard`` mode (exponential backoff
with jitter), so an unreachable or hung server costs seconds, not a hung run.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from qik.store.backend import BackendFailure, FailureKind, KeyInfo, KeyMissing, ReadStream
from qik.store.paths import check_relpath

# boto3 ships no type information (and mypy-boto3 is not a dependency): clients are Any
# inside this module and never leave it.
__all__ = ["CONNECT_TIMEOUT", "READ_TIMEOUT", "S3Backend", "S3Settings", "translate"]

CONNECT_TIMEOUT = 3.0  # seconds; a connection on a healthy network takes milliseconds
READ_TIMEOUT = 10.0  # seconds without a byte; per socket read, not per object
MAX_ATTEMPTS = 3  # botocore's count includes the first attempt
MAX_POOL = 32  # connections per client: transfers run up to sync.TRANSFER_THREADS at once
_SPOOL_IN_MEMORY = 8 << 20  # blobs up to this size are one PUT from memory
_MULTIPART_CHUNK = 16 << 20
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_DENIED = frozenset(
    {
        "403",
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
    }
)


@dataclass(frozen=True)
class S3Settings:
    """Where and how to reach one S3 cache, with every template already rendered.

    Frozen and hashable: it travels to pool workers in a request and keys their client
    cache. ``None`` credentials mean boto3's own chain (environment, config files, IAM).
    """

    bucket: str
    prefix: str = ""
    region_name: str | None = None
    endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT

    @property
    def where(self) -> str:
        """``s3://bucket/prefix`` (and the endpoint, if not AWS): for messages."""
        url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return f"{url} at {self.endpoint_url}" if self.endpoint_url else url

    def __repr__(self) -> str:
        # Never show credentials in a traceback or a log.
        return f"S3Settings({self.where!r})"


_clients: dict[S3Settings, Any] = {}
_clients_lock = threading.Lock()


def _client_for(settings: S3Settings) -> Any:
    """One boto3 client per settings per process (clients are thread-safe and slow to make:
    each loads the S3 service model)."""
    with _clients_lock:
        client = _clients.get(settings)
        if client is None:
            client = _clients[settings] = _make_client(settings)
        return client


def _make_client(settings: S3Settings) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        max_pool_connections=MAX_POOL,
        # Path-style URLs work on every S3-compatible server (MinIO, moto, Ceph); AWS
        # itself picks virtual-hosted style when no endpoint is given.
        s3={"addressing_style": "path"} if settings.endpoint_url else None,
        # Every object is verified against its SHA-256 and every format-2 manifest
        # against its checksum, so botocore's CRCs add nothing but a second verdict on
        # one bad download: an object with garbage in it read as a server failure
        # (FlexibleChecksumError) on one request and as a bad object on the next, two
        # warnings for one trouble (found by the stress suite). Servers that predate
        # the CRC headers (older MinIO, Ceph) also need them off.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    # A session of our own: boto3's default session is not thread-safe to create clients.
    session = boto3.session.Session(
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        aws_session_token=settings.aws_session_token,
        region_name=settings.region_name,
    )
    try:
        return session.client("s3", endpoint_url=settings.endpoint_url, config=config)
    except ValueError as exc:  # "Invalid endpoint: 127.0.0.1:9000" (no http://), bad IPv6
        raise BackendFailure(
            "error", f"invalid endpoint-url {settings.endpoint_url!r} ({exc})"
        ) from None


class S3Backend:
    """Blobs as S3 objects at ``<prefix>/<key>``. A PUT is atomic: readers see the old
    object, the new one, or none. Large blobs go up as one multipart upload, which S3
    also publishes atomically on completion."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self._prefix = f"{settings.prefix.strip('/')}/" if settings.prefix.strip("/") else ""
        self._client: Any = None

    def __repr__(self) -> str:
        return f"S3Backend({self.settings.where!r})"

    def _s3(self) -> Any:
        if self._client is None:
            self._client = self._call(lambda: _client_for(self.settings))
        return self._client

    def open(self, key: str) -> ReadStream:
        full = self._key(key)
        response = self._call(lambda: self._s3().get_object(Bucket=self.bucket, Key=full))
        if response is None:
            raise KeyMissing(key)
        return _Body(response["Body"], self.settings)

    def write_bytes(self, key: str, data: bytes) -> None:
        full = self._key(key)
        self._call(lambda: self._s3().put_object(Bucket=self.bucket, Key=full, Body=data))

    def write_chunks(self, key: str, chunks: Iterable[bytes]) -> None:
        full = self._key(key)
        # Spooled first: a producer that raises (a failed verification) must leave nothing
        # behind, and S3 has no temporary name to rename from.
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            for chunk in chunks:
                spool.write(chunk)
            size = spool.tell()
            spool.seek(0)
            if size <= _SPOOL_IN_MEMORY:
                data = spool.read()
                self._call(lambda: self._s3().put_object(Bucket=self.bucket, Key=full, Body=data))
            else:
                self._upload_large(full, spool)

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def stat(self, key: str) -> KeyInfo | None:
        full = self._key(key)
        head = self._call(lambda: self._s3().head_object(Bucket=self.bucket, Key=full))
        if head is None:
            return None
        return self._info(key, head, "ContentLength")

    def delete(self, key: str) -> bool:
        if not self.exists(key):
            return False
        full = self._key(key)
        self._call(lambda: self._s3().delete_object(Bucket=self.bucket, Key=full))
        return True

    def list(self, prefix: str) -> Iterator[KeyInfo]:
        if prefix and not prefix.endswith("/"):
            raise ValueError(f"a prefix is empty or ends with '/': {prefix!r}")
        if prefix:
            check_relpath(prefix.rstrip("/"))
        paginator = self._call(lambda: self._s3().get_paginator("list_objects_v2"))
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=self._prefix + prefix))
        # Each page is one request: fetched lazily, inside _call so failures translate.
        while (page := self._call(lambda: next(pages, None))) is not None:
            if not isinstance(page, dict):
                raise self._garbage()
            for item in page.get("Contents", ()):
                key = item.get("Key") if isinstance(item, dict) else None
                if not isinstance(key, str) or not key.startswith(self._prefix):
                    raise self._garbage()
                yield self._info(key[len(self._prefix) :], item, "Size")

    def _info(self, key: str, response: Any, size_field: str) -> KeyInfo:
        """A key's size and date from a HEAD or a listing. A server answering without them
        (a proxy's HTML page with status 200) is a failing server, not a crash."""
        try:
            return KeyInfo(key, int(response[size_field]), response["LastModified"].timestamp())
        except (KeyError, TypeError, ValueError, AttributeError):
            raise self._garbage() from None

    def _garbage(self) -> BackendFailure:
        return BackendFailure("error", f"the server's answer is not S3's ({self.settings.where})")

    def _upload_large(self, full: str, spool: Any) -> None:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=_SPOOL_IN_MEMORY,
            multipart_chunksize=_MULTIPART_CHUNK,
            max_concurrency=4,
        )
        self._call(lambda: self._s3().upload_fileobj(spool, self.bucket, full, Config=config))

    def _key(self, key: str) -> str:
        check_relpath(key)
        return self._prefix + key

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run a botocore call: its result, None if the key is missing, else a
        ``BackendFailure`` naming the server (not the key: one outage, one message)."""
        try:
            return fn()
        except Exception as exc:
            failure = translate(exc, self.settings)
            if failure is None:
                return None
            raise failure from exc


def translate(exc: BaseException, settings: S3Settings) -> BackendFailure | None:
    """The ``BackendFailure`` for an exception from boto3 or the transport; None for
    "no such key". Exceptions that are neither (bugs) are re-raised as they are."""
    kind = _kind(exc)
    if kind is None:
        return None
    return BackendFailure(kind, f"{_describe(exc, kind)} ({settings.where})")


def _kind(exc: BaseException) -> FailureKind | None:
    from botocore import exceptions as bx
    from urllib3 import exceptions as ux

    if isinstance(exc, bx.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND:
            return None
        return "denied" if code in _DENIED else "error"
    if isinstance(exc, bx.ConnectTimeoutError | bx.ReadTimeoutError | ux.TimeoutError):
        return "timeout"
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return "denied"
    transport = (
        bx.EndpointConnectionError,
        bx.HTTPClientError,
        bx.IncompleteReadError,
        ux.HTTPError,
        OSError,
    )
    if isinstance(exc, transport):
        return "unreachable"
    if isinstance(exc, bx.BotoCoreError):
        return "error"
    raise exc  # not a failure of the server or the network: a bug, shown as such


def _describe(exc: BaseException, kind: FailureKind) -> str:
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        # The status, not S3's error code: a HEAD answer has no body, so botocore names
        # its error by the status ("500") where a GET in the same outage says
        # "InternalError", and one outage must read the same from every call (the
        # console shows each message once; two spellings were two warnings).
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return _status_text(status)
    return {
        "unreachable": "could not connect",
        "timeout": "timed out",
        "denied": "no usable credentials",
        "error": f"{type(exc).__name__}",
    }[kind]


def _status_text(status: object) -> str:
    from http import HTTPStatus

    try:
        return f"HTTP {status} {HTTPStatus(int(str(status))).phrase}"
    except ValueError:
        return f"HTTP {status}"


class _Body:
    """A response body whose transport errors are ``BackendFailure``s too (botocore
    retries requests, not a stream that breaks halfway)."""

    def __init__(self, body: Any, settings: S3Settings) -> None:
        self._body = body
        self._settings = settings

    def read(self, size: int = -1, /) -> bytes:
        try:
            data: bytes = self._body.read(None if size < 0 else size)
        except Exception as exc:
            raise (translate(exc, self._settings) or _broken(self._settings)) from exc
        return data

    def close(self) -> None:
        self._body.close()


def _broken(settings: S3Settings) -> BackendFailure:
    return BackendFailure("unreachable", f"the connection broke ({settings.where})")
