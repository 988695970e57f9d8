"""A venv's lock and sync runnables, and the deps that tie a space's commands to them."""

from __future__ import annotations

from qik.config.schema import GlobDep
from qik.graph.dag import Selector, build_dag, select
from qik.graph.expand import UpstreamDep, expand

from .conftest import Load

TWO_SPACES = """
[spaces.a]
venv = "reqs-a.txt"
modules = ["a"]
[spaces.b]
venv = {type = "uv", reqs = ["reqs-b.txt"], constraint = "c.txt", python = "3.11"}
modules = ["b"]
[spaces.c]
venv = {type = "space", name = "a"}

[commands.show]
exec = "python -c 'import six' {module.dir}"
deps = ["{module.dir}/**.py"]

[commands.plain]
exec = "echo hi"

[commands.other]
exec = "echo other"
space = "c"
"""


def test_lock_and_sync_per_venv(load: Load) -> None:
    runnables = expand(load(TWO_SPACES))
    internal = sorted(n for n, r in runnables.items() if r.internal)
    assert internal == ["space.lock@a", "space.lock@b", "space.sync@a", "space.sync@b"]
    lock, sync = runnables["space.lock@b"], runnables["space.sync@b"]
    assert lock.exec == (
        "uv pip compile --quiet --universal reqs-b.txt -o reqs-b.lock --constraint c.txt "
        "--python-version 3.11"
    )
    assert (lock.artifacts, lock.cache, lock.space, lock.is_cached) == (
        ("reqs-b.lock",),
        "repo",
        "b",
        True,
    )
    assert sync.exec == (
        "uv venv --quiet --allow-existing ._qik/venv/b --python 3.11 && "
        "uv pip sync --allow-empty-requirements --python ._qik/venv/b reqs-b.lock && "
        "cp reqs-b.lock ._qik/venv/b/.qik-lock"
    )
    assert (sync.artifacts, sync.cache) == ((), "local")
    assert sync.upstream == (UpstreamDep("space.lock@b", strict=True, isolated=False),)


def test_commands_depend_on_their_venv(load: Load) -> None:
    runnables = expand(load(TWO_SPACES))
    sync_a = UpstreamDep("space.sync@a", strict=True, isolated=False)
    assert runnables["show@a"].upstream == (sync_a,)
    assert runnables["show@b"].upstream == (
        UpstreamDep("space.sync@b", strict=True, isolated=False),
    )
    assert runnables["other"].upstream == (sync_a,)  # c inherits a's venv
    assert runnables["plain"].upstream == ()  # the default space: the active environment
    assert runnables["show@a"].deps[0] == GlobDep("a/**.py")  # the command's own deps stay


def test_isolated_still_builds_the_venv(load: Load) -> None:
    dag = build_dag(expand(load(TWO_SPACES)))
    names = select(dag, Selector(names=("show@b",), isolated=True))
    assert names == ["space.lock@b", "space.sync@b", "show@b"]


def test_space_selection(load: Load) -> None:
    dag = build_dag(expand(load(TWO_SPACES)))
    assert select(dag, Selector(spaces=("c",))) == ["space.lock@a", "space.sync@a", "other"]


def test_no_venv_no_runnables(load: Load) -> None:
    toml = '[spaces.app]\ndotenv = ["app.env"]\n[commands.x]\nexec = "true"\nspace = "app"\n'
    runnables = expand(load(toml))
    assert list(runnables) == ["x"]
    assert runnables["x"].upstream == ()
