"""One run, end to end: config → runnables → DAG → selection → fingerprints → plan → execute.

Everything before ``execute`` only reads, so ``--ls`` and ``--cache-status`` are answered
without running anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO
from urllib.parse import quote

from qik.config.refs import NO_CACHE
from qik.config.schema import Project
from qik.deps import DepEnv
from qik.errors import QikError
from qik.fingerprint.files import FileIndex
from qik.graph.dag import Dag, Selector, build_dag, named, select, with_upstream
from qik.graph.expand import Runnable, expand
from qik.options import Options, option_values
from qik.plan import Fingerprint, PlanEntry, fingerprint, fingerprint_all, plan_entry
from qik.scheduler.run import Job, Result
from qik.spaces import is_built, space_envs, space_source
from qik.store.cas import ObjectCorrupt, ObjectMissing, Store
from qik.store.manifest import Manifest, ManifestInvalid
from qik.store.paths import StoreError

if TYPE_CHECKING:
    from qik.scheduler.worker import ColdRequest
    from qik.store.manifest import ArtifactEntry
    from qik.store.mirrors.reader import MirrorReader
    from qik.store.mirrors.remote import RemoteCache
    from qik.store.mirrors.spec import Mirror
    from qik.store.stats import RunUsage
    from qik.store.sync import RestoredFile

__all__ = ["Plan", "Run", "make_plan", "out_path"]

BUILTIN_CACHES = ("local", "repo")


def out_path(root: Path, name: str) -> Path:
    """Where a runnable's live output goes: ``._qik/out/<runnable>.out``."""
    return root / "._qik" / "out" / _out_name(name)


def _out_name(name: str) -> str:
    """``<runnable>.out``, %-escaped, and cut with a digest when long (``qik.filenames``)."""
    from qik.filenames import bounded

    return f"{bounded(quote(name, safe='@-_.'), name)}.out"


# A local result stored or marked as used less than this long ago is not marked again
# when it replays: gc's order of last use is kept to within this, and a fully cached run
# skips a file-system write per runnable (and keeps the manifest memo valid).
_RECENT = 3600.0


