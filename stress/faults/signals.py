"""Case 7, signals and orphans: Ctrl-C and SIGTERM (to qik, or to its whole process group
as a terminal or a CI runner sends them) while commands with deep process trees run: a
shell that starts a shell that sleeps, one that ignores SIGTERM, one whose child outlives
its parent. Also SIGKILL of qik and of one pool worker.

After each: qik exits 130 (SIGINT) or 143 (SIGTERM) without a traceback, no process it
started is alive a few seconds later, and no manifest exists for an interrupted runnable.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import psutil

from stress.faults import procs
from stress.faults.harness import (
    Ctx,
    Started,
    make_repo,
    qik,
    start_qik,
    traceback_text,
    tracebacks,
)
from stress.faults.report import CaseReport, Trial

__all__ = ["run"]

TITLE = "signals and orphans: Ctrl-C and SIGTERM with deep process trees; SIGKILL"
GRACE = 5.0  # seconds a stopped run's processes get to disappear
SLEEP = 300  # a sleeper that outlives the grace is a survivor, never a slow finisher

TREES = {
    # a shell that starts a shell that sleeps
    "deep": f"sh -c 'sh -c \"sleep {SLEEP}\"; echo never'",
    # a shell that ignores SIGTERM: only SIGKILL stops it
    "stubborn": f"sh -c 'trap \"\" TERM; sleep {SLEEP}'",
    # a background child whose parent shell has exited: no longer a descendant of the
    # command's shell, still in its session
    "detached": f"sh -c 'sleep {SLEEP} &'; sleep {SLEEP}",
}

# (what, signal, to the process group?, expected exit code)
SCENARIOS = [
    ("Ctrl-C (SIGINT to the process group)", signal.SIGINT, True, 130),
    ("SIGINT to qik", signal.SIGINT, False, 130),
    ("SIGTERM to qik", signal.SIGTERM, False, 143),
    ("SIGTERM to the process group", signal.SIGTERM, True, 143),
    ("Ctrl-C twice", signal.SIGINT, True, 130),
]


def _project(root: Path) -> Path:
    lines = ['modules = ["m0", "m1"]', ""]
    for name, line in TREES.items():
        lines += [
            f"[commands.{name}]",
            f"exec = {json.dumps(line)}",
            'deps = ["{module.dir}/**"]',
            "",
        ]
    lines += ["[commands.fast]", 'exec = "echo fast {module.name}"', 'deps = ["{module.dir}/**"]']
    return make_repo(root, {"qik.toml": "\n".join(lines) + "\n", "m0/a": "0", "m1/a": "1"})


def run(ctx: Ctx) -> CaseReport:
    report = CaseReport("signals", TITLE, "")
    root = _project(ctx.fresh("signals") / "repo")
    hashes = _dep_hashes(ctx, root)
    repeats = ctx.scale(1, 10)
    for n in range(repeats):
        for what, sig, group, code in SCENARIOS:
            _interrupt(ctx, report, root, hashes, what, sig, group, code)
        _kill_main(ctx, report, root, hashes)
        _kill_worker(ctx, report, root, hashes)
        ctx.log(f"signals: round {n + 1}/{repeats}")
    return report


def _dep_hashes(ctx: Ctx, root: Path) -> dict[str, str]:
    listed = qik(root, "--ls", "--json", env=ctx.env)
    return {row["name"]: row["dep_hash"] for row in json.loads(listed.stdout)}


def _start(ctx: Ctx, root: Path) -> tuple[Started, list[str]]:
    """Start a run and wait until its command trees are up (or the run ended)."""
    started = start_qik(root, "-n", "8", "-f", env=ctx.env)
    deadline = time.monotonic() + 30
    seen: list[str] = []
    while time.monotonic() < deadline and started.proc.poll() is None:
        seen = [procs.cmdline(p) for p in _safe_descendants(started.pid)]
        if sum(f"sleep {SLEEP}" in line for line in seen) >= 6:
            break
        time.sleep(0.05)
    time.sleep(ctx.rng.uniform(0.0, 0.3))
    return started, seen


def _safe_descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _interrupt(
    ctx: Ctx,
    report: CaseReport,
    root: Path,
    hashes: dict[str, str],
    what: str,
    sig: int,
    group: bool,
    code: int,
) -> None:
    started, _ = _start(ctx, root)
    trial = Trial(what)
    started.signal(sig, group=group)
    if what == "Ctrl-C twice":
        time.sleep(0.1)
        started.signal(sig, group=group)
    done = started.finish(timeout=60)
    trial.expect(not done.timed_out, "qik did not exit within 60s")
    trial.expect(done.code == code, f"exit {done.code}, expected {code}: {done.brief()}")
    trial.expect(not tracebacks(done), f"traceback: {traceback_text(done)}")
    trial.expect(done.seconds < 30, f"took {done.seconds:.1f}s to stop")
    _no_survivors(trial)
    _no_manifest_of_interrupted(trial, root, hashes)
    report.check(what).add(trial)


def _no_survivors(trial: Trial) -> None:
    left = procs.wait_strays_gone(GRACE)
    trial.expect(not left, f"alive {GRACE:.0f}s later: {procs.describe(left)}")
    procs.kill_strays()


def _no_manifest_of_interrupted(trial: Trial, root: Path, hashes: dict[str, str]) -> None:
    for name, dep_hash in hashes.items():
        if name.split("@")[0] in TREES:
            path = root / "._qik" / "manifests" / f"{dep_hash}.json"
            trial.expect(not path.exists(), f"a manifest for interrupted {name}")


def _kill_main(ctx: Ctx, report: CaseReport, root: Path, hashes: dict[str, str]) -> None:
    started, _ = _start(ctx, root)
    started.kill9()
    started.finish(timeout=30)
    trial = Trial("SIGKILL qik")
    # SIGKILL can't be caught, but what qik started can notice that qik is gone.
    _no_survivors(trial)
    _no_manifest_of_interrupted(trial, root, hashes)
    report.check("SIGKILL qik: nothing it started outlives it").add(trial)


def _kill_worker(ctx: Ctx, report: CaseReport, root: Path, hashes: dict[str, str]) -> None:
    started, _ = _start(ctx, root)
    trial = Trial("SIGKILL a busy pool worker, then Ctrl-C")
    workers = [p for p in procs.pool_workers(started.pid) if _safe_descendants(p.pid)]
    if workers:
        ctx.rng.choice(workers).kill()
    time.sleep(1.0)
    started.signal(signal.SIGINT, group=True)
    done = started.finish(timeout=60)
    trial.expect(not tracebacks(done), f"traceback: {traceback_text(done)}")
    trial.expect(done.code in (1, 130), f"exit {done.code}: {done.brief()}")
    _no_survivors(trial)
    _no_manifest_of_interrupted(trial, root, hashes)
    report.check("SIGKILL a busy worker: its command does not outlive qik").add(trial)
