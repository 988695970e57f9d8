"""The two ways to read a project's imports out of grimp.

grimp's ``build_graph`` assembles a graph object, and reading each import's line numbers
back out of it costs a call per edge; qik needs only the imports, which grimp's own scan
step returns. So :meth:`Grimp.scan` calls that step (``usecases._find_packages`` and
``_scan_packages``, with grimp's cache), and uses ``build_graph`` for grimp
versions without them. Both give the same :class:`Scan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qik.pygraph.errors import PygraphError

__all__ = ["Edges", "Grimp", "Scan", "ScanOptions"]

# importer -> {imported: line numbers}
Edges = dict[str, dict[str, list[int]]]


@dataclass(frozen=True)
class Scan:
    edges: Edges  # every scanned module (namespace packages included), with its imports
    external: set[str]  # imported names outside the scanned roots, as grimp squashes them


@dataclass(frozen=True)
class ScanOptions:
    include_external: bool
    exclude_type_checking: bool
    cache_dir: str  # grimp's own cache
    fast: bool = True  # False: grimp's public build_graph only (the fallback, tested as such)

    def grimp_kwargs(self) -> dict[str, object]:
        return {
            "include_external_packages": self.include_external,
            "exclude_type_checking_imports": self.exclude_type_checking,
            "cache_dir": self.cache_dir,
        }


class Grimp:
    """grimp, imported on creation (``pygraph-unavailable`` if it isn't installed)."""

    def __init__(self) -> None:
        self._grimp = _import_grimp()

    def scan(self, roots: list[str], options: ScanOptions) -> Scan:
        """The imports of the packages ``roots``, found on ``sys.path`` as it is now."""
        fast = options.fast and _has_scan_step(self._grimp)
        return (_scan_fast if fast else _scan_public)(self._grimp, roots, options.grimp_kwargs())

    def is_syntax_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self._grimp.exceptions.SourceSyntaxError)


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


def _scan_fast(grimp: Any, roots: list[str], options: dict[str, object]) -> Scan:
    usecases = grimp.application.usecases
    file_system = grimp.application.config.settings.FILE_SYSTEM
    found = usecases._find_packages(file_system=file_system, package_names=roots)
    by_module = usecases._scan_packages(
        found_packages=found, file_system=file_system.convert_to_basic(), **options
    )
    edges: Edges = {name: {} for package in found for name in package.namespace_packages}
    for module, imports in by_module.items():
        row = edges.setdefault(module.name, {})
        for imp in imports:
            name = imp.imported.name
            if not _importable(name):
                continue
            lines = row.get(name)
            if lines is None:
                row[name] = [imp.line_number or 0]
            else:
                lines.append(imp.line_number or 0)
    return Scan(edges, _external(edges, roots))


def _importable(name: str) -> bool:
    """A relative import that climbs above the top-level package (``from .. import x`` in
    ``pkg/__init__.py``) names no module: Python raises ImportError on it, and the graph
    leaves it out, as it does a file Python can't parse."""
    return bool(name) and not name.startswith(".") and ".." not in name


def _external(edges: Edges, roots: list[str]) -> set[str]:
    scanned = set(roots)
    imported = {name for row in edges.values() for name in row}
    return {name for name in imported if name.partition(".")[0] not in scanned}


def _scan_public(grimp: Any, roots: list[str], options: dict[str, object]) -> Scan:
    graph = grimp.build_graph(*roots, **options)
    edges: Edges = {}
    external: set[str] = set()
    for name in graph.modules:
        if not _importable(name):
            continue
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
            if _importable(imported)
        }
    return Scan(edges, external)
