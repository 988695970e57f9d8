"""pygraph deps resolved on real repos: files, distributions, settings and errors."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from qik.config.schema import PygraphDep
from qik.deps import DepEnv
from qik.pygraph.errors import PygraphError
from tests.pygraph.conftest import MakeGraph, make_dist, open_graph

ABCD = {
    "a/__init__.py": "import b\n",
    "a/sub.py": "from c import x\n",
    "b/__init__.py": "import c\n\ndef f():\n    import yaml\n",
    "c/__init__.py": "import os\nx = 1\n",
    "d/__init__.py": "import b\n",
    "e/__init__.py": "",
    "e/inner/__init__.py": "",
    "e/inner/leaf.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import d\n",
}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    make_dist(tmp_path / "site", "PyYAML", "6.0", modules=("yaml",))
    return tmp_path / "site"


def test_a_dep_covers_its_submodules_and_what_they_run(make_graph: MakeGraph, site: Path) -> None:
    found = make_graph(ABCD, site=site).resolve("a")
    assert found.files == ("a/__init__.py", "a/sub.py", "b/__init__.py", "c/__init__.py")
    assert found.dists == ("PyYAML",)  # imported inside a function: counted


def test_parent_packages_run_and_type_checking_imports_count(
    make_graph: MakeGraph, site: Path
) -> None:
    found = make_graph(ABCD, site=site).resolve("e.inner.leaf")
    assert found.modules == ("b", "c", "d", "e", "e.inner", "e.inner.leaf")


def test_ignore_type_checking(make_graph: MakeGraph, site: Path) -> None:
    toml = "[plugins.pygraph]\nignore-type-checking = true\n"
    found = make_graph(ABCD, toml=toml, site=site).resolve("e.inner.leaf")
    assert found.modules == ("e", "e.inner", "e.inner.leaf")


def test_ignore_pydists(make_graph: MakeGraph) -> None:
    toml = "[plugins.pygraph]\nignore-pydists = true\n"
    found = make_graph({**ABCD, "c/__init__.py": "import nowhere\n"}, toml=toml).resolve("a")
    assert found.dists == ()
    assert found.unmapped == ()


def test_digests_name_the_files_and_distributions(make_graph: MakeGraph, site: Path) -> None:
    graph = make_graph(ABCD, site=site)
    env = DepEnv(project=graph.project, files=graph.index, upstream_hashes={})
    digests = graph(PygraphDep("c"), env)
    assert [d.label for d in digests] == ["pygraph:c"]
    assert [path for path, _ in digests[0].files] == ["c/__init__.py"]
    labels = [d.label for d in graph(PygraphDep("b"), env)]
    assert labels == ["pygraph:b", "pydist:PyYAML"]


def test_an_unmapped_import_names_three_ways_out(make_graph: MakeGraph) -> None:
    graph = make_graph(ABCD)
    env = DepEnv(project=graph.project, files=graph.index, upstream_hashes={})
    with pytest.raises(PygraphError) as caught:
        graph(PygraphDep("a"), env)
    err = caught.value
    assert err.code == "pygraph-unmapped-module"
    assert "b/__init__.py:4" in err.message
    assert err.hint is not None
    assert '[pydist] modules = {yaml = "dist-name"}' in err.hint
    assert '[pydist] modules = {yaml = ""}' in err.hint
    assert "ignore-missing-modules = true" in err.hint


@pytest.mark.parametrize(
    ("toml", "dists"),
    [
        ('[pydist]\nmodules = {yaml = "PyYAML"}\n', ("PyYAML",)),
        ('[pydist]\nmodules = {yaml = ""}\n', ()),
        ("[pydist]\nignore-missing-modules = true\n", ()),
    ],
)
def test_the_ways_out(make_graph: MakeGraph, toml: str, dists: tuple[str, ...]) -> None:
    found = make_graph(ABCD, toml=toml).resolve("a")
    assert (found.dists, found.unmapped) == (dists, ())


def test_an_unknown_module(make_graph: MakeGraph) -> None:
    with pytest.raises(PygraphError) as caught:
        make_graph(ABCD).resolve("a.sbu")
    assert caught.value.code == "pygraph-unknown-module"
    assert "a.sub" in caught.value.message


def test_python_path_namespaces_and_top_level_modules(make_graph: MakeGraph) -> None:
    files = {
        "src/ns/app/__init__.py": "from ns import helpers\nimport settings\n",
        "src/ns/helpers.py": "",
        "src/settings.py": "",
        "src/other/__init__.py": "",
        "outside/__init__.py": "",
    }
    graph = make_graph(files, toml='[defaults]\npython-path = "src"\n')
    found = graph.resolve("ns.app")
    assert found.files == ("src/ns/app/__init__.py", "src/ns/helpers.py", "src/settings.py")
    assert "outside" not in graph.graph.index


def test_the_graph_is_built_once(make_graph: MakeGraph, site: Path) -> None:
    graph = make_graph(ABCD, site=site)
    first = graph.graph
    grimp_cache = graph.project.root / "._qik" / "pygraph" / "grimp"
    shutil.rmtree(grimp_cache)
    again = open_graph(graph.project.root, site).graph
    assert again.modules == first.modules
    assert not grimp_cache.exists()  # loaded from the store: grimp never ran


def test_a_file_that_does_not_parse_is_a_module_without_imports(
    make_graph: MakeGraph, site: Path
) -> None:
    files = {**ABCD, "c/bad.py": "import d\ndef (:\n", "e/inner/bad.py": "1x = \n"}
    graph = make_graph({**files, "a/sub.py": "from c import bad\n"}, site=site)
    assert graph.resolve("a").files == (
        "a/__init__.py",
        "a/sub.py",
        "b/__init__.py",
        "c/__init__.py",
        "c/bad.py",
    )
    assert "e.inner.bad" in graph.graph.index


def test_a_file_that_is_not_utf8_is_a_module_without_imports(
    make_repo: Callable[..., Path], site: Path
) -> None:
    """Python can't import it either (no coding line); the graph is built without it, and
    the tree of links built to leave it out is removed, python-path or not."""
    root = make_repo({"qik.toml": '[defaults]\npython-path = "src"\n', "src/a/__init__.py": ""})
    (root / "src/a/latin.py").write_bytes(b"caf\xe9 = 1\nimport b\n")
    (root / "src/a/nul.py").write_bytes(b"\xff\xfe\x00bad")
    (root / "src/a/sub.py").write_text("import os\n")
    graph = open_graph(root, site)
    assert graph.resolve("a").files == (
        "src/a/__init__.py",
        "src/a/latin.py",
        "src/a/nul.py",
        "src/a/sub.py",
    )
    assert [p.name for p in (root / "._qik/pygraph").iterdir()] == ["grimp"]


SPACE_TOML = """
[spaces.app]
venv = "app/req.txt"
modules = ["app"]
"""
SPACE_FILES = {
    "app/__init__.py": "import attrs_like\nimport yaml_like\n",
    "app/req.txt": "attrs-like\nPyYAML-like>=6 ; python_version > '3'\n",
}


def test_a_space_venv_provides_what_qiks_own_environment_lacks(make_graph: MakeGraph) -> None:
    """A space's imports map to the distributions of its venv: those installed in it once
    built (any module name), else those its requirements or lock name like the module."""
    found = make_graph(SPACE_FILES, toml=SPACE_TOML).resolve("app")
    assert [u.name for u in found.unmapped] == ["yaml_like"]  # named unlike its dist
    assert found.dists == ("attrs-like",)

    graph = make_graph(SPACE_FILES, toml=SPACE_TOML)
    site = graph.project.root / "._qik/venv/app/lib/python3.12/site-packages"
    make_dist(site, "PyYAML-like", "6.0", ("yaml_like",))
    found = graph.resolve("app")
    assert (found.dists, found.unmapped) == (("PyYAML-like", "attrs-like"), ())


def test_importing_a_package_covers_its_whole_tree(make_graph: MakeGraph) -> None:
    """The blog's promise: "If my.module.b imports my.module.a, changes to files in
    my.module.a will cause both module-level invocations to re-run", even a file of a's
    that a's __init__ doesn't import. A module's own parent package is its __init__ only:
    importing pkg.a.x doesn't cover its siblings."""
    files = {
        "my/__init__.py": "",
        "my/module/__init__.py": "",
        "my/module/a/__init__.py": "",
        "my/module/a/util.py": "",
        "my/module/a/deep/__init__.py": "",
        "my/module/a/deep/leaf.py": "",
        "my/module/b/__init__.py": "from my.module import a\n",
        "my/module/c/__init__.py": "from my.module.a import util\n",
    }
    graph = make_graph(files)
    assert set(graph.resolve("my.module.b").files) >= {
        "my/module/a/util.py",
        "my/module/a/deep/leaf.py",
    }
    only_util = graph.resolve("my.module.c").files
    assert "my/module/a/util.py" in only_util and "my/module/a/__init__.py" in only_util
    assert "my/module/a/deep/leaf.py" not in only_util
