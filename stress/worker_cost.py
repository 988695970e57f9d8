"""``python -m stress worker``: the pool worker's own CPU per cold runnable, in parts.

Plans a cold run of a repository (``python -m stress bench --work-dir DIR --reuse`` makes
one: ``DIR/repo-ours``), then runs its first N cold requests one after the other through
the worker's ``run_cold`` in this process, and reports this process's CPU time per runnable
(the shells' own time is not in it) for:

- ``full``: what a pool worker does;
- ``no-check``: without the check that no covered file changed while the command ran;
- ``no-store``: without storing the result (and so without the check);
- ``spawn``: ``posix_spawn`` of the same lines and ``waitpid``, nothing else: the floor.

    python -m stress worker --repo /tmp/bench300/repo-ours --reps 5

Each variant starts from an empty local cache (the repository's ``._qik`` is moved into a
temporary folder, deleted at the end).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress worker")
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--runnables", type=int, default=450)
    parser.add_argument("--reps", type=int, default=5)
    opts = parser.parse_args(argv)
    os.chdir(opts.repo)
    trash = Path(tempfile.mkdtemp(prefix="qik-worker-cost-"))
    try:
        _clear(trash)
        requests = _cold_requests(opts.repo, opts.runnables)
        from qik.scheduler import worker

        check = worker._inputs_changed
        variants: dict[str, Callable[[], None]] = {
            "full": lambda: _run_all(requests, check),
            "no-check": lambda: _run_all(requests, _unchecked),
            "no-store": lambda: _run_all(
                [dataclasses.replace(r, dep_hash=None) for r in requests], check
            ),
            "spawn": lambda: _spawn_all(requests),
        }
        costs: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(opts.reps):
            for name, run in variants.items():
                _clear(trash)
                costs[name].append(_cpu_per(run, len(requests)))
        worker._inputs_changed = check
        files = sum(len(r.inputs.splitlines()) for r in requests) / len(requests)
        print(f"{len(requests)} cold runnables, {files:.0f} covered files each")
        for name, taken in costs.items():
            print(f"{name:9s} {statistics.median(taken):.3f} ms of CPU a runnable (median)")
    finally:
        _clear(trash)
        shutil.rmtree(trash, ignore_errors=True)
    return 0


def _clear(trash: Path) -> None:
    if os.path.exists("._qik"):
        os.rename("._qik", trash / str(time.monotonic_ns()))


def _cold_requests(repo: Path, count: int) -> list[Any]:
    from qik.config.load import load_project
    from qik.options import Options
    from qik.runner import Run, make_plan

    plan = make_plan(load_project(repo), Options(workers=2), print)
    run = Run(plan, print)
    requests = [run.prepare(name, False).request for name in plan.names[:count]]
    return [r for r in requests if r is not None]


def _run_all(requests: list[Any], check: Callable[[Any], bool]) -> None:
    from qik.scheduler import worker

    worker._inputs_changed = check
    worker._parsed_inputs.cache_clear()
    for request in requests:
        worker.run_cold(request)


def _unchecked(request: Any) -> bool:
    return False


def _spawn_all(requests: list[Any]) -> None:
    from stress.spawn_floor import run_lines

    run_lines([request.exec for request in requests], os.devnull)


def _cpu_per(run: Callable[[], None], count: int) -> float:
    before = resource.getrusage(resource.RUSAGE_SELF)
    run()
    after = resource.getrusage(resource.RUSAGE_SELF)
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return spent / count * 1000
