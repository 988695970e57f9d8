"""What running a module runs: the transitive closure of its imports, memoized.

Running module ``m`` runs ``m``'s code, the modules it imports and, implicitly, the
``__init__`` of every package above it (``import a.b.c`` runs ``a`` and ``a.b`` first).
So the graph here has an edge from each module to what it imports and to its parent
package. A dep on ``pkg`` covers ``pkg`` and every submodule of it, each with its closure.

Closures are Python ints used as bitsets over module indices (modules are ordered by file,
so the set bits of a closure list its files in order), computed by an incremental,
iterative Tarjan: strongly connected components complete in reverse topological order, so
a component's closure is its own bits OR the closures of its successors, each computed
once, however many deps ask. Worked example: ``a -> b -> c``, ``c -> b``, ``d``: the
components complete as ``{b, c}`` (closure ``b|c``), then ``{a}`` (``a|b|c``); ``d`` is
never visited unless asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

from qik.pygraph.model import ImportGraph

__all__ = ["Closures", "members"]


class Closures:
    """Closure bitsets of modules (internal, and external names in ``externals_of``)."""

    def __init__(self, graph: ImportGraph) -> None:
        self._n = len(graph.modules)
        self._succ, self._ext = _adjacency(graph)
        nodes = len(self._succ)  # the modules, then one node per package's whole tree
        self._comp = [-1] * nodes  # component of each node, once complete
        self._order = [-1] * nodes  # Tarjan's visit order; -1: not visited yet
        self._bits: list[int] = []  # per component: modules it runs
        self._xbits: list[int] = []  # per component: external names they import
        self._visited = 0

    def of(self, module: int) -> tuple[int, int]:
        """(modules, external names) that running ``module`` runs or imports, as bitsets."""
        if self._comp[module] < 0:
            self._visit(module)
        comp = self._comp[module]
        return self._bits[comp], self._xbits[comp]

    def of_all(self, modules: Sequence[int]) -> tuple[int, int]:
        bits = xbits = 0
        for module in modules:
            b, x = self.of(module)
            bits |= b
            xbits |= x
        return bits, xbits

    def _visit(self, start: int) -> None:
        # Iterative Tarjan: deep import chains must not hit the recursion limit.
        succ, order = self._succ, self._order
        low: dict[int, int] = {}
        stack: list[int] = []
        on_stack: set[int] = set()
        work: list[tuple[int, int]] = [(start, 0)]
        while work:
            node, i = work[-1]
            if i == 0:
                order[node] = low[node] = self._visited
                self._visited += 1
                stack.append(node)
                on_stack.add(node)
            nexts = succ[node]
            descend = False
            while i < len(nexts):
                child = nexts[i]
                i += 1
                if order[child] < 0:
                    work[-1] = (node, i)
                    work.append((child, 0))
                    descend = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], order[child])
            if descend:
                continue
            work.pop()
            if low[node] == order[node]:
                self._complete(node, stack, on_stack)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])

    def _complete(self, root: int, stack: list[int], on_stack: set[int]) -> None:
        members: list[int] = []
        while True:
            node = stack.pop()
            on_stack.discard(node)
            members.append(node)
            if node == root:
                break
        comp = len(self._bits)
        bits = xbits = 0
        for node in members:
            self._comp[node] = comp
        for node in members:
            if node < self._n:  # a module (not a package's tree, which has no file)
                bits |= 1 << node
            xbits |= self._ext[node]
            for child in self._succ[node]:
                c = self._comp[child]
                if c != comp:  # completed earlier: its closure is final
                    bits |= self._bits[c]
                    xbits |= self._xbits[c]
        self._bits.append(bits)
        self._xbits.append(xbits)


def _adjacency(graph: ImportGraph) -> tuple[list[list[int]], list[int]]:
    """Successors and external-name bits of each node: the modules, then one node per
    package with submodules standing for its whole tree (the package and every module
    under it). Importing a package depends on its whole tree, as qik 0.2 had it and its
    users expect ("changes to files in my.module.a re-run what imports my.module.a"),
    though Python runs only its ``__init__``: a submodule it doesn't import yet may be
    imported through it later (``pkg.sub``, ``importlib``). A module's own parent
    package is only its ``__init__``: importing ``pkg.a`` doesn't depend on ``pkg.b``."""
    n = len(graph.modules)
    index = graph.index
    children: dict[int, list[int]] = {}
    for i, name in enumerate(graph.modules):
        parent = name.rpartition(".")[0]
        if parent:
            children.setdefault(index[parent], []).append(i)
    tree = {p: n + k for k, p in enumerate(sorted(children))}  # package -> its tree's node
    succ: list[list[int]] = []
    ext: list[int] = []
    for name, row in zip(graph.modules, graph.imports, strict=True):
        parent = name.rpartition(".")[0]
        targets = [entry[0] for entry in row]
        inner = [tree.get(t, t) for t in targets if t < n]
        if parent:
            inner.append(index[parent])
        succ.append(inner)
        bits = 0
        for t in targets:
            if t >= n:
                bits |= 1 << (t - n)
        ext.append(bits)
    for package in sorted(children):
        succ.append([package, *(tree.get(c, c) for c in children[package])])
        ext.append(0)
    return succ, ext


def members(bits: int) -> list[int]:
    """The indices of the set bits, ascending."""
    text = bin(bits)[:1:-1]  # least significant bit first
    out: list[int] = []
    i = text.find("1")
    while i >= 0:
        out.append(i)
        i = text.find("1", i + 1)
    return out
