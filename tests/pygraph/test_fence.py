"""Fences: enclosed paths per space, cycles, and the imports that cross them."""

from __future__ import annotations

from pathlib import Path

import pytest

from qik.config.load import load_project
from qik.pygraph.check import check_runnables, check_space, fence_digests
from qik.pygraph.errors import PygraphError
from qik.pygraph.fence import fence_of
from tests.conftest import write_files
from tests.pygraph.conftest import MakeGraph, make_dist, open_graph

SPACES = """
[spaces.lib]
modules = ["lib"]

[spaces.core]
modules = ["core"]
fence = ["shared"]

[spaces.api]
modules = ["app/api"]
fence = ["app/common", {type = "space", name = "core"}]
"""


def test_fence_paths(tmp_path: Path) -> None:
    write_files(tmp_path, {"qik.toml": SPACES})
    project = load_project(tmp_path)
    api = fence_of(project, "api")
    assert api.own == ("app/api", "app/common")
    assert api.allowed == ("app/api", "app/common", "core", "shared")
    assert [r.name for r in check_runnables(project)] == [
        "pygraph.check@core",
        "pygraph.check@api",
    ]


def test_a_cycle_is_an_error(tmp_path: Path) -> None:
    toml = SPACES + '\n[spaces.lib2]\nfence = [{type = "space", name = "api"}]\n'
    toml = toml.replace('name = "core"}', 'name = "lib2"}')
    write_files(tmp_path, {"qik.toml": toml})
    with pytest.raises(PygraphError) as caught:
        fence_of(load_project(tmp_path), "api")
    assert caught.value.code == "fence-cycle"
    assert "api -> lib2 -> api" in caught.value.message
    with pytest.raises(PygraphError) as listed:  # what --ls builds fails alike
        check_runnables(load_project(tmp_path))
    assert listed.value.code == "fence-cycle"


FILES = {
    "app/__init__.py": "",
    "app/api/__init__.py": "import os\nfrom app.common import x\nimport core\n",
    "app/api/views.py": "import json\n\nimport lib\nimport yaml\nimport requests\n",
    "app/common.py": "x = 1\n",
    "core/__init__.py": "import lib\n",
    "lib/__init__.py": "",
}


def test_crossings_are_reported_with_file_and_line(make_graph: MakeGraph, tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_dist(site, "PyYAML", "6.0", modules=("yaml",))
    report = check_space(make_graph(FILES, toml=SPACES, site=site), "api")
    assert report.checked == ("app/api/__init__.py", "app/api/views.py", "app/common.py")
    assert [v.render() for v in report.violations] == [
        "app/api/views.py:3: app.api.views imports lib: lib/__init__.py is outside the fence "
        'of space "api"',
        "app/api/views.py:5: app.api.views imports requests: no installed distribution "
        "provides it",
    ]


def test_third_party_imports_follow_the_space_environment(
    make_graph: MakeGraph, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    make_dist(site, "PyYAML", "6.0", modules=("yaml",))
    make_dist(site, "requests", "2.0")
    toml = SPACES + 'venv = "requirements-api.txt"\n'
    files = {**FILES, "requirements-api.txt": "requests==2.0  # http\n-r other.txt\n"}
    report = check_space(make_graph(files, toml=toml, site=site), "api")
    assert [v.imported for v in report.violations] == ["lib", "yaml"]
    assert "PyYAML is not in the environment" in report.violations[1].reason


def test_the_fence_digest_follows_the_report(make_graph: MakeGraph, tmp_path: Path) -> None:
    site = tmp_path / "site"
    graph = make_graph(FILES, toml=SPACES, site=site)
    root = graph.project.root
    before = fence_digests(graph, "api")
    assert (root / "._qik/pygraph/check").exists()
    (root / "lib/__init__.py").write_text("y = 2\n")  # outside the space: same report
    assert fence_digests(open_graph(root, site), "api") == before
    (root / "app/api/views.py").write_text("import json\n")
    after = fence_digests(open_graph(root, site), "api")
    assert after[0].digest != before[0].digest
    assert after[0].label == "pygraph::fence:api"
