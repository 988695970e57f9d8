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
    try:
        names = tuple(name for name, _ in value)  # type: ignore[attr-defined]
        files = tuple(file for _, file in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise GraphInvalid("modules: not a list of [name, file]") from None
    if not isinstance(value, list) or not all(type(n) is str for n in names):
        raise GraphInvalid("modules: a name is not a string")
    # Fence reports and :explain show these paths: relative, inside the repo, plain.
    if not all(f is None or (type(f) is str and _is_plain_path(f)) for f in files):
        raise GraphInvalid("modules: a file is not a relative path inside the repository")
    return names, files


def _is_plain_path(path: str) -> bool:
    return (
        bool(path)
        and path[0] != "/"
        and "\\" not in path
        and "\0" not in path
        and "/../" not in f"/{path}/"
    )


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(type(s) is str for s in value):
        raise GraphInvalid(f"{where}: not a list of strings")
    return tuple(value)


def _imports(value: object, rows: int, targets: int) -> Imports:
    if not isinstance(value, list) or len(value) != rows:
        raise GraphInvalid("imports: not one list per module")
    for row in value:
        if type(row) is not list:
            raise GraphInvalid("imports: a row is not a list")
        for entry in row:
            # Targets index the module and external lists; lines are only shown.
            if not (type(entry) is list and entry and type(entry[0]) is int):
                raise GraphInvalid("imports: an entry is not [target, line, ...]")
            if not 0 <= entry[0] < targets or not all(type(x) is int for x in entry):
                raise GraphInvalid("imports: an entry is not [target, line, ...]")
    return value
