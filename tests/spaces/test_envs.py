"""Which environment each space runs in: inheritance, defaults, sharing, and their errors."""

from __future__ import annotations

import pytest

from qik.spaces import SpaceError, uses_spaces
from qik.spaces.envs import Environment, default_lock, resolve

from .conftest import Load


def _envs(load: Load, toml: str) -> dict[str, Environment]:
    return dict(resolve(load(toml)).envs)


def test_no_venv_is_the_active_environment(load: Load) -> None:
    project = load("[spaces.app]\nmodules = ['a']\n")
    assert not uses_spaces(project)
    envs = resolve(project).envs
    assert envs["default"] == Environment(name="default")
    assert not envs["app"].is_venv
    assert resolve(project).venvs() == []


@pytest.mark.parametrize(
    "toml, expected",
    [
        # A bare requirements file is a uv venv; its lock sits beside it.
        (
            '[spaces]\napp = "requirements-app.txt"\n',
            {"app": ("app", "uv", "requirements-app.lock")},
        ),
        (
            '[spaces.app]\nvenv = {type = "uv", reqs = ["r/app.in"], lock = "locks/app.txt"}\n',
            {"app": ("app", "uv", "locks/app.txt")},
        ),
        # Inheritance: "b runs in whatever a runs in".
        (
            '[spaces.a]\nvenv = "a.txt"\n[spaces.b]\nvenv = {type = "space", name = "a"}\n',
            {"a": ("a", "uv", "a.lock"), "b": ("a", "uv", "a.lock")},
        ),
        # [defaults] venv: every space without its own shares one environment.
        (
            '[defaults]\nvenv = "r.txt"\n[spaces.a]\n[spaces.b]\nvenv = "b.txt"\n',
            {
                "default": ("default", "uv", "r.lock"),
                "a": ("default", "uv", "r.lock"),
                "b": ("b", "uv", "b.lock"),
            },
        ),
        # Identical settings declared twice: one lock, one venv, named after the first.
        (
            '[spaces.x]\nvenv = "r.txt"\n[spaces.y]\nvenv = "r.txt"\n',
            {"x": ("x", "uv", "r.lock"), "y": ("x", "uv", "r.lock")},
        ),
        # Explicitly active, with files that stand for what is installed.
        (
            '[spaces.app]\nvenv = {type = "active", reqs = ["r.txt"], lock = "r.lock"}\n',
            {"app": ("app", "active", "r.lock")},
        ),
    ],
)
def test_resolution(load: Load, toml: str, expected: dict[str, tuple[str, str, str]]) -> None:
    envs = _envs(load, toml)
    got = {space: (envs[space].name, envs[space].kind, envs[space].lock) for space in expected}
    assert got == expected


def test_inheriting_from_a_space_without_venv_is_active(load: Load) -> None:
    envs = _envs(load, '[spaces.a]\n[spaces.b]\nvenv = {type = "space", name = "a"}\n')
    assert not envs["b"].is_venv


def test_venv_settings_are_carried(load: Load) -> None:
    toml = """
        [spaces.app.venv]
        type = "uv"
        reqs = ["a.in", "b.in"]
        constraint = "c.txt"
        python = "3.12"
        cache = "local"
        """
    env = _envs(load, toml)["app"]
    assert (env.reqs, env.constraint, env.python, env.cache) == (
        ("a.in", "b.in"),
        "c.txt",
        "3.12",
        "local",
    )


@pytest.mark.parametrize(
    "toml, trail",
    [
        ('[spaces.a]\nvenv = {type = "space", name = "a"}\n', "spaces.a.venv -> spaces.a.venv"),
        (
            '[spaces.a]\nvenv = {type = "space", name = "b"}\n'
            '[spaces.b]\nvenv = {type = "space", name = "a"}\n',
            "spaces.a.venv -> spaces.b.venv -> spaces.a.venv",
        ),
        # Through [defaults]: b has no venv of its own, so it takes the default, which is b's.
        (
            '[defaults]\nvenv = {type = "space", name = "b"}\n[spaces.b]\n',
            "defaults.venv -> defaults.venv",
        ),
    ],
)
def test_inheritance_cycles(load: Load, toml: str, trail: str) -> None:
    with pytest.raises(SpaceError) as info:
        resolve(load(toml))
    assert info.value.code == "venv-cycle"
    assert trail in info.value.message
    assert info.value.hint


