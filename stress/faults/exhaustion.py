"""Case 8, resource exhaustion: a full ``._qik`` (no blocks, or no inodes left), a
read-only ``._qik`` (populated or empty), ``._qik`` that is a file, a full repo cache
(``.qik``), and the whole repository on a full file system.

Each must end with a clear coded error, or with warnings and a run without caching that
gives the commands' own results; never a corrupt store: once space is back, ``qik :cache
verify`` finds nothing wrong and the next run gives the reference results.

Full file systems are small tmpfs mounts (the suite runs as root where it can mount;
elsewhere those rows are skipped and say so). A read-only ``._qik`` is a read-only mount
for root (who ignores file modes), or ``chmod 555`` otherwise.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from stress.faults.harness import Ctx, qik, tracebacks
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

TITLE = "resource exhaustion: full or read-only ._qik, full repo cache, full disk"


class CannotMount(Exception):
    pass


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``path`` (created if missing) for the duration."""
    path.mkdir(parents=True, exist_ok=True)
    _mount(["-t", "tmpfs", "-o", options, "tmpfs", str(path)])
    try:
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` (a directory) read-only for the duration, even for root."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")] if p.is_dir()}
        for p in modes:
            p.chmod(0o555)
        try:
            yield path
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    _mount(["--bind", str(path), str(path)])
    try:
        _mount(["-o", "remount,ro,bind", str(path)])
        yield path
    finally:
        _umount(path)


def _mount(args: list[str]) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CannotMount(done.stderr.strip() or f"mount exited {done.returncode}")


def _umount(path: Path) -> None:
    for extra in ([], ["-l"]):  # lazily, if something still holds it
        if subprocess.run(["umount", *extra, str(path)], capture_output=True).returncode == 0:
            return


def _fill(folder: Path, leave: int) -> None:
    """Fill the file system holding ``folder`` until ``leave`` bytes are free."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize - leave
    if free > 0:
        with (folder / "filler").open("wb") as fh:
            fh.write(b"\0" * free)


def _use_up_inodes(folder: Path, leave: int) -> None:
    (folder / "inodes").mkdir()
    n = 0
    with contextlib.suppress(OSError):
        while True:
            (folder / "inodes" / str(n)).touch()
            n += 1
    for i in range(leave):
        (folder / "inodes" / str(n - 1 - i)).unlink()


def run(ctx: Ctx) -> CaseReport:
    report = CaseReport("exhaustion", TITLE, "")
    template = make_project(ctx.fresh("template") / "repo", modules=2, size=256 << 10)
    refs = {salt: make_reference(ctx, template, salt) for salt in (0, 1)}
    scenarios: list[tuple[str, Callable[[Ctx, Path, dict[int, Reference], Trial], None]]] = [
        ("._qik full (tmpfs, 96 KB free)", _store_full),
        ("._qik out of inodes (tmpfs)", _store_out_of_inodes),
        ("._qik read-only, populated", _store_read_only),
        ("._qik read-only, empty", _store_read_only_empty),
        ("._qik is a file", _store_is_a_file),
        (".qik (repo cache) full (tmpfs)", _repo_cache_full),
        ("the whole repository on a full tmpfs", _repo_full),
    ]
    for _ in range(ctx.scale(1, 5)):
        for what, scenario in scenarios:
            root = ctx.fresh("exhaustion") / "repo"
            shutil.copytree(template, root, symlinks=True)
            trial = Trial(what)
            try:
                scenario(ctx, root, refs, trial)
            except CannotMount as exc:
                report.check(what).count(f"skipped: cannot mount ({exc})")
                continue
            report.check(what).add(trial)
        ctx.log("exhaustion: a round of scenarios")
    return report


def _run(ctx: Ctx, root: Path, ref: Reference, trial: Trial, what: str) -> None:
    """One run: no traceback, the reference's exit code, statuses and artifacts."""
    out = root.parent / f"{what}.json"
    done = qik(root, "--report", str(out), env=ctx.env)
    trial.expect(not tracebacks(done), f"{what}: traceback: {done.brief()}")
    if done.code == 2:  # a clear coded error is an acceptable answer too
        trial.expect("error[" in done.stderr, f"{what}: exit 2 without a coded error")
        return
    check_results(trial, root, ref, done.code, out, what)


def _afterwards(ctx: Ctx, root: Path, ref: Reference, trial: Trial) -> None:
    """Space is back: the store verifies, holds no temporary files, and the next runs
    give the reference results (the second one from the cache)."""
    verify_caches(trial, ctx, root)
    temps = [p for p in (root / "._qik").rglob("*.qik-tmp")] if (root / "._qik").is_dir() else []
    trial.expect(not temps, f"temporary files left: {[p.name for p in temps][:3]}")
    _run(ctx, root, ref, trial, "next run")
    _run(ctx, root, ref, trial, "warm run")


def _store_full(ctx: Ctx, root: Path, refs: dict[int, Reference], trial: Trial) -> None:
    with tmpfs(root / "._qik", "size=2m") as store:
        _fill(store, 96 << 10)
        _run(ctx, root, refs[0], trial, "full")
        (store / "filler").unlink()
        _afterwards(ctx, root, refs[0], trial)


def _store_out_of_inodes(ctx: Ctx, root: Path, refs: dict[int, Reference], trial: Trial) -> None:
    with tmpfs(root / "._qik", "size=16m,nr_inodes=400") as store:
        _use_up_inodes(store, 12)
        _run(ctx, root, refs[0], trial, "no inodes")
        shutil.rmtree(store / "inodes")
        _afterwards(ctx, root, refs[0], trial)


def _store_read_only(ctx: Ctx, root: Path, refs: dict[int, Reference], trial: Trial) -> None:
    _run(ctx, root, refs[0], trial, "populating")
    before = sorted(p.name for p in (root / "._qik" / "manifests").iterdir())
    with read_only(root / "._qik"):
        _run(ctx, root, refs[0], trial, "warm, read-only")  # replays need no writes
        set_salt(root, 1)
        _run(ctx, root, refs[1], trial, "cold, read-only")
    after = sorted(p.name for p in (root / "._qik" / "manifests").iterdir())
    trial.expect(before == after, "the read-only store changed")
    _afterwards(ctx, root, refs[1], trial)


def _store_read_only_empty(ctx: Ctx, root: Path, refs: dict[int, Reference], trial: Trial) -> None:
    with read_only(root / "._qik"):
        _run(ctx, root, refs[0], trial, "read-only, empty")
    _afterwards(ctx, root, refs[0], trial)


def _store_is_a_file(ctx: Ctx, root: Path, refs: dict[int, Reference], trial: Trial) -> None:
    (root / "._qik").write_text("not a directory\n")
    _run(ctx, root, refs[0], trial, "._qik a file")
    (root / "._qik").unlink()
    _afterwards(ctx, root, refs[0], trial)


def _repo_cache_full(ctx: Ctx, root: Path, refs: dict[int, Reference], trial: Trial) -> None:
    with tmpfs(root / ".qik", "size=1m") as cache:
        _fill(cache, 16 << 10)
        _run(ctx, root, refs[0], trial, "repo cache full")
        (cache / "filler").unlink()
        repo = qik(root, ":cache", "verify", "--cache", "repo", env=ctx.env)
        trial.expect(repo.code == 0, f"repo cache: {repo.stdout.strip()[-300:]}")
        _run(ctx, root, refs[0], trial, "after, repo cache with space")
        verify_caches(trial, ctx, root)


def _repo_full(ctx: Ctx, root: Path, refs: dict[int, Reference], trial: Trial) -> None:
    """Commands can't write their artifacts: they fail, and qik says so (exit 1)."""
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    mount = root.parent / "small"
    with tmpfs(mount, f"size={max(size * 2, 1 << 20)}") as fs:
        shutil.copytree(root, fs / "repo", symlinks=True)
        inner = fs / "repo"
        _fill(fs, 200 << 10)
        done = qik(inner, env=ctx.env)
        trial.expect(not tracebacks(done), f"traceback: {done.brief()}")
        trial.expect(done.code == 1, f"exit {done.code}, expected the commands' failure")
        (fs / "filler").unlink()
        verify_caches(trial, ctx, inner)