@dataclass
class Caches:
    """The stores of one run, opened lazily: only what the plan touches is read.

    Each cache is read through a ``MirrorReader`` (validation, signatures, one warning per
    kind of trouble, a circuit breaker); ``mirrors`` names where a pool worker publishes a
    fresh result. boto3 is imported only when an S3 cache is first read.
    """

    project: Project
    warn: Callable[[str], None]
    read_only: bool = False
    run_id: str = field(default_factory=lambda: os.urandom(8).hex())
    _readers: dict[str, MirrorReader | None] = field(default_factory=dict)
    _remotes: dict[str, RemoteCache | None] = field(default_factory=dict)
    _looked_up: dict[str, str] = field(default_factory=dict)  # runnable -> dep hash
    _recent: set[str] = field(default_factory=set)  # local hits stored within _RECENT
    _usage: RunUsage | None = None
    _finished: set[str] = field(default_factory=set)
    _restored: dict[Path, RestoredFile] = field(default_factory=dict)  # by the last pulls

    @property
    def local(self) -> Store:
        store = self.store("local")
        assert store is not None
        return store

    def store(self, name: str) -> Store | None:
        reader = self._reader(name)
        return None if reader is None else reader.store

    def fetch(self, name: str, key: str, limit: int) -> bytes | None:
        """A blob that is not a result from cache ``name`` (``MirrorReader.fetch``)."""
        reader = self._reader(name)
        return None if reader is None else reader.fetch(key, limit)

    def put(self, name: str, key: str, data: bytes) -> None:
        """Write a blob that is not a result to cache ``name`` (``MirrorReader.put``)."""
        reader = self._reader(name)
        if reader is None or not self.is_local_usable:
            return
        if name == "local":  # maybe this run's only write there: see _usage_path
            from qik.store.backend import ignore_itself

            ignore_itself(self.project.root / "._qik")
        reader.put(key, data)

    def reachable(self, name: str) -> Store | None:
        """``store(name)``, unless reading it has failed this run (its circuit breaker
        tripped, the outage warned about once)."""
        reader = self._reader(name)
        return None if reader is None or reader.guard.is_tripped else reader.store

    def _reader(self, name: str) -> MirrorReader | None:
        if name not in self._readers:
            self._readers[name] = self._open(name)
        return self._readers[name]

    def _open(self, name: str) -> MirrorReader | None:
        from qik.store.backend import Backend, LocalBackend, ReadOnlyBackend
        from qik.store.mirrors.reader import MirrorReader

        backend: Backend
        if name in BUILTIN_CACHES:
            local = LocalBackend(self.project.root / ("._qik" if name == "local" else ".qik"))
            linked = local.linked()
            if linked is not None:
                self.warn(linked_warning(linked, name))
                return None
            backend, key = local, None
        else:
            remote = self.remote(name)
            if remote is None:
                return None
            from qik.store.s3 import S3Backend

            backend = S3Backend(remote.settings)
            key = None if remote.sign_key is None else remote.sign_key.encode()
        if name != "local" and (self.read_only or self.is_read_only(name)):
            backend = ReadOnlyBackend(backend)
        memo = None
        if name == "local":
            from qik.store.memo import MEMO_NAME, ManifestMemo

            memo = ManifestMemo(self.project.root / "._qik" / MEMO_NAME)
        return MirrorReader(name, Store(backend, memo=memo), self.warn, sign_key=key)

    @functools.cached_property
    def is_local_usable(self) -> bool:
        """Can the local store be used? Not when ``._qik`` or a folder of it is a symbolic
        link (one warning): then nothing is looked up, stored or written there, and the
        run goes on uncached, as with an unwritable store."""
        return self._reader("local") is not None

    def save_memo(self) -> None:
        """Keep the local manifests this run validated for the next run (``store.memo``)."""
        reader = self._readers.get("local")
        if reader is not None and reader.store.memo is not None:
            reader.store.memo.save()

    def is_read_only(self, name: str) -> bool:
        """Is the S3 cache ``name`` never written (``read-only``, or a sign-key that is
        empty here)? The local and repo caches are not."""
        remote = self.remote(name) if name not in BUILTIN_CACHES else None
        return remote is not None and (remote.read_only or remote.sign_key == "")

    def remote(self, name: str) -> RemoteCache | None:
        """The S3 cache ``name``, rendered; None if there is none (or boto3 is missing)."""
        if name not in self._remotes:
            self._remotes[name] = self._resolve(name)
        return self._remotes[name]

    def _resolve(self, name: str) -> RemoteCache | None:
        from qik.config.schema import S3CacheConf
        from qik.graph.expand import render
        from qik.store.mirrors.remote import has_boto3, resolve

        conf = self.project.caches.get(name)
        if not isinstance(conf, S3CacheConf):
            return None
        remote = resolve(
            conf, lambda text, where: render(text, self.project, None, where, unset="")
        )
        if not has_boto3():
            self.warn(f"cache {name!r} needs boto3: pip install 'qik[s3]'; continuing without it")
            return None
        if remote.sign_key == "":
            self.warn(
                f"cache {name!r} has a sign-key, but it is empty here: "
                "its results are neither trusted nor written"
            )
        return remote

    def lookup(self, dep_hash: str, runnable: Runnable) -> tuple[Manifest, str] | None:
        # A venv lives outside the store: a stored sync counts only while the venv holds it.
        if runnable.internal and not is_built(self.project, runnable):
            return None
        if not self.is_local_usable:  # a mirror's hit would be pulled into it
            return None
        self._looked_up[runnable.name] = dep_hash
        for name in dict.fromkeys(("local", runnable.cache)):
            reader = self._reader(name)
            found = None if reader is None else reader.read(dep_hash)
            if found is not None:
                if name == "local" and reader is not None:
                    used = reader.store.last_used.get(dep_hash, found.created)
                    if time.time() - used < _RECENT:
                        self._recent.add(runnable.name)
                return found, name
        return None

    def pull(self, source: str, manifest: Manifest, *, restore_root: Path | None = None) -> bool:
        """Copy a hit in mirror ``source`` into the local store, restoring its artifacts
        under ``restore_root`` on the way; True if any was written there. ``MirrorMiss``
        (the warning already given) if the mirror doesn't deliver it."""
        from qik.store.mirrors.reader import MirrorMiss

        reader = self._reader(source)
        if reader is None:
            raise MirrorMiss(f"cache {source!r} is not available")
        restored = reader.pull(manifest, self.local, restore_root=restore_root).restored
        self._restored.update((r.path, r) for r in restored)
        return bool(restored)

    def is_restored(self, dest: Path, artifact: ArtifactEntry) -> bool:
        """Did the last pull write ``artifact`` to ``dest``, verified, and is the file still
        the one it wrote? Spares a replay hashing what it has just checked."""
        restored = self._restored.pop(dest, None)
        return restored is not None and restored.entry == artifact and restored.is_intact()

    def mirrors(self, runnable: Runnable) -> tuple[Mirror, ...]:
        """Where a fresh result of ``runnable`` is published, besides the local store."""
        if self.read_only or runnable.cache == "local" or not self.is_local_usable:
            return ()
        from qik.store.mirrors.spec import RepoMirror, S3Mirror

        if runnable.cache == "repo":
            if self._reader("repo") is None:  # a symbolic link (warned about)
                return ()
            return (RepoMirror(str(self.project.root / ".qik")),)
        remote, reader = self.remote(runnable.cache), self._reader(runnable.cache)
        if remote is None or reader is None or reader.guard.is_tripped:
            return ()
        if self.is_read_only(runnable.cache):
            return ()
        return (S3Mirror(runnable.cache, remote.settings, self.run_id, remote.sign_key),)

    def note_result(self, result: Result) -> None:
        """Count a finished runnable for ``qik :cache stats``; mark a local hit as used."""
        dep_hash = self._looked_up.get(result.name)
        if dep_hash is None:
            return
        if self._usage is None:
            from qik.store.stats import RunUsage, save_usage_at_exit

            self._usage = RunUsage()
            save_usage_at_exit(self._usage_path, self._usage)
        self._finished.add(result.name)
        if result.status != "skipped":
            self._count(result, dep_hash, self._usage)
        # Saved when every runnable looked up has finished, else at most once a second (a
        # write costs about a millisecond): a run that started the pool leaves through
        # os._exit, which skips atexit hooks.
        # (Only names looked up are counted as finished: comparing sizes is enough.)
        every = 0.0 if len(self._finished) >= len(self._looked_up) else 1.0
        self._usage.save_if_due(self._usage_path, every)

    def _count(self, result: Result, dep_hash: str, usage: RunUsage) -> None:
        if not result.is_replay:
            usage.misses += 1
            return
        usage.hit(result.source or "local")
        if result.source == "local" and result.name not in self._recent:
            self.local.touch_manifest(dep_hash)

    def save_usage(self) -> None:
        """Save this run's hit counts for ``qik :cache stats`` now (the end of a run)."""
        if self._usage is not None:
            self._usage.save(self._usage_path)

    @functools.cached_property
    def _usage_path(self) -> Path:
        from qik.store.backend import ignore_itself

        # A run that replays everything writes ._qik (this file, pulled objects) but runs
        # no command to make it ignore itself: a fresh clone's `git add -A` took it all.
        ignore_itself(self.project.root / "._qik")
        return self.project.root / "._qik" / "last-run.json"


