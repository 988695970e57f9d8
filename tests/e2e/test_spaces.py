"""Spaces through the CLI: venvs built with uv from PyPI, dotenv files, roots, qikx.

The venv tests install ``six`` (pure Python, tiny) at two versions; uv's downloads are kept
in one cache for the session, so each version is fetched once however many tests build it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, git

Qik = Callable[..., subprocess.CompletedProcess[str]]
QIKX = str(BIN / "qikx")

TWO_SPACES = """
[spaces.default]
venv = "requirements.txt"

[spaces.other]
venv = "requirements-other.txt"
root = "other"
dotenv = ["other.env"]
modules = ["other/pkg"]

[commands.show]
exec = "python -c 'import six; print(\\"six\\", six.__version__)'"
deps = ["requirements.txt"]

[commands.show-other]
exec = "python -c 'import os, six; print(\\"six\\", six.__version__, os.environ[\\"GREETING\\"])'"
deps = ["other/**"]
space = "other"
"""
FILES = {
    "qik.toml": TWO_SPACES,
    "requirements.txt": "six==1.16.0\n",
    "requirements-other.txt": "six==1.17.0\n",
    "other.env": "GREETING=hello-from-dotenv\n",
    "other/pkg/__init__.py": "",
}


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uv-cache")


@pytest.fixture
def uv_env(uv_cache: Path) -> dict[str, str]:
    return {"UV_CACHE_DIR": str(uv_cache), "UV_NO_PROGRESS": "1"}


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Iterator[Path]:
    yield make_repo(FILES)


def _ran(out: str) -> set[str]:
    """Names of the runnables a run executed (not replayed)."""
    return {line.split()[2] for line in out.splitlines() if line.startswith("── ✓")}


def _qikx(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QIKX, *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_each_space_sees_its_own_venv(repo: Path, qik: Qik, uv_env: dict[str, str]) -> None:
    first = qik(repo, env=uv_env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "six 1.16.0\n" in first.stdout
    assert "six 1.17.0 hello-from-dotenv\n" in first.stdout
    assert (repo / "._qik/venv/default/bin/python").exists()
    assert (repo / "requirements-other.lock").read_text().count("six==1.17.0") == 1

    second = qik(repo, env=uv_env)
    assert second.returncode == 0, second.stderr
    assert _ran(second.stdout) == set()  # nothing locked, synced or run again
    assert "0 ran, 6 replayed" in second.stdout

    (repo / "requirements-other.txt").write_text("six==1.16.0\n")
    third = qik(repo, env=uv_env)
    assert third.returncode == 0, third.stderr
    assert _ran(third.stdout) == {"space.lock@other", "space.sync@other", "show-other"}
    assert "six 1.16.0 hello-from-dotenv\n" in third.stdout


def test_qikx_runs_tools_in_a_space(repo: Path, uv_env: dict[str, str]) -> None:
    code = "import six; print(six.__version__)"
    other = _qikx(repo, "python@other", "-c", code, env=uv_env)  # builds the venv first
    assert (other.returncode, other.stdout) == (0, "1.17.0\n"), other.stderr
    assert "space.sync@other" in other.stderr  # the install talks on stderr only
    here = _qikx(repo / "other" / "pkg", "python", "-c", code, env=uv_env)  # root's space
    assert (here.returncode, here.stdout, here.stderr) == (0, "1.17.0\n", "")
    default = _qikx(repo / "other", "python@default", "-c", code, env=uv_env)
    assert (default.returncode, default.stdout) == (0, "1.16.0\n"), default.stderr
    dotenv = _qikx(repo, "printenv@other", "GREETING", env=uv_env)
    assert dotenv.stdout == "hello-from-dotenv\n"


def test_qikx_install_and_errors(repo: Path, uv_env: dict[str, str]) -> None:
    install = _qikx(repo, "--install", env=uv_env)
    assert install.returncode == 0, install.stderr
    assert _ran(install.stdout) == {
        "space.lock@default",
        "space.lock@other",
        "space.sync@default",
        "space.sync@other",
    }
    unknown = _qikx(repo, "python@nope", env=uv_env)
    assert unknown.returncode == 2 and "error[unknown-space]" in unknown.stderr
    missing = _qikx(repo, "no-such-tool@other", env=uv_env)
    assert missing.returncode == 2 and "error[tool-not-found]" in missing.stderr


def test_a_deleted_venv_is_rebuilt_from_the_lock(
    repo: Path, qik: Qik, uv_env: dict[str, str]
) -> None:
    assert qik(repo, "show-other", env=uv_env).returncode == 0
    lock = (repo / "requirements-other.lock").read_text()
    subprocess.run(["rm", "-rf", str(repo / "._qik/venv/other")], check=True)
    again = qik(repo, "show-other", env=uv_env)
    assert again.returncode == 0, again.stderr
    assert _ran(again.stdout) == {"space.sync@other"}  # the lock and the command replay
    assert (repo / "requirements-other.lock").read_text() == lock


def test_root_selects_its_space_without_building(
    repo: Path, qik: Qik, uv_env: dict[str, str]
) -> None:
    listed = qik(repo / "other", "--ls", env=uv_env)
    assert (listed.returncode, listed.stdout) == (0, "show-other\n"), listed.stderr
    everything = qik(repo, "--ls", env=uv_env)
    assert everything.stdout == "show\nshow-other\n"
    named = qik(repo, "space.lock", "--ls", env=uv_env)
    assert named.stdout == "space.lock@default\nspace.lock@other\n"
    old_name = qik(repo, "uv.lock", "--ls", env=uv_env)  # qik 0.2's name
    assert old_name.stdout == named.stdout, old_name.stderr
    chosen = qik(repo / "other", "-s", "default", "--ls", env=uv_env)
    assert chosen.stdout == "show\n"
    assert not (repo / "._qik" / "venv").exists()  # listing needs no environment


def test_since_selects_a_space_whose_lock_changed(
    repo: Path, qik: Qik, uv_env: dict[str, str]
) -> None:
    assert qik(repo, env=uv_env).returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "locked")
    (repo / "requirements-other.lock").write_text("six==1.16.0\n")
    since = qik(repo, "--since", "HEAD", "--ls", env=uv_env)
    assert (since.returncode, since.stdout) == (0, "show-other\n"), since.stderr


@pytest.mark.parametrize(
    "toml, code",
    [
        ('[spaces.a]\nroot = "app"\n[spaces.b]\nroot = "app/sub"\n', "nested-roots"),
        (
            '[spaces.a]\nvenv = {type = "space", name = "b"}\n'
            '[spaces.b]\nvenv = {type = "space", name = "a"}\n',
            "venv-cycle",
        ),
    ],
)
def test_space_errors(make_repo: Callable[..., Path], qik: Qik, toml: str, code: str) -> None:
    repo = make_repo({"qik.toml": toml + '[commands.x]\nexec = "true"\n'})
    result = qik(repo, "--ls")
    assert result.returncode == 2
    assert f"error[{code}]" in result.stderr
    assert "Traceback" not in result.stderr


def test_dotenv_without_venv(make_repo: Callable[..., Path], qik: Qik) -> None:
    toml = """
        [spaces.default]
        dotenv = ["base.env", "local.env"]
        [commands.greet]
        exec = "echo $GREETING $NAME"
        deps = ["x"]
        """
    dotenv = {"base.env": "GREETING=hi\nNAME=base\n", "local.env": "NAME=l\n"}
    repo = make_repo({"qik.toml": toml, "x": "", **dotenv})
    first = qik(repo, "greet")
    assert (first.returncode, first.stdout.splitlines()[0]) == (0, "hi l"), first.stderr
    (repo / "local.env").write_text("NAME=changed\n")  # a dotenv file is a dep
    assert "hi changed" in qik(repo, "greet").stdout
    (repo / "local.env").unlink()
    missing = qik(repo, "greet")
    assert missing.returncode == 2 and "error[dotenv-not-found]" in missing.stderr


def test_a_lock_that_fails_skips_only_its_space(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    toml = """
        [spaces.app]
        venv = "reqs.txt"
        [commands.in-app]
        exec = "echo in-app"
        space = "app"
        [commands.plain]
        exec = "echo plain"
        """
    repo = make_repo({"qik.toml": toml, "reqs.txt": "six\n"})
    # The index can't be reached (offline, nothing cached): uv fails to resolve.
    offline = {"UV_OFFLINE": "1", "UV_CACHE_DIR": str(tmp_path / "empty-uv-cache")}
    result = qik(repo, env=offline)
    assert result.returncode == 1
    assert "✗ space.lock@app" in result.stdout
    assert "- space.sync@app skipped" in result.stdout
    assert "- in-app skipped" in result.stdout
    assert "✓ plain ran" in result.stdout
    assert not (repo / "reqs.lock").exists()
