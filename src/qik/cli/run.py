"""``qik [COMMAND ...]``: parse, plan, list or execute, render, exit code."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from qik.options import Options, merge_options

__all__ = ["execute_run", "pool_was_started", "stop_children"]

_POOL_STARTED: list[bool] = []
_RUN_IDS: list[str] = []  # of runs that started pool workers: their commands carry it
# How long a stopped run's pool workers get to stop their commands before SIGKILL.
_WORKER_GRACE = 2.0
# How long the pool's own threads get to finish before qik leaves through os._exit.
_THREADS_GRACE = 0.5


def pool_was_started() -> bool:
    return bool(_POOL_STARTED)


def release_pool(*, wait_for_threads: bool = True) -> None:
    """Before leaving through ``os._exit`` with a pool started: unlink the pool's named
    semaphores and tell loky's resource tracker so. ``os._exit`` skips the finalizers
    that do it, and the tracker, which outlives us by a moment, then found them
    "leaked" and printed warnings into the user's terminal after qik had exited (in
    about one cold run in four). The workers keep what they have open.

    ``wait_for_threads=False`` after Ctrl-C: the pool was not shut down, its threads may
    run on, and qik must leave at once."""
    import threading
    from multiprocessing import util

    # The pool's queue-feeder thread may still be finalizing a semaphore of its own: cut
    # off by os._exit between unlinking it and telling the tracker, it left the same
    # warning (about one run in sixty). It ends within moments of the pool's shutdown.
    deadline = time.monotonic() + (_THREADS_GRACE if wait_for_threads else 0.0)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and thread.is_alive():
            thread.join(max(0.0, deadline - time.monotonic()))
    util._run_finalizers(0)  # type: ignore[attr-defined]  # stable since Python 3.0


def execute_run(flags: dict[str, Any]) -> int:
    """Run with the flags given on the command line; returns the exit code."""
    from qik.config.load import load_project
    from qik.spaces.roots import select_spaces

    cwd = Path.cwd()
    flags = {k: v for k, v in flags.items() if k != "logger"}  # qik 0.2's: nothing to set
    profile = flags.get("profile") or os.environ.get("QIK__PROFILE")
    project = load_project(cwd, profile=profile)
    options = merge_options(flags, project.qik_options, project.profile or "default")
    options = select_spaces(options, project, cwd)
    if options.fail and not options.ls:  # a check, as in qik 0.2: --fail never runs anything
        options = dataclasses.replace(options, ls=True)
    if options.watch and not options.ls:  # a listing is the same once as ever after
        return _watch(cwd, flags, profile)
    return run_once(project, options)


def _watch(cwd: Path, flags: dict[str, Any], profile: str | None) -> int:
    from qik.config.load import load_project
    from qik.errors import QikError
    from qik.spaces.roots import select_spaces
    from qik.watch import require_watchfiles, watch_changes, watch_loop

    require_watchfiles()  # before the first run, not after it
    seen: dict[str, tuple[tuple[str, str], ...]] = {}  # runnable -> its own inputs last run
    # The error the last batch printed. Nothing is printed for a batch that ran nothing,
    # nor for the same error again: with stderr in a watched file (`qik --watch 2> log`),
    # each line qik printed was itself a change, and the watch printed it over and over.
    said = ""

    def run_affected(first: bool) -> None:
        nonlocal said
        try:
            project = load_project(cwd, profile=profile)
            options = merge_options(flags, project.qik_options, project.profile or "default")
            options = dataclasses.replace(options, watch=False)
            options = select_spaces(options, project, cwd)
            ran = _run_watched(project, options, seen, first)
            said = ""
            if not ran:
                return
        except QikError as exc:  # a config mid-edit: say so, and keep watching
            if exc.render() == said:
                return
            said = exc.render()
            print(said, file=sys.stderr, flush=True)
        print("qik: watching for changes (Ctrl-C to stop)", file=sys.stderr, flush=True)

    project = load_project(cwd, profile=profile)
    watch_loop(project.root, run_affected, watch_changes(project.root))
    return 0


def _run_watched(
    project: Any, options: Options, seen: dict[str, tuple[tuple[str, str], ...]], first: bool
) -> bool:
    """Run what a change affected, as ``--since`` selects: cached runnables whose own
    inputs moved since last seen (upstream dep hashes left out), and those downstream of
    one through a ``strict`` command dep. A failure re-runs only when its inputs change,
    not on every unrelated edit. False when nothing ran."""
    from qik.runner import make_plan
    from qik.since import with_strict_downstream

    start = time.monotonic()
    plan = make_plan(project, options, _stderr_warn())
    own = {n: plan.fingerprints[n].own_digests() for n in plan.names}
    if not first:
        moved = {
            n for n in plan.names if plan.entries[n].runnable.is_cached and seen.get(n) != own[n]
        }
        selected = with_strict_downstream(plan.dag, moved, set(plan.names))
        plan.names = [n for n in plan.names if n in selected]
        if not plan.names:
            return False
    # The pool stays up between batches: a change should cost the command, not a start-up.
    _execute(plan, options, start, keep_pool=True)
    # As run: a runnable planned again once its upstream had run (a sync after the lock it
    # syncs to was written) ran on inputs the round itself wrote, which aren't a change.
    seen.update({n: plan.fingerprints[n].own_digests() for n in plan.names})
    return True


def run_once(project: Any, options: Options) -> int:
    from qik.runner import make_plan

    start = time.monotonic()
    plan = make_plan(project, options, _stderr_warn(events=options.json and not options.ls))
    if options.ls:
        return _list(plan, options)
    return _execute(plan, options, start)


def _stderr_warn(*, events: bool = False) -> _StderrWarn:
    return _StderrWarn(events)


class _StderrWarn:
    """Prints each warning once. The run's console shares ``seen``: a cache outage first
    met while planning (a lookup) and again while running (a publish) is one warning.
    (Two identical lines per outage were found by the stress suite's failing-S3 case.)
    With ``events`` (``--json``), a warning is a ``warning`` event on stdout, as the
    console's are (planning's went to stderr as text: found by an audit)."""

    def __init__(self, events: bool = False) -> None:
        self.seen: set[str] = set()
        self._events = events

    def __call__(self, message: str) -> None:
        if message not in self.seen:
            self.seen.add(message)
            if self._events:
                record = {"event": "warning", "message": message}
                print(json.dumps(record, sort_keys=True), flush=True)
                return
            sys.stdout.flush()
            print(f"warning: {message}", file=sys.stderr, flush=True)


def _list(plan: Any, options: Options) -> int:
    from qik.graph.dag import resolved_name

    names = plan.listed if plan.listed is not None else plan.names
    asked = {resolved_name(plan.dag, name) for name in options.commands}
    names = [name for name in names if _is_shown(plan.dag.runnables[name], asked)]
    if options.json:
        rows = [
            {
                "name": name,
                "command": plan.entries[name].runnable.command,
                "module": plan.entries[name].runnable.module,
                "space": plan.entries[name].runnable.space,
                # A command without deps is never cached: its results go to no cache.
                "cache": r.cache if (r := plan.entries[name].runnable).is_cached else None,
                "status": "warm" if plan.entries[name].is_warm else "cold",
                "dep_hash": plan.entries[name].fingerprint.dep_hash,
                "upstream": [u for u in plan.dag.upstream[name] if u in plan.entries],
                **_shard_fields(plan, name, options),
            }
            for name in names
        ]
        print(json.dumps(rows, indent=2))
    else:
        out = "".join(f"{name}\n" for name in names)
        sys.stdout.write(out)
    return 1 if options.fail and names else 0


def _is_shown(runnable: Any, asked: set[str]) -> bool:
    """A space's lock and sync are listed only when named: they are how, not what."""
    return not runnable.internal or bool({runnable.name, runnable.command} & asked)


