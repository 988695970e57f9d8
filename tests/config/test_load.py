"""Every accepted form of qik.toml, including qik 0.2 spellings."""

from __future__ import annotations

import dataclasses

import pytest

from qik.config.schema import (
    Command,
    CommandDep,
    ConstDep,
    Dep,
    GlobDep,
    Module,
    PydistConf,
    PydistDep,
    PygraphConf,
    PygraphDep,
    S3CacheConf,
    Space,
    SpaceVenv,
)

from .conftest import Load


def test_bare_string_command(load: Load) -> None:
    project = load('[commands]\nfmt = "ruff format ."\n')
    assert project.commands == {"fmt": Command(name="fmt", exec="ruff format .")}
    assert not project.commands["fmt"].is_cached


def test_full_command_table(load: Load) -> None:
    project = load(
        """
        [caches.remote]
        type = "s3"
        bucket = "b"

        [spaces.app]

        [commands.lock]
        exec = "pip-compile > requirements.txt"
        deps = ["requirements.in", {type = "pydist", name = "pip-tools"}]
        artifacts = ["requirements.txt"]
        cache = "remote"
        cache-when = "finished"
        tags = ["py", "lock"]
        space = "app"
        timeout = 90
        hidden = true
        """
    )
    assert project.commands["lock"] == Command(
        name="lock",
        exec="pip-compile > requirements.txt",
        deps=(GlobDep("requirements.in"), PydistDep("pip-tools")),
        artifacts=("requirements.txt",),
        cache="remote",
        cache_when="finished",
        tags=("py", "lock"),
        space="app",
        timeout=90.0,
        hidden=True,
    )


@pytest.mark.parametrize(
    ("line", "field", "expected"),
    [
        ('cache_when = "failed"', "cache_when", "failed"),
        ('cache-when = "failed"', "cache_when", "failed"),
        ("timeout = 1.5", "timeout", 1.5),
        ('cache = "repo"', "cache", "repo"),
        ('cache = "local"', "cache", "local"),
        ('space = "default"', "space", "default"),
        ("hidden = false", "hidden", False),
    ],
)
def test_command_keys_in_either_spelling(
    load: Load, line: str, field: str, expected: object
) -> None:
    project = load(f'[commands.x]\nexec = "true"\n{line}\n')
    assert getattr(project.commands["x"], field) == expected


def test_command_without_exec_groups_its_deps(load: Load) -> None:
    # qik 0.2 defaults exec to "": a command that only pulls in others.
    project = load('[commands.all]\ndeps = [{type = "command", name = "lint"}]\n')
    assert project.commands["all"].exec == ""


@pytest.mark.parametrize(
    ("dep", "expected"),
    [
        ('"src/**.py"', GlobDep("src/**.py")),
        ('{type = "glob", pattern = "a/*.txt"}', GlobDep("a/*.txt")),
        ('{type = "const", val = "{ctx.qik.arch}"}', ConstDep("{ctx.qik.arch}")),
        ('{type = "command", name = "lint"}', CommandDep("lint")),
        (
            '{type = "command", name = "lint", strict = true, isolated = false}',
            CommandDep("lint", strict=True, isolated=False),
        ),
        ('{type = "pydist", name = "ruff"}', PydistDep("ruff")),
        ('{type = "dist", name = "pip-tools"}', PydistDep("pip-tools")),
        ('{type = "pygraph", pyimport = "pkg.mod"}', PygraphDep("pkg.mod")),
        ('{type = "module", name = "{module.name}"}', PygraphDep("{module.name}")),
    ],
)
def test_dep_forms(load: Load, dep: str, expected: Dep) -> None:
    project = load(f'[commands.x]\nexec = "true"\ndeps = [{dep}]\n')
    assert project.commands["x"].deps == (expected,)


def test_base_deps(load: Load) -> None:
    project = load('[base]\ndeps = ["setup.cfg", {type = "const", val = "v2"}]\n')
    assert project.base_deps == (GlobDep("setup.cfg"), ConstDep("v2"))


def test_defaults(load: Load) -> None:
    project = load(
        """
        [caches.remote]
        type = "s3"
        bucket = "b"

        [defaults]
        cache = "remote"
        cache_when = "finished"
        python-path = "src"
        venv = "requirements.txt"
        dotenv = "dev.env"
        """
    )
    assert project.default_cache == "remote"
    assert project.default_cache_when == "finished"
    assert project.python_path == "src"
    assert project.default_venv == SpaceVenv(type="pip", reqs=("requirements.txt",))
    assert project.default_dotenv == ("dev.env",)


