"""The failure policy: one warning per kind of trouble, and a breaker that opens."""

from __future__ import annotations

import pytest

from qik.store import ManifestInvalid, ObjectCorrupt
from qik.store.backend import BackendFailure, FailureKind
from qik.store.mirrors.guard import FAILURE_THRESHOLD, MirrorGuard, worker_guard
from qik.store.paths import StoreError


@pytest.mark.parametrize(
    ("kind", "calls_to_trip"),
    [
        ("unreachable", 1),
        ("timeout", 1),
        ("denied", FAILURE_THRESHOLD),
        ("error", FAILURE_THRESHOLD),
    ],
)
def test_the_breaker_opens(kind: FailureKind, calls_to_trip: int) -> None:
    guard = MirrorGuard("remote")
    for _ in range(calls_to_trip - 1):
        guard.record(BackendFailure(kind, "x"))
        assert not guard.is_tripped
    guard.record(BackendFailure(kind, "x"))
    assert guard.is_tripped


@pytest.mark.parametrize(
    "exc",
    [ManifestInvalid("bad"), ObjectCorrupt("ab" * 32, "flipped")],
)
def test_garbage_warns_but_never_trips(exc: StoreError) -> None:
    guard = MirrorGuard("remote")
    for _ in range(10):
        guard.record(exc)
    assert not guard.is_tripped


def test_one_warning_per_kind_of_trouble() -> None:
    guard = MirrorGuard("remote")
    first = guard.record(BackendFailure("unreachable", "could not connect (s3://b)"))
    assert first is not None and "'remote' is unavailable: could not connect" in first
    assert guard.record(BackendFailure("timeout", "timed out")) is None
    assert guard.record(ManifestInvalid("x")) is not None
    assert guard.record(ManifestInvalid("y")) is None
    assert guard.unsigned("lint@a") is not None
    assert guard.unsigned("lint@b") is None


def test_a_new_run_gets_a_fresh_worker_guard() -> None:
    guard = worker_guard("run-1", "remote")
    guard.record(BackendFailure("unreachable", "x"))
    assert worker_guard("run-1", "remote").is_tripped
    assert not worker_guard("run-2", "remote").is_tripped
    assert worker_guard("run-2", "other") is not worker_guard("run-2", "remote")
