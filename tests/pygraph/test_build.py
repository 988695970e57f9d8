"""The grimp build: grimp's scan step and its public build_graph agree; what gets scanned."""

from __future__ import annotations

from pathlib import Path

from qik.pygraph.build import build_graph
from tests.pygraph.conftest import MakeGraph

FILES = {
    "a/__init__.py": "import b.x\nimport tools.helpers\nimport settings\n",
    "b/__init__.py": "",
    "b/x.py": "import typing\nif typing.TYPE_CHECKING:\n    import c\nimport os\nimport yaml\n",
    "c/__init__.py": "def f():\n    from b import x\n",
    "tools/helpers.py": "import c\n",  # a namespace directory, imported: scanned
    "scripts/run_a.py": "import a\n",  # a namespace directory nothing names: not scanned
    "scripts/fixtures/broken.py": "def (:\n",
    "settings.py": "import os\n",
}


def test_the_scan_step_and_build_graph_agree(make_graph: MakeGraph, tmp_path: Path) -> None:
    pygraph = make_graph(FILES)
    fast = build_graph(pygraph.project, pygraph.layout)
    public = build_graph(pygraph.project, pygraph.layout, fast=False)
    assert fast.to_bytes() == public.to_bytes()
    assert fast.modules == ("a", "b", "b.x", "c", "settings", "tools.helpers", "tools")
    assert fast.externals == ("os", "typing", "yaml")
    rows = {
        fast.modules[i]: [fast.target_name(e[0]) for e in row]
        for i, row in enumerate(fast.imports)
    }
    assert rows["a"] == ["b.x", "settings", "tools.helpers"]
    assert rows["b.x"] == ["c", "os", "typing", "yaml"]
    assert rows["settings"] == []  # a top-level module: its imports are not followed


def test_a_namespace_directory_is_scanned_on_request(make_graph: MakeGraph) -> None:
    pygraph = make_graph(FILES)
    assert "scripts.run_a" not in pygraph.graph.index
    assert "scripts/run_a.py" in pygraph.resolve("scripts.run_a").files
    assert "scripts.fixtures.broken" in pygraph.graph.index