def test_empty_config_has_defaults(load: Load) -> None:
    project = load("")
    assert project.commands == {}
    assert project.default_cache == "local"
    assert project.default_cache_when == "success"
    assert project.python_path == "."
    assert project.spaces == {"default": Space(name="default")}
    assert project.profile == "default"


def test_pydist(load: Load) -> None:
    project = load(
        """
        [pydist]
        versions = {foo = "1.0"}
        ignore-missing = true
        ignore_missing_modules = true
        modules = {yaml = "PyYAML"}
        """
    )
    assert project.pydist == PydistConf(
        versions={"foo": "1.0"},
        ignore_missing=True,
        ignore_missing_modules=True,
        modules={"yaml": "PyYAML"},
    )


def test_plugins_are_accepted_and_ignored(load: Load) -> None:
    project = load('[plugins]\ns3 = "qik.s3"\npygraph = "qik.pygraph"\nfoo = {bar = 1}\n')
    assert project.pygraph == PygraphConf()


def test_pygraph_plugin_options(load: Load) -> None:
    project = load(
        """
        [plugins.pygraph]
        pyimport = "qik.pygraph"
        ignore-pydists = true
        ignore_type_checking = true
        cache = "repo"
        """
    )
    assert project.pygraph == PygraphConf(
        ignore_pydists=True, ignore_type_checking=True, cache="repo"
    )


def test_qik_02_pygraph_plugin_options(load: Load) -> None:
    """The published qik 0.2's [plugins.pygraph] keys keep a config loading."""
    project = load(
        """
        [plugins.pygraph]
        pyimport = "qik.pygraph"
        build-cache = "repo"
        lock_cache = "local"
        check-cache = "repo"
        module-pydists = {cv2 = "opencv-python", yaml = "ignored"}
        ignore-missing-module-pydists = true

        [pydist]
        modules = {yaml = "PyYAML"}
        """
    )
    assert project.pygraph.cache == "repo"
    assert project.pydist.modules == {"cv2": "opencv-python", "yaml": "PyYAML"}
    assert project.pydist.ignore_missing_modules


def test_s3_cache(load: Load) -> None:
    project = load(
        """
        [caches.remote]
        type = "s3"
        bucket = "my-cache-bucket"
        prefix = "team-a"
        region-name = "us-west-2"
        endpoint_url = "{ctx.s3_endpoint}"
        aws-access-key-id = "{ctx.key}"
        aws-secret-access-key = "{ctx.secret}"
        aws-session-token = "tok"
        read-only = true
        sign-key = "k"
        """
    )
    assert project.caches == {
        "remote": S3CacheConf(
            name="remote",
            type="s3",
            bucket="my-cache-bucket",
            prefix="team-a",
            region_name="us-west-2",
            endpoint_url="{ctx.s3_endpoint}",
            aws_access_key_id="{ctx.key}",
            aws_secret_access_key="{ctx.secret}",
            aws_session_token="tok",
            read_only=True,
            sign_key="k",
        )
    }


def test_top_level_modules_are_the_default_space(load: Load) -> None:
    project = load('modules = ["a", {name = "bb", path = "nested/b"}, "my.module.a"]\n')
    # A dotted name is an import path (the blog post's form): its folder is my/module/a.
    expected = (Module("a", "a"), Module("bb", "nested/b"), Module("my.module.a", "my/module/a"))
    assert project.spaces["default"].modules == expected
    assert list(project.modules) == ["a", "bb", "my.module.a"]