def _shard_fields(plan: Any, name: str, options: Options) -> dict[str, Any]:
    if not options.shard:
        return {}
    return {"shard": options.shard, "expected_seconds": plan.weights.get(name, 0.0)}


# The most cold runnables one pool task takes (Scheduler's ``batch``).
_BATCH = 16


def _workers(options: Options) -> int:
    if options.workers:
        return max(1, options.workers)
    import loky

    return max(1, int(loky.cpu_count()))


def _cpus() -> int:
    """The CPUs this process may use (without importing loky, as ``_workers`` does)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # macOS
        return os.cpu_count() or 1


def _cold_count(plan: Any) -> int:
    return sum(not plan.entries[name].is_warm for name in plan.names if name in plan.entries)


def _execute(plan: Any, options: Options, start: float, *, keep_pool: bool = False) -> int:
    from qik.console import JsonConsole, LiveConsole, PlainConsole, StreamConsole
    from qik.runner import Run, save_shard_record
    from qik.scheduler.run import Scheduler

    save_shard_record(plan)  # before anything runs: see _apply_shard

    workers = options.workers or 0
    # Building a venv first doesn't make a single command's output stop streaming.
    single = sum(not plan.dag.runnables[n].internal for n in plan.names) == 1 or workers == 1
    console: Any
    run = Run(plan, lambda m: console.warn(m))
    batch = 1
    if options.json:
        console = JsonConsole(run.write_log, options.verbosity)
    elif single:
        console = StreamConsole(run.write_log, options.verbosity)
        console.github = os.environ.get("GITHUB_ACTIONS") == "true"
        run.tails_output = True
    elif sys.stdout.isatty() and os.environ.get("CI") is None and options.verbosity > 0:
        console = LiveConsole(run.write_log, options.verbosity, workers or _cpus())
        run.worker_settles = True
    else:
        console = PlainConsole(run.write_log, options.verbosity)
        console.github = os.environ.get("GITHUB_ACTIONS") == "true"
        run.worker_settles = True
        # Several cold runnables per pool task when many are queued. Only here: this
        # console shows a runnable when it finishes, and a batch's results come back
        # together (within BATCH_BUDGET); the live view and --json say when each starts.
        batch = _BATCH
    if isinstance(plan.caches.warn, _StderrWarn):
        console._warned = plan.caches.warn.seen

    class _Reporter:
        def started(self, name: str, request: Any) -> None:
            console.started(name, request)

        def finished(self, result: Any) -> None:
            run.observe(result)
            console.finished(result)
            run.settle(result)

        def tick(self) -> None:
            console.tick()

    pools: list[Any] = []

    def make_pool() -> Any:
        import loky

        from qik.scheduler.pool import pool_context
        from qik.scheduler.worker import stop_with_qik

        pools.append(
            loky.get_reusable_executor(
                # No more workers than cold runnables: each costs a process to start.
                max_workers=max(1, min(_workers(options), _cold_count(plan))),
                timeout=60,
                initializer=stop_with_qik,
                initargs=(os.getpid(),),
                context=pool_context(),
            )
        )
        _POOL_STARTED.append(True)
        _RUN_IDS.append(plan.caches.run_id)
        # The scheduler submits with SIGINT blocked (``scheduler.run._interrupts_held``):
        # workers loky starts meanwhile inherit that, so a Ctrl-C never reaches one still
        # importing. (Ignoring SIGINT around submit as well lost a Ctrl-C pressed then:
        # another thread took it, and dropped it.)
        return pools[-1]  # a new one when the last broke: Scheduler._submit

    scheduler = Scheduler(
        plan.names,
        plan.dag.upstream,
        prepare=run.prepare,
        make_pool=make_pool,
        reporter=_Reporter(),
        # Not _workers(): importing loky here would cost a fully cached run 50 ms.
        max_in_flight=2 * (options.workers or os.cpu_count() or 1),
        batch=batch,
        group=lambda name: plan.dag.runnables[name].module or name,
    )
    try:
        results = scheduler.run()
    except BaseException:
        if scheduler.pool_started:
            stop_children()
        raise
    for pool in pools if not keep_pool else ():
        # Idle workers would otherwise keep the interpreter's exit waiting.
        pool.shutdown(wait=True, kill_workers=True)
    if len(pools) > 1 or any(_worker_died(r) for r in results.values()):
        # A killed worker's command ran on, orphaned: every result is in, so whatever
        # still carries this run's mark is such an orphan (the stress suite's signals case).
        from qik.proc import kill_marked

        kill_marked(plan.caches.run_id)
    run.settle_repo_cache(results)
    wall = time.monotonic() - start
    console.close(results, wall)
    failed = any(r.status == "failed" for r in results.values())
    code = 1 if failed else 0
    if options.report:
        _write_report(Path(options.report), plan, results, wall, code)
    return code


def _worker_died(result: Any) -> bool:
    return any("worker error" in warning for warning in result.warnings)


def _write_report(path: Path, plan: Any, results: Any, wall: float, code: int) -> None:
    """``--report FILE``: every runnable's status, source, durations and dep hash, as JSON."""
    from qik.console import result_record

    rows = []
    for name in plan.names:
        row = result_record(results[name]) if name in results else {"name": name}
        row["dep_hash"] = plan.fingerprints[name].dep_hash
        rows.append(row)
    report = {
        "format": 1,
        "exit_code": code,
        "wall": round(wall, 6),
        "saved": round(sum(r.saved for r in results.values()), 6),
        "runnables": rows,
    }
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        tmp.replace(path)
    except OSError as exc:  # a folder there, a file for a parent: the run's result stands
        with contextlib.suppress(OSError):
            tmp.unlink()
        reason = exc.strerror or str(exc)
        print(f"warning: can't write the report to {path}: {reason}", file=sys.stderr)


