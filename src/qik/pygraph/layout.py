"""What the graph covers, read from the file index: the python path, its top-level names,
and the ``.py`` files whose digests make the graph's cache key.

Under the python path:

- every directory with an ``__init__.py`` is a *package*, always scanned;
- a directory with ``.py`` files below but no ``__init__.py`` is a *namespace* directory.
  Many are not meant to be imported (``tests/``, ``docs/``, ``scripts/``, where fixtures with
  deliberate syntax errors live), so one is scanned only when the project names it: a
  module's path or a pygraph dep's ``pyimport`` lies in it, or scanned code imports it;
- a ``.py`` file directly under the python path is a top-level module, which grimp can't
  scan (it only takes packages): the graph keeps it as a module without imports.

Only files in the file index count, like every other dep: git-ignored files are not project
sources.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from qik.config.schema import Project, PygraphDep
from qik.fingerprint.hashing import digest_parts

__all__ = ["Layout", "graph_key", "initial_roots", "layout", "python_prefix"]

# Bump when the graph's meaning or encoding changes: every stored graph becomes a miss.
_KEY_VERSION = "1"


class _Index(Protocol):
    """What the graph key reads of the file index."""

    def digest(self, path: str) -> str | None: ...


@dataclass(frozen=True)
class Layout:
    prefix: str  # the python path as a repo-relative prefix: "" or "src/"
    packages: tuple[str, ...]  # top-level directories with an __init__.py
    namespaces: tuple[str, ...]  # top-level directories with .py files, without __init__.py
    top_modules: tuple[tuple[str, str], ...]  # (name, file) of top-level single-file modules
    sources: tuple[str, ...]  # every .py file under the python path, sorted

    def file_of(self, module: str, known: frozenset[str]) -> str | None:
        """The file of ``module`` among ``known`` files: ``a/b.py`` or ``a/b/__init__.py``."""
        base = self.prefix + module.replace(".", "/")
        for candidate in (base + ".py", base + "/__init__.py"):
            if candidate in known:
                return candidate
        return None

    def sources_under(self, roots: Sequence[str]) -> Iterator[str]:
        """The ``.py`` files below the top-level directories ``roots``."""
        for root in sorted(roots):
            start = self.prefix + root + "/"
            lo = bisect.bisect_left(self.sources, start)
            hi = bisect.bisect_left(self.sources, start[:-1] + "0", lo)
            yield from self.sources[lo:hi]


def python_prefix(python_path: str) -> str:
    """``[defaults] python-path`` as a prefix of repo-relative paths ("" for the root)."""
    path = python_path.strip().strip("/").removeprefix("./")
    return "" if path in ("", ".") else path + "/"


def layout(paths: Sequence[str], python_path: str) -> Layout:
    """The layout of the sorted repo-relative ``paths`` under ``python_path``."""
    prefix = python_prefix(python_path)
    lo = bisect.bisect_left(paths, prefix)
    hi = bisect.bisect_left(paths, prefix[:-1] + "0") if prefix else len(paths)
    sources = tuple(p for p in paths[lo:hi] if p.endswith(".py"))
    dirs: dict[str, bool] = {}  # top-level directory -> has an __init__.py
    top: list[tuple[str, str]] = []
    skip = len(prefix)
    for path in sources:
        head, sep, rest = path[skip:].partition("/")
        if not sep:
            name = head[:-3]
            if name.isidentifier() and name != "__init__":
                top.append((name, path))
        elif head.isidentifier():
            dirs[head] = dirs.get(head, False) or rest == "__init__.py"
    packages = tuple(d for d, is_package in dirs.items() if is_package)
    namespaces = tuple(d for d, is_package in dirs.items() if not is_package)
    return Layout(prefix, packages, namespaces, tuple(top), sources)


def initial_roots(project: Project, lay: Layout, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """The top-level names to scan first: every package, and the namespace directories the
    project names (by a module's path, or a pygraph dep's literal pyimport) or ``extra``
    asks for (a pyimport given on the command line)."""
    named = {_first(module.path, lay.prefix) for module in project.modules.values()}
    named.update(_first_dotted(p) for p in _literal_pyimports(project))
    named.update(extra)
    return (*lay.packages, *sorted(named & set(lay.namespaces)))


def _first(path: str, prefix: str) -> str:
    path = path.strip("/") + "/"
    return path[len(prefix) :].partition("/")[0] if path.startswith(prefix) else ""


def _first_dotted(pyimport: str) -> str:
    return pyimport.partition(".")[0]


def _literal_pyimports(project: Project) -> Iterator[str]:
    for command in project.commands.values():
        for dep in (*command.deps, *project.base_deps):
            if isinstance(dep, PygraphDep) and "{" not in dep.pyimport:
                yield dep.pyimport


def graph_key(project: Project, lay: Layout, index: _Index, extra: Sequence[str] = ()) -> str:
    """The graph's cache key: the settings that shape it and every source file's digest."""
    conf = project.pygraph
    settings = digest_parts(
        [
            ("qik-pygraph", _KEY_VERSION),
            ("python-path", lay.prefix),
            ("roots", [("root", r) for r in initial_roots(project, lay, extra)]),
            ("ignore-type-checking", str(conf.ignore_type_checking)),
            ("ignore-pydists", str(conf.ignore_pydists)),
        ]
    )
    # "<blob> <path>\0" per file (no path holds a NUL, no blob id a space), hashed in one
    # call: this runs on every warm run, over every source file.
    digest = index.digest
    listing = "".join([f"{digest(path) or '-'} {path}\0" for path in lay.sources])
    return hashlib.sha256(f"{settings}\n{listing}".encode("utf-8", "surrogateescape")).hexdigest()
