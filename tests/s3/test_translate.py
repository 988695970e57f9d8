"""Failures of S3 calls as ``BackendFailure``s: one outage reads the same from every call."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from qik.store.s3 import S3Settings, translate

SETTINGS = S3Settings(bucket="b", prefix="p", endpoint_url="http://127.0.0.1:9")


def _error(code: str, status: int, operation: str) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": ""},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


@pytest.mark.parametrize(
    ("body_code", "status", "kind"),
    [("InternalError", 500, "error"), ("SlowDown", 503, "error"), ("AccessDenied", 403, "denied")],
)
def test_a_head_and_a_get_in_one_outage_give_one_message(
    body_code: str, status: int, kind: str
) -> None:
    # A HEAD answer has no body, so botocore's error code is the bare status; the stress
    # suite's failing-S3 case saw these as two warnings in one run.
    head = translate(_error(str(status), status, "HeadObject"), SETTINGS)
    get = translate(_error(body_code, status, "GetObject"), SETTINGS)
    assert head is not None and get is not None
    assert head.kind == get.kind == kind
    assert head.detail == get.detail
    assert f"HTTP {status}" in get.detail


def test_a_missing_key_is_not_a_failure() -> None:
    assert translate(_error("404", 404, "HeadObject"), SETTINGS) is None
    assert translate(_error("NoSuchKey", 404, "GetObject"), SETTINGS) is None
