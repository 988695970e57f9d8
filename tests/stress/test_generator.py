"""The synthetic monorepo of the benchmark: valid qik config, acyclic imports, turbo files."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

# stress/ is not an installed package; pytest's rootdir is not on sys.path in every mode.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from stress.bench.generate import COMMANDS, Layout, generate, import_dag

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10 only
    import tomli as tomllib

PACKAGES, FILES = 3, 2


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Layout]:
    root = tmp_path_factory.mktemp("mono")
    return root, generate(root, PACKAGES, FILES, seed=7)


def _imports(root: Path) -> dict[str, set[str]]:
    """Package -> the packages its files import, read back from the generated sources."""
    graph: dict[str, set[str]] = {}
    for path in (root / "src").rglob("*.py"):
        package = path.relative_to(root / "src").parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = {node.module.split(".")[0]}
            else:
                continue
            graph.setdefault(package, set()).update(names - {package})
    return graph


def test_files_are_committed(repo: tuple[Path, Layout]) -> None:
    root, layout = repo
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    py = [p for p in tracked if p.endswith(".py")]
    assert len(py) == PACKAGES * FILES
    assert layout.packages == ("pkg_000", "pkg_001", "pkg_002")
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=30
    )
    assert status.stdout == ""


def test_qik_toml_parses_with_modules_and_commands(repo: tuple[Path, Layout]) -> None:
    root, layout = repo
    conf = tomllib.loads((root / "qik.toml").read_text())
    modules = conf["spaces"]["default"]["modules"]
    assert [m["name"] for m in modules] == list(layout.packages)
    for module in modules:
        assert (root / module["path"]).is_dir()  # {module.dir} points at a real folder
    assert conf["defaults"]["python-path"] == "src"
    assert set(conf["commands"]) == set(COMMANDS)
    for cmd in conf["commands"].values():
        assert "{module.dir}" in cmd["exec"]
        assert cmd["deps"] == ["{module.dir}/**.py"]


def test_import_dag_is_acyclic_and_points_down(repo: tuple[Path, Layout]) -> None:
    root, layout = repo
    graph = {pkg: deps for pkg, deps in _imports(root).items() if deps}
    assert graph == {pkg: set(deps) for pkg, deps in layout.imports.items() if deps}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"import cycle: {exc.args[1]}")
    for pkg, deps in graph.items():
        assert all(dep < pkg for dep in deps)


def test_import_dag_is_deterministic() -> None:
    assert import_dag(50, seed=3) == import_dag(50, seed=3)
    assert import_dag(50, seed=3) != import_dag(50, seed=4)


def test_turbo_files_are_valid_json_with_the_tasks(repo: tuple[Path, Layout]) -> None:
    root, layout = repo
    turbo = json.loads((root / "turbo.json").read_text())
    assert set(turbo["tasks"]) == set(COMMANDS)
    assert all(task["inputs"] == ["**/*.py"] for task in turbo["tasks"].values())
    package = json.loads((root / "package.json").read_text())
    assert package["workspaces"] == ["src/*"]
    assert package["packageManager"].startswith("npm@")
    lock = json.loads((root / "package-lock.json").read_text())
    assert lock["lockfileVersion"] == 3
    for pkg in layout.packages:
        scripts = json.loads((root / "src" / pkg / "package.json").read_text())["scripts"]
        assert scripts == {cmd: f"echo {cmd} src/{pkg}" for cmd in COMMANDS}
        assert lock["packages"][f"src/{pkg}"]["name"] == pkg
