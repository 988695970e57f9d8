"""The digester behind ``DepEnv.pygraph``: a pygraph dep -> the digests of what it covers.

A dep on ``pkg.mod`` covers the files of ``pkg.mod``, of its submodules and of every project
module they run (see :mod:`~qik.pygraph.closure`), as one ``pygraph:pkg.mod`` digest whose
files ``:explain`` can list, plus one ``pydist:NAME`` digest per distribution those modules
import directly, exactly as a ``pydist`` dep on NAME would give.

One :class:`Pygraph` serves a whole run (see :mod:`qik.pygraph.hook`): the graph is loaded
on the first pygraph dep, never if there is none.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from qik.config.schema import Project, PydistDep, PygraphDep
from qik.deps import DepDigest, DepEnv, digest_dep
from qik.fingerprint.files import FileIndex
from qik.pygraph.closure import Closures, members
from qik.pygraph.dists import STDLIB, Environment, canonical_name
from qik.pygraph.errors import PygraphError
from qik.pygraph.layout import Layout, layout
from qik.pygraph.model import ImportGraph

__all__ = ["FENCE_PREFIX", "Pygraph", "Resolution", "Unmapped"]

# The distribution a requirements line names: ``attrs``, ``six>=1.16 ; python_version...``.
_REQ_NAME = re.compile(r"^[ \t]*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)", re.MULTILINE)

# A pygraph dep whose pyimport starts with this is the fence of a space (pygraph.check).
FENCE_PREFIX = ":fence:"


@dataclass(frozen=True)
class Unmapped:
    """An imported name outside the project that no distribution provides."""

    name: str
    importer_file: str | None
    line: int | None


@dataclass(frozen=True)
class Resolution:
    """What a pygraph dep on ``pyimport`` covers."""

    pyimport: str
    modules: tuple[str, ...]  # project modules it runs, in file order
    files: tuple[str, ...]  # their files, sorted
    dists: tuple[str, ...]  # distributions they import directly, sorted
    unmapped: tuple[Unmapped, ...]  # imported names no distribution provides (not ignored)


class Pygraph:
    """The import graph of one run, and what pygraph deps resolve to in it."""

    def __init__(
        self, project: Project, index: FileIndex, *, dist_paths: Sequence[str] | None = None
    ) -> None:
        self.project = project
        self.index = index
        self._dist_paths = dist_paths  # where distributions are installed: sys.path
        self._resolved: dict[str, Resolution] = {}
        self._digests: dict[str, DepDigest] = {}
        self._pydists: dict[tuple[str, object], list[DepDigest]] = {}
        self._installed: dict[str, str | None] = {}
        self._extra: tuple[str, ...] = ()  # namespace directories scanned on request

    @cached_property
    def layout(self) -> Layout:
        return layout(self.index.paths, self.project.python_path)

    @cached_property
    def graph(self) -> ImportGraph:
        from qik.pygraph.cache import load_graph

        return load_graph(self.project, self.index, self.layout, self._extra)

    @cached_property
    def closures(self) -> Closures:
        return Closures(self.graph)

    @cached_property
    def env(self) -> Environment:
        """The distributions installed where qik runs."""
        paths = sys.path if self._dist_paths is None else self._dist_paths
        cache = self.project.root / "._qik" / "pygraph"
        linked = os.path.islink(cache.parent) or os.path.islink(cache)
        return Environment(paths, None if linked else cache)  # never through a link

    # -- DepEnv.pygraph -------------------------------------------------------------------
    def __call__(self, dep: PygraphDep, env: DepEnv) -> list[DepDigest]:
        if dep.pyimport.startswith(FENCE_PREFIX):
            from qik.pygraph.check import fence_digests

            return fence_digests(self, dep.pyimport[len(FENCE_PREFIX) :])
        found = self.resolve(dep.pyimport)
        if found.unmapped:
            raise _unmapped_error(found.unmapped[0], dep.pyimport)
        out = [self._files_digest(found)]
        for dist in found.dists:
            out.extend(self._pydist(dist, env))
        return out

    def _files_digest(self, found: Resolution) -> DepDigest:
        digest = self._digests.get(found.pyimport)
        if digest is None:
            files = tuple((path, self.index.digest(path) or "") for path in found.files)
            digest = DepDigest(f"pygraph:{found.pyimport}", files_digest(files), files)
            self._digests[found.pyimport] = digest
        return digest

    def _pydist(self, dist: str, env: DepEnv) -> list[DepDigest]:
        """What a pydist dep on ``dist`` gives (same label, same digest), with installed
        versions read here: importlib.metadata would cost more than the rest of a warm run."""
        key = (dist, env.versions)
        if key not in self._pydists:
            outer = env.versions
            pins = self.project.pydist.versions

            def versions(name: str) -> str | None:
                return outer(name) or pins.get(name) or self._installed_version(name)

            with_versions = dataclasses.replace(env, versions=versions)
            self._pydists[key] = digest_dep(PydistDep(self._pinned_name(dist)), with_versions)
        return self._pydists[key]

    def _installed_version(self, dist: str) -> str | None:
        if dist not in self._installed:
            self._installed[dist] = self.env.version(dist)
        return self._installed[dist]

    def _pinned_name(self, dist: str) -> str:
        """``dist`` as ``[pydist] versions`` spells it, so a pin applies whatever the case."""
        want = canonical_name(dist)
        return next((k for k in self.project.pydist.versions if canonical_name(k) == want), dist)

    # -- resolution -----------------------------------------------------------------------
    def resolve(self, pyimport: str) -> Resolution:
        """What a dep on ``pyimport`` covers (memoized for the run)."""
        found = self._resolved.get(pyimport)
        if found is None:
            found = self._resolved[pyimport] = self._resolve(pyimport)
        return found

    def _resolve(self, pyimport: str) -> Resolution:
        subtree = self._subtree(pyimport)  # first: it may scan more, and replace the graph
        graph = self.graph
        bits, xbits = self.closures.of_all(subtree)
        run = members(bits)
        mods = tuple(graph.modules[i] for i in run)
        files = tuple(f for f in (graph.files[i] for i in run) if f is not None)
        dists: set[str] = set()
        unmapped: list[Unmapped] = []
        provided = self.external_dists
        for k in members(xbits):
            name = graph.externals[k]
            if provided[k] is None:
                unmapped.append(self._where(name, run))
            else:
                dists.update(provided[k] or ())
        return Resolution(pyimport, mods, files, tuple(sorted(dists)), tuple(unmapped))

    def _subtree(self, pyimport: str) -> list[int]:
        found = self._find(pyimport)
        root = pyimport.partition(".")[0]
        if not found and root in self.layout.namespaces and root not in self._extra:
            self._scan_also(root)  # a namespace directory nothing named: scan it now
            found = self._find(pyimport)
        if not found:
            raise _unknown_module(pyimport, self.graph.by_name[0])
        return found

    def _find(self, pyimport: str) -> list[int]:
        """Indices of ``pyimport`` and of its submodules."""
        names, indices = self.graph.by_name
        lo = bisect.bisect_left(names, pyimport)
        hi = bisect.bisect_left(names, pyimport + "/", lo)  # "/" sorts right after "."
        return [indices[i] for i in range(lo, hi) if _in_package(names[i], pyimport)]

    def _scan_also(self, root: str) -> None:
        self._extra = (*self._extra, root)
        for name in ("graph", "closures", "external_dists"):
            self.__dict__.pop(name, None)
        self._resolved.clear()
        self._digests.clear()

    @cached_property
    def external_dists(self) -> tuple[tuple[str, ...] | None, ...]:
        """For each external name of the graph, the distributions providing it: () when it
        needs none (the standard library, or ignored), None when nothing maps it."""
        names = self.graph.externals
        out: list[tuple[str, ...] | None] = [()] * len(names)
        ask: dict[int, str] = {}
        for k, name in enumerate(names):
            fixed = self._without_metadata(name)
            if fixed is None:
                ask[k] = name.partition(".")[0]
            else:
                out[k] = fixed
        found = self.env.providers(ask.values()) if ask else {}
        missing = [root for root in ask.values() if not found[root]]
        if missing:
            found.update(self._space_providers(missing))
        lenient = self.project.pydist.ignore_missing_modules
        for k, root in ask.items():
            out[k] = found[root] or (() if lenient else None)
        return tuple(out)

    def _space_providers(self, roots: list[str]) -> dict[str, tuple[str, ...]]:
        """Providers of modules that qik's own environment lacks, from the spaces' venvs:
        the distributions installed in those built, else those locked (when named like the
        module, as ``attrs`` or ``six``: a lock holds no module names)."""
        from qik.spaces import uses_spaces

        if not uses_spaces(self.project):
            return {}
        from qik.spaces.envs import resolve as resolve_spaces
        from qik.spaces.lockfile import pinned_versions

        venvs = resolve_spaces(self.project).venvs()
        root_dir = self.project.root
        paths = [
            str(site)
            for env in venvs
            for site in sorted((root_dir / env.venv_dir).glob("lib/python*/site-packages"))
        ]
        found: dict[str, tuple[str, ...]] = {}
        if paths:
            installed = Environment(paths, None).providers(roots)
            found = {root: dists for root, dists in installed.items() if dists}
        locked: set[str] = set()  # named by the locks, or before locking by the reqs
        for env in venvs:
            for path in (*((env.lock,) if env.lock else ()), *env.reqs):
                try:
                    text = (root_dir / path).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                locked.update(pinned_versions(text))
                locked.update(canonical_name(m[1]) for m in _REQ_NAME.finditer(text))
        for root in roots:
            if root not in found and canonical_name(root) in locked:
                found[root] = (canonical_name(root),)
        return found

    def _without_metadata(self, name: str) -> tuple[str, ...] | None:
        """The answer for ``name`` from config or the standard library, if they have one."""
        root = name.partition(".")[0]
        overrides = self.project.pydist.modules
        for key in (name, root):
            if key in overrides:
                return (overrides[key],) if overrides[key] else ()
        return () if root in STDLIB else None

    def _where(self, name: str, run: list[int]) -> Unmapped:
        """An importer of the external ``name`` among the modules ``run``, for messages."""
        graph = self.graph
        target = len(graph.modules) + graph.externals.index(name)
        for i in run:
            for entry in graph.imports[i]:
                if entry[0] == target:
                    return Unmapped(name, graph.files[i], entry[1] if len(entry) > 1 else None)
        return Unmapped(name, None, None)

    def version(self, dist: str) -> str | None:
        """The version a pydist dep on ``dist`` uses: pinned, else installed."""
        name = self._pinned_name(dist)
        return self.project.pydist.versions.get(name) or self._installed_version(name)


def files_digest(files: tuple[tuple[str, str], ...]) -> str:
    """The digest of a pygraph dep's files. ``--since`` (qik.since) digests the same files
    at the base revision the same way: keep the two encodings equal."""
    listing = "".join([f"{path}={blob}\n" for path, blob in files])
    return hashlib.sha256(listing.encode("utf-8", "surrogateescape")).hexdigest()


def _in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _unmapped_error(found: Unmapped, pyimport: str) -> PygraphError:
    where = f"{found.importer_file}:{found.line}" if found.importer_file else "a project module"
    return PygraphError(
        f"{where} imports {found.name!r}, which no installed distribution provides "
        f"(in the pygraph dep on {pyimport!r})",
        code="pygraph-unmapped-module",
        hint=f'map it: [pydist] modules = {{{found.name.partition(".")[0]} = "dist-name"}}; '
        f'ignore it: [pydist] modules = {{{found.name.partition(".")[0]} = ""}}; '
        "or ignore all unmapped modules: [pydist] ignore-missing-modules = true "
        "(or install the distribution that provides it)",
    )


def _unknown_module(pyimport: str, names: tuple[str, ...]) -> PygraphError:
    import difflib

    close = difflib.get_close_matches(pyimport, names, n=3)
    suggestion = f" (did you mean {', '.join(close)}?)" if close else ""
    return PygraphError(
        f"pygraph dep on {pyimport!r}: no such module in the project{suggestion}",
        code="pygraph-unknown-module",
        hint="pyimport is a dotted module path under [defaults] python-path; check its "
        "spelling, python-path if the module lives in a subdirectory, and that no installed "
        "package has its top-level name (a directory without __init__.py loses to it)",
    )
