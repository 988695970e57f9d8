"""Building the import graph with grimp: the only module that imports grimp.

What is scanned: see :mod:`~qik.pygraph.layout`. When scanned code imports a namespace
directory of the project that was not scanned, the scan runs again with it (rare, and the
result is cached like any graph).

grimp finds packages with ``importlib.util.find_spec``, so while it runs ``sys.path`` holds
only the project's python path, and modules of the same top-level names that this process
already imported (qik itself, when qik is the project) are set aside: grimp must find the
project's files, never an installed package of the same name. Nothing is imported inside
that window (a module imported there could come from the project's copy); errors are raised
after it closes.

A file grimp can't parse (a test fixture with a deliberate syntax error) can't be imported
either: it becomes a module without imports. grimp has no way to skip a file, so the scan
runs again over a tree of symbolic links under ``._qik/`` where that file is empty.

grimp's ``build_graph`` assembles a graph object, and reading each import's line numbers
back out of it costs a call per edge; qik needs only the imports, which grimp's own scan
step returns. So the scan calls that step (``usecases._find_packages`` and
``_scan_packages``, with grimp's cache) and falls back to ``build_graph`` when a grimp
version doesn't have them.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qik.config.schema import Project
from qik.pygraph.errors import PygraphError
from qik.pygraph.layout import Layout, initial_roots
from qik.pygraph.model import ImportGraph

__all__ = ["build_graph", "grimp_cache_dir"]

# importer -> {imported: line numbers}
_Edges = dict[str, dict[str, list[int]]]


def grimp_cache_dir(root: Path) -> Path:
    return root / "._qik" / "pygraph" / "grimp"


@dataclass(frozen=True)
class _Scan:
    edges: _Edges  # every scanned module (namespace packages included), with its imports
    external: set[str]  # imported names outside the scanned roots, as grimp squashes them


def build_graph(
    project: Project, lay: Layout, extra: Sequence[str] = (), *, fast: bool = True
) -> ImportGraph:
    """Scan the project's packages with grimp and serialize what the deps need.

    ``extra``: namespace directories to scan too. ``fast=False`` uses only grimp's public
    ``build_graph`` (the fallback, tested as such).
    """
    directory = str(project.root / lay.prefix) if lay.prefix else str(project.root)
    roots = [r for r in initial_roots(project, lay, extra) if not _is_shadowed(r, directory)]
    scanner = _Scanner(project, lay, directory, fast)
    while True:
        scan = scanner.scan(roots)
        more = _namespaces_imported(scan.external, lay, roots, directory)
        if not more:
            break
        roots = [*roots, *more]
    return _graph(lay, scan.edges, scan.external)


def _namespaces_imported(
    external: set[str], lay: Layout, roots: list[str], directory: str
) -> list[str]:
    tops = {name.partition(".")[0] for name in external}
    wanted = tops & set(lay.namespaces) - set(roots)
    return sorted(r for r in wanted if not _is_shadowed(r, directory))


class _Scanner:
    def __init__(self, project: Project, lay: Layout, directory: str, fast: bool) -> None:
        self.project = project
        self.lay = lay
        self.directory = directory
        self.fast = fast
        self.broken: set[str] = set()  # repo-relative files grimp could not parse
        self.grimp = _import_grimp()

    def scan(self, roots: list[str]) -> _Scan:
        while True:
            with self._tree(roots) as tree:
                try:
                    return self._scan_in(tree, roots)
                except Exception as exc:  # grimp's errors have no common base
                    self._learn(exc, tree)

    @contextlib.contextmanager
    def _tree(self, roots: list[str]) -> Iterator[str]:
        if not self.broken:
            yield self.directory
            return
        tree = _mirror(self.project.root, self.lay, roots, self.broken)
        try:
            yield tree
        finally:
            shutil.rmtree(tree, ignore_errors=True)

    def _scan_in(self, tree: str, roots: list[str]) -> _Scan:
        if not roots:
            return _Scan({}, set())
        conf = self.project.pygraph
        options = {
            "include_external_packages": not conf.ignore_pydists,
            "exclude_type_checking_imports": conf.ignore_type_checking,
            "cache_dir": str(grimp_cache_dir(self.project.root)),
        }
        scan = _scan_fast if self.fast and _has_scan_step(self.grimp) else _scan_public
        with _only_importable_from(tree, roots):
            result: _Scan | Exception
            try:
                result = scan(self.grimp, roots, options)
            except Exception as exc:
                result = exc
        if isinstance(result, Exception):
            raise result
        return result

    def _learn(self, exc: Exception, tree: str) -> None:
        """Remember the file a syntax error is in, or raise: nothing else can be skipped."""
        if not isinstance(exc, self.grimp.exceptions.SourceSyntaxError):
            raise _build_error(exc) from exc
        path = _relative(getattr(exc, "filename", None), tree)
        path = None if path is None else self.lay.prefix + path
        if path is None or path in self.broken:
            raise _syntax_error(exc) from exc
        self.broken.add(path)


def _relative(filename: object, tree: str) -> str | None:
    if not isinstance(filename, str):
        return None
    try:
        return Path(filename).relative_to(tree).as_posix()
    except ValueError:
        return None


def _mirror(root: Path, lay: Layout, roots: Sequence[str], broken: set[str]) -> str:
    """A tree of symbolic links to the sources under ``roots``; broken files left empty."""
    base = root / "._qik" / "pygraph"
    base.mkdir(parents=True, exist_ok=True)
    tree = Path(tempfile.mkdtemp(prefix="tree-", dir=base))
    directory = tree / lay.prefix if lay.prefix else tree
    for path in lay.sources_under(roots):
        target = tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if path in broken:
            target.write_text("")
        else:
            os.symlink(root / path, target)
    return str(directory)


def _import_grimp() -> Any:
    try:
        import grimp
    except ImportError:
        raise PygraphError(
            "the import graph needs grimp, which is not installed",
            code="pygraph-unavailable",
            hint="install qik with the pygraph extra: pip install 'qik[pygraph]'",
        ) from None
    return grimp


def _has_scan_step(grimp: Any) -> bool:
    usecases = getattr(getattr(grimp, "application", None), "usecases", None)
    return all(callable(getattr(usecases, f, None)) for f in ("_find_packages", "_scan_packages"))


def _scan_fast(grimp: Any, roots: list[str], options: dict[str, Any]) -> _Scan:
    usecases = grimp.application.usecases
    file_system = grimp.application.config.settings.FILE_SYSTEM
    found = usecases._find_packages(file_system=file_system, package_names=roots)
    by_module = usecases._scan_packages(
        found_packages=found, file_system=file_system.convert_to_basic(), **options
    )
    edges: _Edges = {name: {} for package in found for name in package.namespace_packages}
    for module, imports in by_module.items():
        row = edges.setdefault(module.name, {})
        for imp in imports:
            lines = row.get(imp.imported.name)
            if lines is None:
                row[imp.imported.name] = [imp.line_number or 0]
            else:
                lines.append(imp.line_number or 0)
    return _Scan(edges, _external(edges, roots))


def _external(edges: _Edges, roots: list[str]) -> set[str]:
    scanned = set(roots)
    imported = {name for row in edges.values() for name in row}
    return {name for name in imported if name.partition(".")[0] not in scanned}


def _scan_public(grimp: Any, roots: list[str], options: dict[str, Any]) -> _Scan:
    graph = grimp.build_graph(*roots, **options)
    edges: _Edges = {}
    external: set[str] = set()
    for name in graph.modules:
        if graph.is_module_squashed(name):
            external.add(name)
            continue
        edges[name] = {
            imported: sorted(
                {
                    d["line_number"]
                    for d in graph.get_import_details(importer=name, imported=imported)
                }
            )
            for imported in graph.find_modules_directly_imported_by(name)
        }
    return _Scan(edges, external)


def _is_shadowed(root: str, directory: str) -> bool:
    """Would ``import root`` find something else than the project's directory?

    A namespace package (a directory without ``__init__.py``) loses to a regular package or
    module of the same name anywhere on ``sys.path``: Python would import that one, so the
    project's directory is not importable under that name and is left out of the graph.
    """
    if Path(directory, root, "__init__.py").exists():
        return False
    if root in sys.builtin_module_names:
        return True
    here = Path(directory).resolve()
    others = [p for p in sys.path if p and Path(p).resolve() != here]
    spec = importlib.machinery.PathFinder.find_spec(root, others)
    return spec is not None and spec.origin is not None


@contextlib.contextmanager
def _only_importable_from(directory: str, roots: list[str]) -> Iterator[None]:
    names = set(roots)
    saved_path = sys.path[:]
    saved = {k: m for k, m in sys.modules.items() if k.partition(".")[0] in names}
    grimp_log = logging.getLogger("grimp")
    saved_level = grimp_log.level
    for key in saved:
        del sys.modules[key]
    sys.path[:] = [directory]
    # grimp warns about files it skips (some.module.py); core code doesn't print.
    grimp_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        sys.path[:] = saved_path
        grimp_log.setLevel(saved_level)
        for key in [k for k in sys.modules if k.partition(".")[0] in names]:
            del sys.modules[key]
        sys.modules.update(saved)


def _syntax_error(exc: Exception) -> PygraphError:
    return PygraphError(
        f"can't build the import graph: {exc}",
        code="pygraph-syntax-error",
        hint="fix the syntax error in that file, or git-ignore the file if it is not a "
        "project source",
    )


def _build_error(exc: Exception) -> PygraphError:
    return PygraphError(
        f"can't build the import graph: {type(exc).__name__}: {exc}",
        code="pygraph-build-failed",
        hint="check [defaults] python-path: the directories under it must be importable packages",
    )


def _graph(lay: Layout, edges: _Edges, external: set[str]) -> ImportGraph:
    """The serialized graph: modules ordered by file, top-level modules and ancestors added."""
    known = frozenset(lay.sources)
    top = dict(lay.top_modules)
    names = _with_ancestors({*edges, *top})
    files = {name: top.get(name) or lay.file_of(name, known) for name in names}
    modules = sorted(names, key=lambda m: (files[m] is None, files[m] or m))
    # A top-level single-file module is an "external" name to grimp.
    externals = sorted(external - top.keys())
    slot: dict[str, int] = {name: i for i, name in enumerate(modules)}
    slot.update({name: len(modules) + k for k, name in enumerate(externals)})
    rows = [
        sorted([_slot(slot, target), *sorted(set(lines))] for target, lines in row.items())
        for row in (edges.get(name, {}) for name in modules)
    ]
    return ImportGraph(
        tuple(modules), tuple(files[m] for m in modules), tuple(externals), tuple(rows)
    )


def _slot(slot: dict[str, int], name: str) -> int:
    # grimp names existing modules only; should one be missing, its package stands in.
    while name not in slot and "." in name:
        name = name.rpartition(".")[0]
    return slot[name]


def _with_ancestors(names: set[str]) -> set[str]:
    out = set(names)
    for name in names:
        parent = name.rpartition(".")[0]
        while parent and parent not in out:  # stop where another name already climbed
            out.add(parent)
            parent = parent.rpartition(".")[0]
    return out