def stop_children() -> None:
    """Stop every process this run started: pool workers first, so none of them can
    store a result for a command we are stopping, then the commands' process trees, then
    what is left in the commands' process groups (children whose parent already exited),
    then whatever else carries the run's mark (``qik.proc.RUN_MARKER``).

    Workers get a SIGTERM and a moment: a busy one stops its own command, including one
    it started after we looked (``qik.scheduler.worker.stop_with_qik``); SIGKILL for the
    rest. Only called on the way out: a second Ctrl-C (people press it twice) must not cut
    it short, or the commands still running would outlive us. The pool's helpers (its
    resource trackers, its fork server) are left alone: they exit with us.
    """
    import psutil

    from qik.proc import kill_all, kill_group, kill_marked

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    me = psutil.Process()
    helpers = {p: kind for p in me.children() if (kind := _pool_helper(p))}
    everyone = [p for p in me.children(recursive=True) if p not in helpers]
    # Workers are qik's children, or the fork server's (``qik.scheduler.pool``).
    workers = [p for p in me.children() if p in everyone]
    workers += [w for h, kind in helpers.items() if kind == "server" for w in _children(h)]
    groups = {_group(p) for p in everyone} - {os.getpgrp(), None}
    for worker in workers:
        with contextlib.suppress(psutil.NoSuchProcess):
            worker.terminate()
    _, alive = psutil.wait_procs(workers, timeout=_WORKER_GRACE)
    for worker in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            worker.kill()
    kill_all([p for p in everyone if p not in workers])
    for group in groups:
        assert group is not None
        kill_group(group)
    # Last, what neither tree nor group leads to: the commands of a worker that died
    # before us (loky kills a broken pool's other workers at once), a child that left
    # its group. Every command of the run carries its mark.
    for run_id in _RUN_IDS:
        kill_marked(run_id)


def _pool_helper(proc: Any) -> str | None:
    """ "tracker" for a resource tracker, "server" for the pool's fork server: helpers
    that exit with qik. A killed tracker is relaunched only to print tracebacks about
    semaphores it no longer knows; the fork server's children are the workers."""
    import psutil

    try:
        command = " ".join(proc.cmdline())
    except psutil.Error:
        return None
    if "resource_tracker" in command:
        return "tracker"
    return "server" if "multiprocessing.forkserver" in command else None


def _children(proc: Any) -> list[Any]:
    import psutil

    try:
        return list(proc.children())
    except psutil.Error:
        return []


def _group(proc: Any) -> int | None:
    try:
        return os.getpgid(proc.pid)
    except (ProcessLookupError, PermissionError):
        return None
