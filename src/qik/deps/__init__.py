"""Dep kinds: each turns a resolved dep into labelled digests that enter a dep hash.

Every kind has the same shape, ``digest(dep, env) -> list[DepDigest]``, so a new kind (the
import graph's ``pygraph``) plugs in by adding one function to ``_DIGESTERS``. A digest may
carry the files it covers, which ``:explain`` uses to say which file changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from qik.config.schema import ConstDep, GlobDep, Project, PydistDep, PygraphDep
from qik.errors import QikError
from qik.fingerprint.globs import Matcher, match
from qik.graph.expand import ResolvedDep, Runnable, UpstreamDep

__all__ = [
    "DepDigest",
    "DepEnv",
    "FileSource",
    "SpaceSource",
    "digest_dep",
    "digest_globs",
    "pydist_version",
]


class FileSource(Protocol):
    """What the dep kinds need from the file index."""

    def digest(self, path: str) -> str | None: ...

    @property
    def matcher(self) -> Matcher: ...


@dataclass(frozen=True)
class DepDigest:
    """One labelled input of a dep hash, as recorded in the manifest for ``:explain``."""

    label: str  # "glob:src/**.py", "const:<val>", "pydist:ruff", "command:lint@a", ...
    digest: str
    files: tuple[tuple[str, str], ...] = ()  # (path, blob id) of every file covered


@dataclass
class DepEnv:
    """Everything dep kinds read: the file index, versions, upstream dep hashes."""

    project: Project
    files: FileSource
    upstream_hashes: Mapping[str, str]
    versions: Callable[[str], str | None] = field(default=lambda name: None)
    # Set by the pygraph plugin when the import graph is available.
    pygraph: Callable[[PygraphDep, DepEnv], list[DepDigest]] | None = None
    # Set when the project has venvs or dotenv files (qik.spaces.digests).
    spaces: SpaceSource | None = None

    def for_runnable(self, runnable: Runnable) -> DepEnv:
        """This env with ``versions`` read from the lock of the runnable's space, if any."""
        versions = self.spaces.versions(runnable) if self.spaces is not None else None
        return self if versions is None else dataclasses.replace(self, versions=versions)


class SpaceSource(Protocol):
    """A runnable's space as dep-hash inputs: its lock and dotenv files, its lock's versions."""

    def digests(self, runnable: Runnable, files: FileSource) -> list[DepDigest]: ...

    def versions(self, runnable: Runnable) -> Callable[[str], str | None] | None: ...


def _sha(text: str) -> str:
    # surrogateescape throughout: a file name (or a value read from the environment) that is
    # not valid UTF-8 comes as a str with lone surrogates, and is hashed as its own bytes.
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _files_digest(files: tuple[tuple[str, str], ...]) -> str:
    # Length-prefixed (in characters) so no two different listings encode alike.
    listing = "".join([f"{len(path)}:{path}={blob}\n" for path, blob in files])
    return hashlib.sha256(listing.encode("utf-8", "surrogateescape")).hexdigest()


def _blob_getter(files: FileSource) -> Callable[[str], str | None]:
    """``files.digest``; a file index's own mapping's ``get`` when it has one (the same
    answers, without a method call per file: a glob of 15,000 files is on every run)."""
    blobs = getattr(files, "blobs", None)
    return blobs.get if isinstance(blobs, Mapping) else files.digest


# Per file index (keyed by its matcher, which lives as long as the index), the digest of
# each pattern: runnables of one command share patterns, and a [base] dep like "**.py"
# would otherwise hash the whole file list once per runnable.
_GLOB_MEMO: weakref.WeakKeyDictionary[Matcher, dict[str, DepDigest]] = weakref.WeakKeyDictionary()


