"""What the scheduler tests share: a real loky pool, and a reporter that records events."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Executor

import loky
import pytest

from qik.scheduler.run import Result
from qik.scheduler.worker import ColdRequest


class Recorder:
    """A scheduler reporter that keeps ("start" | status, name) events in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def started(self, name: str, request: ColdRequest) -> None:
        self.events.append(("start", name))

    def finished(self, result: Result) -> None:
        self.events.append((result.status, result.name))

    def tick(self) -> None:
        pass


@pytest.fixture(scope="module")
def pool() -> Iterator[Executor]:
    executor = loky.get_reusable_executor(max_workers=2, timeout=30)
    # Both workers up before any test measures overlap (spawning is slow on a busy box).
    list(executor.map(time.sleep, [0.3, 0.3]))
    yield executor
    executor.shutdown(wait=True, kill_workers=True)
