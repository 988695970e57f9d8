"""The DAG and selection are pure: table tests over small hand-built projects."""

from __future__ import annotations

from pathlib import Path

import pytest

from qik.config.schema import Command, CommandDep, GlobDep, Module, Project
from qik.errors import GraphError, SelectionError
from qik.graph.dag import Selector, build_dag, select
from qik.graph.expand import expand


def _project(*commands: Command, modules: tuple[str, ...] = ()) -> Project:
    return Project(
        root=Path("/r"),
        config_path=Path("/r/qik.toml"),
        commands={c.name: c for c in commands},
        modules={m: Module(name=m, path=m) for m in modules},
    )


LINT = Command("lint", "ruff {module.dir}", deps=(GlobDep("{module.dir}/**.py"),), tags=("py",))
CHECK = Command("check", "mypy", deps=(GlobDep("**.py"), CommandDep("lint")), cache="repo")
TEST = Command("test", "pytest {module.dir}", deps=(CommandDep("lint"),))
FMT = Command("fmt", "ruff format")


def _select(project: Project, **kwargs: object) -> list[str]:
    dag = build_dag(expand(project))
    return select(dag, Selector(**kwargs), known_modules=project.modules)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, ["lint@a", "lint@b", "check", "test@a", "test@b", "fmt"]),
        ({"names": ("check",)}, ["lint@a", "lint@b", "check"]),
        ({"names": ("check",), "isolated": True}, ["check"]),
        ({"names": ("test@b",)}, ["lint@b", "test@b"]),
        ({"modules": ("a",)}, ["lint@a", "test@a"]),
        ({"tags": ("py",)}, ["lint@a", "lint@b"]),
        ({"caches": ("repo",)}, ["check"]),
        ({"caches": ("local",)}, ["lint@a", "lint@b", "test@a", "test@b"]),  # fmt: never cached
        ({"names": ("fmt", "lint")}, ["lint@a", "lint@b", "fmt"]),
        ({"caches": ("none",)}, ["fmt"]),
    ],
)
def test_selection(kwargs: dict[str, object], expected: list[str]) -> None:
    project = _project(LINT, CHECK, TEST, FMT, modules=("a", "b"))
    assert _select(project, **kwargs) == expected


def test_hidden_commands_run_when_named_or_needed() -> None:
    """qik 0.2's ``hidden = true``: not part of "every command"."""
    gen = Command("gen", "make", hidden=True)
    uses = Command("uses", "x", deps=(CommandDep("gen"),))
    project = _project(gen, uses, FMT)
    assert _select(project) == ["gen", "uses", "fmt"]  # gen joins as uses's upstream
    assert _select(project, names=("gen",)) == ["gen"]
    assert _select(_project(gen, FMT)) == ["fmt"]


def test_cache_none_is_never_cached() -> None:
    """qik 0.2's ``cache = "none"``: deps or not, no result is stored."""
    none = Command("none", "x", deps=(GlobDep("**.py"),), cache="none")
    (runnable,) = expand(_project(none)).values()
    assert not runnable.is_cached
    assert _select(_project(none, LINT, modules=("a",)), caches=("none",)) == ["none"]


def test_parametrized_dep_follows_the_module() -> None:
    dag = build_dag(expand(_project(LINT, TEST, modules=("a", "b"))))
    assert dag.upstream["test@a"] == ("lint@a",)


def test_unparametrized_dep_on_parametrized_command_means_all() -> None:
    dag = build_dag(expand(_project(LINT, CHECK, modules=("a", "b"))))
    assert dag.upstream["check"] == ("lint@a", "lint@b")


def test_isolated_dep_never_joins() -> None:
    down = Command("down", "x", deps=(CommandDep("fmt", isolated=True),))
    assert _select(_project(FMT, down), names=("down",)) == ["down"]


def test_cycle_names_its_path() -> None:
    a = Command("a", "x", deps=(CommandDep("b"),))
    b = Command("b", "x", deps=(CommandDep("c"),))
    c = Command("c", "x", deps=(CommandDep("a"),))
    with pytest.raises(GraphError, match=r"a -> b -> c -> a") as info:
        build_dag(expand(_project(a, b, c)))
    assert info.value.code == "dep-cycle"


def test_deep_chain_has_no_recursion_limit() -> None:
    chain = [Command("c0", "x")] + [
        Command(f"c{i}", "x", deps=(CommandDep(f"c{i - 1}"),)) for i in range(1, 3000)
    ]
    dag = build_dag(expand(_project(*chain)))
    assert dag.order[0] == "c0" and dag.order[-1] == "c2999"


@pytest.mark.parametrize(
    "kwargs, code",
    [({"names": ("nope",)}, "unknown-command"), ({"modules": ("zz",)}, "unknown-module")],
)
def test_selection_errors(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(SelectionError) as info:
        _select(_project(LINT, modules=("a",)), **kwargs)
    assert info.value.code == code


def test_unknown_command_dep() -> None:
    bad = Command("bad", "x", deps=(CommandDep("ghost"),))
    with pytest.raises(GraphError) as info:
        build_dag(expand(_project(bad)))
    assert info.value.code == "unknown-command-dep"
    assert info.value.hint is not None and "define [commands.ghost]" in info.value.hint


def test_a_command_dep_on_a_module_the_command_lacks() -> None:
    bad = Command("bad", "x", deps=(CommandDep("lint@zz"),))
    with pytest.raises(GraphError) as info:
        build_dag(expand(_project(LINT, bad, modules=("a",))))
    assert "command 'lint' has no runnable for module 'zz'" in info.value.message
    assert info.value.hint is not None and "[commands.lint@zz]" not in info.value.hint


def test_a_module_command_is_named_as_its_file_has_it() -> None:
    bad = Command("a/lint", "x", deps=(CommandDep("ghost"),), module="a")
    with pytest.raises(GraphError) as info:
        build_dag(expand(_project(bad, modules=("a",))))
    assert info.value.hint is not None
    assert "[commands.lint] in module a's qik.toml" in info.value.hint


def test_a_module_command_by_qik_02s_dotted_name() -> None:
    """qik 0.2 also wrote a module's own command ``module.command``."""
    gen = Command("a/gen", "make", module="a")
    uses = Command("uses", "x", deps=(CommandDep("a.gen"),))
    project = _project(gen, uses, modules=("a",))
    assert _select(project, names=("uses",)) == ["a/gen", "uses"]
    assert _select(project, names=("a.gen",)) == ["a/gen"]


def test_qik_02s_uv_plugin_names() -> None:
    lock = Command("space.lock", "uv pip compile")
    project = _project(lock)
    assert _select(project, names=("uv.lock",)) == ["space.lock"]
