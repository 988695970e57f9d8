"""The scheduler with real loky processes and small real functions as collaborators."""

from __future__ import annotations

import time
from concurrent.futures import Executor
from pathlib import Path

from qik.scheduler.run import Job, Result, Scheduler
from qik.scheduler.worker import ColdOutcome, ColdRequest, run_cold
from tests.scheduler.conftest import Recorder


def _sleepy(request: ColdRequest) -> ColdOutcome:
    """A stand-in worker: the exec line is 'sleep-seconds:exit-code'."""
    seconds, code = request.exec.split(":")
    start = time.time()
    time.sleep(float(seconds))
    Path(request.out_path).write_text(f"{start} {time.time()}")
    return ColdOutcome(request.name, int(code), float(seconds))


def _scheduler(
    tmp_path: Path, graph: dict[str, tuple[str, ...]], execs: dict[str, str], pool: Executor
) -> tuple[Scheduler, Recorder]:
    recorder = Recorder()

    def prepare(name: str, touched: bool) -> Job:
        req = ColdRequest(name, execs[name], str(tmp_path), str(tmp_path / f"{name}.out"))
        return Job(name, request=req)

    sched = Scheduler(
        list(graph),
        graph,
        prepare=prepare,
        run_cold=_sleepy,
        make_pool=lambda: pool,
        reporter=recorder,
    )
    return sched, recorder


def _span(tmp_path: Path, name: str) -> tuple[float, float]:
    start, end = (tmp_path / f"{name}.out").read_text().split()
    return float(start), float(end)


def test_upstream_finishes_before_downstream_starts(tmp_path: Path, pool: Executor) -> None:
    graph = {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}
    # b and c long enough that a busy machine still schedules the second worker in time.
    execs = {"a": "0.2:0", "b": "1:0", "c": "1:0", "d": "0.2:0"}
    sched, _ = _scheduler(tmp_path, graph, execs, pool)
    results = sched.run()
    assert {r.status for r in results.values()} == {"ran"}
    assert _span(tmp_path, "a")[1] <= _span(tmp_path, "b")[0]
    assert max(_span(tmp_path, "b")[1], _span(tmp_path, "c")[1]) <= _span(tmp_path, "d")[0]
    b, c = _span(tmp_path, "b"), _span(tmp_path, "c")
    assert b[0] < c[1] and c[0] < b[1], "independent runnables should overlap"


def test_failure_skips_everything_downstream(tmp_path: Path, pool: Executor) -> None:
    graph = {"a": (), "b": ("a",), "c": ("b",), "other": ()}
    execs = {"a": "0:3", "b": "0:0", "c": "0:0", "other": "0:0"}
    sched, recorder = _scheduler(tmp_path, graph, execs, pool)
    results = sched.run()
    assert results["a"].status == "failed" and results["a"].exit_code == 3
    assert results["b"].status == "skipped" and results["c"].status == "skipped"
    assert results["other"].status == "ran"
    assert ("start", "b") not in recorder.events


def test_warm_replays_in_main_and_failed_replay_falls_back(tmp_path: Path, pool: Executor) -> None:
    def prepare(name: str, touched: bool) -> Job:
        req = ColdRequest(name, "0:0", str(tmp_path), str(tmp_path / f"{name}.out"))
        if name == "warm":
            return Job(name, replay=lambda: Result(name, "replayed", 0, is_replay=True))
        return Job(name, replay=lambda: None, cold_fallback=lambda: req)

    recorder = Recorder()
    sched = Scheduler(
        ["warm", "broken"],
        {"warm": (), "broken": ()},
        prepare=prepare,
        run_cold=_sleepy,
        make_pool=lambda: pool,
        reporter=recorder,
    )
    results = sched.run()
    assert results["warm"].is_replay
    assert results["broken"].status == "ran"


def test_all_warm_never_starts_the_pool(tmp_path: Path) -> None:
    def no_pool() -> Executor:
        raise AssertionError("the pool must not start")

    sched = Scheduler(
        ["w"],
        {"w": ()},
        prepare=lambda n, t: Job(n, replay=lambda: Result(n, "replayed", 0, is_replay=True)),
        run_cold=_sleepy,
        make_pool=no_pool,
        reporter=Recorder(),
    )
    assert sched.run()["w"].is_replay
    assert not sched.pool_started


def test_real_worker_stores_the_result(tmp_path: Path, pool: Executor) -> None:
    (tmp_path / "store").mkdir()
    req = ColdRequest(
        "echo",
        "echo hi; echo art > art.txt",
        str(tmp_path),
        str(tmp_path / "echo.out"),
        dep_hash="ab" * 32,
        artifacts=("art.txt",),
        store_dir=str(tmp_path / "store"),
    )
    outcome = pool.submit(run_cold, req).result()
    assert outcome.exit_code == 0 and outcome.stored
    assert (tmp_path / "store" / "manifests" / f"{'ab' * 32}.json").exists()


def test_real_worker_timeout(tmp_path: Path, pool: Executor) -> None:
    req = ColdRequest("slow", "sleep 30", str(tmp_path), str(tmp_path / "s.out"), timeout=0.3)
    start = time.monotonic()
    outcome = pool.submit(run_cold, req).result()
    assert outcome.timed_out and outcome.exit_code == 124
    assert time.monotonic() - start < 5
