"""``qik :cache``: look into and maintain the caches.

    qik :cache ls [NAME ...] [--json]          runnables, their status, where results live
    qik :cache stats [--cache NAME ...] [--json]
    qik :cache verify [--cache NAME ...]       exit 1 and a list if anything is wrong
    qik :cache gc [--max-size SIZE] [--max-age AGE] [--dry-run]   the local store
    qik :cache clear [--cache NAME] [--yes]
    qik :cache install-merge-driver            for the repo cache, in .git/config

``stats`` and ``verify`` read ``local`` and ``repo`` unless given ``--cache``; an S3 cache
is read only when named (it means listing, and for ``verify`` downloading, the bucket).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from qik.cli.parser import Parser
from qik.errors import CacheError, QikError

if TYPE_CHECKING:
    from qik.config.schema import Project
    from qik.plan import PlanEntry
    from qik.runner import Caches
    from qik.store.cas import Store
    from qik.store.stats import RunUsage, StoreStats

__all__ = ["cache_main", "parse_age", "parse_size"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def cache_main(argv: list[str]) -> int:
    opts = _parser().parse_args(argv)
    if opts.action is None:
        _parser().print_help()
        return 2
    handler = _ACTIONS[opts.action]
    return handler(opts)


def _parser() -> Parser:
    parser = Parser(prog="qik :cache", description="Inspect and maintain caches.")
    parser.add_argument("-p", "--profile", help="context profile (for {ctx.*} in [caches])")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    ls = sub.add_parser("ls", help="runnables, their status and where their result lives")
    ls.add_argument("names", nargs="*", help="only these commands or runnables")
    ls.add_argument("--json", action="store_true", help="JSON rows")
    stats = sub.add_parser("stats", help="objects, bytes, dedup; hit rates of the last run")
    stats.add_argument("--cache", action="append", help="a cache (repeatable)")
    stats.add_argument("--json", action="store_true", help="JSON")
    verify = sub.add_parser("verify", help="check every manifest and object; exit 1 if bad")
    verify.add_argument("--cache", action="append", help="a cache (repeatable)")
    gc = sub.add_parser("gc", help="shrink the local store, least recently used first")
    gc.add_argument("--max-size", help="keep at most this much, e.g. 500M, 2G")
    gc.add_argument("--max-age", help="drop results unused for this long, e.g. 30d, 12h")
    gc.add_argument("--dry-run", action="store_true", help="only say what would go")
    clear = sub.add_parser("clear", help="delete every result in a cache (default: local)")
    clear.add_argument("--cache", default="local", help="the cache to clear")
    clear.add_argument("--yes", action="store_true", help="needed to clear an S3 cache")
    sub.add_parser("install-merge-driver", help="set up git to merge .qik/ without conflicts")
    return parser


# -- ls -------------------------------------------------------------------------------


# Options that select runnables, force them, or say what to print: a listing of every
# runnable's status leaves them at their defaults.
_SELECTING = (
    "modules",
    "spaces",
    "tags",
    "caches",
    "isolated",
    "force",
    "ls",
    "json",
    "fail",
    "since",
    "cache_status",
    "watch",
    "shard",
    "report",
)


def _ls(opts: argparse.Namespace) -> int:
    from qik.options import Options, merge_options
    from qik.runner import make_plan

    project = _project(opts.profile)
    # The profile's (or QIK__CACHE's) default cache decides where results go, as in a run;
    # the options that select or force do not apply to a listing of every runnable.
    # The rest ({ctx.qik.OPTION} in an exec line: the workers, the profile) as in a run.
    merged = merge_options(
        {"profile": opts.profile}, project.qik_options, project.profile or "default"
    )
    every = Options()
    options = dataclasses.replace(
        merged,
        **{name: getattr(every, name) for name in _SELECTING},
        commands=tuple(opts.names),
    )
    plan = make_plan(project, options, _warn)
    rows = [_ls_row(plan.caches, plan.entries[name]) for name in plan.names]
    if opts.json:
        print(json.dumps([dataclasses.asdict(row) for row in rows], indent=2))
        return 0
    table = [("RUNNABLE", "STATUS", "CACHE", "RESULT IN")]
    table += [(r.name, r.status, r.cache or "-", ", ".join(r.result_in) or "-") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        print("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[3]]))
    return 0


@dataclasses.dataclass(frozen=True)
class _Row:
    name: str
    status: str  # warm, cold or uncached
    cache: str | None  # None: uncached
    dep_hash: str
    result_in: list[str]  # the caches holding a result for this dep hash


def _ls_row(caches: Caches, entry: PlanEntry) -> _Row:
    runnable, dep_hash = entry.runnable, entry.fingerprint.dep_hash
    if not runnable.is_cached:
        return _Row(runnable.name, "uncached", None, dep_hash, [])
    status = "warm" if entry.is_warm else "cold"
    where = _locations(caches, runnable.cache, dep_hash)
    return _Row(runnable.name, status, runnable.cache, dep_hash, where)


def _locations(caches: Caches, cache: str, dep_hash: str) -> list[str]:
    from qik.store.cas import manifest_key
    from qik.store.paths import StoreError

    found = []
    for name in dict.fromkeys(("local", cache)):
        store = caches.store(name)
        try:
            if store is not None and store.backend.exists(manifest_key(dep_hash)):
                found.append(name)
        except StoreError as exc:
            # Unreachable. Planning warned if it had to ask this cache; else say so here.
            if not any(f"cache {name!r}" in said for said in _WARNED):
                _warn(f"cache {name!r} is unavailable: {exc}")
            found.append(f"{name}?")
    return found


# -- stats ----------------------------------------------------------------------------


def _stats(opts: argparse.Namespace) -> int:
    from qik.store.inventory import take_inventory
    from qik.store.stats import StoreStats, read_usage

    project = _project(opts.profile)
    caches = _caches(project)
    report: dict[str, StoreStats] = {}
    for name in _names(project, opts.cache):
        report[name] = StoreStats.of(_guarded(name, take_inventory, _store(caches, name)))
    local = project.root / "._qik"
    usage = None if os.path.islink(local) else read_usage(local / "last-run.json")
    if opts.json:
        last = None if usage is None else {"hits": usage.hits, "misses": usage.misses}
        doc = {name: _stats_doc(stats) for name, stats in report.items()}
        print(json.dumps({"caches": doc, "last_run": last}, indent=2))
        return 0
    for name, stats in report.items():
        print(_render_stats(name, stats))
    print(_render_usage(usage))
    return 0


def _stats_doc(stats: StoreStats) -> dict[str, object]:
    doc = dict(vars(stats))
    doc["dedup_ratio"] = round(stats.dedup_ratio, 3)
    doc["compression_ratio"] = round(stats.compression_ratio, 3)
    return doc


def _render_stats(name: str, s: StoreStats) -> str:
    return "\n".join(
        [
            f"{name}:",
            f"  manifests     {s.manifests} ({s.invalid_manifests} invalid)",
            f"  objects       {s.objects}, {_bytes(s.stored_bytes)} stored",
            f"  referenced    {_bytes(s.referenced_bytes)} by manifests, "
            f"{_bytes(s.content_bytes)} distinct: dedup {s.dedup_ratio:.2f}x, "
            f"compression {s.compression_ratio:.2f}x",
            f"  unreferenced  {s.unreferenced_objects} objects, {_bytes(s.unreferenced_bytes)}",
            f"  missing       {s.missing_objects} objects",
        ]
    )


def _render_usage(usage: RunUsage | None) -> str:
    if usage is None or usage.lookups == 0:
        return "last run: no cached runnables"
    hits = sum(usage.hits.values())
    by_cache = ", ".join(f"{name} {n}" for name, n in sorted(usage.hits.items()))
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(usage.finished))
    return (
        f"last run ({when}): {usage.lookups} cached runnables, {hits} hits "
        f"({100 * hits / usage.lookups:.0f}%){': ' + by_cache if by_cache else ''}; "
        f"{usage.misses} misses"
    )


# -- verify ---------------------------------------------------------------------------


def _verify(opts: argparse.Namespace) -> int:
    from qik.store.inventory import take_inventory
    from qik.store.verify import verify_store

    project = _project(opts.profile)
    caches = _caches(project)
    bad = 0
    for name in _names(project, opts.cache):
        store, key = _store(caches, name), _sign_key(caches, name)
        if caches.is_read_only(name):
            store = _unmodified(store)
        inventory = _guarded(name, take_inventory, store)
        problems = _guarded(name, verify_store, store, inventory, sign_key=key)
        for problem in problems:
            print(f"{name}: {problem}")
        bad += len(problems)
        verdict = f"{len(problems)} problems" if problems else "ok"
        counts = f"{len(inventory.listed)} manifests, {len(inventory.objects)} objects"
        print(f"{name}: {counts}: {verdict}")
    return 1 if bad else 0


def _unmodified(store: Store) -> Store:
    """``store``, never modified: damaged objects found in a read-only cache stay there
    for a trusted writer to replace."""
    from qik.store.backend import ReadOnlyBackend
    from qik.store.cas import Store

    return Store(ReadOnlyBackend(store.backend))


def _sign_key(caches: Caches, name: str) -> bytes | None:
    remote = caches.remote(name) if name not in ("local", "repo") else None
    if remote is None or remote.sign_key is None:
        return None
    if not remote.sign_key:  # the key's variable is empty on this machine
        _warn(f"cache {name!r}: its sign-key is empty here, so signatures are not checked")
        return None
    return remote.sign_key.encode()


# -- gc and clear ---------------------------------------------------------------------


def _gc(opts: argparse.Namespace) -> int:
    from qik.store.gc import collect, plan_gc
    from qik.store.inventory import take_inventory

    max_size = None if opts.max_size is None else parse_size(opts.max_size)
    max_age = None if opts.max_age is None else parse_age(opts.max_age)
    project = _project(opts.profile)
    store = _store(_caches(project), "local")
    inventory = _guarded("local", take_inventory, store)
    plan = plan_gc(inventory, now=time.time(), max_size=max_size, max_age=max_age)
    verb = "would remove" if opts.dry_run else "removed"
    if not opts.dry_run:
        _guarded("local", collect, store, plan)
    print(
        f"{verb} {len(plan.manifests)} results and {len(plan.objects)} objects, "
        f"{_bytes(plan.freed_bytes)}; {_bytes(plan.kept_bytes)} kept"
    )
    return 0


def _clear(opts: argparse.Namespace) -> int:
    project = _project(opts.profile)
    name = opts.cache
    _check_name(project, name)
    if name not in ("local", "repo") and not opts.yes:
        raise CacheError(
            f"clearing cache {name!r} deletes every result in it, for everyone who uses it",
            code="clear-needs-yes",
            hint=f"run `qik :cache clear --cache {name} --yes` if that is what you want",
        )
    caches = _caches(project)
    remote = caches.remote(name) if name not in ("local", "repo") else None
    if remote is not None and remote.read_only:
        raise CacheError(
            f"cache {name!r} is read-only (read-only = true): clearing would write to it",
            code="cache-read-only",
            hint=f"remove read-only from [caches.{name}] to clear it from this machine",
        )
    store = _store(caches, name)
    removed = _guarded(name, _delete_all, store)
    if name == "local":
        # (``_store`` refused a ``._qik`` that is a symbolic link)
        _guarded(name, (project.root / "._qik" / "last-run.json").unlink, missing_ok=True)
    elif name == "repo":
        from qik.store.mirrors.repo import unstage

        # Files never committed leave the index with them, as when the repo cache prunes.
        unstage(project.root, [f".qik/{key}" for key in removed])
    print(f"{name}: removed {len(removed)} files")
    return 0


def _delete_all(store: Store) -> list[str]:
    """Delete every manifest, object and ``--shard`` split record; the keys deleted."""
    from qik.shard import RECORD_PREFIX

    prefixes = ("manifests/", "objects/", RECORD_PREFIX)
    keys = [info.key for prefix in prefixes for info in store.backend.list(prefix)]
    return [key for key in keys if store.backend.delete(key)]


def _install_merge_driver(opts: argparse.Namespace) -> int:
    from qik.store.mirrors.repo import install_merge_driver

    root = _project(opts.profile).root
    if not install_merge_driver(root):
        raise CacheError(f"{root} is not in a git repository", hint="run `git init` first")
    print("installed the qik merge driver for .qik/ in the local git config")
    return 0


# -- shared ---------------------------------------------------------------------------


def _project(profile: str | None) -> Project:
    from qik.config.load import load_project

    return load_project(Path.cwd(), profile=profile or os.environ.get("QIK__PROFILE"))


def _caches(project: Project) -> Caches:
    from qik.runner import Caches

    return Caches(project, _warn)


def _names(project: Project, asked: list[str] | None) -> list[str]:
    if asked:
        for name in asked:
            _check_name(project, name)
        return list(dict.fromkeys(asked))
    return ["local", "repo"] if (project.root / ".qik").is_dir() else ["local"]


def _check_name(project: Project, name: str) -> None:
    known = ["local", "repo", *project.caches]
    if name not in known:
        raise QikError(
            f"no cache named {name!r}",
            code="unknown-cache",
            hint="caches are: " + ", ".join(known),
        )


def _store(caches: Caches, name: str) -> Store:
    """The cache as it is, even if read-only for runs: these commands are explicit."""
    from qik.store.backend import LocalBackend
    from qik.store.cas import Store
    from qik.store.s3 import S3Backend

    if name in ("local", "repo"):
        backend = LocalBackend(caches.project.root / ("._qik" if name == "local" else ".qik"))
        linked = backend.linked()
        if linked is not None:
            raise CacheError(
                f"cache {name!r} is not used: {linked} is a symbolic link, and qik reads, "
                "writes and deletes nothing through one",
                code="cache-symlink",
                hint=f"remove the link ({linked}); qik makes a folder there on its next run",
            )
        return Store(backend)
    from qik.store.mirrors.remote import has_boto3

    # Not caches.remote(name) first: a run's "needs boto3 ...; continuing without it"
    # warning, then this error, said two opposite things (an audit).
    remote = caches.remote(name) if has_boto3() else None
    if remote is None:
        raise CacheError(
            f"cache {name!r} needs boto3, which is not installed",
            code="boto3-missing",
            hint="pip install 'qik[s3]'",
        )
    return Store(S3Backend(remote.settings))


def _guarded(name: str, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``fn(*args, **kwargs)``; a failing cache is an error here: the user asked for it."""
    from qik.store.backend import BackendFailure

    local = name in ("local", "repo")
    try:
        return fn(*args, **kwargs)
    except BackendFailure as exc:
        raise CacheError(
            f"cache {name!r} is unavailable: {exc.detail}",
            code="cache-unavailable",
            hint=_LOCAL_HINT[name]
            if local
            else "check the endpoint, bucket and credentials in [caches."
            f"{name}] (docs/s3.md), and that the server is up",
        ) from None
    except OSError as exc:  # a local store's file or folder qik may not read or write
        where = f": {exc.filename}" if exc.filename else ""
        raise CacheError(
            f"cache {name!r}: {exc.strerror or exc}{where}",
            code="cache-error",
            hint=_LOCAL_HINT.get(name, "check the cache's settings in [caches.NAME]"),
        ) from None


