"""One cold runnable, in a pool worker: run it, store its log and artifacts, write the manifest.

The worker gets a small frozen request and returns a small outcome; everything it needs
(paths, the dep hash, the per-dep digests) is in the request, so it imports little and
shares nothing with the main process but the file system.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import signal
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from qik import __version__
from qik.inputs import decode_inputs, listing_bytes
from qik.proc import (
    RUN_MARKER,
    CommandsStopped,
    run_shell,
    running_commands,
    stop_all_commands,
)

if TYPE_CHECKING:  # a pool worker imports little: not the config package
    from qik.config.schema import CacheWhen
    from qik.store.cas import Store
    from qik.store.mirrors.spec import Mirror

__all__ = [
    "BATCH_BUDGET",
    "BatchOutcome",
    "ColdOutcome",
    "ColdRequest",
    "run_batch",
    "run_cold",
    "should_store",
    "stop_with_qik",
]

# How often a pool worker checks that qik is still there.
_PARENT_POLL = 0.5
# How long a worker whose qik is gone waits for its watch to stop its commands and end it.
_END_GRACE = 30.0


@dataclass(frozen=True)
class ColdRequest:
    name: str
    exec: str
    root: str
    out_path: str
    timeout: float | None = None
    env: tuple[tuple[str, str], ...] | None = None  # full environment, or None: inherit
    dep_hash: str | None = None  # None: not cached
    deps: tuple[tuple[str, str], ...] = ()  # label -> digest, as stored in the manifest
    artifacts: tuple[str, ...] = ()
    cache_when: CacheWhen = "success"
    store_dir: str = ""  # the local store
    mirrors: tuple[Mirror, ...] = ()  # where to publish the result (repo, S3), in order
    # The listing of every file covered, for :explain (``qik.inputs``): one string, as
    # sending a pair per file cost the main process a pickled object per file.
    inputs: str = ""
    # When the listed digests are git's blob ids of each file as ``git add`` stores it
    # (qik.fingerprint.files), the project's directory in its work tree ("" at the top):
    # a file whose bytes hash otherwise is confirmed with git. None outside git.
    git_under: str | None = None
    # When the listed files were read for the dep hash (``FileIndex.taken_ns``; 0: not
    # known, and every file is hashed again): the check looks at every file changed since.
    hashed_ns: int = 0
    run_id: str = ""  # marks the command's processes (proc.RUN_MARKER), for kill_marked
    command: str = ""  # the command's name, for QIK__CMD
    # Where the output goes once the command is done (``out_path`` is this process's own
    # file meanwhile), or None: the main process moves it. When set, a small log also
    # comes back in the outcome, so the main process need not read the file to show it.
    settle_path: str | None = None


@dataclass(frozen=True)
class ColdOutcome:
    name: str
    exit_code: int
    duration: float
    timed_out: bool = False
    stored: bool = False
    warnings: tuple[str, ...] = ()
    # The whole output, if small and moved to the request's ``settle_path``.
    log: bytes | None = None


@dataclass(frozen=True)
class BatchOutcome:
    """What a batch did: an outcome (or the error ``run_cold`` raised, as text) for each
    request it ran, in order; the requests after those were handed back unrun."""

    outcomes: list[ColdOutcome | str]


# A batch starts no more commands once it has run this long (seconds): the rest go back
# to the scheduler, so a batch holds its runnables' results (and their downstream work)
# back briefly, and a slow command's siblings wait for that one command at most.
BATCH_BUDGET = 0.05


def run_batch(
    run: Callable[[ColdRequest], ColdOutcome], requests: list[ColdRequest], budget: float
) -> BatchOutcome:
    """Run cold requests one after the other in this worker, as one pool task.

    With this module's own ``run_cold``, results to store wait (``_Later``), and one check
    then makes sure no file any of them covers changed since it was read for their dep
    hashes: the commands of one module cover the same files, and the scheduler puts them
    in one batch, so each file costs one ``lstat`` for several results. They wait until
    the end of the batch, or until a command of it runs for more than a moment: then
    they are checked and stored while it runs, and a Ctrl-C or a killed worker during a
    long command no longer loses the results of the quick ones before it."""
    outcomes: list[ColdOutcome | str] = []
    later = _Later(outcomes) if run is run_cold else None
    deadline = time.monotonic() + budget
    for i, request in enumerate(requests):
        if i and time.monotonic() > deadline:
            break
        try:
            outcomes.append(run(request) if later is None else run_cold(request, later))
        except Exception as exc:  # as a failed pool task would: this runnable fails
            outcomes.append(f"{request.name}: worker error: {exc}")
    if later is not None:
        later.conclude()
    return BatchOutcome(outcomes)


class _Later:
    """The results of a batch waiting to be checked and stored together; their outcomes,
    in the batch's list, say they are not stored until then."""

    def __init__(self, outcomes: list[ColdOutcome | str]) -> None:
        self._outcomes = outcomes
        self._waiting: list[tuple[int, _Unstored]] = []

    def add(self, result: _Unstored) -> None:
        """``result``'s outcome is the next one of the batch."""
        self._waiting.append((len(self._outcomes), result))

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def conclude(self) -> None:
        """Check and store what waits. Never raises (an error is each one's warning): it
        may run while a command of the batch runs, which an exception would stop."""
        waiting, self._waiting = self._waiting, []
        results = [result for _, result in waiting]
        try:
            concluded = _conclude_all(results)
        except Exception as exc:  # a bug: the commands' results stand, unstored
            concluded = [
                _warned(r.outcome, f"{r.req.name}: result not cached: {exc!r}") for r in results
            ]
        for (index, _), outcome in zip(waiting, concluded, strict=True):
            self._outcomes[index] = outcome


