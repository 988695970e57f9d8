"""Options: flags over QIK__ env vars over the profile over defaults."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from qik.errors import QikError
from qik.options import Options, merge_options


def test_defaults() -> None:
    assert merge_options({}, environ={}) == Options()


@pytest.mark.parametrize(
    "flags, env, profile, expected",
    [
        ({"workers": 3}, {"QIK__WORKERS": "5"}, {"workers": 7}, {"workers": 3}),
        ({}, {"QIK__WORKERS": "5"}, {"workers": 7}, {"workers": 5}),
        ({}, {}, {"workers": 7}, {"workers": 7}),
        ({}, {"QIK__ISOLATED": "yes"}, {}, {"isolated": True}),
        ({}, {"QIK__TAGS": "a, b"}, {}, {"tags": ("a", "b")}),
        ({}, {}, {"tags": ["x"]}, {"tags": ("x",)}),
        ({}, {"QIK__CACHE": "remote"}, {}, {"default_cache": "remote"}),
        ({}, {}, {"cache": "remote"}, {"default_cache": "remote"}),
        ({"caches": ("repo",)}, {}, {}, {"caches": ("repo",)}),
        ({}, {"QIK__CACHE_STATUS": "warm"}, {}, {"cache_status": "warm"}),
        ({}, {"QIK__CACHE_READ_ONLY": "1"}, {}, {"cache_read_only": True}),
        ({"verbosity": 0}, {"QIK__VERBOSITY": "2"}, {}, {"verbosity": 0}),
        ({"commands": ()}, {"QIK__COMMANDS": "lint"}, {}, {"commands": ("lint",)}),
    ],
)
def test_precedence(
    flags: dict[str, object],
    env: dict[str, str],
    profile: dict[str, object],
    expected: dict[str, object],
) -> None:
    options = merge_options(flags, profile, "ci", environ=env)
    for key, value in expected.items():
        assert getattr(options, key) == value


@pytest.mark.parametrize(
    "env, profile, code",
    [
        ({"QIK__WORKERS": "many"}, {}, "invalid-option"),
        ({"QIK__ISOLATED": "maybe"}, {}, "invalid-option"),
        ({"QIK__CACHE_STATUS": "lukewarm"}, {}, "invalid-option"),
        ({}, {"nope": 1}, "unknown-key"),
        ({}, {"workers": True}, "invalid-option"),
    ],
)
def test_errors(env: dict[str, str], profile: dict[str, object], code: str) -> None:
    with pytest.raises(QikError) as info:
        merge_options({}, profile, "ci", environ=env)
    assert info.value.code == code


@pytest.mark.parametrize(
    "flags, env, where",
    [
        ({"workers": 0}, {}, "--workers: 0"),
        ({"workers": -1}, {}, "--workers: -1"),
        ({"verbosity": 9}, {}, "--verbosity: 9"),
        ({}, {"QIK__WORKERS": "0"}, "QIK__WORKERS: 0"),
        ({}, {"QIK__VERBOSITY": "7"}, "QIK__VERBOSITY: 7"),
    ],
)
def test_out_of_range(flags: dict[str, object], env: dict[str, str], where: str) -> None:
    with pytest.raises(QikError) as info:
        merge_options(flags, {}, "ci", environ=env)
    assert info.value.code == "invalid-option"
    assert where in info.value.message


def test_out_of_range_from_the_cli(
    make_repo: Callable[..., Path], qik: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    root = make_repo({"qik.toml": '[commands.a]\nexec = "echo a"\n'})
    for args in (["-n", "0"], ["-v", "9"]):
        done = qik(root, *args)
        assert done.returncode == 2, done.stdout
        assert "invalid-option" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "flags, env, profile",
    [
        ({"workers": 2}, {"QIK__WORKERS": "0"}, {}),
        ({"workers": 2}, {"QIK__WORKERS": "many"}, {}),
        ({"verbosity": 1}, {}, {"verbosity": 9}),
    ],
)
def test_a_flag_wins_over_a_bad_value_elsewhere(
    flags: dict[str, object], env: dict[str, str], profile: dict[str, object]
) -> None:
    options = merge_options(flags, profile, "ci", environ=env)
    for key, value in flags.items():
        assert getattr(options, key) == value


def test_a_flag_wins_over_a_bad_env_value_from_the_cli(
    make_repo: Callable[..., Path], qik: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    root = make_repo({"qik.toml": '[commands.a]\nexec = "echo a"\n'})
    done = qik(root, "-n", "2", env={"QIK__WORKERS": "0"})
    assert done.returncode == 0, done.stderr
    assert qik(root, env={"QIK__WORKERS": "0"}).returncode == 2


def test_qik_02_logger_option_is_accepted() -> None:
    """QIK__LOGGER set for qik 0.2 (progress|stdout) stops no run: the console is chosen
    from the terminal now."""
    assert merge_options({}, environ={"QIK__LOGGER": "stdout"}) == Options()


def test_env_value_hints_say_what_is_expected() -> None:
    """In words: not a Python type ("CacheStatus | None", "int | None")."""
    for env, expected in (
        ({"QIK__CACHE_STATUS": "bad"}, "expected warm or cold"),
        ({"QIK__WORKERS": "many"}, "expected a whole number"),
        ({"QIK__LS": "bogus"}, "expected true or false"),
    ):
        with pytest.raises(QikError) as info:
            merge_options({}, environ=env)
        assert info.value.code == "invalid-option"
        assert info.value.hint is not None and expected in info.value.hint


def test_unknown_env_option_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    """qik 0.2 ignored a ``QIK__`` variable it didn't know (its docs show ``QIK__ARCH``):
    a stray one in a CI job's environment warns, and the run goes on."""
    options = merge_options({}, {}, "ci", environ={"QIK__NOPE_X": "1", "QIK__WORKERS": "3"})
    assert options.workers == 3
    assert "QIK__NOPE_X names no qik option; ignored" in capsys.readouterr().err


def test_an_empty_environment_value_is_unset() -> None:
    # CI templates export variables whether or not they have a value (an audit found
    # QIK__WORKERS= an error while QIK__PROFILE= was unset).
    env = {"QIK__WORKERS": "", "QIK__ISOLATED": "", "QIK__CACHE_STATUS": ""}
    options = merge_options({}, {"workers": 3}, "ci", environ=env)
    assert (options.workers, options.isolated, options.cache_status) == (3, False, None)
