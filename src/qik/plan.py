"""Fingerprints and the plan: warm or cold for every selected runnable.

Reads files, git and the stores; never writes. Everything a run shows before executing
(``--ls``, ``--cache-status``, the shard plan) is answered from here.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from qik.config.schema import GlobDep
from qik.deps import DepDigest, DepEnv, digest_dep, digest_globs
from qik.fingerprint.hashing import FORMAT_VERSION, digest_parts
from qik.graph.dag import Dag
from qik.graph.expand import Runnable, UpstreamDep
from qik.store.manifest import Manifest

__all__ = ["Fingerprint", "Lookup", "PlanEntry", "fingerprint", "fingerprint_all", "is_replayable"]


@dataclass(frozen=True)
class Fingerprint:
    """A runnable's dep hash and the labelled digests it was made of."""

    dep_hash: str
    deps: tuple[DepDigest, ...]

    def digests(self) -> dict[str, str]:
        return {d.label: d.digest for d in self.deps}

    def own_digests(self) -> tuple[tuple[str, str], ...]:
        """The digests but those of upstream runnables (``command:`` labels): what
        ``fingerprint(..., with_upstream=False)`` hashes, without hashing again."""
        return tuple((d.label, d.digest) for d in self.deps if not d.label.startswith("command:"))


@dataclass(frozen=True)
class PlanEntry:
    """A selected runnable, its fingerprint, and the stored result found for it, if any."""

    runnable: Runnable
    fingerprint: Fingerprint
    manifest: Manifest | None = None
    source: str | None = None  # the cache the manifest was found in
    warnings: tuple[str, ...] = field(default=())

    @property
    def is_warm(self) -> bool:
        return self.manifest is not None


# A cache lookup: (dep hash, the runnable) -> (manifest, cache name) or None.
Lookup = Callable[[str, Runnable], "tuple[Manifest, str] | None"]


def fingerprint(runnable: Runnable, env: DepEnv, *, with_upstream: bool = True) -> Fingerprint:
    """The dep hash of one runnable, from its resolved exec, artifacts and deps.

    Every part is a labelled digest, recorded in the manifest, so ``:explain`` can name the
    one that changed. ``with_upstream=False`` leaves out upstream dep hashes: ``--since``
    asks whether a runnable's *own* inputs changed (``strict`` deps propagate the rest).
    """
    env = env.for_runnable(runnable)  # pydist versions from the space's lock
    deps = [
        DepDigest("exec", _sha(runnable.exec)),
        DepDigest("artifacts", _shared_sha("\n".join(runnable.artifacts))),
        DepDigest("space", _shared_sha(runnable.space)),
    ]
    globs = [d.pattern for d in runnable.deps if isinstance(d, GlobDep)]
    combined = any(p.startswith("!") for p in globs)
    if combined:  # a negation applies to the patterns before it: match them together
        deps.append(digest_globs(globs, env))
    for dep in runnable.deps:
        if combined and isinstance(dep, GlobDep):
            continue
        if not with_upstream and isinstance(dep, UpstreamDep):
            continue
        deps.extend(digest_dep(dep, env))
    if env.spaces is not None:  # the space's lock and dotenv files
        deps.extend(env.spaces.digests(runnable, env.files))
    parts = [("format", str(FORMAT_VERSION)), *((d.label, d.digest) for d in deps)]
    return Fingerprint(dep_hash=digest_parts(parts), deps=tuple(deps))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


@functools.lru_cache(maxsize=1024)
def _shared_sha(text: str) -> str:
    """``_sha`` of a text most runnables share (no artifacts, the default space)."""
    return _sha(text)


def fingerprint_all(
    dag: Dag, names: Iterable[str], make_env: Callable[[Mapping[str, str]], DepEnv]
) -> dict[str, Fingerprint]:
    """Fingerprints of ``names`` and of every runnable upstream of them (their hashes enter)."""
    needed = _with_all_upstream(dag, names)
    prints: dict[str, Fingerprint] = {}
    for name in dag.order:
        if name not in needed:
            continue
        ups = {up: prints[up].dep_hash for up in dag.upstream[name]}
        prints[name] = fingerprint(dag.runnables[name], make_env(ups))
    return prints


def _with_all_upstream(dag: Dag, names: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(dag.upstream[name])
    return seen


def is_replayable(manifest: Manifest, runnable: Runnable) -> bool:
    """A stored result replays only if today's ``cache-when`` would have stored it."""
    if runnable.cache_when == "finished":
        return True
    if runnable.cache_when == "failed":
        return manifest.exit_code != 0
    return manifest.exit_code == 0


def plan_entry(runnable: Runnable, fp: Fingerprint, lookup: Lookup) -> PlanEntry:
    if not runnable.is_cached:
        return PlanEntry(runnable, fp)
    found = lookup(fp.dep_hash, runnable)
    if found is None or not is_replayable(found[0], runnable):
        return PlanEntry(runnable, fp)
    return PlanEntry(runnable, fp, manifest=found[0], source=found[1])