def _conclude_all(unstored: list[_Unstored]) -> list[ColdOutcome]:
    """Check the files of these results once, and store each whose files did not change."""
    if not unstored:
        return []
    changed = _batch_changed(unstored)
    return [_conclude(r, changed=c) for r, c in zip(unstored, changed, strict=True)]


def should_store(exit_code: int, cache_when: CacheWhen) -> bool:
    if cache_when == "finished":
        return True
    if cache_when == "failed":
        return exit_code != 0
    return exit_code == 0


def stop_with_qik(qik_pid: int) -> None:
    """Pool initializer: a worker's command stops when qik stops, however qik stops.

    A SIGTERM to qik's process group (a CI job cancelled, ``timeout``, ``kill -- -PGID``)
    reaches the workers too, and by default ends one at once while its command, in a
    session of its own, runs on. Now a busy worker stops its command first (``run_shell``'s
    cleanup), and the main process stops what is left (``qik.cli.run.stop_children``,
    which also sends this SIGTERM after a Ctrl-C). A SIGKILLed qik can't stop its pool
    at all: loky's workers would run the runnables still queued, then idle for a minute;
    so a worker stops its command and exits once qik is gone. (Found by the stress
    suite's signals case.)
    """
    _keep_fds_from_commands()
    signal.signal(signal.SIGTERM, _stop)
    # Ctrl-C is the main process's to handle: it first looks at every process the run
    # started, then stops them. A worker that died of it at once (idle ones did, with a
    # traceback) made loky kill the others' trees first, and a command's child whose
    # parent had exited was then out of anyone's sight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch = threading.Thread(target=_watch_qik, args=(qik_pid,), daemon=True)
    watch.start()


def _watch_qik(qik_pid: int) -> None:
    """Return once qik is gone, then stop this worker's command and exit.

    A worker spawned by loky is qik's child: it watches its parent pid change (qik's pid,
    not just getppid(): a worker still starting up when qik was killed already has
    another parent). A worker forked by the fork server (``qik.scheduler.pool``) is its
    grandchild, and the server outlives qik as long as its forks do (they inherit the
    pipe it watches): such a worker checks the lineage once, then waits on a pidfd of
    qik's, which can't be fooled by a reused pid (a poll of the pid where there is none).
    """
    parent = os.getppid()
    if parent == qik_pid:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL)
    elif _is_child_of(parent, qik_pid):
        _wait_for_exit(qik_pid)
    stop_all_commands()
    os._exit(1)


def _await_the_end() -> NoReturn:
    """Store nothing and start nothing: the watch thread ends this worker as soon as it
    has stopped every command (``_watch_qik``)."""
    time.sleep(_END_GRACE)
    os._exit(1)


def _is_child_of(pid: int, parent: int) -> bool:
    """False only when known: a process that can't be looked at (no /proc?) is given
    the benefit of the doubt, or no worker would ever stay up there."""
    import psutil  # loaded already: loky's worker needs it

    try:
        return bool(psutil.Process(pid).ppid() == parent)
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


