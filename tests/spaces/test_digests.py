"""A space's files as dep-hash inputs, and its lock as the source of pydist versions."""

from __future__ import annotations

from pathlib import Path

from qik.config.schema import Project
from qik.deps import DepEnv
from qik.fingerprint.files import FileIndex, hash_blob
from qik.graph.expand import Runnable, expand
from qik.plan import fingerprint
from qik.spaces import space_source

from .conftest import Load

TOML = """
[spaces.app]
venv = {type = "uv", reqs = ["reqs.txt"], constraint = "c.txt"}
dotenv = ["app.env", "local.env"]
[spaces.other]
venv = "other.txt"

[commands.show]
exec = "python -c 'import six'"
deps = [{type = "pydist", name = "Six"}]
space = "app"

[commands.other]
exec = "true"
deps = ["x"]
space = "other"
"""
FILES = {
    "reqs.txt": "six\n",
    "c.txt": "six<2\n",
    "reqs.lock": "six==1.16.0\n    # via -r reqs.txt\n",
    "app.env": "A=1\n",
    "local.env": "B=2\n",
}


def _env(project: Project, files: FileIndex) -> DepEnv:
    return DepEnv(project, files, {}, spaces=space_source(project))


def _labels(runnable: Runnable, project: Project, files: FileIndex) -> dict[str, str]:
    return fingerprint(runnable, _env(project, files)).digests()


def _tracked(project: Project, *paths: str) -> FileIndex:
    return FileIndex.of({p: hash_blob((project.root / p).read_bytes()) for p in paths})


def test_what_each_runnable_digests(load: Load) -> None:
    project = load(TOML, FILES)
    runnables = expand(project)
    files = _tracked(project, *FILES)
    assert set(_labels(runnables["space.lock@app"], project, files)) >= {
        "venv:reqs.txt",
        "venv:c.txt",
    }
    sync = _labels(runnables["space.sync@app"], project, files)
    assert "venv:reqs.lock" in sync and "venv:reqs.txt" not in sync
    show = _labels(runnables["show"], project, files)
    assert {"venv:reqs.lock", "dotenv:app.env", "dotenv:local.env", "pydist:Six"} <= set(show)
    assert "venv:reqs.txt" not in show  # the lock stands for the requirements


def test_files_git_ignores_are_read(load: Load) -> None:
    project = load(TOML, FILES)
    show = expand(project)["show"]
    ignored = _labels(show, project, FileIndex.of({}))  # nothing tracked: .env files usually
    tracked = _labels(show, project, _tracked(project, *FILES))
    assert ignored["dotenv:app.env"] == tracked["dotenv:app.env"]
    (project.root / "app.env").write_text("A=2\n")
    assert _labels(show, project, FileIndex.of({}))["dotenv:app.env"] != ignored["dotenv:app.env"]


def test_versions_come_from_the_lock(load: Load) -> None:
    project = load(TOML, FILES)
    show, files = expand(project)["show"], _tracked(project, *FILES)
    first = _labels(show, project, files)["pydist:Six"]
    (project.root / "reqs.lock").write_text("six==1.17.0\n")
    assert _labels(show, project, files)["pydist:Six"] != first
    env = _env(project, files).for_runnable(show)
    assert env.versions("six") == "1.17.0"
    assert env.versions("not-locked") is None


def test_not_locked_yet(load: Load) -> None:
    files = {k: v for k, v in FILES.items() if k != "reqs.lock"}
    project = load(TOML, files)
    show = expand(project)["show"]
    env = _env(project, FileIndex.of({})).for_runnable(show)
    assert env.versions("anything") == "<not locked yet>"
    fingerprint(show, env)  # a pydist dep doesn't fail before the first lock


def test_the_lock_enters_only_its_spaces(load: Load) -> None:
    project = load(TOML, {**FILES, "other.lock": "six==1.17.0\n", "x": ""})
    runnables = expand(project)
    files = _tracked(project, *FILES, "other.lock", "x")
    before = {n: fingerprint(runnables[n], _env(project, files)).dep_hash for n in runnables}
    (project.root / "reqs.lock").write_text("six==1.17.0\n")
    files = _tracked(project, *FILES, "other.lock", "x")
    after = {n: fingerprint(runnables[n], _env(project, files)).dep_hash for n in runnables}
    changed = {n for n in runnables if before[n] != after[n]}
    assert changed == {"space.sync@app", "show"}


def test_no_spaces_no_source(load: Load, tmp_path: Path) -> None:
    assert space_source(load("[commands.x]\nexec = 'true'\n")) is None