@dataclass
class Plan:
    project: Project
    options: Options
    dag: Dag
    names: list[str]
    fingerprints: dict[str, Fingerprint]
    entries: dict[str, PlanEntry]
    index: FileIndex
    caches: Caches
    listed: list[str] | None = None  # with --shard: the runnables this shard owns
    weights: dict[str, float] = field(default_factory=dict)  # with --shard: expected seconds
    shard_record: ShardRecord | None = None  # with --shard: a split to record


@dataclass(frozen=True)
class ShardRecord:
    """A ``--shard`` split computed by this run rather than found recorded: written to
    ``caches`` (those of every runnable split, not only this shard's) before it runs."""

    key: str
    data: bytes
    caches: list[str]


def _apply_overrides(project: Project, options: Options) -> Project:
    declared = {*BUILTIN_CACHES, NO_CACHE, *project.caches}
    for name in (*options.caches, *([options.default_cache] if options.default_cache else [])):
        if name not in declared:
            own = ", ".join(sorted(project.caches)) or "none here"
            raise QikError(
                f"no cache named {name!r}",
                code="unknown-cache",
                hint=f"caches are local, repo, none, and those declared under [caches.NAME] "
                f"({own})",
            )
    if options.cache_when and options.cache_when not in ("success", "failed", "finished"):
        raise QikError(
            f"--cache-when {options.cache_when!r} is not one of success, failed, finished",
            code="invalid-option",
            hint="use --cache-when success|failed|finished",
        )
    if options.default_cache:
        project = dataclasses.replace(project, default_cache=options.default_cache)
    return project


def make_plan(project: Project, options: Options, warn: Callable[[str], None]) -> Plan:
    project = _apply_overrides(project, options)
    # {ctx.qik.OPTION} renders the option as this run has it: flag, QIK__ env var, profile.
    project = dataclasses.replace(project, qik_options=option_values(options))
    runnables = expand(project)
    if options.cache_when:
        runnables = {
            n: dataclasses.replace(r, cache_when=options.cache_when)  # type: ignore[arg-type]
            for n, r in runnables.items()
        }
    dag = build_dag(runnables)
    retargeted = _named_into_cache(dag, options)
    if retargeted:
        runnables = {
            n: dataclasses.replace(r, cache=options.caches[0]) if n in retargeted else r
            for n, r in runnables.items()
        }
        dag = build_dag(runnables)
    selector = Selector(
        names=options.commands,
        modules=options.modules,
        spaces=options.spaces,
        tags=options.tags,
        caches=options.caches,
        isolated=options.isolated,
    )
    index = FileIndex.from_worktree(project.root)
    _warn_if_ignored(project, index, warn)
    narrow = None
    if options.since:
        since = options.since

        def narrow(candidates: set[str]) -> set[str]:
            from qik.since import changed_since

            return changed_since(
                project, dag, candidates, since, index, lambda p, i: _dep_env(p, i, {})
            )

    names = select(dag, selector, known_modules=project.modules, narrow=narrow)
    if options.caches and options.commands:
        _warn_named_but_other_cache(dag, options, set(names), warn)
    if options.commands and not options.since:
        _warn_named_but_filtered(dag, options, set(names), warn)
    never_warm = set()
    for name in names:
        error = dag.runnables[name].error
        if error is not None:
            if options.cache_status == "warm" and _never_cached(project, dag.runnables[name]):
                # Not selected after all: it can't be warm (``missing-var`` is for the
                # commands that run, and a CI's warm pass runs without their secrets).
                never_warm.add(name)
                continue
            raise error
    names = [n for n in names if n not in never_warm]
    caches = Caches(project, warn, read_only=options.cache_read_only)
    if options.ls and not (options.json or options.cache_status or options.shard):
        # A plain listing names what is selected: nothing is hashed and no cache is read,
        # so a pydist dep that isn't installed (or a cache that can't be reached) fails
        # the run, not the listing.
        return Plan(project, options, dag, names, {}, {}, index, caches)
    prints = fingerprint_all(dag, names, lambda ups: _dep_env(project, index, ups))
    entries = {n: _entry(dag.runnables[n], prints[n], options, caches) for n in names}
    selected = names
    if options.cache_status:
        want_warm = options.cache_status == "warm"
        names = [n for n in names if entries[n].is_warm == want_warm]
    listed = None
    if options.caches or options.cache_status:
        # What --cache and --cache-status leave out may still be needed: a runnable that
        # will run needs the commands it depends on to have run (or been replayed) first,
        # else it runs on their missing or stale outputs, and stores that.
        support = _needed_upstream(dag, names, entries, isolated=options.isolated)
        if support:
            for name in support:
                entries[name] = _entry(dag.runnables[name], prints[name], options, caches)
            listed, chosen = names, support.union(names)
            names = [n for n in dag.order if n in chosen]
    universe = selected
    if options.shard and (options.caches or options.cache_status):
        # --shard splits what is selected before --cache-status narrows it, with every
        # upstream runnable that may join as support: that doesn't depend on what the
        # caches hold, so shards started later (a re-run) find the same record.
        closure = with_upstream(dag, set(selected), options.isolated)
        for name in closure - entries.keys():
            entries[name] = _entry(dag.runnables[name], prints[name], options, caches)
        universe = [n for n in dag.order if n in closure]
    caches.save_memo()
    plan = Plan(project, options, dag, names, prints, entries, index, caches, listed)
    if options.shard:
        _apply_shard(plan, options.shard, universe)
    return plan


