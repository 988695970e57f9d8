"""pygraph deps, fences and ``qik :graph`` through the CLI, on real repos and real metadata."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import git
from tests.pygraph.conftest import make_dist

Qik = Callable[..., subprocess.CompletedProcess[str]]

ABCD = {
    "a/__init__.py": "import b\n",
    "b/__init__.py": "from c import value\n\ndef load():\n    import fakedist\n",
    "c/__init__.py": "value = 1\n",
    "d/__init__.py": "import os\n",
}

TOML = """
modules = ["a", "b", "c", "d"]

[commands.single]
exec = "echo single >> LOG"
deps = [{type = "module", name = "a"}]  # qik 0.2's spelling of a pygraph dep

[commands.each]
exec = "echo {module.name} >> LOG"
deps = [{type = "pygraph", pyimport = "{module.pyimport}"}]
"""


def _ran(log: Path) -> list[str]:
    """The runnables that ran since the last call."""
    lines = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(lines)


def _site(tmp_path: Path, version: str) -> dict[str, str]:
    site = tmp_path / "site"
    shutil.rmtree(site, ignore_errors=True)
    make_dist(site, "fakedist", version)
    return {"PYTHONPATH": str(site)}


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_reruns_follow_imports_and_distribution_versions(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    root = make_repo({"qik.toml": TOML.replace("LOG", str(log)), **ABCD})
    env = _site(tmp_path, "1.0")
    _ok(qik(root, env=env))
    assert _ran(log) == ["a", "b", "c", "d", "single"]

    (root / "d/__init__.py").write_text("import os\nimport sys\n")  # a imports nothing of d
    _ok(qik(root, env=env))
    assert _ran(log) == ["d"]

    (root / "c/__init__.py").write_text("value = 2\n")  # a -> b -> c
    _ok(qik(root, env=env))
    assert _ran(log) == ["a", "b", "c", "single"]

    env = _site(tmp_path, "2.0")  # b imports fakedist: a new version
    _ok(qik(root, env=env))
    assert _ran(log) == ["a", "b", "single"]

    _ok(qik(root, env=env))
    assert _ran(log) == []


def test_an_unmapped_import_names_the_ways_out(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    root = make_repo({"qik.toml": TOML.replace("LOG", str(log)), **ABCD})
    result = qik(root, "single")  # fakedist is not installed here
    assert result.returncode == 2
    assert "error[pygraph-unmapped-module]" in result.stderr
    assert "b/__init__.py:4 imports 'fakedist'" in result.stderr
    assert '[pydist] modules = {fakedist = "dist-name"}' in result.stderr
    assert '[pydist] modules = {fakedist = ""}' in result.stderr
    assert "[pydist] ignore-missing-modules = true" in result.stderr
    toml = TOML.replace("LOG", str(log)) + '\n[pydist]\nmodules = {fakedist = ""}\n'
    (root / "qik.toml").write_text(toml)
    _ok(qik(root, "single"))


FENCED = """
[spaces.api]
modules = ["app/api"]
fence = ["app/shared"]