_LOCAL_HINT = {
    "local": "check the permissions of ._qik/ and what it holds (you must read and write them)",
    "repo": "check the permissions of .qik/ and what it holds (you must read and write them)",
}


_WARNED: list[str] = []


def _warn(message: str) -> None:
    _WARNED.append(message)
    sys.stdout.flush()
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def parse_size(text: str) -> int:
    """``500M`` → 524288000; units K, M, G, T (powers of 1024, optional ``B``/``iB``)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise CacheError(
            f"--max-size {text!r} is not a size",
            code="invalid-size",
            hint="write a number with an optional unit: 800M, 2G, 1.5GiB, 100000",
        )
    power = " kmgt".index(match.group(2).lower() or " ")
    return int(float(match.group(1)) * 1024**power)


def parse_age(text: str) -> float:
    """``30d`` → seconds; units s, m, h, d, w."""
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise CacheError(
            f"--max-age {text!r} is not a duration",
            code="invalid-age",
            hint="write a number and a unit: 90m, 12h, 30d, 2w",
        )
    return float(match.group(1)) * _AGE_UNITS[match.group(2).lower()]


_ACTIONS = {
    "ls": _ls,
    "stats": _stats,
    "verify": _verify,
    "gc": _gc,
    "clear": _clear,
    "install-merge-driver": _install_merge_driver,
}