@pytest.mark.parametrize(
    "toml, message",
    [
        (
            '[spaces.a]\nvenv = {type = "uv", reqs = ["a.txt"], lock = "same.lock"}\n'
            '[spaces.b]\nvenv = {type = "uv", reqs = ["b.txt"], lock = "same.lock"}\n',
            "lock file 'same.lock' is the lock of both space 'a' and space 'b'",
        ),
        (
            '[spaces.a]\nvenv = {type = "uv", reqs = ["r.lock"]}\n',
            "lock file 'r.lock' is also a requirements file of space 'a'",
        ),
    ],
)
def test_lock_conflicts(load: Load, toml: str, message: str) -> None:
    with pytest.raises(SpaceError) as info:
        resolve(load(toml))
    assert info.value.code == "venv-lock-conflict"
    assert message in info.value.message


@pytest.mark.parametrize(
    "reqs, lock",
    [
        ("requirements.txt", "requirements.lock"),
        ("requirements-app.in", "requirements-app.lock"),
        ("app/reqs/dev.txt", "app/reqs/dev.lock"),
        ("pyproject.toml", "pyproject.lock"),
    ],
)
def test_default_lock(reqs: str, lock: str) -> None:
    assert default_lock(reqs) == lock


@pytest.mark.parametrize(
    "name, venv_dir",
    [("app", "._qik/venv/app"), ("a_b-c", "._qik/venv/a_b-c"), ("../x", "._qik/venv/%2E%2E%2Fx")],
)
def test_venv_dir_stays_under_qik(name: str, venv_dir: str) -> None:
    assert Environment(name=name, kind="uv").venv_dir == venv_dir


def test_spaces_sharing_a_first_requirements_file_get_locks_of_their_own(load: Load) -> None:
    # qik 0.2 accepted this (its locks were per space): the first keeps the default lock.
    envs = _envs(
        load,
        '[spaces]\napp = ["requirements.txt", "requirements-app.txt"]\n'
        'dev = ["requirements.txt", "requirements-dev.txt"]\n'
        '[spaces.py12]\nvenv = {type = "uv", reqs = ["requirements.txt"], python = "3.12"}\n',
    )
    assert envs["app"].lock == "requirements.lock"
    assert envs["dev"].lock == "requirements-dev.lock"
    assert envs["py12"].lock == "requirements-py12.lock"


def test_uv_plugin_options_are_every_venvs_defaults(load: Load) -> None:
    # qik 0.2's [plugins.uv]: constraint, python, index-url, extra-index-url, cache.
    envs = _envs(
        load,
        'vars = [{name = "index", default = "https://pypi.example/simple"}]\n'
        "[plugins.uv]\n"
        'pyimport = "qik.uv"\nconstraint = "constraints.txt"\npython = "3.11"\n'
        'index-url = "{ctx.index}"\nextra_index_url = "https://extra.example/simple"\n'
        'cache = "local"\n'
        '[spaces]\napp = "requirements-app.txt"\n'
        '[spaces.own]\nvenv = {type = "uv", reqs = ["own.txt"], python = "3.12"}\n',
    )
    app, own = envs["app"], envs["own"]
    assert (app.constraint, app.python, app.cache) == ("constraints.txt", "3.11", "local")
    assert app.index_url == "https://pypi.example/simple"
    assert app.extra_index_url == "https://extra.example/simple"
    assert own.python == "3.12"  # a space's own setting wins
    from qik.spaces.uv import lock_exec, sync_exec

    assert "--constraint constraints.txt" in lock_exec(app)
    assert "--index-url https://pypi.example/simple" in lock_exec(app)
    assert "--extra-index-url https://extra.example/simple" in sync_exec(app)


def test_spaces_with_one_venv_share_it_when_their_first_file_is_shared_too(load: Load) -> None:
    # default locks base.txt alone; app and lint (app's venv) share one lock and one venv.
    envs = _envs(
        load,
        '[spaces.default]\nvenv = "base.txt"\n'
        '[spaces.app]\nvenv = ["base.txt", "app.txt"]\n'
        '[spaces.lint]\nvenv = {type = "space", name = "app"}\n'
        '[spaces.same]\nvenv = ["base.txt", "app.txt"]\n',
    )
    assert envs["default"].lock == "base.lock"
    assert envs["app"].lock == "base-app.lock"
    assert envs["lint"] is envs["app"] and envs["same"] is envs["app"]