def _wait_for_exit(pid: int) -> None:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # no pidfd here (Linux < 5.3, not Linux)
        while _exists(pid):
            time.sleep(_PARENT_POLL)
        return
    import select

    poller = select.poll()
    poller.register(pidfd, select.POLLIN)  # readable once the process has exited
    while not poller.poll():
        pass


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _keep_fds_from_commands() -> None:
    """Make the file descriptors this worker was started with non-inheritable.

    ``posix_spawn`` passes every inheritable descriptor to a command, and loky hands its
    workers pipes that way. A command holding them hid a killed worker from loky until
    the command exited (the run hung meanwhile), and kept loky's resource trackers alive
    after qik. Descriptors opened later are non-inheritable already (PEP 446).
    """
    for fd in _open_fds():
        if fd > 2:
            with contextlib.suppress(OSError):
                os.set_inheritable(fd, False)


def _open_fds() -> list[int]:
    for listing in ("/proc/self/fd", "/dev/fd"):
        try:
            return [int(name) for name in os.listdir(listing)]
        except (OSError, ValueError):
            continue
    return list(range(3, 256))


class _Stopped(BaseException):
    """Raised in a busy worker by a stop signal: ``run_shell`` stops the command on its way
    out, ``run_cold`` then ends the worker (loky would catch it and wait for more work)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, frame: object) -> None:
    # Once: the main process's SIGTERM after a group's must not cut the cleanup short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if running_commands():
        raise _Stopped(signum)
    _die_of(signum)  # idle, in loky's queue: nothing to stop, no traceback to print


def _die_of(signum: int) -> None:
    """End this worker by the signal itself, as loky expects of a pool it stops (an exit
    code instead makes its resource tracker warn about leaked semaphores)."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # not reached: SIGINT and SIGTERM end a process by default


@dataclass(frozen=True)
class _Unstored:
    """A result to store once its batch has checked its inputs (``run_batch``)."""

    req: ColdRequest
    output: str
    outcome: ColdOutcome


def run_cold(req: ColdRequest, later: _Later | None = None) -> ColdOutcome:
    """Run ``req``'s command and store its result; with ``later``, a result to store is
    added there instead (its batch checks and stores it), and the outcome returned until
    then says it is not stored yet. What ``later`` holds is concluded while the command
    runs, if it runs for more than a moment."""
    if req.store_dir:
        _ignore_store(req.store_dir)
    env = {
        **_command_env(req.env, req.run_id),
        # As qik 0.2 set them: what runs, and a worker number (for per-worker resources,
        # e.g. a test database per worker).
        "QIK__CMD": req.command or req.name,
        "QIK__RUNNABLE": req.name,
        "QIK__WORKER": _worker_number(req.store_dir),
    }
    output, fd, early = _output(req)
    try:
        done = run_shell(
            req.exec,
            cwd=req.root,
            out_path=output,
            env=env,
            timeout=req.timeout,
            out_fd=fd,
            meanwhile=later.conclude if later else None,
        )
        log = _small_log(fd) if req.settle_path and not early else None
    except _Stopped as stopped:  # the command is stopped: nothing to store for it
        # What its batch ran before it ran to its end: stored, as it would have been.
        if later is not None:
            later.conclude()
        _die_of(stopped.signum)
        raise
    except CommandsStopped:  # qik is gone: the watch stops the commands, then this worker
        _await_the_end()
    finally:
        os.close(fd)
    outcome = ColdOutcome(
        req.name, done.exit_code, done.duration, done.timed_out, False, early, log
    )
    if req.dep_hash is None or done.timed_out or not should_store(done.exit_code, req.cache_when):
        return _settled(req, output, outcome)
    result = _Unstored(req, output, outcome)
    if later is not None:
        later.add(result)
        return outcome
    return _conclude(result, changed=_inputs_changed(req))