def _never_cached(project: Project, runnable: Runnable) -> bool:
    """A runnable of a command without deps: never cached, whatever its templates say."""
    command = project.commands.get(runnable.command)
    return command is not None and not command.deps


def _warn_if_ignored(project: Project, index: FileIndex, warn: Callable[[str], None]) -> None:
    """Files git ignores count for no dep. When that is the project's own config (its
    folder ignored by the enclosing repository: a dotfiles repo of $HOME, a parent
    .gitignore), every dep matches nothing and every result would replay whatever changed:
    say so. One lookup a run."""
    config = project.config_path.relative_to(project.root).as_posix()
    if config not in index:
        warn(
            f"git ignores {config} (is the project's folder in a .gitignore?): files git "
            "ignores count for no dep, so deps of this project may match nothing"
        )


def _entry(runnable: Runnable, fp: Fingerprint, options: Options, caches: Caches) -> PlanEntry:
    """A runnable's plan entry: with its stored result, looked up, unless ``--force``."""
    return PlanEntry(runnable, fp) if options.force else plan_entry(runnable, fp, caches.lookup)


def _named_into_cache(dag: Dag, options: Options) -> set[str]:
    """The CI guide's ``qik pytest --cache my_remote_cache_name``, for a pytest that names
    no cache: when ``--cache`` would leave out every runnable named on the command line, it
    says which cache they use for this run instead (the cached ones among them), rather
    than the run doing nothing. Otherwise ``--cache`` only selects."""
    if len(options.caches) != 1 or not options.commands:
        return set()
    chosen = {n for n in named(dag, options.commands) if dag.runnables[n].is_cached}
    if any(dag.runnables[n].cache == options.caches[0] for n in chosen):
        return set()
    return chosen


def _warn_named_but_other_cache(
    dag: Dag, options: Options, chosen: set[str], warn: Callable[[str], None]
) -> None:
    """``qik pytest --cache remote`` where pytest's results go elsewhere selects nothing:
    say why, rather than pass having run nothing."""
    for name in options.commands:
        runnables = [dag.runnables[n] for n in named(dag, [name])]
        if not chosen.intersection(r.name for r in runnables):
            caches = sorted({r.cache if r.is_cached else "no cache" for r in runnables})
            if set(caches) & set(options.caches):
                continue  # left out by another filter (-m, -t), not by --cache
            warn(
                f"{name}: not selected, its results go to {', '.join(caches)}, not "
                f"{', '.join(options.caches)} (--cache selects commands by their cache)"
            )


def _warn_named_but_filtered(
    dag: Dag, options: Options, chosen: set[str], warn: Callable[[str], None]
) -> None:
    """``qik top -t x`` (or ``qik top`` below a space's root, which selects that space)
    where top has no runnable the filters keep: say so, rather than pass having run
    nothing (found by an audit). ``--cache``'s own case is ``_warn_named_but_other_cache``."""
    filters = [
        f"{flag} {','.join(values)}"
        for flag, values in (("-m", options.modules), ("-t", options.tags), ("-s", options.spaces))
        if values
    ]
    if not filters:
        return
    for name in options.commands:
        runnables = [dag.runnables[n] for n in named(dag, [name])]
        if chosen.intersection(r.name for r in runnables):
            continue
        caches = {r.cache if r.is_cached else "no cache" for r in runnables}
        if options.caches and not caches & set(options.caches):
            continue  # --cache's warning says why
        warn(f"{name}: not selected: no runnable of it is left by {' '.join(filters)}")