[spaces.web]
modules = ["app/web"]
fence = true
"""


def test_a_fence_violation_is_reported_until_removed(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    files = {
        "qik.toml": FENCED,
        "app/__init__.py": "",
        "app/shared.py": "",
        "app/api/__init__.py": "import json\n\nfrom app import shared\nimport app.web.views\n",
        "app/web/__init__.py": "",
        "app/web/views.py": "",
    }
    root = make_repo(files)
    assert "pygraph.check@api" in _ok(qik(root, "--ls")).stdout.split()
    result = qik(root, "pygraph.check", "-s", "api")
    assert result.returncode == 1
    assert (
        "app/api/__init__.py:4: app.api imports app.web.views: app/web/views.py is outside "
        'the fence of space "api"'
    ) in result.stdout
    (root / "app/api/__init__.py").write_text("from app import shared\n")
    result = _ok(qik(root, "pygraph.check"))
    assert 'no import crosses the fence of space "api"' in result.stdout
    assert "replayed" in _ok(qik(root, "pygraph.check", "-s", "api")).stdout


def _poison_grimp(tmp_path: Path) -> dict[str, str]:
    """An environment where importing grimp fails: any graph build would, too."""
    poison = tmp_path / "poison"
    (poison / "grimp").mkdir(parents=True)
    (poison / "grimp" / "__init__.py").write_text("raise ImportError('grimp is poisoned')\n")
    return {"PYTHONPATH": str(poison)}


def test_the_graph_is_cached_in_the_store_and_the_repo_mirror(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    toml = TOML.replace("LOG", str(log)) + (
        '\n[pydist]\nmodules = {fakedist = ""}\n[plugins.pygraph]\ncache = "repo"\n'
    )
    root = make_repo({"qik.toml": toml, **ABCD, "README.md": ""})
    _ok(qik(root, "single"))
    assert _ran(log) == ["single"]
    no_grimp = _poison_grimp(tmp_path)
    (root / "README.md").write_text("no .py changed\n")
    _ok(qik(root, "single", env=no_grimp))
    shutil.rmtree(root / "._qik")  # a fresh clone: the graph comes from .qik/
    _ok(qik(root, "single", env=no_grimp))
    assert _ran(log) == ["single"]  # ._qik held the command's result too
    (root / "d/__init__.py").write_text("x = 1\n")
    result = qik(root, "single", env=no_grimp)
    assert result.returncode == 2
    assert "error[pygraph-unavailable]" in result.stderr


def test_graph_formats_and_imports(make_repo: Callable[..., Path], qik: Qik) -> None:
    toml = (
        TOML.replace("LOG", os.devnull)
        + '\n[commands.after]\nexec = "true"\ndeps = [{type = "command", name = "single"}]\n'
    )
    root = make_repo({"qik.toml": toml, **ABCD})
    assert "after <- single" in _ok(qik(root, ":graph")).stdout.splitlines()
    assert '"single" -> "after";' in _ok(qik(root, ":graph", "--format", "dot")).stdout
    mermaid = _ok(qik(root, ":graph", "--format", "mermaid")).stdout
    assert mermaid.startswith("graph LR\n") and "-->" in mermaid
    rows = json.loads(_ok(qik(root, ":graph", "after", "--format", "json")).stdout)
    assert [r["name"] for r in rows["runnables"]] == ["single", "after"]
    env = {"PYTHONPATH": str(make_dist(root.parent / "site", "fakedist", "3.1").parent)}
    imports = _ok(qik(root, ":graph", "--imports", "a", "--format", "json", env=env)).stdout
    assert json.loads(imports) == {
        "pyimport": "a",
        "modules": ["a", "b", "c"],
        "files": ["a/__init__.py", "b/__init__.py", "c/__init__.py"],
        "distributions": [{"name": "fakedist", "version": "3.1"}],
        "unmapped": [],
    }
    for odd in (("--format", "dot"), ("--imports", "b"), ("single",)):
        refused = qik(root, ":graph", "--imports", "a", *odd)  # not quietly ignored
        assert refused.returncode == 2 and "--imports" in refused.stderr


def test_since_follows_the_import_graph(make_repo: Callable[..., Path], qik: Qik) -> None:
    toml = TOML.replace("LOG", os.devnull) + '\n[pydist]\nmodules = {fakedist = ""}\n'
    root = make_repo({"qik.toml": toml, **ABCD})
    git(root, "checkout", "-q", "-b", "feature")
    (root / "d/__init__.py").write_text("import sys\n")
    since = ["--since", "main", "--ls", "--isolated"]
    assert _ok(qik(root, *since)).stdout.split() == ["each@d"]
    (root / "c/__init__.py").write_text("value = 3\n")
    assert sorted(_ok(qik(root, *since)).stdout.split()) == [
        "each@a",
        "each@b",
        "each@c",
        "each@d",
        "single",
    ]


def test_a_relative_import_above_the_top_package_is_no_module(
    make_repo: Callable[..., Path], qik: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    # `from .. import other` in pkg/__init__.py is an ImportError in Python: not the
    # unmapped module '' (an error whose hint was `[pydist] modules = { = "dist-name"}`).
    root = make_repo(
        {
            "qik.toml": '[commands.t]\nexec = "echo t"\n'
            'deps = [{type = "pygraph", pyimport = "pkg"}]\n',
            "pkg/__init__.py": "from .. import other\nfrom . import sub\n",
            "pkg/sub.py": "",
        }
    )
    out = qik(root, "t")
    assert out.returncode == 0, out.stderr
    graph = json.loads(qik(root, ":graph", "--imports", "pkg", "--format", "json").stdout)
    assert "''" not in json.dumps(graph) and '"module": ""' not in json.dumps(graph)


def test_a_graph_built_before_cache_repo_was_set_goes_to_the_repo_cache(
    make_repo: Callable[..., Path],
    qik: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    toml = '[commands.t]\nexec = "echo t"\ndeps = [{type = "pygraph", pyimport = "a"}]\n'
    root = make_repo(
        {
            "qik.toml": toml,
            "a/__init__.py": "import b\n",
            "b/__init__.py": "",
            ".gitignore": "._qik/\n",
        }
    )
    assert qik(root, "t").returncode == 0  # the graph is in the local store only
    (root / "qik.toml").write_text(toml + '[plugins.pygraph]\ncache = "repo"\n')
    assert qik(root, "t").returncode == 0
    assert list((root / ".qik" / "manifests").iterdir())
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "graph")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    assert qik(clone, "t").returncode == 0
    assert not (clone / "._qik" / "pygraph").exists()  # loaded, not built
