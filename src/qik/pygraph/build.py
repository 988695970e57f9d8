"""Building the import graph with grimp (imported by :mod:`~qik.pygraph.scan` only).

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

How the imports are read out of grimp: :mod:`~qik.pygraph.scan`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.machinery
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from qik.config.schema import Project
from qik.pygraph.errors import PygraphError
from qik.pygraph.layout import Layout, initial_roots
from qik.pygraph.model import ImportGraph
from qik.pygraph.scan import Edges, Grimp, Scan, ScanOptions

__all__ = ["build_graph", "grimp_cache_dir"]


def grimp_cache_dir(root: Path) -> Path:
    return _scratch(root) / "grimp"


def _scratch(root: Path) -> Path:
    """``._qik/pygraph``; a temporary folder instead if ``._qik`` or it is a symbolic
    link: qik writes nothing through a link (it could point outside the repository)."""
    base = root / "._qik" / "pygraph"
    if os.path.islink(base.parent) or os.path.islink(base):
        return _private_scratch()
    return base


@functools.cache
def _private_scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="qik-pygraph-"))


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
        self.grimp = Grimp()

    def scan(self, roots: list[str]) -> Scan:
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
        top, tree = _mirror(self.project.root, self.lay, roots, self.broken)
        try:
            yield tree
        finally:
            shutil.rmtree(top, ignore_errors=True)

    def _scan_in(self, tree: str, roots: list[str]) -> Scan:
        if not roots:
            return Scan({}, set())
        conf = self.project.pygraph
        include_external = not conf.ignore_pydists
        exclude_type_checking = conf.ignore_type_checking
        # grimp keeps one file of modification times per package, shared by every set of
        # packages and options it caches imports for: a module edited while another set was
        # scanned would look unchanged to this one, which would read its old imports. So
        # each set gets a cache of its own.
        scanned = "\0".join([*sorted(roots), str(include_external), str(exclude_type_checking)])
        cache_dir = (
            grimp_cache_dir(self.project.root)
            / hashlib.sha256(scanned.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        )
        options = ScanOptions(
            include_external=include_external,
            exclude_type_checking=exclude_type_checking,
            cache_dir=str(cache_dir),
            fast=self.fast,
        )
        with _only_importable_from(tree, roots):
            result: Scan | Exception
            try:
                result = self.grimp.scan(roots, options)
            except Exception as exc:
                result = exc
        if isinstance(result, Exception):
            raise result
        return result

    def _learn(self, exc: Exception, tree: str) -> None:
        """Remember the file a syntax error is in (or that isn't UTF-8: Python can't import
        it either, without a coding line), or raise: nothing else can be skipped."""
        filename = getattr(exc, "filename", None)
        if not self.grimp.is_syntax_error(exc):
            filename = _undecodable(exc)
            if filename is None:
                raise _build_error(exc) from exc
        path = _relative(filename, tree)
        path = None if path is None else self.lay.prefix + path
        if path is None or path in self.broken:
            raise _syntax_error(exc) from exc
        self.broken.add(path)


def _undecodable(exc: Exception) -> str | None:
    """The file grimp failed to read as UTF-8, if that is what ``exc`` says."""
    if not isinstance(exc, UnicodeError):
        return None
    match = re.match(r"Failed to decode file (.+?) as UTF-8", str(exc))
    return match[1] if match else None


def _relative(filename: object, tree: str) -> str | None:
    if not isinstance(filename, str):
        return None
    try:
        return Path(filename).relative_to(tree).as_posix()
    except ValueError:
        return None


def _mirror(root: Path, lay: Layout, roots: Sequence[str], broken: set[str]) -> tuple[str, str]:
    """A tree of symbolic links to the sources under ``roots``, broken files left empty:
    its top (to remove) and the directory in it that python-path stands for."""
    base = _scratch(root)
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
    return str(tree), str(directory)


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


def _graph(lay: Layout, edges: Edges, external: set[str]) -> ImportGraph:
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
