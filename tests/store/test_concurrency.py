"""Several real processes on one store: writers racing writers, readers racing deletes,
and a writer killed mid-write. Spawned (not forked) processes, as on macOS."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from qik.store import LocalBackend, Store
from qik.store.cas import object_key
from tests.store import workers

CTX = multiprocessing.get_context("spawn")


def _run(processes: list[Any], timeout: float = 60) -> None:
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout)
        assert process.exitcode == 0, f"{process.name} exited with {process.exitcode}"


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if p.is_file()]


def test_writers_of_the_same_object_race_safely(tmp_path: Path) -> None:
    source = tmp_path / "artifact.bin"
    source.write_bytes(os.urandom(256 << 10) * 32)  # 8 MiB, a few ms of compression each
    root = tmp_path / "store"
    barrier, results = CTX.Barrier(4), CTX.Queue()
    _run(
        [
            CTX.Process(
                target=workers.put_same_file, args=(str(root), str(source), barrier, results)
            )
            for _ in range(4)
        ]
    )
    digests = {results.get(timeout=5) for _ in range(4)}
    assert digests == {hashlib.sha256(source.read_bytes()).hexdigest()}
    store = Store.local(root)
    assert [o.digest for o in store.iter_objects()] == list(digests)
    assert store.verify_object(digests.pop())
    assert _temporaries(root) == []


def test_readers_never_see_a_partial_object_or_manifest(tmp_path: Path) -> None:
    root = str(tmp_path / "store")
    barrier, results = CTX.Barrier(4), CTX.Queue()
    writers = [
        CTX.Process(target=workers.write_and_delete, args=(root, seed, barrier, results))
        for seed in range(2)
    ]
    readers = [
        CTX.Process(target=workers.read_everything, args=(root, barrier, results))
        for _ in range(2)
    ]
    _run(writers + readers)
    outcomes = [results.get(timeout=5) for _ in range(4)]
    assert [problems for _, _, problems in outcomes] == [[], [], [], []]
    assert all(count > 0 for _, count, _ in outcomes), outcomes
    assert _temporaries(tmp_path / "store") == []


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL semantics")
def test_a_writer_killed_mid_write_leaves_no_blob(tmp_path: Path) -> None:
    root = tmp_path / "store"
    key = object_key("ab" * 32)
    started = CTX.Event()
    writer = CTX.Process(target=workers.write_slowly, args=(str(root), key, started))
    writer.start()
    try:
        assert started.wait(30), "the writer never started"
    finally:
        writer.kill()
        writer.join(10)
    backend = LocalBackend(root)
    assert not backend.exists(key)
    assert list(backend.list("")) == []
    assert len(_temporaries(root)) == 1
    assert backend.sweep_temps(older_than=0) == 1
    assert _temporaries(root) == []
