"""A real S3-compatible server for the S3 cases: moto in server mode, in a subprocess, over
HTTP on 127.0.0.1 and a free port (never an in-process mock). One per suite run."""

from __future__ import annotations

import contextlib
import itertools
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from stress.faults import procs

__all__ = [
    "ACCESS_KEY",
    "REGION",
    "SECRET_KEY",
    "MotoServer",
    "free_port",
    "launch",
    "server",
    "stop_all",
]

ACCESS_KEY = "stress"
SECRET_KEY = "stress-secret"
REGION = "us-east-1"
_buckets = itertools.count()


@dataclass
class MotoServer:
    endpoint: str
    port: int
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
        ).client(
            "s3",
            endpoint_url=self.endpoint,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
        )

    def new_bucket(self, client: Any) -> str:
        name = f"stress-{next(_buckets)}-{int(time.time() * 1000) % 100000}"
        client.create_bucket(Bucket=name)
        return name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_server: list[MotoServer] = []


def server() -> MotoServer:
    """The suite's moto server, started on first use."""
    if _server and _server[0].proc.poll() is None:
        return _server[0]
    _server.clear()
    _server.append(launch())
    return _server[0]


def launch(timeout: float = 60.0) -> MotoServer:
    """A new moto server on a free port, once it answers (the tests start theirs here too)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    procs.protect(proc.pid)
    found = MotoServer(f"http://127.0.0.1:{port}", port, proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"{found.endpoint}/moto-api/", timeout=2).close()
            return found
        time.sleep(0.1)
    found.stop()
    raise RuntimeError("moto server did not start")


def stop_all() -> None:
    for running in _server:
        running.stop()
    _server.clear()


def s3_toml(prefix: str = "stress", *, name: str = "remote", extra: str = "") -> str:
    """``vars`` and a ``[caches.NAME]`` table; the bucket, endpoint and keys come from the
    environment ``s3_env`` gives (as a real project would take them)."""
    return f"""
vars = ["s3_endpoint", "s3_bucket", "aws_key", "aws_secret", {{name = "sign", required = false}}]

[caches.{name}]
type = "s3"
bucket = "{{ctx.s3_bucket}}"
prefix = "{prefix}"
region-name = "{REGION}"
endpoint-url = "{{ctx.s3_endpoint}}"
aws-access-key-id = "{{ctx.aws_key}}"
aws-secret-access-key = "{{ctx.aws_secret}}"
{extra}
"""


def s3_env(endpoint: str, bucket: str, sign: str | None = None) -> dict[str, str]:
    env = {
        "S3_ENDPOINT": endpoint,
        "S3_BUCKET": bucket,
        "AWS_KEY": ACCESS_KEY,
        "AWS_SECRET": SECRET_KEY,
    }
    if sign is not None:
        env["SIGN"] = sign
    return env


def bucket_keys(client: Any, bucket: str, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))


def snapshot_bucket(client: Any, bucket: str) -> dict[str, bytes]:
    return {
        key: client.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in bucket_keys(client, bucket)
    }


def restore_bucket(client: Any, bucket: str, content: dict[str, bytes]) -> None:
    """Make the bucket hold exactly ``content``."""
    for key in bucket_keys(client, bucket):
        if key not in content:
            client.delete_object(Bucket=bucket, Key=key)
    for key, data in content.items():
        client.put_object(Bucket=bucket, Key=key, Body=data)
