"""Context vars, profiles and where each value comes from."""

from __future__ import annotations

import pytest

from qik.config.schema import Var

from .conftest import Load

VARS = """
vars = [
    "key",
    {name = "n", type = "int", default = 4},
    {name = "flag", type = "bool", default = false},
    {name = "opt", required = false},
]
"""
PROFILES = """
[ctx.ci.qik]
cache = "repo"
workers = 16
cache_when = "finished"
cache-status = "warm"
ls = true
tags = "py"
modules = ["a", "b"]

[ctx.ci.project]
n = 16
key = "from-profile"

[ctx.dev.project]
flag = true
"""


def test_var_forms(load: Load) -> None:
    project = load(VARS)
    assert project.vars == {
        "key": Var("key"),
        "n": Var("n", type="int", default=4),
        "flag": Var("flag", type="bool", default=False),
        "opt": Var("opt", required=False),
    }


def test_ctx_list_is_the_older_spelling_of_vars(load: Load) -> None:
    project = load('ctx = ["key", {name = "n", type = "int", default = 1}]\n')
    assert list(project.vars) == ["key", "n"]
    assert project.ctx_values == {"n": 1}


def test_vars_and_older_ctx_list_merge(load: Load) -> None:
    assert list(load('vars = ["a"]\nctx = ["b"]\n').vars) == ["a", "b"]


def test_defaults_and_missing_vars(load: Load) -> None:
    project = load(VARS)
    # A required var without a value is left out: only a template using it fails.
    assert project.ctx_values == {"n": 4, "flag": False, "opt": None}
    assert project.missing_vars == ("key",)
    assert project.profile == "default"
    assert project.qik_options == {}


def test_profile_values_and_qik_options(load: Load) -> None:
    project = load(VARS + PROFILES, profile="ci")
    assert project.profile == "ci"
    assert project.profiles == ("ci", "dev")
    assert project.ctx_values == {"key": "from-profile", "n": 16, "flag": False, "opt": None}
    assert project.missing_vars == ()
    assert project.qik_options == {
        "cache": "repo",
        "workers": 16,
        "cache_when": "finished",
        "cache_status": "warm",
        "ls": True,
        "tags": ["py"],
        "modules": ["a", "b"],
    }


@pytest.mark.parametrize(
    ("profile", "environ", "active"),
    [
        (None, {}, "default"),
        (None, {"QIK__PROFILE": "dev"}, "dev"),
        (None, {"QIK__PROFILE": ""}, "default"),
        ("ci", {"QIK__PROFILE": "dev"}, "ci"),
        ("ci", {}, "ci"),
    ],
)
def test_active_profile(
    load: Load, profile: str | None, environ: dict[str, str], active: str
) -> None:
    assert load(VARS + PROFILES, profile=profile, environ=environ).profile == active


@pytest.mark.parametrize("profile", ["default", "ci"])
def test_builtin_profiles_need_no_table(load: Load, profile: str) -> None:
    # qik 0.2 always knew "default" and "ci"; `-p ci` must work before [ctx.ci] exists.
    project = load(VARS, profile=profile)
    assert project.profile == profile
    assert project.qik_options == {}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, 16),
        ({"N": "7"}, 7),
        ({"PROJECT__N": " 8 ", "N": "7"}, 8),
    ],
)
def test_env_wins_over_profile(load: Load, environ: dict[str, str], expected: int) -> None:
    project = load(VARS + PROFILES, profile="ci", environ=environ)
    assert project.ctx_values["n"] == expected


def test_env_wins_over_default(load: Load) -> None:
    assert load(VARS, environ={"KEY": "k"}).ctx_values["key"] == "k"
    assert load(VARS, environ={"PROJECT__KEY": "p", "KEY": "k"}).ctx_values["key"] == "p"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("yes", True),
        ("TRUE", True),
        ("1", True),
        (" no ", False),
        ("False", False),
        ("0", False),
    ],
)
def test_bool_from_env(load: Load, raw: str, expected: bool) -> None:
    assert load(VARS, environ={"PROJECT__FLAG": raw}).ctx_values["flag"] is expected


def test_str_from_env_is_kept_as_is(load: Load) -> None:
    assert load(VARS, environ={"PROJECT__KEY": " spaced "}).ctx_values["key"] == " spaced "


def test_profile_keys_may_be_kebab_case(load: Load) -> None:
    # qik 0.2 read profile values with kebab-case names.
    project = load('vars = ["workers_hint"]\n[ctx.ci.project]\nworkers-hint = "x"\n', profile="ci")
    assert project.ctx_values == {"workers_hint": "x"}


def test_older_profile_namespaces_are_ignored(load: Load) -> None:
    project = load("[ctx.ci.modules.a]\nx = 1\n[ctx.ci.plugins]\ny = 2\n", profile="ci")
    assert project.profile == "ci"


def test_inactive_profiles_are_still_validated(load: Load) -> None:
    from qik.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load("[ctx.other.qik]\nworkerz = 1\n")
    assert info.value.code == "unknown-key"
