"""A pool worker killed from outside (the OOM killer, a user) fails what it had, not the run."""

from __future__ import annotations

import os
import signal
from concurrent.futures import Executor
from pathlib import Path

import loky

from qik.scheduler.run import Job, Result, Scheduler
from qik.scheduler.worker import ColdOutcome, ColdRequest


def _die_or_pass(request: ColdRequest) -> ColdOutcome:
    if request.exec == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    return ColdOutcome(request.name, 0, 0.0)


class _Quiet:
    def started(self, name: str, request: ColdRequest) -> None:
        pass

    def finished(self, result: Result) -> None:
        pass

    def tick(self) -> None:
        pass


def test_runnables_after_a_killed_worker_get_a_new_pool(tmp_path: Path) -> None:
    # Found by the stress suite's crash case: submitting to the broken pool raised, and
    # qik showed a traceback (exit 70) instead of failing the runnable the worker had.
    execs = {"dies": "die", "after": "pass", "later": "pass"}
    pools: list[Executor] = []

    def make_pool() -> Executor:
        pools.append(loky.get_reusable_executor(max_workers=1, timeout=30))
        return pools[-1]

    def prepare(name: str, touched: bool) -> Job:
        request = ColdRequest(name, execs[name], str(tmp_path), str(tmp_path / f"{name}.out"))
        return Job(name, request=request)

    scheduler = Scheduler(
        list(execs),
        {name: () for name in execs},
        prepare=prepare,
        run_cold=_die_or_pass,
        make_pool=make_pool,
        reporter=_Quiet(),
        max_in_flight=1,  # "after" is submitted once "dies" broke the pool
    )
    try:
        results = scheduler.run()
    finally:
        for pool in pools:
            pool.shutdown(wait=True, kill_workers=True)
    assert results["dies"].status == "failed"
    assert "worker error" in results["dies"].warnings[0]
    assert results["after"].status == "ran"
    assert results["later"].status == "ran"