def _glob(dep: GlobDep, env: DepEnv) -> list[DepDigest]:
    memo = _GLOB_MEMO.setdefault(env.files.matcher, {})
    found = memo.get(dep.pattern)
    if found is None:
        blobs = _blob_getter(env.files)
        files = tuple([(p, blobs(p) or "") for p in match(env.files, dep.pattern)])
        found = memo[dep.pattern] = DepDigest(f"glob:{dep.pattern}", _files_digest(files), files)
    return [found]


def digest_globs(patterns: list[str], env: DepEnv) -> DepDigest:
    """Glob deps of one runnable taken together, so ``!pattern`` removes earlier matches."""
    paths = env.files.matcher.match_all(patterns)
    files = tuple((p, env.files.digest(p) or "") for p in paths)
    return DepDigest("glob:" + " ".join(patterns), _files_digest(files), files)


def _const(dep: ConstDep, env: DepEnv) -> list[DepDigest]:
    return [DepDigest(f"const:{dep.val}", _sha(dep.val))]


def pydist_version(name: str, project: Project) -> str | None:
    """The version of a distribution: [pydist] versions first, then what is installed."""
    from importlib import metadata

    pins = project.pydist.versions
    pinned = pins.get(name)
    if pinned is None and pins:
        # A pin applies whatever the spelling, as pip compares names (PEP 503): a pin of
        # "Pip_Tools" covers a dep on "pip-tools".
        from qik.pygraph.dists import canonical_name

        want = canonical_name(name)
        pinned = next((v for k, v in pins.items() if canonical_name(k) == want), None)
    if pinned is not None:
        return pinned
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _pydist(dep: PydistDep, env: DepEnv) -> list[DepDigest]:
    version = env.versions(dep.name)
    if version is None:
        version = pydist_version(dep.name, env.project)
    if version is None:
        if not env.project.pydist.ignore_missing:
            raise QikError(
                f"distribution {dep.name!r} (a pydist dep) is not installed",
                code="pydist-missing",
                hint=f'install it, pin it with [pydist] versions = {{"{dep.name}" = "1.0"}}, '
                "or set [pydist] ignore-missing = true",
            )
        version = "<missing>"
    return [DepDigest(f"pydist:{dep.name}", encode_version(version))]


def encode_version(version: str) -> str:
    """A version as a dep digest: hex, like every digest, yet readable back by ``:explain``."""
    # The prefix keeps even "1" at the 8 hex digits a manifest's digests need at least.
    return (_VERSION_PREFIX + version.encode()[:56]).hex()


def decode_version(digest: str) -> str | None:
    try:
        raw = bytes.fromhex(digest)
    except ValueError:
        return None
    if not raw.startswith(_VERSION_PREFIX):
        return None
    return raw[len(_VERSION_PREFIX) :].decode(errors="replace")


_VERSION_PREFIX = b"version:"


def _upstream(dep: UpstreamDep, env: DepEnv) -> list[DepDigest]:
    # A bare command name may stand for several runnables; each one's hash enters.
    names = sorted(n for n in env.upstream_hashes if n == dep.name or _command_of(n) == dep.name)
    return [DepDigest(f"command:{name}", env.upstream_hashes[name]) for name in names]


def _command_of(runnable: str) -> str:
    return runnable.split("@", 1)[0]


def _pygraph(dep: PygraphDep, env: DepEnv) -> list[DepDigest]:
    if env.pygraph is None:
        raise QikError(
            f"pygraph dep on {dep.pyimport!r}: the import graph is not available",
            code="pygraph-unavailable",
            hint="install qik with the pygraph extra: pip install 'qik[pygraph]'",
        )
    return env.pygraph(dep, env)


def digest_dep(dep: ResolvedDep, env: DepEnv) -> list[DepDigest]:
    if isinstance(dep, GlobDep):
        return _glob(dep, env)
    if isinstance(dep, ConstDep):
        return _const(dep, env)
    if isinstance(dep, PydistDep):
        return _pydist(dep, env)
    if isinstance(dep, UpstreamDep):
        return _upstream(dep, env)
    return _pygraph(dep, env)
