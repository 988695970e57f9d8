"""Whatever a config file holds, loading gives a Project or a ConfigError, never a traceback."""

from __future__ import annotations

import copy
import datetime
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qik.config import ERROR_CODES, load_project
from qik.config.schema import Project
from qik.errors import ConfigError

# Keys qik knows at some level, a few near misses, and the odd arbitrary one.
KNOWN_KEYS = [
    "commands", "modules", "spaces", "vars", "ctx", "base", "defaults", "pydist", "plugins",
    "caches", "exec", "deps", "artifacts", "cache", "cache-when", "cache_when", "tags", "space",
    "timeout", "hidden", "type", "pattern", "val", "name", "strict", "isolated", "pyimport",
    "root", "fence", "venv", "dotenv", "reqs", "lock", "constraint", "python", "default",
    "required", "qik", "project", "workers", "verbosity", "cache-status", "ls", "versions",
    "ignore-missing", "ignore_missing_modules", "bucket", "prefix", "region-name", "read-only",
    "python-path", "pygraph", "ignore-pydists", "ci", "remote", "local", "repo", "app", "lint",
    "a", "x", "n",
]  # fmt: skip
NEAR_MISSES = ["comands", "depz", "cache-whenn", "Exec", "modules_", "type ", "spacess", ""]
WORDS = [
    "glob", "const", "command", "pydist", "dist", "pygraph", "module", "s3", "gcs", "uv",
    "pip", "active", "space", "success", "failed", "finished", "warm", "cold", "local", "repo",
    "remote", "default", "ci", "app", "a", "lint", "int", "bool", "str", "../x", "/abs", ".",
    "a@b", "{module.dir}/**.py", "x",
]  # fmt: skip

