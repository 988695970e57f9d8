"""Dispatch in topological order: warm runnables replay here, cold ones go to a process pool.

The scheduler is handed its collaborators (how to decide warm or cold, how to replay, how to
run one cold runnable, the pool to use), so tests can give it small real functions.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from qik import interrupts

if TYPE_CHECKING:  # concurrent.futures (and its logging) only once a pool is used
    from concurrent.futures import Executor, Future

    from qik.scheduler.worker import BatchOutcome, ColdOutcome, ColdRequest

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
    # A cold runnable's whole output, when its worker sent it back (small logs): for the
    # console to show, then dropped (``Scheduler.results`` keeps no logs).
    log: bytes | None = None


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
        run_cold: Callable[[ColdRequest], ColdOutcome] | None = None,
        make_pool: Callable[[], Executor],
        reporter: Reporter,
        tick_seconds: float = 0.1,
        max_in_flight: int = 64,
        batch: int = 1,
        batch_budget: float | None = None,
        group: Callable[[str], str] | None = None,
    ) -> None:
        self._order = list(order)
        selected = set(order)
        self._upstream = {n: [u for u in upstream[n] if u in selected] for n in order}
        self._downstream: dict[str, list[str]] = {n: [] for n in order}
        for name, ups in self._upstream.items():
            for up in ups:
                self._downstream[up].append(name)
        self._prepare = prepare
        # None: the worker's own ``run_cold`` and ``BATCH_BUDGET``, imported when a runnable
        # is found cold (a fully cached run never needs the worker's module).
        self._run_cold = run_cold
        self._make_pool = make_pool
        self._pool: Executor | None = None
        self._reporter = reporter
        self._tick = tick_seconds
        # Submitting everything at once would make each wait() watch every pending future
        # (quadratic in runnables) and show queued runnables as running.
        self._max_in_flight = max(1, max_in_flight)
        # Up to ``batch`` cold runnables per pool task, only while the ready queue holds
        # more than one runnable per slot (see ``_batch_size``).
        self._batch = max(1, batch)
        self._batch_budget = batch_budget
        # With batches, runnables of one group (a module) go next to each other: they
        # cover the same files, which a batch checks once for all (``worker.run_batch``).
        self._group = group
        # Runnables of a batch its worker handed back unrun (the batch ran past its
        # budget): already prepared and reported started, they go first.
        self._returned: deque[tuple[str, ColdRequest]] = deque()
        self._requeued: set[str] = set()  # handed back after a worker died: once only
        self.results: dict[str, Result] = {}

    @property
    def pool_started(self) -> bool:
        return self._pool is not None

    def run(self) -> dict[str, Result]:
        waiting = {n: len(ups) for n, ups in self._upstream.items()}
        ready = deque(n for n in self._order if waiting[n] == 0)
        if self._batch > 1 and self._group is not None:
            ready = deque(_grouped(ready, self._group))
        running: dict[Future[Any], list[tuple[str, ColdRequest]]] = {}
        while ready or running or self._returned:
            while (ready or self._returned) and len(running) < self._max_in_flight:
                self._dispatch(running, ready, waiting)
            if running:
                self._collect(running, ready, waiting)
        return self.results

    def _batch_size(self, ready: deque[str]) -> int:
        """One runnable per task unless the queue is long: then each task takes a share
        of it, so that every in-flight slot still gets work and the last tasks of the
        run stay small. A pool task costs both processes a pickled message, a pipe
        write and a wake-up each way, about as much as running a trivial command."""
        if self._batch == 1:
            return 1
        queued = len(ready) + len(self._returned)
        return max(1, min(self._batch, queued // (2 * self._max_in_flight)))

    def _dispatch(
        self,
        running: dict[Future[Any], list[tuple[str, ColdRequest]]],
        ready: deque[str],
        waiting: dict[str, int],
    ) -> None:
        size = self._batch_size(ready)
        batch: list[tuple[str, ColdRequest]] = []
        while len(batch) < size and (self._returned or ready):
            if self._returned:
                batch.append(self._returned.popleft())
                continue
            name = ready.popleft()
            request = self._cold_request(name, ready, waiting)
            if request is not None:
                self._reporter.started(name, request)
                batch.append((name, request))
        if not batch:
            return
        try:
            if len(batch) == 1:
                future = self._submit(self._cold_runner(), batch[0][1])
            else:
                requests = [request for _, request in batch]
                from qik.scheduler.worker import BATCH_BUDGET, run_batch

                budget = BATCH_BUDGET if self._batch_budget is None else self._batch_budget
                future = self._submit(run_batch, self._cold_runner(), requests, budget)
        except Exception as exc:  # no pool takes it: these runnables fail, not the run
            for name, _ in batch:
                self._finish(_worker_error(name, exc), ready, waiting)
            return
        running[future] = batch

    def _cold_request(
        self, name: str, ready: deque[str], waiting: dict[str, int]
    ) -> ColdRequest | None:
        """What to run in the pool for ``name``, or None if it is done already (skipped
        after a failure upstream, or replayed here)."""
        ups = [self.results[u] for u in self._upstream[name]]
        if any(u.status in ("failed", "skipped") for u in ups):
            self._finish(Result(name, "skipped"), ready, waiting)
            return None
        job = self._prepare(name, any(u.touched_files for u in ups))
        request = job.request
        if job.replay is not None:
            result = job.replay()
            if result is not None:
                self._finish(result, ready, waiting)
                return None
            assert job.cold_fallback is not None
            request = job.cold_fallback()
        assert request is not None
        return request

    def _cold_runner(self) -> Callable[[ColdRequest], ColdOutcome]:
        if self._run_cold is None:
            from qik.scheduler.worker import run_cold

            self._run_cold = run_cold
        return self._run_cold

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Submit to the pool; to a new one if it broke (a worker was killed: the OOM
        killer, a user). The runnables the dead worker had fail; the rest go on. A broken
        pool used to raise here: a traceback, exit 70 (the stress suite's crash case)."""
        with _interrupts_held():
            try:
                return self._pool_or_start().submit(fn, *args)
            except Exception:
                self._pool = None
                return self._pool_or_start().submit(fn, *args)

    def _pool_or_start(self) -> Executor:
        if self._pool is None:
            self._pool = self._make_pool()
        return self._pool

    def _collect(
        self,
        running: dict[Future[Any], list[tuple[str, ColdRequest]]],
        ready: deque[str],
        waiting: dict[str, int],
    ) -> None:
        from concurrent.futures import FIRST_COMPLETED, wait

        from qik.scheduler.worker import ColdOutcome

        done, _ = wait(list(running), timeout=self._tick, return_when=FIRST_COMPLETED)
        interrupts.check()  # a Ctrl-C whose KeyboardInterrupt was swallowed somewhere
        self._reporter.tick()
        for future in done:
            members = running.pop(future)
            try:
                outcomes = future.result()
            except Exception as exc:  # a worker died: the pool is broken
                self._lost(members, exc, ready, waiting)
                continue
            if len(members) == 1 and isinstance(outcomes, ColdOutcome):
                self._finish(_cold_result(members[0][0], outcomes), ready, waiting)
                continue
            batch = cast("BatchOutcome", outcomes)
            done_members = members[: len(batch.outcomes)]
            for (name, _), outcome in zip(done_members, batch.outcomes, strict=True):
                if isinstance(outcome, str):  # run_cold raised: this runnable failed
                    failed = Result(name, "failed", exit_code=1, warnings=(outcome,))
                    self._finish(failed, ready, waiting)
                else:
                    self._finish(_cold_result(name, outcome), ready, waiting)
            self._returned.extendleft(reversed(members[len(batch.outcomes) :]))

    def _lost(
        self,
        members: list[tuple[str, ColdRequest]],
        exc: Exception,
        ready: deque[str],
        waiting: dict[str, int],
    ) -> None:
        """The task of ``members`` died with its pool (a worker was killed; loky then
        fails every task it holds). A runnable that started, or may have, fails: its
        command may have run. One that certainly never started (``run_cold`` creates
        its output file before anything else) goes to the new pool instead, once."""
        for name, request in members:
            if name in self._requeued or _may_have_started(request):
                self._finish(_worker_error(name, exc), ready, waiting)
            else:
                self._requeued.add(name)
                self._returned.append((name, request))

    def _finish(self, result: Result, ready: deque[str], waiting: dict[str, int]) -> None:
        self._reporter.finished(result)
        self.results[result.name] = result if result.log is None else replace(result, log=None)
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


def _grouped(names: Sequence[str], group: Callable[[str], str]) -> list[str]:
    """``names`` with those of one group together, groups in the order they first come."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(group(name), []).append(name)
    return [name for members in groups.values() for name in members]


def _may_have_started(request: ColdRequest) -> bool:
    try:
        return os.path.lexists(request.out_path)
    except (OSError, ValueError):
        return True


def _worker_error(name: str, exc: BaseException) -> Result:
    return Result(name, "failed", exit_code=1, warnings=(f"{name}: worker error: {exc}",))


def _cold_result(name: str, outcome: ColdOutcome) -> Result:
    status: Status = "ran" if outcome.exit_code == 0 else "failed"
    return Result(
        name,
        status,
        exit_code=outcome.exit_code,
        duration=outcome.duration,
        warnings=outcome.warnings,
        timed_out=outcome.timed_out,
        touched_files=True,
        log=outcome.log,
    )
