"""Case 2, concurrency: 4 qik processes started at once on the same repository and store,
with overlapping selections (the same runnables run, replay and are forced at the same
time), and now and then ``qik :cache gc`` collecting underneath them.

Every process must exit with the code its selection gives alone, show no traceback, and
print for every runnable the log of a real run; afterwards the store verifies, every
stored result is the reference's, and a plain run gives the reference results.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from stress.faults import procs
from stress.faults.harness import Ctx, QikRun, Started, qik, start_qik, tracebacks
from stress.faults.outcome import outcome
from stress.faults.project import (
    Reference,
    check_results,
    make_project,
    make_reference,
    set_salt,
    verify_caches,
)
from stress.faults.report import CaseReport, Trial

__all__ = ["run"]

TITLE = "concurrency: 4 qik processes at once on one repo and store, overlapping runnables"
# The selections run side by side; each overlaps the others.
SELECTIONS: tuple[tuple[str, ...], ...] = (
    (),
    ("gen",),
    ("pack", "-m", "m0", "-m", "m2"),
    ("gen", "check", "-f"),
    ("pack", "check"),
)
GC = (":cache", "gc", "--max-size", "1")


def run(ctx: Ctx) -> CaseReport:
    report = CaseReport("concurrency", TITLE, "")
    rounds = ctx.scale(4, 50)
    salts = ctx.scale(2, 3)
    template = make_project(
        ctx.fresh("template") / "repo", modules=ctx.scale(3, 4), size=128 << 10
    )
    refs = {salt: make_reference(ctx, template, salt) for salt in range(salts)}
    logs = {salt: refs[salt].logs() for salt in range(salts)}
    root = ctx.fresh("shared") / "repo"
    shutil.copytree(template, root, symlinks=True)
    expected = {sel: _expected_code(ctx, root, refs[0], sel) for sel in SELECTIONS}
    check = report.check("4 processes at once (run, replay, force, gc)")
    after = report.check("after each round: verify, stored results, a plain run")
    for i in range(rounds):
        salt = i % salts
        _reset(ctx, root, salt, i)
        trial = Trial(f"round {i} (salt {salt})")
        chosen = _choose(ctx, i)
        runs = _round(ctx, root, chosen)
        for args, done, run_report in runs:
            _judge(trial, args, done, run_report, expected, refs[salt], logs[salt])
            check.count("gc runs" if args == GC else "qik runs")
        check.add(trial)
        settled = Trial(f"round {i} (salt {salt})")
        verify_caches(settled, ctx, root)
        final = root.parent / "final.json"
        plain = qik(root, "--report", str(final), env=ctx.env)
        settled.expect(not tracebacks(plain), f"traceback: {plain.brief()}")
        check_results(settled, root, refs[salt], plain.code, final, "plain run after the round")
        after.add(settled)
        ctx.log(f"concurrency: {i + 1}/{rounds} rounds")
    return report


def _reset(ctx: Ctx, root: Path, salt: int, i: int) -> None:
    """Rounds alternate between cold (no manifests: all four processes race to run and
    store the same runnables) and warm-ish (results there: replays race with gc)."""
    set_salt(root, salt)
    if i % 3 != 2:
        for store in ("._qik", ".qik"):
            shutil.rmtree(root / store / "manifests", ignore_errors=True)
    if ctx.rng.random() < 0.5:
        for out in root.glob("m*/out"):
            shutil.rmtree(out)


def _choose(ctx: Ctx, i: int) -> list[tuple[str, ...]]:
    chosen = ctx.rng.sample(SELECTIONS, 4)
    if i % 3 == 2:  # a round with results in the store: gc takes one of the four slots
        chosen[-1] = GC
    return chosen


def _round(
    ctx: Ctx, root: Path, chosen: list[tuple[str, ...]]
) -> list[tuple[tuple[str, ...], QikRun, Path]]:
    """Start every selection at once; each one's arguments, run and report file."""
    started: list[tuple[tuple[str, ...], Started, Path]] = []
    for n, args in enumerate(chosen):
        report = root.parent / f"report-{n}.json"
        report.unlink(missing_ok=True)
        extra = () if args == GC else ("--report", str(report), "-v", "2", "-n", "2")
        started.append((args, start_qik(root, *args, *extra, env=ctx.env), report))
    runs = [(args, s.finish(timeout=180), report) for args, s, report in started]
    procs.wait_strays_gone(5.0)
    procs.kill_strays()
    return runs


def _judge(
    trial: Trial,
    args: tuple[str, ...],
    run: QikRun,
    report: Path,
    expected: dict[tuple[str, ...], int],
    ref: Reference,
    logs: dict[str, str],
) -> None:
    name = " ".join(args) or "(all)"
    trial.expect(not run.timed_out, f"{name}: did not finish: {run.brief()}")
    trial.expect(not tracebacks(run), f"{name}: traceback: {run.brief()}")
    if args == GC:
        trial.expect(run.code == 0, f"gc: {run.brief()}")
        return
    trial.expect(run.code == expected[args], f"{name}: exit {run.code}, not {expected[args]}")
    got = outcome(run.code, report, Path("."), ())
    for runnable, status in got.statuses.items():
        want = ref.outcome.statuses.get(runnable)
        trial.expect(status == want, f"{name}: {runnable} {status}, expected {want}")
        log = logs.get(runnable)
        if log is not None and status != "skipped" and log not in run.stdout:
            shown = _shown_log(run.stdout, runnable)
            trial.expect(False, f"{name}: {runnable} showed {shown!r}, not its log {log[:60]!r}")


def _shown_log(stdout: str, runnable: str) -> str:
    """What the console printed under the runnable's header (its log, supposedly)."""
    lines = stdout.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("── ") and f" {runnable} " in line:
            body = []
            for after in lines[i + 1 :]:
                if after.startswith(("── ", "qik: ")):
                    break
                body.append(after)
            return "".join(body)[:100]
    return "(no header)"


def _expected_code(ctx: Ctx, root: Path, ref: Reference, args: tuple[str, ...]) -> int:
    """The exit code a selection gives alone: 1 if the reference failed any runnable it
    selects."""
    listed = qik(root, *args, "--ls", env=ctx.env)
    if listed.code != 0:
        raise RuntimeError(f"--ls failed: {listed.brief()}")
    names = listed.stdout.split()
    return 1 if any(ref.outcome.statuses[n].startswith("failed") for n in names) else 0
