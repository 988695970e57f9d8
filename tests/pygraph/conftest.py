"""Fixtures: real git repos with Python packages, their import graph, fake distributions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import pytest

from qik.config.load import load_project
from qik.fingerprint.files import FileIndex
from qik.pygraph.resolve import Pygraph


def make_dist(site: Path, name: str, version: str, modules: tuple[str, ...] = ()) -> Path:
    """An installed distribution as pip leaves it: a package and its ``.dist-info``."""
    meta = site / f"{name.replace('-', '_')}-{version}.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    records = []
    for module in modules or (name.replace("-", "_"),):
        (site / module).mkdir(exist_ok=True)
        (site / module / "__init__.py").write_text("")
        records.append(f"{module}/__init__.py,,")
    records.append(f"{meta.name}/METADATA,,")
    (meta / "RECORD").write_text("\n".join(records) + "\n")
    return meta


class MakeGraph(Protocol):
    def __call__(
        self, files: Mapping[str, str], *, toml: str = "", site: Path | None = None
    ) -> Pygraph: ...


@pytest.fixture
def make_graph(make_repo: Callable[..., Path], tmp_path: Path) -> MakeGraph:
    """The import graph of a repo made of ``files`` (qik.toml from ``toml``); distributions
    are looked up in ``site`` only, never in the test's own environment."""

    def make(files: Mapping[str, str], *, toml: str = "", site: Path | None = None) -> Pygraph:
        root = make_repo({"qik.toml": toml, **files}, name=f"repo{len(list(tmp_path.iterdir()))}")
        return open_graph(root, site or tmp_path / "empty-site")

    return make


def open_graph(root: Path, site: Path) -> Pygraph:
    project = load_project(root)
    return Pygraph(project, FileIndex.from_worktree(root), dist_paths=[str(site)])