# Lone surrogates can't be written to a UTF-8 file, so they never reach a config.
CHARS = st.characters(exclude_categories=["Cs"])
keys = st.one_of(
    st.sampled_from(KNOWN_KEYS),
    st.sampled_from(NEAR_MISSES),
    st.text(CHARS, max_size=6),
)
scalars = st.one_of(
    st.sampled_from(WORDS),
    st.text(CHARS, max_size=8),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.booleans(),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
tables = st.dictionaries(keys, values, max_size=8)


def mostly(*valid: object) -> st.SearchStrategy[object]:
    """Mostly one of ``valid``, sometimes anything: examples then get deep into the config."""
    good = st.sampled_from(valid)
    return st.one_of(good, good, good, good, good, values)


def _toml_str(text: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes, except DEL must be escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def to_toml(value: object) -> str:
    """An inline TOML rendering of any value the strategies above produce."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(to_toml(item) for item in value) + "]"
    assert isinstance(value, dict)
    items = (f"{_toml_str(key)} = {to_toml(item)}" for key, item in value.items())
    return "{" + ", ".join(items) + "}"


def to_document(table: dict[str, object]) -> str:
    return "".join(f"{_toml_str(key)} = {to_toml(value)}\n" for key, value in table.items())


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _load(root: Path, files: dict[str, str], profile: str | None, env: dict[str, str]) -> None:
    shutil.rmtree(root)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    try:
        assert isinstance(load_project(root, profile=profile, environ=env), Project)
    except ConfigError as error:
        assert error.code in ERROR_CODES, error.code
        assert error.hint
        assert error.message.startswith(("qik.toml", "a/qik.toml", "pyproject.toml")), error


environs = st.dictionaries(
    st.sampled_from(["QIK__PROFILE", "PROJECT__N", "N", "X", "PROJECT__A"]),
    st.sampled_from(["ci", "default", "dev", "1", "no", "maybe", "", "42", "x"]),
)
profiles = st.sampled_from([None, "ci", "default", "dev"])
SETTINGS = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(table=tables, module_table=tables, profile=profiles, environ=environs)
def test_random_documents(
    fuzz_dir: Path,
    table: dict[str, object],
    module_table: dict[str, object],
    profile: str | None,
    environ: dict[str, str],
) -> None:
    files = {"qik.toml": to_document(table), "a/qik.toml": to_document(module_table)}
    _load(fuzz_dir, files, profile, environ)


# Shapes close to a real config, so the fuzzing gets past the top level often.
dep_tables = st.fixed_dictionaries(
    {"type": mostly("glob", "const", "command", "pydist", "dist", "pygraph", "module")},
    optional={k: mostly("x") for k in ("pattern", "val", "name", "pyimport", "strict")},
)
deps = st.lists(st.one_of(st.sampled_from(WORDS), dep_tables, dep_tables, values), max_size=3)
COMMAND_FIELDS: dict[str, st.SearchStrategy[object]] = {
    "exec": mostly("ruff ."),
    "artifacts": mostly(["a.txt"]),
    "cache": mostly("local", "repo", "remote"),
    "cache-when": mostly("success", "failed"),
    "tags": mostly(["py"]),
    "space": mostly("default", "app"),
    "timeout": mostly(1, 2.5),
    "hidden": mostly(True),
}
commands = st.dictionaries(
    st.sampled_from(["lint", "x", "fmt", "lint", "x", "fmt", "a@b"]),
    st.one_of(
        st.text(max_size=5),
        st.fixed_dictionaries({}, optional={"deps": deps, **COMMAND_FIELDS}),
        st.fixed_dictionaries({}, optional={"deps": deps, **COMMAND_FIELDS}),
        st.fixed_dictionaries({}, optional={"deps": deps, **COMMAND_FIELDS}),
        values,
    ),
    max_size=3,
)
spaces = st.dictionaries(
    st.sampled_from(["default", "app", "x"]),
    st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "modules": st.lists(st.sampled_from(WORDS) | values, max_size=3),
                "venv": st.sampled_from(WORDS)
                | st.fixed_dictionaries(
                    {"type": st.sampled_from(WORDS)}, optional={"reqs": values, "name": values}
                ),
                "fence": values,
                "root": values,
            },
        ),
        values,
    ),
    max_size=3,
)
vars_ = st.lists(
    st.sampled_from(["x", "n", "a", "x", "n", "a", "qik"])
    | st.fixed_dictionaries(
        {"name": st.sampled_from(["x", "n", "a"])},
        optional={"type": st.sampled_from(WORDS), "default": scalars, "required": scalars},
    ),
    max_size=3,
)
ctx = st.dictionaries(
    st.sampled_from(["ci", "dev", "default"]),
    st.fixed_dictionaries(
        {},
        optional={
            "qik": st.fixed_dictionaries(
                {}, optional={"workers": mostly(4), "cache": mostly("repo"), "ls": mostly(True)}
            ),
            "project": st.dictionaries(st.sampled_from(["x", "n", "a", "b"]), scalars),
        },
    ),
    max_size=2,
)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "commands": commands,
        "modules": st.lists(mostly("a", "b", "../x", "a@b"), max_size=3),
        "spaces": spaces,
        "vars": vars_,
        "ctx": ctx | vars_,
        "caches": st.dictionaries(
            st.sampled_from(["remote", "remote", "remote", "local", "x"]),
            st.fixed_dictionaries({"type": mostly("s3")}, optional={"bucket": mostly("b")}),
            max_size=2,
        ),
        "defaults": st.fixed_dictionaries(
            {},
            optional={
                "cache": mostly("local", "remote"),
                "cache_when": mostly("finished"),
                "python-path": mostly("src"),
                "venv": mostly("r.txt", ["r.txt"], {"type": "active"}),
                "dotenv": mostly(".env"),
            },
        ),
        "base": st.fixed_dictionaries({"deps": deps}),
        "plugins": st.dictionaries(st.sampled_from(["pygraph", "s3"]), values, max_size=2),
    },
)


@SETTINGS
@given(table=shaped, module_commands=commands, profile=profiles, environ=environs)
def test_config_shaped_documents(
    fuzz_dir: Path,
    table: dict[str, object],
    module_commands: dict[str, object],
    profile: str | None,
    environ: dict[str, str],
) -> None:
    files = {
        "qik.toml": to_document(table),
        "a/qik.toml": to_document({"commands": module_commands}),
    }
    _load(fuzz_dir, files, profile, environ)


# A config using every feature; the mutation test below breaks one to three places of it.
VALID: dict[str, object] = {
    "modules": ["a", {"name": "bb", "path": "nested/b"}],
    "vars": ["x", {"name": "n", "type": "int", "default": 4, "required": False}],
    "base": {"deps": ["setup.cfg"]},
    "defaults": {"cache": "remote", "cache-when": "failed", "python-path": "src"},
    "pydist": {"versions": {"foo": "1"}, "ignore-missing": True},
    "plugins": {"s3": "qik.s3", "pygraph": {"ignore-pydists": True, "cache": "repo"}},
    "caches": {"remote": {"type": "s3", "bucket": "b", "prefix": "p", "read-only": False}},
    "spaces": {
        "app": {
            "root": "app",
            "modules": [{"name": "api", "path": "app/api"}],
            "fence": ["lib", {"type": "space", "name": "default"}],
            "venv": {"type": "uv", "reqs": ["r.txt"], "python": "3.12"},
            "dotenv": "app.env",
        },
        "tools": "tools.txt",
    },
    "ctx": {
        "ci": {"qik": {"cache": "remote", "workers": 4}, "project": {"n": 16}},
        "dev": {"project": {"x": "y"}},
    },
    "commands": {
        "fmt": "ruff format .",
        "lint": {
            "exec": "ruff check {module.dir}",
            "deps": [
                "{module.dir}/**.py",
                {"type": "command", "name": "fmt", "strict": True},
                {"type": "pydist", "name": "ruff"},
                {"type": "module", "name": "{module.pyimport}"},
                {"type": "const", "val": "{ctx.qik.arch}"},
            ],
            "artifacts": ["out.txt"],
            "cache": "repo",
            "cache_when": "finished",
            "tags": ["py"],
            "space": "app",
            "timeout": 30,
            "hidden": False,
        },
    },
}
MODULE_VALID: dict[str, object] = {"commands": {"test": {"exec": "pytest", "deps": ["**.py"]}}}


def _places(value: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    found = [path] if path else []
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    for key, item in children:
        found += _places(item, (*path, key))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, object]) -> dict[str, object]:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        places = _places(doc)
        if not places:
            break
        *parent_path, last = draw(st.sampled_from(places))
        parent: Any = doc
        for key in parent_path:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "rename", "delete"]))
        if action == "replace":
            parent[last] = draw(values)
        elif action == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(keys)] = parent.pop(last)
    return doc


@SETTINGS
@given(table=mutated(VALID), module_table=mutated(MODULE_VALID), profile=profiles)
def test_mutated_valid_config(
    fuzz_dir: Path,
    table: dict[str, object],
    module_table: dict[str, object],
    profile: str | None,
) -> None:
    files = {"qik.toml": to_document(table), "a/qik.toml": to_document(module_table)}
    _load(fuzz_dir, files, profile, {})


def test_the_valid_config_loads(tmp_path: Path) -> None:
    files = {"qik.toml": to_document(VALID), "a/qik.toml": to_document(MODULE_VALID)}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    project = load_project(tmp_path, profile="ci", environ={})
    assert set(project.commands) == {"fmt", "lint", "a/test"}
    assert set(project.modules) == {"a", "bb", "api"}
    assert project.ctx_values == {"n": 16}


@SETTINGS
@given(table=shaped)
def test_pyproject_documents(fuzz_dir: Path, table: dict[str, object]) -> None:
    _load(fuzz_dir, {"pyproject.toml": "[tool]\nqik = " + to_toml(table) + "\n"}, None, {})