def _check_declared(runnable: Runnable, manifest: Manifest) -> None:
    """A result restores only files its command declares as artifacts."""
    if not manifest.artifacts:
        return
    from qik.store.sync import undeclared_artifact

    stray = undeclared_artifact(runnable.artifacts, manifest.artifacts)
    if stray is not None:
        raise StoreError(f"artifact {stray} is not among the command's artifacts")


def _needed_upstream(
    dag: Dag, names: list[str], entries: Mapping[str, PlanEntry], *, isolated: bool
) -> set[str]:
    """The runnables outside ``names`` that the cold ones among them wait for."""
    cold = {n for n in names if not entries[n].is_warm}
    return with_upstream(dag, cold, isolated) - set(names)


def _apply_shard(plan: Plan, spec: str, universe: list[str]) -> None:
    """Keep this shard's share of the plan. The split is the one recorded for the same
    selection (``record_key``) if a cache holds it, else computed from what the caches
    hold now, and recorded when the run starts (``save_shard_record``): a shard started
    later (a re-run of a failed one), after the others stored their results, then still
    gets the runnables it had, not a share of what is left cold.

    ``universe`` is what is split: the selection before ``--cache-status`` narrows it, and
    with ``--cache``/``--cache-status`` every upstream runnable that may join it, so that
    neither the split nor its key depends on what the caches hold."""
    from qik.history import latest_results
    from qik.shard import encode_record, parse_shard, plan_shards, record_key

    index, count = parse_shard(spec)
    narrowed = plan.listed if plan.listed is not None else plan.names
    cold = [n for n in universe if not plan.entries[n].is_warm]
    caches = dict.fromkeys(["local", "repo", *(plan.entries[n].runnable.cache for n in cold)])
    stores = [(c, s) for c in caches if (s := plan.caches.reachable(c)) is not None]
    found = latest_results(stores, cold, warn=plan.caches.warn)
    durations = {name: hit.manifest.duration for name, hit in found.items()}
    key = record_key(
        count,
        ((n, plan.entries[n].fingerprint.dep_hash) for n in universe),
        force=plan.options.force,
    )
    keepers = _record_caches(plan, universe)
    owners = _recorded_split(plan, keepers, key, count, universe)
    shards = plan_shards(universe, plan.dag.upstream, cold, durations, count, owners=owners)
    if owners is None:
        plan.shard_record = ShardRecord(key, encode_record(shards.owners, count), keepers)
    shard = shards.shard(index)
    if plan.options.caches or plan.options.cache_status:
        mine = set(shard.listed) & set(narrowed)
        listed = [n for n in narrowed if n in mine]
        support = _needed_upstream(plan.dag, listed, plan.entries, isolated=plan.options.isolated)
        plan.names = [n for n in plan.dag.order if n in mine or n in support]
        plan.listed = listed
    else:
        plan.names, plan.listed = list(shard.run), list(shard.listed)
    plan.weights = dict(shards.weights)


def _record_caches(plan: Plan, universe: list[str]) -> list[str]:
    """Where a split is kept: the local store, and the S3 caches of the runnables split
    (the repo cache is committed by people, not written by a run)."""
    names = dict.fromkeys(["local", *(plan.entries[n].runnable.cache for n in universe)])
    names.pop("repo", None)
    return list(names)


def _recorded_split(
    plan: Plan, caches: list[str], key: str, count: int, universe: list[str]
) -> dict[str, int] | None:
    from qik.shard import decode_record

    for name in caches:
        data = plan.caches.fetch(name, key, _MAX_RECORD_BYTES)
        if data is None:
            continue
        owners = decode_record(data, universe, count)
        if owners is not None:
            return owners
        plan.caches.warn(f"the recorded --shard split {key} does not fit this run; splitting anew")
    return None


def save_shard_record(plan: Plan) -> None:
    """Record the split this run computed (``_apply_shard``), before it runs anything."""
    record = plan.shard_record
    if record is not None:
        for name in record.caches:
            plan.caches.put(name, record.key, record.data)


# A record names each selected runnable once: some 5 MB for 100,000 of them.
_MAX_RECORD_BYTES = 16 << 20


def _dep_env(project: Project, index: FileIndex, upstream: Mapping[str, str]) -> DepEnv:
    from qik.pygraph.hook import digester  # light: the graph loads on the first pygraph dep

    return DepEnv(
        project=project,
        files=index,
        upstream_hashes=upstream,
        pygraph=digester(project, index),
        spaces=space_source(project),
    )


