"""Dispatch in topological order: warm runnables replay here, cold ones go to a process pool.

The scheduler is handed its collaborators (how to decide warm or cold, how to replay, how to
run one cold runnable, the pool to use), so tests can give it small real functions.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass
from typing import Literal, Protocol

from qik.scheduler.worker import ColdOutcome, ColdRequest

__all__ = ["Job", "Reporter", "Result", "Scheduler", "Status"]

Status = Literal["ran", "replayed", "failed", "skipped"]


@dataclass(frozen=True)
class Result:
    name: str
    status: Status
    exit_code: int | None = None
    duration: float = 0.0
    is_replay: bool = False
    source: str | None = None  # the cache a replay came from
    saved: float = 0.0  # the recorded duration of a replayed run
    warnings: tuple[str, ...] = ()
    timed_out: bool = False
    touched_files: bool = False  # ran, or restored artifacts: downstream must re-hash


@dataclass(frozen=True)
class Job:
    """What to do with one runnable: replay it here, or run ``request`` in the pool."""

    name: str
    replay: Callable[[], Result | None] | None = None  # None result: replay failed, run it
    request: ColdRequest | None = None
    cold_fallback: Callable[[], ColdRequest] | None = None


class Reporter(Protocol):
    def started(self, name: str, request: ColdRequest) -> None: ...

    def finished(self, result: Result) -> None: ...

    def tick(self) -> None: ...


class Scheduler:
    def __init__(
        self,
        order: Sequence[str],
        upstream: Mapping[str, Sequence[str]],
        *,
        prepare: Callable[[str, bool], Job],
        run_cold: Callable[[ColdRequest], ColdOutcome],
        make_pool: Callable[[], Executor],
        reporter: Reporter,
        tick_seconds: float = 0.1,
        max_in_flight: int = 64,
    ) -> None:
        self._order = list(order)
        selected = set(order)
        self._upstream = {n: [u for u in upstream[n] if u in selected] for n in order}
        self._downstream: dict[str, list[str]] = {n: [] for n in order}
        for name, ups in self._upstream.items():
            for up in ups:
                self._downstream[up].append(name)
        self._prepare = prepare
        self._run_cold = run_cold
        self._make_pool = make_pool
        self._pool: Executor | None = None
        self._reporter = reporter
        self._tick = tick_seconds
        # Submitting everything at once would make each wait() watch every pending future
        # (quadratic in runnables) and show queued runnables as running.
        self._max_in_flight = max(1, max_in_flight)
        self.results: dict[str, Result] = {}

    @property
    def pool_started(self) -> bool:
        return self._pool is not None

    def run(self) -> dict[str, Result]:
        waiting = {n: len(ups) for n, ups in self._upstream.items()}
        ready = deque(n for n in self._order if waiting[n] == 0)
        running: dict[Future[ColdOutcome], tuple[str, float]] = {}
        while ready or running:
            while ready and len(running) < self._max_in_flight:
                self._dispatch(ready.popleft(), running, ready, waiting)
            if running:
                self._collect(running, ready, waiting)
        return self.results

    def _dispatch(
        self,
        name: str,
        running: dict[Future[ColdOutcome], tuple[str, float]],
        ready: deque[str],
        waiting: dict[str, int],
    ) -> None:
        ups = [self.results[u] for u in self._upstream[name]]
        if any(u.status in ("failed", "skipped") for u in ups):
            self._finish(Result(name, "skipped"), ready, waiting)
            return
        job = self._prepare(name, any(u.touched_files for u in ups))
        request = job.request
        if job.replay is not None:
            result = job.replay()
            if result is not None:
                self._finish(result, ready, waiting)
                return
            assert job.cold_fallback is not None
            request = job.cold_fallback()
        assert request is not None
        self._reporter.started(name, request)
        try:
            future = self._submit(request)
        except Exception as exc:  # no pool takes it: this runnable fails, not the run
            failed = Result(
                name, "failed", exit_code=1, warnings=(f"{name}: worker error: {exc}",)
            )
            self._finish(failed, ready, waiting)
            return
        running[future] = (name, time.monotonic())

    def _submit(self, request: ColdRequest) -> Future[ColdOutcome]:
        """Submit to the pool; to a new one if it broke (a worker was killed: the OOM
        killer, a user). The runnables the dead worker had fail; the rest go on. A broken
        pool used to raise here: a traceback, exit 70 (the stress suite's crash case)."""
        with _interrupts_held():
            try:
                return self._pool_or_start().submit(self._run_cold, request)
            except Exception:
                self._pool = None
                return self._pool_or_start().submit(self._run_cold, request)

    def _pool_or_start(self) -> Executor:
        if self._pool is None:
            self._pool = self._make_pool()
        return self._pool

    def _collect(
        self,
        running: dict[Future[ColdOutcome], tuple[str, float]],
        ready: deque[str],
        waiting: dict[str, int],
    ) -> None:
        done, _ = wait(list(running), timeout=self._tick, return_when=FIRST_COMPLETED)
        self._reporter.tick()
        for future in done:
            name, _started = running.pop(future)
            self._finish(_cold_result(name, future), ready, waiting)

    def _finish(self, result: Result, ready: deque[str], waiting: dict[str, int]) -> None:
        self.results[result.name] = result
        self._reporter.finished(result)
        for down in self._downstream[result.name]:
            waiting[down] -= 1
            if waiting[down] == 0:
                ready.append(down)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C while a submit may start pool workers: they (and loky's manager thread,
    which starts later ones) inherit it blocked, so a Ctrl-C no longer hits a worker still
    importing and prints its KeyboardInterrupt traceback; the main process handles it once
    this is over (the stress suite's signals case)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _cold_result(name: str, future: Future[ColdOutcome]) -> Result:
    try:
        outcome = future.result()
    except Exception as exc:  # the worker itself died: a failure of this runnable
        return Result(name, "failed", exit_code=1, warnings=(f"{name}: worker error: {exc}",))
    status: Status = "ran" if outcome.exit_code == 0 else "failed"
    return Result(
        name,
        status,
        exit_code=outcome.exit_code,
        duration=outcome.duration,
        warnings=outcome.warnings,
        timed_out=outcome.timed_out,
        touched_files=True,
    )
