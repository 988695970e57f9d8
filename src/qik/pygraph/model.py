"""The serialized import graph: the project's modules, their files, and who imports what.

One JSON document (stored zstd-compressed in the CAS)::

    {"format": 1,
     "modules": [["a", "a/__init__.py"], ["a.b", "a/b.py"], ["ns", null]],
     "externals": ["os", "requests"],
     "imports": [[[1, 3], [4, 7]], [], []]}

``modules`` are the project's modules (name, repo-relative file; ``null`` for a namespace
package), ordered by file path so that a set of module indices is already in file order.
``imports[i]`` lists what module ``i`` imports: ``[target, line, line, ...]`` where a target
below ``len(modules)`` is a module and ``len(modules) + k`` is ``externals[k]``, a name
outside the project as grimp squashes it (a top-level package, stdlib included).

A graph read from a shared mirror is untrusted: :meth:`ImportGraph.from_bytes` checks every
field and raises :class:`GraphInvalid` (a miss for the caller) for anything else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from qik.store.paths import StoreError, check_relpath

__all__ = ["GRAPH_FORMAT", "GraphInvalid", "ImportGraph", "Imports"]

GRAPH_FORMAT = 1

# imports[i]: what module i imports, each entry [target, line, ...].
Imports = Sequence[Sequence[Sequence[int]]]


class GraphInvalid(ValueError):
    """Stored bytes that are not a graph of this format."""


@dataclass(frozen=True, eq=False)
class ImportGraph:
    modules: tuple[str, ...]
    files: tuple[str | None, ...]
    externals: tuple[str, ...]
    imports: Imports

    @cached_property
    def index(self) -> dict[str, int]:
        """Module name -> its index."""
        return {name: i for i, name in enumerate(self.modules)}

    @cached_property
    def by_name(self) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """Module names sorted, and their indices: a package's submodules are contiguous."""
        pairs = sorted(zip(self.modules, range(len(self.modules)), strict=True))
        return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)

    def target_name(self, target: int) -> str:
        n = len(self.modules)
        return self.modules[target] if target < n else self.externals[target - n]

    def to_bytes(self) -> bytes:
        doc = {
            "format": GRAPH_FORMAT,
            "modules": [[m, f] for m, f in zip(self.modules, self.files, strict=True)],
            "externals": list(self.externals),
            "imports": [[list(entry) for entry in row] for row in self.imports],
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ImportGraph:
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise GraphInvalid(f"not JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != GRAPH_FORMAT:
            raise GraphInvalid("not an import graph of format 1")
        modules, files = _modules(doc.get("modules"))
        externals = _strings(doc.get("externals"), "externals")
        imports = _imports(doc.get("imports"), len(modules), len(modules) + len(externals))
        return cls(modules, files, externals, imports)


def _modules(value: object) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    if not isinstance(value, list):
        raise GraphInvalid("modules: not a list")
    names: list[str] = []
    files: list[str | None] = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise GraphInvalid("modules: an entry is not [name, file]")
        names.append(item[0])
        files.append(_file(item[1]))
    return tuple(names), tuple(files)


def _file(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise GraphInvalid("modules: a file is not a string")
    try:
        check_relpath(value)  # fence reports read these files: never outside the repo
    except StoreError as exc:
        raise GraphInvalid(f"modules: {exc}") from None
    return value


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise GraphInvalid(f"{where}: not a list of strings")
    return tuple(value)


def _imports(value: object, rows: int, targets: int) -> Imports:
    if not isinstance(value, list) or len(value) != rows:
        raise GraphInvalid("imports: not one list per module")
    for row in value:
        if not isinstance(row, list):
            raise GraphInvalid("imports: a row is not a list")
        for entry in row:
            if not _is_entry(entry, targets):
                raise GraphInvalid("imports: an entry is not [target, line, ...]")
    return value


def _is_entry(entry: object, targets: int) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) >= 1
        and all(type(x) is int and x >= 0 for x in entry)
        and entry[0] < targets
    )
