"""Case 9, load: thousands of runnables in one run, and one command printing a huge log
(1 GB in --full, 100 MB in --quick). Memory must stay bounded (peak RSS is reported, and
checked against a generous ceiling), every result must be right, and the huge log must be
stored and replayed byte for byte.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from stress.faults.harness import Ctx, Started, make_repo, start_qik, tracebacks
from stress.faults.outcome import outcome
from stress.faults.report import CaseReport, Trial

__all__ = ["run"]

TITLE = "load: thousands of runnables in one run; a command printing a huge log"
COMMANDS = 5  # per module
# Ceilings for resident memory: far above what streaming needs, far below "holds it all".
MAIN_RSS_CEILING = 256 << 20  # a log is streamed, never held whole: 718 MB for 1 GB was a bug
WORKER_RSS_CEILING = 512 << 20


@dataclass
class Peak:
    main: int = 0  # qik's own process
    worker: int = 0  # the largest single descendant
    tree: int = 0  # qik and every descendant together

    def __str__(self) -> str:
        mb = 1 << 20
        return (
            f"qik {self.main // mb} MB, largest child {self.worker // mb} MB, "
            f"tree {self.tree // mb} MB"
        )


@contextmanager
def sampled(started: Started, every: float = 0.1) -> Iterator[Peak]:
    """Peak resident memory of a running qik and its descendants, sampled in a thread."""
    peak = Peak()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                root = psutil.Process(started.pid)
                main = root.memory_info().rss
                kids = [p.memory_info().rss for p in root.children(recursive=True)]
            except psutil.Error:
                kids, main = [], peak.main
            peak.main = max(peak.main, main)
            peak.worker = max([peak.worker, *kids])
            peak.tree = max(peak.tree, main + sum(kids))
            done.wait(every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def run(ctx: Ctx) -> CaseReport:
    report = CaseReport("load", TITLE, "")
    _many(ctx, report, 5000)
    _huge_log(ctx, report, ctx.scale(12_000_000, 115_000_000))
    return report


def _many(ctx: Ctx, report: CaseReport, runnables: int) -> None:
    modules = runnables // COMMANDS
    names = ", ".join(f'"m{i}"' for i in range(modules))
    toml = [f"modules = [{names}]"]
    for c in range(COMMANDS):
        toml += [
            f"[commands.c{c}]",
            f'exec = "echo {{module.name}} c{c} > {{module.dir}}/out{c}.txt; echo c{c}"',
            'deps = ["{module.dir}/src.txt"]',
            f'artifacts = ["{{module.dir}}/out{c}.txt"]',
        ]
    files: dict[str, str | bytes] = {"qik.toml": "\n".join(toml) + "\n"}
    files.update({f"m{i}/src.txt": f"{i}\n" for i in range(modules)})
    root = make_repo(ctx.fresh("many") / "repo", files, ignore="m*/out*.txt\n")
    row = report.check(f"{runnables} runnables in one run (cold, then warm)")
    for kind in ("cold", "warm"):
        out = root.parent / f"{kind}.json"
        started = start_qik(root, "--report", str(out), "-n", "2", env=ctx.env)
        with sampled(started) as peak:
            done = started.finish(timeout=1800)
        trial = Trial(f"{kind} run of {runnables}")
        got = outcome(done.code, out, root, ())
        trial.expect(not done.timed_out and done.code == 0, f"{done.brief()}")
        trial.expect(not tracebacks(done), f"traceback: {done.brief()}")
        trial.expect(len(got.statuses) == runnables, f"{len(got.statuses)} results")
        bad = [n for n, s in got.statuses.items() if s != "ok"]
        trial.expect(not bad, f"not ok: {bad[:5]}")
        replays = sum(got.replays.values())
        want = runnables if kind == "warm" else 0
        trial.expect(replays == want, f"{replays} replays, expected {want}")
        sample = [f"m{i}/out{c}.txt" for i in (0, modules - 1) for c in range(COMMANDS)]
        for rel in sample:
            text = (root / rel).read_text() if (root / rel).exists() else None
            expected = f"{rel.split('/')[0]} c{rel[-5]}\n"
            trial.expect(text == expected, f"{rel} holds {text!r}")
        _check_memory(trial, peak)
        row.add(trial)
        report.figures[f"{runnables} runnables, {kind}"] = f"{done.seconds:.1f}s; peak RSS {peak}"
        ctx.log(f"load: {runnables} runnables {kind}: {done.seconds:.1f}s")


def _check_memory(trial: Trial, peak: Peak) -> None:
    trial.expect(peak.main < MAIN_RSS_CEILING, f"qik's RSS peaked at {peak.main >> 20} MB")
    trial.expect(peak.worker < WORKER_RSS_CEILING, f"a child peaked at {peak.worker >> 20} MB")


def _huge_log(ctx: Ctx, report: CaseReport, lines: int) -> None:
    size, digest = _expected(lines)
    mb = size >> 20
    root = make_repo(
        ctx.fresh("huge") / "repo",
        {
            "qik.toml": f'[commands.big]\nexec = "seq 1 {lines}"\ndeps = ["src.txt"]\n',
            "src.txt": "x",
        },
    )
    row = report.check(f"a {mb} MB log: stored, then replayed intact")
    for kind in ("cold", "warm"):
        with tempfile.TemporaryFile() as stdout:
            started = start_qik(root, "big", env=ctx.env, stdout=stdout)
            with sampled(started) as peak:
                done = started.finish(timeout=3600)
            trial = Trial(f"{kind} run of a {mb} MB log")
            trial.expect(done.code == 0 and not tracebacks(done), done.brief())
            shown_size, shown = _log_in(stdout)
            trial.expect(shown == digest, f"{kind}: the log shown ({shown_size} bytes) differs")
        stored = _stored_log(root)
        trial.expect(stored == (digest, size), f"stored log {stored}, expected {(digest, size)}")
        _check_memory(trial, peak)
        row.add(trial)
        report.figures[f"{mb} MB log, {kind}"] = f"{done.seconds:.1f}s; peak RSS {peak}"
        ctx.log(f"load: {mb} MB log {kind}: {done.seconds:.1f}s")


def _expected(lines: int) -> tuple[int, str]:
    """Size and SHA-256 of ``seq 1 lines``, computed here by the same rule."""
    h = hashlib.sha256()
    size = 0
    step = 100_000
    for start in range(1, lines + 1, step):
        chunk = "".join(f"{n}\n" for n in range(start, min(start + step, lines + 1))).encode()
        h.update(chunk)
        size += len(chunk)
    return size, h.hexdigest()


def _log_in(stdout: object) -> tuple[int, str]:
    """Size and SHA-256 of what qik printed, minus its own lines (headers, summary)."""
    assert hasattr(stdout, "seek") and hasattr(stdout, "readline")
    stdout.seek(0)
    h = hashlib.sha256()
    size = 0
    for line in iter(stdout.readline, b""):
        if line.startswith(("── ".encode(), b"qik: ")):
            continue
        h.update(line)
        size += len(line)
    return size, h.hexdigest()


def _stored_log(root: Path) -> tuple[str, int] | None:
    from qik.store.cas import Store

    store = Store.local(root / "._qik")
    for dep_hash in store.iter_manifests():
        manifest = store.read_manifest(dep_hash)
        if manifest is not None and manifest.runnable == "big":
            return manifest.log.digest, manifest.log.size
    return None
