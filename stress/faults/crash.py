"""Case 1, crash consistency: SIGKILL qik, and separately one pool worker, at a random
moment of a cold run that stores artifacts (local cache) and publishes to the repo cache.

After every kill: ``qik :cache verify`` finds nothing broken, the next run gives exactly
the results of an uninterrupted run (exit code, every runnable's status, artifacts byte for
byte and mode, stored logs), and the run after it replays all of that from the cache.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psutil

from stress.faults import procs
from stress.faults.harness import Ctx, Started, qik, start_qik, tracebacks
from stress.faults.project import (
    Reference,
    check_results,
    make_project,
    make_reference,
    set_salt,
    verify_caches,
)
from stress.faults.report import CaseReport, Check, Trial

__all__ = ["run"]

TITLE = "crash consistency: SIGKILL qik or one worker at a random moment of a cold run"
WORKERS = ("-n", "2")
# How long processes qik leaves behind may finish before they are killed.
ORPHAN_GRACE = 5.0
# After the chosen moment, how long to wait for a busy worker before taking an idle one.
BUSY_WAIT = 1.5


def run(ctx: Ctx) -> CaseReport:
    report = CaseReport("crash", TITLE, "")
    trials = ctx.scale(6, 200)
    salts = ctx.scale(2, 4)
    template = make_project(ctx.fresh("template") / "repo", modules=ctx.scale(3, 4))
    refs = {salt: make_reference(ctx, template, salt, *WORKERS) for salt in range(salts)}
    cold = max(ref.seconds for ref in refs.values())
    report.figures["uninterrupted cold run"] = f"{cold:.1f}s"
    root = ctx.fresh("crash") / "repo"
    shutil.copytree(template, root, symlinks=True)
    kills = report.check("SIGKILL qik (main process)")
    worker_kills = report.check("SIGKILL one pool worker")
    for i in range(trials):
        salt = i % salts
        _reset(ctx, root, salt)
        if i % 2 == 0:
            _kill_main(ctx, root, refs[salt], cold, kills, f"trial {i} (salt {salt})")
        else:
            _kill_worker(ctx, root, refs[salt], cold, worker_kills, f"trial {i} (salt {salt})")
        ctx.log(f"crash: {i + 1}/{trials} trials")
    return report


def _reset(ctx: Ctx, root: Path, salt: int) -> None:
    """Make every runnable cold again: new salt, no manifests (objects from earlier runs
    stay, as do temporary files crashed writers left), now and then no store at all."""
    set_salt(root, salt)
    for out in root.glob("m*/out"):
        shutil.rmtree(out)
    wipe = ctx.rng.random() < 0.25
    for store in ("._qik", ".qik"):
        shutil.rmtree(root / store / ("" if wipe else "manifests"), ignore_errors=True)


def _kill_main(
    ctx: Ctx, root: Path, ref: Reference, cold: float, check: Check, label: str
) -> None:
    trial = Trial(label)
    report = root.parent / "killed.json"
    started = start_qik(root, "--report", str(report), *WORKERS, env=ctx.env)
    delay = ctx.rng.uniform(0.0, cold * 0.9)
    time.sleep(delay)
    landed = started.proc.poll() is None
    started.kill9()
    started.finish(timeout=30)
    check.count("killed mid-run" if landed else "finished before the kill")
    # Whatever qik started and left running (the signals case judges that) is stopped
    # before the store is checked, so nothing writes to it meanwhile.
    procs.wait_strays_gone(ORPHAN_GRACE)
    procs.kill_strays()
    _after(ctx, trial, root, ref)
    check.add(trial)


def _kill_worker(
    ctx: Ctx, root: Path, ref: Reference, cold: float, check: Check, label: str
) -> None:
    trial = Trial(label)
    report = root.parent / "killed.json"
    started = start_qik(root, "--report", str(report), *WORKERS, env=ctx.env)
    # Commands are short: aim at the run's first half, where most of them start.
    deadline = time.monotonic() + ctx.rng.uniform(0.0, cold * 0.5)
    victim = _pick_worker(ctx, started, deadline)
    if victim is None:
        check.count("run ended before a worker could be killed")
    else:
        check.count("killed a busy worker" if victim[1] else "killed an idle worker")
        victim[0].kill()
    run = started.finish(timeout=120)
    trial.expect(not run.timed_out, f"qik did not finish: {run.brief()}")
    trial.expect(not tracebacks(run), f"traceback: {run.brief()}")
    trial.expect(run.code in (0, 1), f"exit code {run.code}: {run.brief()}")
    procs.wait_strays_gone(ORPHAN_GRACE)
    procs.kill_strays()
    _after(ctx, trial, root, ref)
    check.add(trial)


def _pick_worker(
    ctx: Ctx, started: Started, deadline: float
) -> tuple[psutil.Process, bool] | None:
    """A pool worker of ``started`` to kill, and whether it was running a command: the
    first busy one seen after ``deadline``, else (after a moment) an idle one."""
    idle_since: float | None = None
    while started.proc.poll() is None:
        now = time.monotonic()
        if now >= deadline:
            workers = procs.pool_workers(started.pid)
            busy = [w for w in workers if _has_children(w)]
            if busy:
                return ctx.rng.choice(busy), True
            if workers:
                idle_since = idle_since or now
                if now >= idle_since + BUSY_WAIT:
                    return ctx.rng.choice(workers), False
        time.sleep(0.005)
    return None


def _has_children(proc: psutil.Process) -> bool:
    try:
        return bool(proc.children())
    except psutil.Error:
        return False


def _after(ctx: Ctx, trial: Trial, root: Path, ref: Reference) -> None:
    """The store is sound, the next run gives the reference results, the one after
    replays them."""
    verify_caches(trial, ctx, root)
    for what in ("next run", "warm run"):
        report = root.parent / f"{what.replace(' ', '-')}.json"
        run = qik(root, "--report", str(report), *WORKERS, env=ctx.env)
        trial.expect(not tracebacks(run), f"{what}: traceback: {run.brief()}")
        got = check_results(trial, root, ref, run.code, report, what)
        if what == "warm run":
            cold = [name for name, replayed in got.replays.items() if not replayed]
            trial.expect(not cold, f"warm run ran again: {', '.join(cold)}")