def _conclude(result: _Unstored, *, changed: bool) -> ColdOutcome:
    """Store a result, unless a file it covers changed while its command ran."""
    req, output, outcome = result.req, result.output, result.outcome
    if changed:
        # A formatter, a command deleting its own input, another command writing it: the
        # result is not that of the inputs it would be filed under, and replaying it for
        # them would be wrong. Unstored, it runs again next time, on what is there then.
        problem = f"{req.name}: result not cached: files it depends on changed while it ran"
        return _settled(req, output, _warned(outcome, problem))
    from qik.store.paths import StoreError

    try:
        warnings = _store_result(req, output, outcome.log, outcome.exit_code, outcome.duration)
    except Exception as exc:  # a full disk, a bad artifact, a bug: the command's result stands
        known = isinstance(exc, OSError | StoreError)
        problem = f"{req.name}: result not cached: {exc if known else repr(exc)}"
        return _settled(req, output, _warned(outcome, problem))
    stored = dataclasses.replace(outcome, stored=True, warnings=(*outcome.warnings, *warnings))
    return _settled(req, output, stored)


def _warned(outcome: ColdOutcome, problem: str) -> ColdOutcome:
    return dataclasses.replace(outcome, warnings=(*outcome.warnings, problem))


# A run gives all its commands the same environment: built (with the run's mark) once
# per run in this worker, not once per command.
@functools.lru_cache(maxsize=16)
def _command_env(env: tuple[tuple[str, str], ...] | None, run_id: str) -> dict[str, str]:
    built = dict(env) if env is not None else dict(os.environ)
    if run_id:
        built[RUN_MARKER] = run_id
    return built


_NUMBER_LOCK: list[int] = []  # the open lock file that holds the number, for the worker's life


@functools.lru_cache(maxsize=1)
def _worker_number(store_dir: str) -> str:
    """The lowest number (1, 2, ...) no other live pool worker of this repository holds:
    each holds an exclusive lock on ``._qik/workers/<n>.lock`` for its life, released by
    the system when it exits, however it exits. Else (no writable ``._qik``) the pid."""
    claimed = _claim_number(Path(store_dir) / "workers") if store_dir else ""
    return claimed or str(os.getpid())


