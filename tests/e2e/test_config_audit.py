"""Claims of the configuration contract (CONFIG.md) checked through the real executable."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

Qik = Callable[..., subprocess.CompletedProcess[str]]


def _listed(qik: Qik, root: Path, *args: str) -> dict[str, dict[str, object]]:
    result = qik(root, "--ls", "--json", *args)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_pydist_pin_applies_whatever_the_spelling(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    # pip compares distribution names as PEP 503 does; so does a [pydist] versions pin.
    toml = """
[pydist]
versions = {Not_Installed_Xyz = "1.0"}

[commands.a]
exec = "echo a >> count.txt"
deps = [{type = "pydist", name = "not-installed.xyz"}]
"""
    root = make_repo({"qik.toml": toml, ".gitignore": "._qik/\ncount.txt\n"})
    first = qik(root)
    assert first.returncode == 0, first.stderr
    assert "replayed" in qik(root).stdout
    (root / "qik.toml").write_text(toml.replace('"1.0"', '"2.0"'))
    assert "ran in" in qik(root).stdout
    assert (root / "count.txt").read_text().split() == ["a", "a"]


SPACES = """
modules = ["core"]

[spaces.app]
modules = ["app/api", "app/web"]

[spaces.tools]
dotenv = ["tools.env"]

[commands.lint]
exec = "echo lint {module.name}"

[commands.app-test]
exec = "echo test {module.name}"
space = "app"
deps = [{type = "command", name = "lint"}]

[commands.tool]
exec = "echo tool {module.name}"
space = "tools"

[commands.build]
exec = "echo build {module.name}"
space = "app"

[commands.check]
exec = "echo check {module.name}"
deps = [{type = "command", name = "build"}]
"""


def test_a_parametrized_command_of_a_space_runs_over_its_modules(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    root = make_repo(
        {
            "qik.toml": SPACES,
            "tools.env": "X=1\n",
            "core/a.py": "",
            "app/api/a.py": "",
            "app/web/a.py": "",
        }
    )
    rows = _listed(qik, root)
    assert [name for name in rows if name.startswith("app-test@")] == [
        "app-test@app/api",
        "app-test@app/web",
    ]
    assert {rows[name]["space"] for name in rows if name.startswith("app-test@")} == {"app"}
    # Without `space`, over every module, each in its own space.
    assert [name for name in rows if name.startswith("lint@")] == [
        "lint@core",
        "lint@app/api",
        "lint@app/web",
    ]
    # A space that declares no modules (here, only a dotenv): over every module.
    assert [name for name in rows if name.startswith("tool@")] == [
        "tool@core",
        "tool@app/api",
        "tool@app/web",
    ]
    # Same module: its own runnable upstream; a module the upstream doesn't cover: all of it.
    assert rows["app-test@app/api"]["upstream"] == ["lint@app/api"]
    assert rows["check@app/web"]["upstream"] == ["build@app/web"]
    assert rows["check@core"]["upstream"] == ["build@app/api", "build@app/web"]
    run = qik(root, "check@core")
    assert run.returncode == 0, run.stderr


def test_qik_in_a_module_folder_with_its_own_config_finds_the_project(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    root = make_repo(
        {
            "qik.toml": """
modules = ["a", {name = "bee", path = "b"}]

[commands.root]
exec = "echo root"
""",
            "a/qik.toml": """
[commands.build]
exec = "echo build {module.name} >> count.txt"
deps = ["{module.dir}/**"]
""",
            "b/qik.toml": '[commands]\nt = "echo t"\n',
            # A project of its own below the root, not declared as a module: its own root.
            "tools/qik.toml": '[commands]\nown = "echo own"\n',
            ".gitignore": "._qik/\ncount.txt\n",
        }
    )
    expected = ["root", "a/build", "bee/t"]
    for where in (root, root / "a", root / "b"):
        assert list(_listed(qik, where)) == expected, where
    run = qik(root / "a", "a/build")
    assert run.returncode == 0, run.stderr
    assert (root / "count.txt").read_text() == "build a\n"
    assert list(_listed(qik, root / "tools")) == ["own"]
