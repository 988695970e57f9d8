"""The process environment of a runnable: venv first, then dotenv files in order."""

from __future__ import annotations

import os
import sys

import pytest

from qik.graph.expand import expand
from qik.spaces import SpaceError, space_envs
from qik.spaces.environ import SpaceEnvs, is_synced
from qik.spaces.envs import resolve

from .conftest import Load

TOML = """
[spaces.app]
venv = "reqs.txt"
dotenv = ["app.env", "local.env"]
[spaces.plain]
dotenv = ["app.env"]
[spaces.bare]

[commands.a]
exec = "true"
space = "app"
[commands.p]
exec = "true"
space = "plain"
[commands.b]
exec = "true"
space = "bare"
"""
FILES = {
    "reqs.txt": "six\n",
    "app.env": "SHARED=app\nONLY_APP=1\n# a comment\nQUOTED='x y'\n",
    "local.env": "SHARED=local\n",
}
BASE = {"PATH": "/usr/bin", "HOME": "/home/u", "SHARED": "base", "PYTHONHOME": "/py"}


def test_venv_then_dotenv(load: Load) -> None:
    project = load(TOML, FILES)
    env = SpaceEnvs(project, BASE).for_space("app")
    assert env is not None
    venv = project.root / "._qik" / "venv" / "app"
    assert env["VIRTUAL_ENV"] == str(venv)
    assert env["PATH"] == os.pathsep.join((str(venv / "bin"), "/usr/bin"))
    assert (env["SHARED"], env["ONLY_APP"], env["QUOTED"], env["HOME"]) == (
        "local",
        "1",
        "x y",
        "/home/u",
    )
    assert "PYTHONHOME" not in env


def test_dotenv_without_venv(load: Load) -> None:
    env = SpaceEnvs(load(TOML, FILES), BASE).for_space("plain")
    assert env == {**BASE, "SHARED": "app", "ONLY_APP": "1", "QUOTED": "x y"}


def test_nothing_to_change_inherits(load: Load) -> None:
    project = load(TOML, FILES)
    runnables = expand(project)
    envs = space_envs(project)
    assert envs(runnables["b"]) is None
    assert dict(envs(runnables["a"]) or ())["ONLY_APP"] == "1"


def test_uv_runnables_get_uv_and_a_python(load: Load) -> None:
    project = load(TOML, FILES)
    env = dict(SpaceEnvs(project, BASE)(expand(project)["space.sync@app"]) or ())
    uv = env["PATH"].split(os.pathsep)[0]
    assert os.path.exists(os.path.join(uv, "uv"))
    assert env["UV_PYTHON"] == sys.executable
    assert "VIRTUAL_ENV" not in env


def test_missing_dotenv_file(load: Load) -> None:
    project = load(TOML, {k: v for k, v in FILES.items() if k != "local.env"})
    with pytest.raises(SpaceError) as info:
        SpaceEnvs(project, BASE).for_space("app")
    assert info.value.code == "dotenv-not-found"
    assert "local.env" in info.value.message


def test_project_without_spaces(load: Load) -> None:
    project = load("[commands.x]\nexec = 'true'\n")
    assert space_envs(project)(expand(project)["x"]) is None


def test_is_synced(load: Load) -> None:
    project = load(TOML, {**FILES, "reqs.lock": "six==1.16.0\n"})
    env = resolve(project).envs["app"]
    assert not is_synced(project.root, env)
    marker = project.root / env.venv_dir / ".qik-lock"
    marker.parent.mkdir(parents=True)
    marker.write_text("six==1.16.0\n")
    assert is_synced(project.root, env)
    (project.root / "reqs.lock").write_text("six==1.17.0\n")
    assert not is_synced(project.root, env)


def test_uv_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    from qik.spaces.uv import uv_dir

    # Undone before the test ends: the guard fixture checks the environment then.
    with monkeypatch.context() as patch, pytest.raises(SpaceError) as info:
        patch.setitem(sys.modules, "uv", None)  # `import uv` fails, as when not installed
        patch.setenv("PATH", "")
        uv_dir()
    assert info.value.code == "uv-not-found"
    assert "qik[uv]" in (info.value.hint or "")


def test_dotenv_not_installed(load: Load, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dotenv", None)
    with pytest.raises(SpaceError) as info:
        SpaceEnvs(load(TOML, FILES), BASE).for_space("plain")
    assert info.value.code == "dotenv-not-installed"


def test_dotenv_expands_against_the_layered_environment(load: Load) -> None:
    # ${PATH} is the venv's PATH (venv first), ${GREETING} an earlier file's value, not
    # qik's own environment's.
    files = {
        "reqs.txt": "six\n",
        "one.env": "GREETING=hello\n",
        "two.env": 'SECOND="${GREETING}-2"\nPATH="/opt/extra:${PATH}"\nSELF=a\nSELF="${SELF}b"\n',
    }
    toml = '[spaces.app]\nvenv = "reqs.txt"\ndotenv = ["one.env", "two.env"]\n'
    project = load(toml, files)
    env = SpaceEnvs(project, {"PATH": "/usr/bin", "GREETING": "base"}).for_space("app")
    assert env is not None
    venv_bin = str(project.root / "._qik" / "venv" / "app" / "bin")
    assert env["SECOND"] == "hello-2"
    assert env["PATH"] == os.pathsep.join(("/opt/extra:" + venv_bin, "/usr/bin"))
    assert env["SELF"] == "ab"