class Run:
    """Executes a plan: the scheduler's collaborators, bound to one plan."""

    def __init__(self, plan: Plan, warn: Callable[[str], None]) -> None:
        self.plan = plan
        self.root = plan.project.root
        self._warn = warn
        self._replayed: dict[str, IO[bytes]] = {}
        # Inputs listings found in the local store this run: the runnables of a module
        # share one, so each is checked once.
        self._inputs_present: set[str] = set()
        self._index_stale = False
        self.tails_output = False  # set when the console streams ._qik/out files live
        # Set when no one reads a running command's file but to show it once finished:
        # then the worker moves it into place itself, and sends small logs back.
        self.worker_settles = False
        self._space_env = space_envs(plan.project)  # venv and dotenv of each space
        self._out_dir: str | None = None  # decided at the first cold runnable
        self._root, self._store_dir = str(self.root), str(self.root / "._qik")
        self._live: dict[str, str] = {}  # runnable -> the file its running command writes
        self._mirror_trouble: set[tuple[str, str]] = set()  # (cache, error) warned about
        self._in_run: set[str] | None = None
        # The inputs listing of each set of covered files: a module's commands cover the
        # same glob matches (the same tuples), listed once (``_listing``).
        self._listings: dict[tuple[int, ...], tuple[tuple[object, ...], str]] = {}
        # When the files behind each runnable's dep hash were read: the plan's index, or
        # a later one for a runnable hashed again (``_replan``). The worker's check that
        # none changed looks at every file changed since then.
        self._hashed_ns = plan.index.taken_ns
        self._rehashed_ns: dict[str, int] = {}

    def _out(self, name: str) -> str:
        """Where a cold runnable's output goes: ``._qik/out/``, or a temporary directory
        when that can't be written (a read-only ``._qik``, or a file by that name)."""
        if self._out_dir is None:
            self._out_dir = str(_output_dir(self.root, self._warn))
        return os.path.join(self._out_dir, _out_name(name))

    # -- decide -------------------------------------------------------------------------
    def prepare(self, name: str, upstream_touched: bool) -> Job:
        entry = self.plan.entries[name]
        if upstream_touched and entry.runnable.is_cached:
            entry = self._replan(name)
        if entry.is_warm:
            return Job(
                name,
                replay=lambda: self._replay(entry),
                cold_fallback=lambda: self._request(entry),
            )
        return Job(name, request=self._request(entry))

    def _replan(self, name: str) -> PlanEntry:
        """Upstream runnables ran (or restored files): hash this one again on today's files."""
        plan = self.plan
        if self._index_stale:
            plan.index = FileIndex.from_worktree(self.root)
            self._index_stale = False
        self._rehashed_ns[name] = plan.index.taken_ns
        ups = {up: plan.fingerprints[up].dep_hash for up in plan.dag.upstream[name]}
        fp = fingerprint(plan.dag.runnables[name], _dep_env(plan.project, plan.index, ups))
        plan.fingerprints[name] = fp
        entry = _entry(plan.dag.runnables[name], fp, plan.options, plan.caches)
        plan.entries[name] = entry
        return entry

    def mark_touched(self) -> None:
        self._index_stale = True

    def observe(self, result: Result) -> None:
        """Called for every finished runnable: files may have changed under the index."""
        self.plan.caches.note_result(result)
        if result.touched_files:
            self._index_stale = True

    # -- cold ---------------------------------------------------------------------------
    def _request(self, entry: PlanEntry) -> ColdRequest:
        runnable, fp = entry.runnable, entry.fingerprint
        cached = runnable.is_cached  # --cache-read-only spares shared caches, not the local one
        # This process's own file while the command runs, renamed to ._qik/out/<name>.out
        # once shown (``settle``): a concurrent qik running the same runnable truncated
        # the shared file under the other's command, and stored or showed half a log,
        # or NUL bytes (the stress suite's concurrency case).
        final = self._out(runnable.name)
        output = f"{final}.{os.getpid()}"
        self._live[runnable.name] = output
        if self.tails_output:
            # The console tails this file from its start: last run's output must not show.
            # (Only then: on a busy disk an unlink per runnable is a real cost.)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(output)
        from qik.scheduler.worker import ColdRequest

        usable = self.plan.caches.is_local_usable  # not when it is a symbolic link
        cached = cached and usable
        if cached and self._upstream_missing(runnable.name):
            cached = False
        return ColdRequest(
            name=runnable.name,
            exec=runnable.exec,
            root=self._root,
            out_path=output,
            settle_path=final if self.worker_settles else None,
            timeout=runnable.timeout,
            env=self._space_env(runnable),
            dep_hash=fp.dep_hash if cached else None,
            deps=tuple((d.label, d.digest) for d in fp.deps),
            artifacts=runnable.artifacts,
            cache_when=runnable.cache_when,
            store_dir=self._store_dir if usable else "",
            mirrors=self.plan.caches.mirrors(runnable),
            inputs=self._listing(tuple(d.files for d in fp.deps if d.files)),
            git_under=self.plan.index.git_under,
            hashed_ns=self._rehashed_ns.get(runnable.name, self._hashed_ns),
            run_id=self.plan.caches.run_id,
            command=runnable.command,
        )

    def _listing(self, files: tuple[tuple[tuple[str, str], ...], ...]) -> str:
        """The inputs listing of these deps' files, encoded once per set of tuples."""
        from qik.inputs import encode_inputs

        key = tuple(map(id, files))
        known = self._listings.get(key)
        if known is not None and all(a is b for a, b in zip(known[0], files, strict=True)):
            return known[1]
        listing = encode_inputs(f for group in files for f in group)
        self._listings[key] = (files, listing)  # holds the tuples: their ids stay theirs
        return listing

    def _upstream_missing(self, name: str) -> bool:
        """An upstream runnable left out of the run (``--isolated``) with no stored result
        for its dep hash: this command runs on outputs that aren't that result's, so what it
        gives must not be stored under a dep hash that names it (a full run would replay it)."""
        plan = self.plan
        if self._in_run is None:
            self._in_run = set(plan.names)
        for up in plan.dag.upstream[name]:
            if up in self._in_run or not plan.dag.runnables[up].is_cached:
                continue
            entry = plan_entry(plan.dag.runnables[up], plan.fingerprints[up], plan.caches.lookup)
            if not entry.is_warm:
                self._warn(
                    f"{name}: result not cached: {up}, left out of the run (--isolated), "
                    "has no stored result for its inputs"
                )
                return True
        return False

    # -- warm ---------------------------------------------------------------------------
    def _replay(self, entry: PlanEntry) -> Result | None:
        manifest, name = entry.manifest, entry.runnable.name
        assert manifest is not None
        caches = self.plan.caches
        try:
            _check_declared(entry.runnable, manifest)
            pulled = entry.source != "local" and self._pull(entry.source or "local", manifest)
            touched = self._restore(caches.local, manifest) or pulled
            log = _verified_log(caches.local, manifest)
            _check_inputs(caches.local, manifest, self._inputs_present)
        except (ObjectMissing, ObjectCorrupt, StoreError, OSError) as exc:
            from qik.store.mirrors.reader import MirrorMiss

            # A mirror's trouble (MirrorMiss) was warned about once for the whole run.
            if not isinstance(exc, MirrorMiss):
                self._unusable(name, entry.source, exc)
            return None
        self._replayed[name] = log
        return Result(
            name,
            "replayed" if manifest.exit_code == 0 else "failed",
            exit_code=manifest.exit_code,
            duration=0.0,
            is_replay=True,
            source=entry.source,
            saved=manifest.duration,
            touched_files=touched,
        )

    def settle_repo_cache(self, results: Mapping[str, Result]) -> None:
        """At the end of a run, every repo-cached runnable that replayed or ran has its
        result in the repo cache, or a clone of the commit would find it cold. A local
        hit the repo cache lacks (the command moved to ``cache = "repo"`` after it ran,
        or the repo cache was cleared) goes there, and so does a result two identical
        runnables share (one dep hash, one manifest): pruned as the older result of the
        one that changed, it is put back under the name of the one that still uses it.
        One ``stat`` a repo-cached runnable when all is there. A run that wrote to the
        repo cache then deletes the results of runnables the project no longer has (a
        command renamed or removed), which no later result would ever replace."""
        from qik.store.cas import manifest_key
        from qik.store.mirrors.spec import RepoMirror

        plan = self.plan
        written: RepoMirror | None = None  # the repo cache, if this run wrote to it
        for name, result in results.items():
            runnable = plan.dag.runnables[name]
            if runnable.cache != "repo" or result.status not in ("ran", "replayed", "failed"):
                continue
            dep_hash = plan.fingerprints[name].dep_hash
            mirrors = plan.caches.mirrors(runnable)  # none when --cache-read-only
            repo = [m for m in mirrors if isinstance(m, RepoMirror)]
            if not repo:
                continue
            there = os.path.isfile(os.path.join(repo[0].path, manifest_key(dep_hash)))
            if not there or not result.is_replay:
                written = repo[0]
            if there:
                continue
            try:
                manifest = plan.caches.local.read_manifest(dep_hash)
            except (OSError, StoreError, ManifestInvalid):
                manifest = None
            if manifest is None:
                continue  # not stored (a failure, an unstored result): nothing to settle
            if manifest.runnable != name:
                manifest = dataclasses.replace(manifest, runnable=name, signature=None)
            from qik.store.mirrors.publish import publish  # git: only to write

            for warning in publish(plan.caches.local, manifest, repo):
                self._warn(warning)
        if written is not None:
            from qik.store.mirrors.repo import prune_gone_runnables

            in_use = {fp.dep_hash for fp in plan.fingerprints.values()}
            for warning in prune_gone_runnables(Path(written.path), plan.dag.runnables, in_use):
                self._warn(warning)

    def _unusable(self, name: str, source: str | None, exc: Exception) -> None:
        if source in (None, "local"):
            self._warn(f"{name}: cached result unusable ({exc}); running it again")
            return
        # A shared cache's trouble is one warning per kind per run, not one per runnable:
        # a poisoned bucket must not print a line for each result it holds.
        kind = (source, type(exc).__name__)
        if kind not in self._mirror_trouble:
            self._mirror_trouble.add(kind)
            self._warn(
                f"cache {source!r} holds results that can't be restored here "
                f"(first: {name}: {exc}); running such commands again"
            )

    def _pull(self, source: str, manifest: Manifest) -> bool:
        """Copy a mirror's hit into the local store; its artifacts are restored on the way
        (one pass over the bytes). True if any file was written."""
        return self.plan.caches.pull(source, manifest, restore_root=self.root)

    def _restore(self, store: Store, manifest: Manifest) -> bool:
        """Restore artifacts that differ from the stored ones; True if any file was written."""
        if not manifest.artifacts:
            return False
        from qik.store.sync import restore_artifacts

        return restore_artifacts(
            store,
            self.root,
            manifest.artifacts,
            is_current=lambda dest, a: (
                self.plan.caches.is_restored(dest, a) or _same_file(dest, a.digest, a.size, a.mode)
            ),
        )

    # -- logs ---------------------------------------------------------------------------
    def write_log(self, result: Result, stream: BinaryIO) -> None:
        if result.log is not None:  # sent back by the worker
            stream.write(result.log)
            return
        log = self._replayed.pop(result.name, None)
        if log is not None:
            with log:
                log.seek(0)
                while chunk := log.read(1 << 20):
                    stream.write(chunk)
            return
        path = self._live.get(result.name) or self._out(result.name)
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    stream.write(chunk)
        except FileNotFoundError:
            pass

    def settle(self, result: Result) -> None:
        """A finished runnable's output becomes ``._qik/out/<name>.out`` (atomically: a
        reader sees one whole log, this run's or a concurrent run's)."""
        live = self._live.pop(result.name, None)
        if live is not None and result.log is None:  # a log sent back was moved already
            with contextlib.suppress(OSError):
                os.replace(live, self._out(result.name))


