"""qik 0.2 configs that must keep working, found by a side-by-side audit against 0.2.10."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Qik = Callable[..., subprocess.CompletedProcess[str]]

CACHE_FROM_CTX = """
ctx = [{name = "bundle_cache", default = "local"}, {name = "when", required = false}]

[commands.build]
exec = "echo built >> runs.log; exit 3"
deps = ["a.txt"]
cache = "{ctx.bundle_cache}"
cache-when = "{ctx.when}"

[commands.other]
exec = "echo other"
"""


def test_cache_and_cache_when_from_context(make_repo: Callable[..., Path], qik: Qik) -> None:
    # 0.2's README: ctx = [{name = "bundle_cache", default = "local"}] ...
    # cache = "{ctx.bundle_cache}", then BUNDLE_CACHE=remote qik build-bundle.
    root = make_repo({"qik.toml": CACHE_FROM_CTX, "a.txt": "a"})
    listed = qik(root, "build", "--ls", "--json", env={"BUNDLE_CACHE": "repo"})
    assert '"cache": "repo"' in listed.stdout, listed.stderr
    # cache-when from a variable: finished caches the failure, in the repo cache.
    env = {"BUNDLE_CACHE": "repo", "WHEN": "finished"}
    assert qik(root, "build", env=env).returncode == 1
    assert any((root / ".qik" / "manifests").iterdir())
    assert qik(root, "build", env=env).returncode == 1
    assert (root / "runs.log").read_text().count("built") == 1  # replayed
    # Unset, the optional variable leaves [defaults]: success, so the failure isn't cached.
    assert qik(root, "build").returncode == 1
    assert qik(root, "build").returncode == 1
    assert (root / "runs.log").read_text().count("built") == 3


def test_a_template_rendering_to_no_cache_is_a_config_error(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    root = make_repo({"qik.toml": CACHE_FROM_CTX, "a.txt": "a"})
    out = qik(root, "build", env={"BUNDLE_CACHE": "nowhere"})
    assert out.returncode == 2
    assert "error[unknown-cache]" in out.stderr and "'nowhere'" in out.stderr
    assert "Traceback" not in out.stderr
    out = qik(root, "build", env={"WHEN": "sometimes"})
    assert out.returncode == 2 and "error[invalid-value]" in out.stderr


def test_doubled_braces_of_a_0_2_config(make_repo: Callable[..., Path], qik: Qik) -> None:
    # 0.2 formatted every string with str.format: literal braces were doubled.
    toml = (
        'modules = ["m"]\n'
        "[commands.old]\n"
        'exec = "echo {{lit}} ${{HOME}} {{{module.name}}}"\n'
        "[commands.new]\n"
        "exec = \"echo ${HOME} {module.name} | awk '{print $1}' && echo '{{x}}'\"\n"
    )
    root = make_repo({"qik.toml": toml, "m/__init__.py": ""})
    out = qik(root, "old", "new", "-n", "1", env={"HOME": "/home/q"})
    assert out.returncode == 0, out.stderr
    assert "{lit} /home/q {m}" in out.stdout.splitlines()
    assert "/home/q" in out.stdout.splitlines()
    assert "{{x}}" in out.stdout.splitlines()  # a single brace: the string is taken as written


def test_context_values_render_as_in_0_2(make_repo: Callable[..., Path], qik: Qik) -> None:
    toml = (
        'ctx = [{name = "flag", type = "bool", default = false},'
        ' {name = "opt", required = false}]\n'
        '[commands.show]\nexec = "echo flag={ctx.flag} opt={ctx.opt}"\n'
    )
    root = make_repo({"qik.toml": toml})
    out = qik(root, "show")
    assert "flag=False opt=None" in out.stdout.splitlines(), out.stderr


def test_an_unknown_qik_variable_warns_and_runs(make_repo: Callable[..., Path], qik: Qik) -> None:
    # 0.2 ignored QIK__ variables it didn't know; its context docs show QIK__ARCH.
    root = make_repo({"qik.toml": '[commands.hi]\nexec = "echo hi"\n'})
    out = qik(root, "hi", env={"QIK__ARCH": "custom", "QIK__WORKERS": "1"})
    assert out.returncode == 0, out.stderr
    assert "hi" in out.stdout.splitlines()
    assert "QIK__ARCH names no qik option; ignored" in out.stderr


def test_workers_out_of_range_is_a_usage_error(make_repo: Callable[..., Path], qik: Qik) -> None:
    root = make_repo({"qik.toml": '[commands.hi]\nexec = "echo hi"\n'})
    out = qik(root, "hi", "-n", "99999999999999999999")
    assert out.returncode == 2 and "error[invalid-option]" in out.stderr
    assert "Traceback" not in out.stderr


def test_qikx_without_a_tool_is_a_usage_error(make_repo: Callable[..., Path]) -> None:
    from tests.conftest import BIN

    root = make_repo({"qik.toml": '[commands.hi]\nexec = "echo hi"\n'})
    out = subprocess.run([str(BIN / "qikx")], cwd=root, capture_output=True, text=True)
    assert out.returncode == 2 and "error[usage]" in out.stderr
    # An option qikx doesn't have is a usage error too, not a missing tool; "--" ends
    # qikx's options (an audit found both reported as tool-not-found).
    qikx = [str(BIN / "qikx")]
    bogus = subprocess.run([*qikx, "--bogus"], cwd=root, capture_output=True, text=True)
    assert bogus.returncode == 2 and "error[usage]" in bogus.stderr, bogus.stderr
    ended = subprocess.run([*qikx, "--", "echo", "hi"], cwd=root, capture_output=True, text=True)
    assert ended.returncode == 0 and ended.stdout == "hi\n", ended.stderr


def test_a_project_git_ignores_is_warned_about(tmp_path: Path, qik: Qik) -> None:
    # A project in a folder its enclosing repository ignores: every dep matches nothing.
    from tests.conftest import git

    outer = tmp_path / "outer"
    (outer / "proj").mkdir(parents=True)
    git(outer, "init", "-q")
    (outer / ".gitignore").write_text("proj/\n")
    (outer / "proj" / "qik.toml").write_text('[commands.a]\nexec = "echo a"\ndeps = ["a.txt"]\n')
    (outer / "proj" / "a.txt").write_text("1\n")
    out = qik(outer / "proj", "a")
    assert out.returncode == 0
    assert "git ignores qik.toml" in out.stderr


@pytest.mark.parametrize(
    "toml",
    [
        '[spaces.app]\nvenv = "req\\u0000.txt"\n',
        '[spaces.app]\ndotenv = ["a\\u0000.env"]\n',
        '[spaces]\ncache = "\\u0000"\n',
        '[spaces.app.venv]\ntype = "uv"\nreqs = ["../outside.txt"]\n',
        '[spaces.app]\nvenv = "/etc/hostname"\n',
    ],
)
def test_a_venv_path_outside_the_project_or_with_a_nul_is_invalid(
    make_repo: Callable[..., Path], qik: Qik, toml: str
) -> None:
    # The lock is written beside the requirements: /etc/hostname.lock, ../outside.lock.
    root = make_repo({"qik.toml": toml + '[commands.x]\nexec = "echo x"\nspace = "app"\n'})
    out = qik(root, "x")
    assert out.returncode == 2 and "error[invalid-value]" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_a_dot_slash_pattern_is_the_roots_own(make_repo: Callable[..., Path], qik: Qik) -> None:
    # docs/commands.md: "`/*.py` (or `./*.py`) those at the root only".
    toml = '[commands.r]\nexec = "echo r"\ndeps = ["./*.py"]\n'
    root = make_repo({"qik.toml": toml, "top.py": "", "sub/deep.py": ""})
    assert qik(root, "r").returncode == 0
    (root / "sub" / "deep.py").write_text("1\n")
    assert qik(root, "--cache-status", "cold", "--ls").stdout.split() == []
    (root / "top.py").write_text("1\n")
    assert qik(root, "--cache-status", "cold", "--ls").stdout.split() == ["r"]
