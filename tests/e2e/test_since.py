"""``--since``: on a real history, select exactly what changed since the merge base."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import git

Qik = Callable[..., subprocess.CompletedProcess[str]]

TOML = """
modules = ["a", "b", "c"]

[commands.lint]
exec = "echo lint {module.dir}"
deps = ["{module.dir}/**.py"]

[commands.report]
exec = "echo report"
deps = ["docs/**.md", {type = "command", name = "lint", strict = true}]

[commands.loose]
exec = "echo loose"
deps = ["docs/**.md", {type = "command", name = "lint"}]
"""


def _since(qik: Qik, root: Path, ref: str = "main", *args: str) -> list[str]:
    result = qik(root, "--since", ref, "--ls", "--isolated", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def _repo(make_repo: Callable[..., Path]) -> Path:
    files = {"qik.toml": TOML, "a/x.py": "", "b/y.py": "", "c/z.py": "", "docs/i.md": ""}
    root = make_repo(files)
    git(root, "checkout", "-q", "-b", "feature")
    return root


def test_nothing_changed(make_repo: Callable[..., Path], qik: Qik) -> None:
    assert _since(qik, _repo(make_repo)) == []


def test_committed_uncommitted_and_untracked_edits(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    root = _repo(make_repo)
    (root / "a/x.py").write_text("x = 1\n")
    git(root, "commit", "-qam", "edit a")
    assert _since(qik, root) == ["lint@a", "report"]  # report: strict dep on lint
    (root / "b/y.py").write_text("y = 1\n")  # uncommitted
    assert _since(qik, root) == ["lint@a", "lint@b", "report"]
    (root / "c/new.py").write_text("")  # untracked
    assert _since(qik, root) == ["lint@a", "lint@b", "lint@c", "report"]


def test_changes_on_main_after_branching_dont_count(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    root = _repo(make_repo)
    git(root, "checkout", "-q", "main")
    (root / "b/y.py").write_text("on main\n")
    git(root, "commit", "-qam", "main moves on")
    git(root, "checkout", "-q", "feature")
    assert _since(qik, root) == []


def test_config_edits(make_repo: Callable[..., Path], qik: Qik) -> None:
    root = _repo(make_repo)
    (root / "qik.toml").write_text(TOML.replace('echo report"', 'echo report2"'))
    assert _since(qik, root) == ["report"]
    (root / "qik.toml").write_text(TOML + '\n[commands.new]\nexec = "x"\ndeps = ["a/**"]\n')
    assert _since(qik, root) == ["new"]


def test_pydist_pin_edits(make_repo: Callable[..., Path], qik: Qik) -> None:
    """A ``[pydist] versions`` pin is compared as configured at the base (it was taken
    from today's config at both revisions: never a change)."""
    toml = '[pydist]\nversions = {foo = "1.0"}\n[commands.pin]\nexec = "echo pin"\n'
    toml += 'deps = [{type = "pydist", name = "foo"}]\n[commands.other]\nexec = "echo o"\n'
    toml += 'deps = ["f.txt"]\n'
    root = make_repo({"qik.toml": toml, "f.txt": ""})
    git(root, "checkout", "-q", "-b", "feature")
    (root / "qik.toml").write_text(toml.replace('"1.0"', '"2.0"'))
    assert _since(qik, root) == ["pin"]  # uncommitted
    git(root, "commit", "-qam", "bump foo")
    assert _since(qik, root) == ["pin"]


def test_upstream_join_without_isolated(make_repo: Callable[..., Path], qik: Qik) -> None:
    root = _repo(make_repo)
    (root / "docs/i.md").write_text("docs\n")
    result = qik(root, "--since", "main", "--ls")
    assert result.stdout.split() == ["lint@a", "lint@b", "lint@c", "report", "loose"]


def test_unknown_ref_in_a_shallow_clone(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    root = _repo(make_repo)
    for i in range(3):
        (root / "a/x.py").write_text(f"x = {i}\n")
        git(root, "commit", "-qam", f"edit {i}")
    clone = tmp_path / "clone"
    subprocess.run(
        [
            "git",
            "clone",
            "-q",
            "--depth",
            "1",
            "--branch",
            "feature",
            f"file://{root}",
            str(clone),
        ],
        check=True,
    )
    result = qik(clone, "--since", "HEAD~2", "--ls")
    assert result.returncode == 2
    assert "error[since-unknown-ref]" in result.stderr
    assert "shallow" in result.stderr
    assert "Traceback" not in result.stderr


def test_outside_a_git_repository(tmp_path: Path, qik: Qik) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    (root / "qik.toml").write_text('[commands.a]\nexec = "echo a"\ndeps = ["qik.toml"]\n')
    result = qik(root, "--since", "main")
    assert result.returncode == 2
    assert "error[since-no-repo]" in result.stderr
    assert "Traceback" not in result.stderr


GRAPH_TOML = """
[commands.ta]
exec = "echo ta"
deps = [{type = "pygraph", pyimport = "a"}]
[commands.tc]
exec = "echo tc"
deps = [{type = "pygraph", pyimport = "c"}]
[commands.tz]
exec = "echo tz"
deps = [{type = "pygraph", pyimport = "z"}]
"""


def test_a_module_deleted_from_the_import_graph(make_repo: Callable[..., Path], qik: Qik) -> None:
    # A deleted module is in no import graph now; it was in the graph at the base.
    root = make_repo(
        {
            "qik.toml": GRAPH_TOML,
            "a/__init__.py": "import c.m\n",
            "c/__init__.py": "",
            "c/m.py": "",
            "c/sub/__init__.py": "",
            "c/sub/k.py": "",
            "z/__init__.py": "",
        }
    )
    (root / "c" / "m.py").unlink()
    assert qik(root, "--since", "HEAD", "--ls").stdout.split() == ["ta", "tc"]
    git(root, "checkout", "-q", "c/m.py")
    (root / "c" / "sub" / "k.py").unlink()  # below a package tc covers
    assert "tc" in qik(root, "--since", "HEAD", "--ls").stdout.split()
    git(root, "rm", "-q", "c/sub/k.py")
    git(root, "commit", "-q", "-m", "gone")
    assert "tz" not in qik(root, "--since", "HEAD~1", "--ls").stdout.split()
    assert "tc" in qik(root, "--since", "HEAD~1", "--ls").stdout.split()
