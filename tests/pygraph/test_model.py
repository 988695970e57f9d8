"""The serialized graph: round trip, and untrusted bytes rejected."""

from __future__ import annotations

import pytest

from qik.pygraph.model import GraphInvalid, ImportGraph

GRAPH = ImportGraph(
    modules=("a", "a.b", "ns"),
    files=("a/__init__.py", "a/b.py", None),
    externals=("os",),
    imports=([[1, 3], [3, 1, 7]], [], []),
)


def test_round_trip() -> None:
    back = ImportGraph.from_bytes(GRAPH.to_bytes())
    assert (back.modules, back.files, back.externals) == (GRAPH.modules, GRAPH.files, ("os",))
    assert [[list(e) for e in row] for row in back.imports] == [[[1, 3], [3, 1, 7]], [], []]
    assert back.target_name(3) == "os"
    assert back.by_name == (("a", "a.b", "ns"), (0, 1, 2))


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"format": 2, "modules": [], "externals": [], "imports": []}',
        b'{"format": 1, "modules": [["a", 1]], "externals": [], "imports": [[]]}',
        b'{"format": 1, "modules": [["a", "../x.py"]], "externals": [], "imports": [[]]}',
        b'{"format": 1, "modules": [["a", "/etc/x.py"]], "externals": [], "imports": [[]]}',
        b'{"format": 1, "modules": [["a", null]], "externals": [], "imports": []}',
        b'{"format": 1, "modules": [["a", null]], "externals": [], "imports": [[[1]]]}',
        b'{"format": 1, "modules": [["a", null]], "externals": [], "imports": [[[-1]]]}',
        b'{"format": 1, "modules": [["a", null]], "externals": [], "imports": [[[true]]]}',
        b'{"format": 1, "modules": [["a", null]], "externals": [3], "imports": [[]]}',
    ],
)
def test_invalid_bytes_are_rejected(data: bytes) -> None:
    with pytest.raises(GraphInvalid):
        ImportGraph.from_bytes(data)
