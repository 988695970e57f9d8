"""Fixtures for tests against a real S3-compatible server (moto's server mode)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest

from qik.store.s3 import S3Settings
from tests.s3.server import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, start_moto

_names = itertools.count()


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = start_moto()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_client(moto: MotoServer) -> Any:
    return moto.client()


@pytest.fixture
def bucket(s3_client: Any) -> str:
    """A fresh, empty bucket for this test (the server lives for the whole session)."""
    name = f"qik-test-{os.getpid()}-{next(_names)}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def settings(moto: MotoServer, bucket: str) -> S3Settings:
    return S3Settings(
        bucket=bucket,
        prefix="team-a",
        region_name=REGION,
        endpoint_url=moto.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