def _claim_number(folder: Path) -> str:
    import fcntl

    if os.path.islink(folder.parent) or os.path.islink(folder):
        return ""  # lock files are never created through a link
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(1, 10_000):
            fd = os.open(folder / f"{n}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            _NUMBER_LOCK.append(fd)
            return str(n)
    except OSError:
        pass
    return ""


def _small_log(fd: int) -> bytes | None:
    """The command's whole output, if it is at most ``INLINE_MAX`` bytes: read from the
    descriptor it was written to (opening the file again by name cost more than that)."""
    from qik.store.manifest import INLINE_MAX

    try:
        data = os.pread(fd, INLINE_MAX + 1, 0)  # a regular file: short only at its end
    except OSError:
        return None
    return data if len(data) <= INLINE_MAX else None


def _settled(req: ColdRequest, output: str, outcome: ColdOutcome) -> ColdOutcome:
    """Move the output to ``req.settle_path`` if the log travels in the outcome. A log
    comes back only if it was moved: else the main process reads the file where it is,
    and moves it once shown."""
    if outcome.log is None or req.settle_path is None:
        return outcome
    try:
        os.replace(output, req.settle_path)
    except OSError:
        return dataclasses.replace(outcome, log=None)
    return outcome


def _output(req: ColdRequest) -> tuple[str, int, tuple[str, ...]]:
    """Where the command's output goes, open for writing: ``req.out_path``, or a
    temporary file if that can't be created (``._qik`` out of space or inodes): the
    command runs regardless, and a warning says where its output went."""
    output = req.out_path
    # Read and write: a small log is read back through the same descriptor.
    # Never through a symbolic link planted where the file goes (it could point anywhere).
    flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    try:
        try:
            return output, os.open(req.out_path, flags, 0o666), ()
        except FileNotFoundError:  # the first output here, or ._qik was deleted since
            if req.store_dir:
                _IGNORED.discard(req.store_dir)
                _ignore_store(req.store_dir)
            os.makedirs(os.path.dirname(req.out_path), exist_ok=True)
            return output, os.open(req.out_path, flags, 0o666), ()
    except OSError as exc:
        import tempfile

        fd, name = tempfile.mkstemp(prefix="qik-", suffix=".out")
        return name, fd, (f"{req.name}: can't write {output} ({exc.strerror}); output in {name}",)


def _store_result(
    req: ColdRequest, output: str, log_bytes: bytes | None, exit_code: int, duration: float
) -> tuple[str, ...]:
    from qik.store.manifest import Manifest
    from qik.store.mirrors.publish import publish

    store = _local_store(req.store_dir)
    log = store.put_small(log_bytes) if log_bytes is not None else store.put_small_file(output)
    warnings: list[str] = []
    entries = []
    if req.artifacts:
        root = Path(req.root)
        paths, warnings = collect_artifacts(root, req.artifacts)
        entries = [store.put_artifact(root, rel) for rel in paths]
    inputs = store.put_small(listing_bytes(req.inputs)) if req.inputs else None
    manifest = Manifest(
        runnable=req.name,
        dep_hash=req.dep_hash or "",
        exit_code=exit_code,
        duration=round(duration, 6),
        qik_version=__version__,
        created=time.time(),
        log=log,
        artifacts=tuple(entries),
        deps=dict(req.deps),
        inputs=inputs,
    )
    store.write_manifest(manifest)
    warnings += publish(store, manifest, req.mirrors)
    return tuple(warnings)


@functools.lru_cache(maxsize=4)
def _local_store(store_dir: str) -> Store:
    from qik.store.mirrors import local_store

    return local_store(Path(store_dir))


_IGNORED: set[str] = set()  # stores found ignoring themselves


def _ignore_store(store_dir: str) -> None:
    """``._qik/`` ignores itself: in a repo whose .gitignore lacks it, git status (and
    so every run's file index) would otherwise list every stored object."""
    if store_dir in _IGNORED:
        return
    from qik.store.backend import ignore_itself

    if ignore_itself(Path(store_dir)):
        _IGNORED.add(store_dir)


# File times come from a coarse clock (a timer tick on Linux, up to 2 s on some file
# systems): a file changed just after its digest was taken may look older than that.
_CLOCK_SLACK_NS = 2_000_000_000


def _inputs_changed(req: ColdRequest) -> bool:
    """Does a file the dep hash covers (``req.inputs``) differ from its digest now?"""
    listed = _parsed_inputs(req.root, req.inputs)
    return bool(_changed(listed, req.hashed_ns - _CLOCK_SLACK_NS, req.root, req.git_under))


def _batch_changed(results: list[_Unstored]) -> list[bool]:
    """``_inputs_changed`` for each result of a batch, with one check of every file
    they cover, against the earliest time their files were read (a file changed since
    then is hashed again; if its digest is still the same, nothing changed). A failing
    check counts as a change: nothing is stored."""
    cutoff = min(r.req.hashed_ns for r in results) - _CLOCK_SLACK_NS
    listings = [_parsed_inputs(r.req.root, r.req.inputs) for r in results]
    changed: set[tuple[str, str]] = set()
    try:
        by_tree: dict[tuple[str, str | None], dict[tuple[str, str], None]] = {}
        for result, listed in zip(results, listings, strict=True):
            by_tree.setdefault((result.req.root, result.req.git_under), {}).update(
                dict.fromkeys(listed)
            )
        for (root, git_under), pairs in by_tree.items():
            changed |= _changed(tuple(pairs), cutoff, root, git_under)
    except Exception:
        return [True] * len(results)
    if not changed:
        return [False] * len(results)
    return [not changed.isdisjoint(listed) for listed in listings]


def _changed(
    listed: tuple[tuple[str, str], ...], cutoff: int, root: str, git_under: str | None
) -> set[tuple[str, str]]:
    """Which (digest, absolute path) of ``listed`` no longer have that digest. Any change
    to a file sets its ctime to the time of the change, so only files whose ctime is
    later than ``cutoff`` are hashed again; the rest cost an ``lstat`` each (a cold run's
    pool worker does this for every batch of runnables it stores).

    A file whose bytes don't hash to its digest may still be unchanged: in git, a digest
    is the blob id of the file as ``git add`` stores it, after line-ending conversion or a
    clean filter (a fresh clone with ``core.autocrlf``: every file recent, every text file
    converted). Those are confirmed with one ``git hash-object`` for them all."""
    lstat = os.lstat
    try:
        if all(lstat(path).st_ctime_ns < cutoff for _, path in listed):
            return set()
    except OSError:
        pass  # one is gone (or was never there): see each
    from qik.fingerprint.files import blob_id

    changed: set[tuple[str, str]] = set()
    differ: list[tuple[str, str]] = []
    for pair in listed:
        digest, path = pair
        try:
            mode = lstat(path)
            if mode.st_ctime_ns < cutoff:
                continue
        except OSError:
            if digest:
                changed.add(pair)  # deleted
            continue
        algorithm = "sha256" if len(digest) == 64 else "sha1"
        try:
            if blob_id(Path(path), algorithm) != (digest or None):
                if git_under is None or not digest or not stat.S_ISREG(mode.st_mode):
                    changed.add(pair)
                else:
                    differ.append(pair)
        except Exception:  # unreadable now: not known to be the same
            changed.add(pair)
    if differ and not _same_for_git(root, git_under or "", differ):
        changed.update(differ)
    return changed


def _same_for_git(root: str, under: str, listed: list[tuple[str, str]]) -> bool:
    """Whether git gives each file of ``listed`` ((digest, absolute path)) its digest."""
    from qik import git

    start = len(root.rstrip("/")) + 1
    try:
        ids = git.hash_objects(Path(root), [path[start:] for _, path in listed], under)
    except Exception:  # git failed, the file went away: not known to be the same
        return False
    return ids == [digest for digest, _ in listed]


@functools.lru_cache(maxsize=1024)  # a few hundred bytes a listed file
def _parsed_inputs(root: str, inputs: str) -> tuple[tuple[str, str], ...]:
    """(digest, absolute path) of each line of an inputs listing: the runnables of a
    module share one, so it is parsed once."""
    prefix = root.rstrip("/") + "/"  # paths are repo-relative, posix: no os.path.join
    return tuple((digest, prefix + path) for digest, path in decode_inputs(inputs))


def collect_artifacts(root: Path, patterns: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Files under ``root`` matching the artifact globs, as sorted posix paths.

    A symbolic link is never stored, nor followed: neither a linked file nor anything
    under a linked folder, named directly (``artifacts = ["dist"]``, ``dist`` a link) or
    reached by a wildcard (``out/**``, ``out/sub`` a link). Each link is warned about
    once. (Restoring a link could point a later write outside the repository; following
    one stored files from outside it, as an audit found: ``dist -> ~/.ssh``.)"""
    import glob

    found: set[str] = set()
    links: set[str] = set()
    warnings: list[str] = []
    linked_dirs: dict[str, bool] = {}  # folder (posix, relative) -> is a link
    for pattern in patterns:
        matches, linked = [], []
        if os.path.islink(root / pattern):
            found_here = [pattern]  # a link itself: not followed (os.walk would)
        elif not glob.has_magic(pattern) and os.path.isdir(root / pattern):
            found_here = _below(root, pattern)  # a directory: every file below it
        else:
            found_here = glob.glob(pattern, root_dir=root, recursive=True)
        for m in found_here:
            rel = Path(m).as_posix()
            link = _linked_folder(root, rel, linked_dirs)
            if link is not None:
                linked.append(link)
            elif os.path.islink(root / m):
                linked.append(rel)
            elif os.path.isfile(root / m) and not _is_temp(rel):
                matches.append(rel)
        links.update(linked)
        if not matches and not linked:
            warnings.append(f"artifact pattern {pattern!r} matched no file")
        found.update(matches)
    # A link is not stored (restoring one could point a later write outside the repo).
    warnings.extend(f"artifact {link} is a symbolic link: not stored" for link in sorted(links))
    return sorted(found), warnings


def _linked_folder(root: Path, rel: str, seen: dict[str, bool]) -> str | None:
    """The first folder on the way from ``root`` to ``rel`` that is a symbolic link."""
    parts = rel.split("/")
    for i in range(1, len(parts)):
        folder = "/".join(parts[:i])
        if folder not in seen:
            seen[folder] = os.path.islink(root / folder)
        if seen[folder]:
            return folder
    return None


def _is_temp(rel: str) -> bool:
    """One of qik's own temporary files (``.<name>.<16 hex>.qik-tmp``: a restore or a
    store in progress, or left by one that was killed): never an artifact."""
    from qik.store.backend import is_temp_name

    return is_temp_name(rel.rsplit("/", 1)[-1])


def _below(root: Path, directory: str) -> list[str]:
    """Every path below ``root / directory`` that isn't a directory (dotfiles too: the
    directory is stored whole), relative to ``root``; links to directories not followed."""
    found: list[str] = []
    for parent, dirs, files in os.walk(root / directory):
        rel = os.path.relpath(parent, root)
        found.extend(os.path.join(rel, name) for name in files)
        found.extend(os.path.join(rel, d) for d in dirs if os.path.islink(os.path.join(parent, d)))
    return found