def _sweep_live(out: Path) -> None:
    """Delete output files that runs killed mid-way left (``<name>.out.<pid>`` of a pid
    that is gone)."""
    with contextlib.suppress(OSError), os.scandir(out) as entries:
        for entry in entries:
            pid = entry.name.rsplit(".", 1)[-1]
            if ".out." in entry.name and pid.isdigit() and not _is_alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's: alive
    return True


def _output_dir(root: Path, warn: Callable[[str], None]) -> Path:
    """``._qik/out``, if a file can be created there; else a new temporary directory, with
    a warning. An unwritable ``._qik`` must cost the cache, never the commands' run: the
    commands then run uncached (each store attempt says why) and still show their output.
    (The stress suite's exhaustion case found commands failing unrun instead.) Nothing
    is written through a symbolic link (``._qik`` or ``._qik/out``)."""
    import tempfile

    out = root / "._qik" / "out"
    for folder in (out.parent, out):
        if os.path.islink(folder):
            fallback = Path(tempfile.mkdtemp(prefix="qik-out-"))
            # For ._qik itself, the words of the local cache's own warning: one line.
            warn(
                linked_warning(folder, "local")
                if folder == out.parent
                else (
                    f"{folder} is a symbolic link: output goes to {fallback} "
                    "(qik writes nothing through a link)"
                )
            )
            return fallback
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        fallback = Path(tempfile.mkdtemp(prefix="qik-out-"))
        warn(
            f"can't write {out} ({exc.strerror}): output goes to {fallback}, results aren't cached"
        )
        return fallback
    _sweep_live(out)
    return out


