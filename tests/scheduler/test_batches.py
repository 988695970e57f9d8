"""Several cold runnables per pool task (``Scheduler(batch=...)``), with real loky workers
and real commands: every runnable still gets its own result, exactly once, in DAG order."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

import loky
import psutil

from qik.scheduler.run import Job, Result, Scheduler
from qik.scheduler.worker import ColdOutcome, ColdRequest, run_batch
from tests.conftest import QIK
from tests.scheduler.conftest import Recorder


def _append(request: ColdRequest) -> ColdOutcome:
    """A stand-in worker: 'seconds:code' as exec; appends its name to a shared journal
    (one line per run, so a runnable run twice shows twice); 'die' kills the worker,
    'raise' raises. Like run_cold, it creates its output file before anything else."""
    Path(request.out_path).touch()
    if request.exec == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if request.exec == "raise":
        raise RuntimeError("no such thing")
    seconds, code = request.exec.split(":")
    time.sleep(float(seconds))
    with open(Path(request.root) / "journal", "a") as journal:
        journal.write(f"{request.name} {os.getpid()}\n")
    return ColdOutcome(request.name, int(code), float(seconds))


def _run(
    tmp_path: Path,
    graph: dict[str, tuple[str, ...]],
    execs: Callable[[str], str],
    make_pool: Callable[[], Executor],
    *,
    batch: int = 8,
    budget: float = 5.0,
) -> tuple[dict[str, Result], Recorder]:
    recorder = Recorder()

    def prepare(name: str, touched: bool) -> Job:
        out = str(tmp_path / f"{name}.out")
        return Job(name, request=ColdRequest(name, execs(name), str(tmp_path), out))

    scheduler = Scheduler(
        list(graph),
        graph,
        prepare=prepare,
        run_cold=_append,
        make_pool=make_pool,
        reporter=recorder,
        max_in_flight=2,
        batch=batch,
        batch_budget=budget,
    )
    return scheduler.run(), recorder


def _journal(tmp_path: Path) -> list[str]:
    return [line.split()[0] for line in (tmp_path / "journal").read_text().splitlines()]


def _check_events(recorder: Recorder, names: list[str]) -> None:
    starts = [n for kind, n in recorder.events if kind == "start"]
    ends = [n for kind, n in recorder.events if kind != "start"]
    assert sorted(ends) == sorted(names), "every runnable finishes exactly once"
    assert len(starts) == len(set(starts)), "no runnable starts twice"


def test_a_long_queue_runs_in_batches_each_runnable_once_in_dag_order(
    tmp_path: Path, pool: Executor
) -> None:
    # 60 independent runnables, then 'last' downstream of all of them, and a chain.
    graph: dict[str, tuple[str, ...]] = {f"r{i:02d}": () for i in range(60)}
    graph["last"] = tuple(f"r{i:02d}" for i in range(60))
    graph["after"] = ("last",)
    results, recorder = _run(tmp_path, graph, lambda n: "0:0", lambda: pool)
    assert {r.status for r in results.values()} == {"ran"}
    journal = _journal(tmp_path)
    assert sorted(journal) == sorted(graph)
    assert journal[-2:] == ["last", "after"]
    # Batches ran: some worker ran consecutive runnables in one task.
    pids = [line.split()[1] for line in (tmp_path / "journal").read_text().splitlines()]
    assert len(set(pids)) <= 2
    _check_events(recorder, list(graph))
    order = [n for kind, n in recorder.events if kind != "start"]
    assert order.index("last") > max(order.index(f"r{i:02d}") for i in range(60))


def test_a_failure_in_a_batch_skips_only_its_downstream(tmp_path: Path, pool: Executor) -> None:
    graph: dict[str, tuple[str, ...]] = {f"r{i:02d}": () for i in range(40)}
    graph["down"] = ("r07",)
    graph["fine"] = ("r08",)
    results, recorder = _run(
        tmp_path, graph, lambda n: "0:3" if n == "r07" else "0:0", lambda: pool
    )
    assert results["r07"].status == "failed" and results["r07"].exit_code == 3
    assert results["down"].status == "skipped"
    assert results["fine"].status == "ran"
    assert ("start", "down") not in recorder.events
    assert sum(r.status == "ran" for r in results.values()) == 40
    _check_events(recorder, list(graph))


def test_an_exception_in_one_runnable_fails_only_that_one(tmp_path: Path, pool: Executor) -> None:
    graph: dict[str, tuple[str, ...]] = {f"r{i:02d}": () for i in range(40)}
    results, _ = _run(tmp_path, graph, lambda n: "raise" if n == "r05" else "0:0", lambda: pool)
    assert results["r05"].status == "failed"
    assert "worker error: no such thing" in results["r05"].warnings[0]
    assert all(r.status == "ran" for n, r in results.items() if n != "r05")


def test_a_batch_past_its_budget_hands_the_rest_back(tmp_path: Path, pool: Executor) -> None:
    # Each batch starts one command, then finds its budget spent: the rest come back
    # and run later, each exactly once, none reported started twice.
    graph: dict[str, tuple[str, ...]] = {f"r{i:02d}": () for i in range(40)}
    graph["down"] = ("r39",)
    results, recorder = _run(tmp_path, graph, lambda n: "0.01:0", lambda: pool, budget=0.0)
    assert {r.status for r in results.values()} == {"ran"}
    assert sorted(_journal(tmp_path)) == sorted(graph)
    _check_events(recorder, list(graph))


def test_run_batch_stops_at_its_budget(tmp_path: Path) -> None:
    requests = [
        ColdRequest(f"r{i}", "0.05:0", str(tmp_path), str(tmp_path / f"r{i}.out"))
        for i in range(5)
    ]
    done = run_batch(_append, requests, 0.07)
    assert [o.name for o in done.outcomes if isinstance(o, ColdOutcome)] == ["r0", "r1"]
    assert len(done.outcomes) == 2  # r2 to r4 handed back


def test_a_killed_worker_fails_its_batch_and_the_run_goes_on(tmp_path: Path) -> None:
    pools: list[Executor] = []

    def make_pool() -> Executor:
        pools.append(loky.get_reusable_executor(max_workers=2, timeout=30))
        return pools[-1]

    graph: dict[str, tuple[str, ...]] = {f"r{i:02d}": () for i in range(60)}
    graph["down"] = ("r59",)
    try:
        results, recorder = _run(
            tmp_path, graph, lambda n: "die" if n == "r03" else "0:0", make_pool
        )
    finally:
        for pool in pools:
            pool.shutdown(wait=True, kill_workers=True)
    assert results["r03"].status == "failed"
    assert "worker error" in results["r03"].warnings[0]
    # What failed had started (the dead worker's command, and what else the broken pool
    # held that had begun); what had not went to a new pool and ran, with the rest.
    failed = {n for n, r in results.items() if r.status == "failed"}
    ran = {n for n, r in results.items() if r.status == "ran"}
    assert failed | ran == set(graph)
    assert all((tmp_path / f"{n}.out").exists() for n in failed)
    assert len(failed) <= 2 * 8 + 2
    journal = set(_journal(tmp_path))
    assert ran <= journal and journal - ran <= failed
    assert len(pools) == 2
    _check_events(recorder, list(graph))


def _modules_project(
    make_repo: Callable[..., Path], count: int, commands: str
) -> tuple[Path, dict[str, str]]:
    """A repo of ``count`` modules m00, m01, ... (one .py file each) with ``commands``,
    and an environment without CI (so qik's console is the plain one either way)."""
    modules = "\n".join(f'  {{name = "m{i:02d}", path = "src/m{i:02d}"}},' for i in range(count))
    toml = f"[spaces.default]\nmodules = [\n{modules}\n]\n{commands}"
    files = {"qik.toml": toml, **{f"src/m{i:02d}/x.py": f"x = {i}\n" for i in range(count)}}
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return make_repo(files), env


def test_the_cli_batches_many_cold_runnables_without_losing_a_log(
    make_repo: Callable[..., Path],
) -> None:
    # The real qik, no TTY, 2 workers, 48 runnables: batches. Each log is printed whole
    # under its header, lands in ._qik/out, and is stored (the second run replays them).
    commands = """
[commands.a]
exec = "echo a-{module.name}; echo a-{module.name}-err >&2"
deps = ["{module.dir}/**.py"]

[commands.b]
exec = "echo b-{module.name}; test {module.name} != m05"
deps = ["{module.dir}/**.py"]

[commands.c]
exec = "echo c-{module.name}"
deps = ["{module.dir}/**.py", {type = "command", name = "b"}]
"""
    root, env = _modules_project(make_repo, 16, commands)

    def qik() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [QIK, "-n", "2"], cwd=root, env=env, capture_output=True, text=True, timeout=60
        )

    first = qik()
    assert first.returncode == 1, first.stderr
    blocks = {b.split()[1]: b for b in first.stdout.split("── ")[1:]}
    assert len(blocks) == 48
    for i in range(16):
        m = f"m{i:02d}"
        assert blocks[f"a@{m}"].splitlines()[1:] == [f"a-{m}", f"a-{m}-err"]
        out = root / "._qik" / "out" / f"a@{m}.out"
        assert out.read_text() == f"a-{m}\na-{m}-err\n"
        if m != "m05":
            assert blocks[f"c@{m}"].splitlines()[1] == f"c-{m}"
    assert "exit code 1" in blocks["b@m05"]
    assert "skipped" in blocks["c@m05"]
    assert "47 ran, 0 replayed, 1 failed, 1 skipped" in first.stdout
    second = qik()
    assert "1 ran, 46 replayed, 1 failed, 1 skipped" in second.stdout, second.stdout


