"""An ``[caches.NAME] type = "s3"`` table, resolved: templates rendered, blanks dropped.

Rendering is passed in (``qik.graph.expand.render`` bound to the project) so the store
doesn't depend on the graph. A credential that renders empty means "not set here", so a
machine without the variable falls back to boto3's own credential chain.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from qik.config.schema import S3CacheConf
from qik.store.s3 import S3Settings

__all__ = ["RemoteCache", "has_boto3", "resolve"]

# (template, where it is written) -> value
Render = Callable[[str, str], str]


@dataclass(frozen=True)
class RemoteCache:
    """``sign_key`` is None when none is configured, ``""`` when configured but empty on
    this machine (then nothing is trusted or written: see docs/caching.md)."""

    name: str
    settings: S3Settings
    read_only: bool = False
    sign_key: str | None = None

    def __repr__(self) -> str:
        return f"RemoteCache({self.name!r}, {self.settings!r})"  # never the key


def resolve(conf: S3CacheConf, render: Render) -> RemoteCache:
    def field(value: str | None, key: str) -> str | None:
        if value is None:
            return None
        return render(value, f"[caches.{conf.name}] {key}").strip() or None

    settings = S3Settings(
        bucket=field(conf.bucket, "bucket") or "",
        prefix=field(conf.prefix, "prefix") or "",
        region_name=field(conf.region_name, "region-name"),
        endpoint_url=field(conf.endpoint_url, "endpoint-url"),
        aws_access_key_id=field(conf.aws_access_key_id, "aws-access-key-id"),
        aws_secret_access_key=field(conf.aws_secret_access_key, "aws-secret-access-key"),
        aws_session_token=field(conf.aws_session_token, "aws-session-token"),
    )
    sign_key = None if conf.sign_key is None else field(conf.sign_key, "sign-key") or ""
    return RemoteCache(conf.name, settings, conf.read_only, sign_key)


def has_boto3() -> bool:
    """Is boto3 installed? Asked without importing it."""
    return importlib.util.find_spec("boto3") is not None
