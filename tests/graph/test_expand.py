"""Templates and runnable expansion."""

from __future__ import annotations

from pathlib import Path

import pytest

from qik.config.schema import Command, ConstDep, GlobDep, Module, Project, Var
from qik.errors import ConfigError
from qik.graph.expand import arch, expand, pyimport, render


def _project(**kwargs: object) -> Project:
    return Project(root=Path("/r"), config_path=Path("/r/qik.toml"), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "template, expected",
    [
        ("ruff {module.dir}", "ruff src/a"),
        ("{module.name}:{module.pyimport}", "a:a"),
        ("awk '{print $1}' ${HOME} {unknown}", "awk '{print $1}' ${HOME} {unknown}"),
        ("{ctx.token}-{ctx.project.token}", "t-t"),
        ("{ctx.flag}", "True"),
        ("{ctx.opt}", "None"),
        ("echo ${{HOME}} {{{module.name}}}", "echo ${HOME} {a}"),
        ("{{.State}}", "{.State}"),
        ("awk '{print $1}' {{x}}", "awk '{print $1}' {{x}}"),
        ("a}}b", "a}b"),
        ("{ctx.qik.arch}", arch()),
    ],
)
def test_render(template: str, expected: str) -> None:
    project = _project(
        vars={"token": Var("token"), "flag": Var("flag", type="bool"), "opt": Var("opt")},
        ctx_values={"token": "t", "flag": True, "opt": None},
        python_path="src",
    )
    assert render(template, project, Module("a", "src/a"), "test") == expected


@pytest.mark.parametrize(
    "template, code",
    [
        ("{ctx.nope}", "unknown-var"),
        ("{ctx.token}", "missing-var"),
        ("{module.dir}", "invalid-template"),
        ("echo '{module.dir }'", "invalid-template"),
        ("{module.dir!r}", "invalid-template"),
        ("echo { module.dir}", "invalid-template"),
        ("{ctx.token:>4}", "invalid-template"),
    ],
)
def test_render_errors(template: str, code: str) -> None:
    project = _project(vars={"token": Var("token")})
    with pytest.raises(ConfigError) as info:
        render(template, project, None, "command 'x'")
    assert info.value.code == code


@pytest.mark.parametrize(
    "path, python_path, expected",
    [
        ("a/b", ".", "a.b"),
        ("src/a/b", "src", "a.b"),
        ("src", "src", ""),
        ("lib/x", "src", "lib.x"),
    ],
)
def test_pyimport(path: str, python_path: str, expected: str) -> None:
    assert pyimport(path, python_path) == expected


def test_expand_names_and_base_deps() -> None:
    cmd = Command("lint", "ruff {module.dir}", deps=(GlobDep("./{module.dir}/**.py"),))
    plain = Command("fmt", "ruff format")
    project = _project(
        commands={"lint": cmd, "fmt": plain},
        modules={"a": Module("a", "a"), "b": Module("b", "pkgs/b")},
        base_deps=(ConstDep("v1"),),
    )
    runnables = expand(project)
    assert list(runnables) == ["lint@a", "lint@b", "fmt"]
    assert runnables["lint@b"].exec == "ruff pkgs/b"
    assert runnables["lint@b"].deps == (GlobDep("pkgs/b/**.py"), ConstDep("v1"))
    assert runnables["fmt"].deps == () and not runnables["fmt"].is_cached
