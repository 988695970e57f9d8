"""Layout (what grimp scans) and the graph key, from the file index's paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from qik.config.load import load_project
from qik.config.schema import Project, PygraphConf
from qik.fingerprint.files import FileIndex
from qik.pygraph.layout import graph_key, initial_roots, layout, python_prefix
from tests.conftest import write_files

PATHS = sorted(
    [
        "README.md",
        "setup.py",
        "a/__init__.py",
        "a/b.py",
        "ns/pkg/__init__.py",
        "my-scripts/run.py",
        "src/lib/__init__.py",
        "src/tool.py",
        "data/x.txt",
    ]
)


@pytest.mark.parametrize(
    ("python_path", "prefix", "packages", "namespaces", "top"),
    [
        (".", "", ("a",), ("ns", "src"), (("setup", "setup.py"),)),
        ("src", "src/", ("lib",), (), (("tool", "src/tool.py"),)),
        ("./src/", "src/", ("lib",), (), (("tool", "src/tool.py"),)),
        ("nowhere", "nowhere/", (), (), ()),
    ],
)
def test_layout(
    python_path: str,
    prefix: str,
    packages: tuple[str, ...],
    namespaces: tuple[str, ...],
    top: tuple[tuple[str, str], ...],
) -> None:
    lay = layout(PATHS, python_path)
    assert (lay.prefix, lay.packages, lay.namespaces, lay.top_modules) == (
        prefix,
        packages,
        namespaces,
        top,
    )
    assert all(s.startswith(prefix) and s.endswith(".py") for s in lay.sources)


def test_namespaces_are_scanned_when_named(tmp_path: Path) -> None:
    toml = """
        modules = [{name = "api", path = "ns/pkg"}]
        [commands.x]
        exec = "true"
        deps = [
            {type = "pygraph", pyimport = "src.lib"},
            {type = "pygraph", pyimport = "{module.pyimport}"},
        ]
        """
    write_files(tmp_path, {"qik.toml": toml})
    project = load_project(tmp_path)
    lay = layout(PATHS, ".")
    assert initial_roots(project, lay) == ("a", "ns", "src")
    with_docs = layout(sorted([*PATHS, "docs/conf.py"]), ".")
    assert initial_roots(project, with_docs) == ("a", "ns", "src")
    assert initial_roots(project, with_docs, ["docs", "zzz"]) == ("a", "docs", "ns", "src")


@pytest.mark.parametrize(("python_path", "prefix"), [(".", ""), ("", ""), ("./a/b/", "a/b/")])
def test_python_prefix(python_path: str, prefix: str) -> None:
    assert python_prefix(python_path) == prefix


def test_file_of() -> None:
    lay = layout(PATHS, ".")
    known = frozenset(lay.sources)
    assert lay.file_of("a", known) == "a/__init__.py"
    assert lay.file_of("a.b", known) == "a/b.py"
    assert lay.file_of("ns", known) is None


def _key(blobs: dict[str, str], *, type_checking: bool = False, pydists: bool = False) -> str:
    conf = PygraphConf(ignore_type_checking=type_checking, ignore_pydists=pydists)
    project = Project(root=Path("/r"), config_path=Path("/r/qik.toml"), pygraph=conf)
    index = FileIndex.of(blobs)
    return graph_key(project, layout(index.paths, "."), index)


def test_the_key_follows_python_sources_and_settings_only() -> None:
    base = {"a/__init__.py": "1" * 40, "README.md": "2" * 40}
    key = _key(base)
    assert _key({**base, "README.md": "3" * 40}) == key
    assert _key({**base, "a/__init__.py": "4" * 40}) != key
    assert _key({**base, "a/c.py": "5" * 40}) != key
    assert _key(base, type_checking=True) != key
    assert _key(base, pydists=True) != key