@pytest.mark.parametrize(
    "written, python_path, folders, path",
    [
        ("my.module.a", ".", (), "my/module/a"),
        ("pkg.a", "src", (), "src/pkg/a"),
        ("example.com", ".", ("example.com",), "example.com"),  # a folder of that name wins
        ("tools.py", ".", (), "tools.py"),
        ("v1.2", ".", (), "v1.2"),
        ("app/my.mod", ".", (), "app/my.mod"),
        ("pkg", "src", ("src/pkg",), "src/pkg"),  # as pkg.sub would be found
        ("pkg", "src", ("pkg", "src/pkg"), "pkg"),  # a folder at the root wins
        ("pkg", "src", (), "pkg"),
        ("pkg", ".", ("pkg",), "pkg"),
    ],
)
def test_dotted_module_paths(
    load: Load, written: str, python_path: str, folders: tuple[str, ...], path: str
) -> None:
    files = {f"{folder}/x.txt": "" for folder in folders}
    toml = f'modules = ["{written}"]\n[defaults]\npython-path = "{python_path}"\n'
    project = load({"qik.toml": toml, **files})
    assert project.modules[written].path == path


def test_spaces_new_form(load: Load) -> None:
    project = load(
        """
        modules = ["lib"]

        [spaces.default]
        modules = ["tools"]

        [spaces.app]
        venv = "requirements-app.txt"
        dotenv = ["app.env"]
        root = "app"
        fence = ["lib", {type = "space", name = "default"}]
        modules = ["app/api", {name = "web", path = "app/web/"}]
        """
    )
    assert project.spaces["default"].modules == (Module("lib", "lib"), Module("tools", "tools"))
    assert project.spaces["app"] == Space(
        name="app",
        root="app",
        modules=(Module("app/api", "app/api", "app"), Module("web", "app/web", "app")),
        fence=("lib", ("space", "default")),
        venv=SpaceVenv(type="pip", reqs=("requirements-app.txt",)),
        dotenv=("app.env",),
    )
    assert project.modules["web"].space == "app"


@pytest.mark.parametrize(
    ("venv", "expected"),
    [
        ('"reqs.txt"', SpaceVenv(type="pip", reqs=("reqs.txt",))),
        ('["a.txt", "b.txt"]', SpaceVenv(type="pip", reqs=("a.txt", "b.txt"))),
        ('{type = "active"}', SpaceVenv(type="active")),
        (
            '{type = "uv", reqs = "r.in", lock = "r.lock", constraint = "c.txt", python = "3.12"}',
            SpaceVenv(type="uv", reqs=("r.in",), lock="r.lock", constraint="c.txt", python="3.12"),
        ),
        ('{type = "space", name = "default"}', SpaceVenv(type="space", name="default")),
    ],
)
def test_venv_forms(load: Load, venv: str, expected: SpaceVenv) -> None:
    project = load(f"[spaces.app]\nvenv = {venv}\n")
    assert project.spaces["app"].venv == expected


@pytest.mark.parametrize(
    ("line", "reqs"),
    [
        ('app = "requirements-app.txt"', ("requirements-app.txt",)),
        ('app = ["a", "b"]', ("a", "b")),
    ],
)
def test_qik_02_space_is_a_venv(load: Load, line: str, reqs: tuple[str, ...]) -> None:
    project = load(f"[spaces]\n{line}\n")
    assert project.spaces["app"] == Space(name="app", venv=SpaceVenv(type="pip", reqs=reqs))
    assert "default" in project.spaces


def test_fence_true(load: Load) -> None:
    assert load("[spaces.app]\nfence = true\n").spaces["app"].fence is True


def test_module_level_commands(load: Load) -> None:
    project = load(
        {
            "qik.toml": 'modules = ["a", {name = "bee", path = "b"}, "c"]\n',
            "a/qik.toml": '[commands]\nfmt = "ruff format ."\n',
            "b/qik.toml": '[commands.test]\nexec = "pytest"\ndeps = ["**.py"]\n',
        }
    )
    assert project.commands["a/fmt"] == Command(name="a/fmt", exec="ruff format .", module="a")
    assert project.commands["bee/test"].module == "bee"
    assert project.commands["bee/test"].deps == (GlobDep("**.py"),)
    assert [p.relative_to(project.root).as_posix() for p in project.config_files] == [
        "qik.toml",
        "a/qik.toml",
        "b/qik.toml",
    ]


def test_module_at_the_root_does_not_reread_the_root_config(load: Load) -> None:
    project = load('modules = ["."]\n[commands]\nx = "true"\n')
    assert list(project.commands) == ["x"]


def test_project_is_frozen(load: Load) -> None:
    project = load('[commands]\nx = "true"\n')
    with pytest.raises(dataclasses.FrozenInstanceError):
        project.profile = "ci"  # type: ignore[misc]  # asserting it's rejected at runtime