def linked_warning(path: Path, cache: str) -> str:
    """The warning for a store (``cache``) not used because ``path`` is a symbolic link."""
    return (
        f"{path} is a symbolic link: cache {cache!r} is not used this run "
        "(qik reads and writes nothing through a link)"
    )


def _check_inputs(store: Store, manifest: Manifest, present: set[str]) -> None:
    """A replay doesn't read the file listing behind ``:explain``, so a missing one would
    never be noticed, nor stored again: such a result runs again, which repairs it. (An
    existence check only, to keep replays cheap; ``:cache verify`` and ``:explain``
    delete a damaged one.) Found by the stress suite's corruption case."""
    inputs = manifest.inputs
    if inputs is None or inputs.digest in present:
        return
    if not store.exists(inputs):
        raise ObjectMissing(inputs.digest)
    present.add(inputs.digest)


def _verified_log(store: Store, manifest: Manifest) -> IO[bytes]:
    """The log, read and verified in full before the replay counts: never half a bad log."""
    if manifest.log.text is not None:  # verified when the manifest was read
        return io.BytesIO(manifest.log.text.encode("utf-8"))
    import tempfile  # not on a replay of an inline log: the warm path

    # Handed to the console, which closes it after printing: no context manager here.
    spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115
    try:
        store.copy_to(manifest.log, spool)
    except BaseException:
        spool.close()
        raise
    return spool


def _same_file(path: Path, digest: str, size: int, mode: int) -> bool:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    if not os.path.isfile(path) or os.path.islink(path) or st.st_size != size:
        return False
    if (st.st_mode & 0o7777) != mode:
        return False
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest() == digest


def wall_clock() -> float:
    return time.monotonic()