def test_ctrl_c_during_batches_stops_everything_and_stores_no_cut_result(
    make_repo: Callable[..., Path],
) -> None:
    # 64 runnables of 0.2 s, 2 workers, no TTY: batches. Ctrl-C (to the whole group, as
    # a terminal sends it) mid-run: exit 130 within 2 s, no command left running, and
    # every stored result is of a command that ran to its end.
    commands = """
[commands.s]
exec = "echo start; sleep 0.2; echo end"
deps = ["{module.dir}/**.py"]
"""
    root, env = _modules_project(make_repo, 64, commands)
    proc = subprocess.Popen(
        [QIK, "-n", "2"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    manifests = root / "._qik" / "manifests"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(list(manifests.glob("*.json"))) < 4:
        time.sleep(0.05)
    everyone = psutil.Process(proc.pid).children(recursive=True)
    os.killpg(proc.pid, signal.SIGINT)
    stopped = time.monotonic()
    assert proc.wait(timeout=30) == 130
    assert time.monotonic() - stopped < 2.0
    time.sleep(0.3)
    assert [p for p in everyone if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    stored = [json.loads(m.read_text()) for m in manifests.glob("*.json")]
    assert 4 <= len(stored) < 64
    assert all(m["log"]["text"] == "start\nend\n" for m in stored)


def test_ctrl_c_stores_what_its_batch_ran_to_the_end(make_repo: Callable[..., Path]) -> None:
    # A batch's results wait for its end; a Ctrl-C during a long command of the batch
    # stored none of those that ran before it (found by an audit). Each command that ran
    # to its end writes a mark: each with a mark, but the cut one, is stored.
    commands = """
[commands.a]
exec = "echo a; echo > ../marks/a@{module.name}"
deps = ["{module.dir}/**.py"]

[commands.b]
exec = "case {module.name} in m05) sleep 30;; esac; echo > ../marks/b@{module.name}"
deps = ["{module.dir}/**.py"]
"""
    root, env = _modules_project(make_repo, 30, commands)
    marks = root.parent / "marks"
    marks.mkdir()
    proc = subprocess.Popen(
        [QIK, "-n", "2"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (marks / "a@m05").exists():
        time.sleep(0.05)
    time.sleep(0.5)  # b@m05 is sleeping now
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    cold = subprocess.run(
        [QIK, "--ls", "--cache-status", "cold"], cwd=root, env=env, capture_output=True, text=True
    ).stdout.split()
    ran = {mark.name for mark in marks.iterdir()}
    assert "b@m05" in cold and "b@m05" not in ran
    assert {"a@m05", "a@m04"} <= ran
    assert not ran & set(cold), sorted(ran & set(cold))
