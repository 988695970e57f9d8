"""Bodies of the processes in ``test_concurrency.py``: importable by spawned children
without pulling in pytest."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

from qik.store import LocalBackend, ManifestInvalid, ObjectCorrupt, ObjectMissing, ObjectRef, Store
from tests.store.factories import DEP_HASH, make_manifest

MB = 1 << 20
# Enough for a real overlap on two cores, short enough for the default run.
CHURN_SECONDS = 1.5


def stable_payloads() -> list[bytes]:
    return [hashlib.sha256(b"stable%d" % i).digest() * (2048 * (i + 1)) for i in range(4)]


def churn_payloads() -> list[bytes]:
    return [hashlib.sha256(b"churn%d" % i).digest() * (4096 * (i + 1)) for i in range(4)]


def put_same_file(root: str, source: str, barrier: Barrier, results: Any) -> None:
    store = Store.local(Path(root))
    barrier.wait()
    results.put(store.put_file(Path(source)).digest)


def write_and_delete(root: str, seed: int, barrier: Barrier, results: Any) -> None:
    """Keep storing every payload, deleting churn objects and rewriting the manifest."""
    store = Store.local(Path(root))
    rng = random.Random(seed)
    barrier.wait()
    deadline = time.monotonic() + CHURN_SECONDS
    rounds = 0
    while time.monotonic() < deadline:
        stable = [store.put_bytes(data) for data in stable_payloads()]
        churn = [store.put_bytes(data) for data in churn_payloads()]
        store.delete_object(rng.choice(churn).digest)
        store.write_manifest(make_manifest(log=stable[0], artifacts=(), created=float(rounds)))
        rounds += 1
    results.put(("writer", rounds, []))


def read_everything(root: str, barrier: Barrier, results: Any) -> None:
    """Read every object and the manifest until the writers stop; collect what went wrong."""
    store = Store.local(Path(root))
    payloads = {hashlib.sha256(d).hexdigest(): d for d in stable_payloads() + churn_payloads()}
    problems: list[str] = []
    hits = 0
    barrier.wait()
    deadline = time.monotonic() + CHURN_SECONDS
    while time.monotonic() < deadline:
        for digest, data in payloads.items():
            hits += _read_one(store, digest, data, problems)
        try:
            store.read_manifest(DEP_HASH)
        except ManifestInvalid as exc:
            problems.append(f"manifest: {exc}")
    results.put(("reader", hits, problems))


def _read_one(store: Store, digest: str, data: bytes, problems: list[str]) -> int:
    try:
        got = store.read_bytes(ObjectRef(digest, len(data)))
    except ObjectMissing:
        return 0
    except ObjectCorrupt as exc:
        problems.append(str(exc))
        return 0
    if got != data:
        problems.append(f"wrong bytes for {digest}")
    return 1


def write_slowly(root: str, key: str, started: Event) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"x" * MB
        started.set()
        time.sleep(60)  # killed long before this ends
        yield b"never"

    LocalBackend(Path(root)).write_chunks(key, chunks())
