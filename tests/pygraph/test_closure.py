"""Closures: what running a module runs, over imports and parent packages."""

from __future__ import annotations

import pytest

from qik.pygraph.closure import Closures, members
from qik.pygraph.model import ImportGraph


def _graph(imports: dict[str, list[str]], externals: tuple[str, ...] = ()) -> ImportGraph:
    modules = tuple(sorted(imports))
    slot = {m: i for i, m in enumerate(modules)}
    slot.update({e: len(modules) + k for k, e in enumerate(externals)})
    rows = tuple([[slot[t], 1] for t in imports[m]] for m in modules)
    return ImportGraph(modules, tuple(f"{m}.py" for m in modules), externals, rows)


def _closure(graph: ImportGraph, module: str) -> tuple[set[str], set[str]]:
    bits, xbits = Closures(graph).of(graph.index[module])
    return (
        {graph.modules[i] for i in members(bits)},
        {graph.externals[k] for k in members(xbits)},
    )


@pytest.mark.parametrize(
    ("imports", "start", "expected"),
    [
        ({"a": ["b"], "b": ["c"], "c": [], "d": []}, "a", {"a", "b", "c"}),
        ({"a": ["b"], "b": ["c"], "c": [], "d": []}, "d", {"d"}),
        ({"a": ["b"], "b": ["c"], "c": ["b"]}, "a", {"a", "b", "c"}),  # a cycle
        ({"a": ["b"], "b": ["c"], "c": ["b"]}, "c", {"b", "c"}),
        ({"a": ["a"]}, "a", {"a"}),  # imports itself
        ({"p": [], "p.q": [], "p.r": ["x"], "x": []}, "p.q", {"p", "p.q"}),  # parent runs
        ({"p": ["x"], "p.q": [], "x": []}, "p.q", {"p", "p.q", "x"}),
        ({"p": [], "p.q": ["p.r"], "p.r": []}, "p", {"p"}),  # a package alone
    ],
)
def test_closure(imports: dict[str, list[str]], start: str, expected: set[str]) -> None:
    assert _closure(_graph(imports), start)[0] == expected


def test_externals_are_those_of_every_module_run() -> None:
    graph = _graph({"a": ["b", "os"], "b": ["yaml"], "c": ["toml"]}, ("os", "toml", "yaml"))
    assert _closure(graph, "a")[1] == {"os", "yaml"}


def test_closures_are_shared_and_order_independent() -> None:
    imports = {"a": ["b", "c"], "b": ["d"], "c": ["d", "b"], "d": ["c"], "e": ["a"]}
    graph = _graph(imports)
    forward = Closures(graph)
    backward = Closures(graph)
    names = list(graph.modules)
    got = [forward.of(graph.index[m]) for m in names]
    assert got[::-1] == [backward.of(graph.index[m]) for m in reversed(names)]


def test_a_deep_chain_needs_no_recursion() -> None:
    names = [f"m{i:05d}" for i in range(5000)]
    imports = {n: [names[i + 1]] if i + 1 < len(names) else [] for i, n in enumerate(names)}
    bits, _ = Closures(_graph(imports)).of(0)
    assert len(members(bits)) == 5000


@pytest.mark.parametrize(
    ("bits", "expected"),
    [(0, []), (1, [0]), (0b1010, [1, 3]), (1 << 200 | 1, [0, 200])],
)
def test_members(bits: int, expected: list[int]) -> None:
    assert members(bits) == expected
