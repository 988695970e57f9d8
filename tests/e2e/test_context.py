"""Context variables and profiles, through the CLI."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

Qik = Callable[..., subprocess.CompletedProcess[str]]

TOML = """
vars = ["region", {name = "level", type = "int", default = 1}]

[commands.show]
exec = "echo region={ctx.region} level={ctx.level} arch={ctx.qik.arch}"
deps = [{type = "const", val = "{ctx.region}"}]

[commands.other]
exec = "echo other"

[ctx.ci.qik]
isolated = true
commands = ["show"]

[ctx.ci.project]
region = "eu"
level = 3
"""


def test_profile_values_and_env_precedence(make_repo: Callable[..., Path], qik: Qik) -> None:
    root = make_repo({"qik.toml": TOML})
    out = qik(root, "-p", "ci").stdout
    assert "region=eu level=3" in out
    assert "other" not in out  # the profile selected only `show`
    out = qik(root, env={"QIK__PROFILE": "ci", "REGION": "us"}).stdout
    assert "region=us level=3" in out
    out = qik(root, "-p", "ci", env={"PROJECT__REGION": "ap", "REGION": "us"}).stdout
    assert "region=ap" in out


def test_ctx_change_breaks_the_cache(make_repo: Callable[..., Path], qik: Qik) -> None:
    root = make_repo({"qik.toml": TOML})
    qik(root, "show", env={"REGION": "us"})
    assert "replayed" in qik(root, "show", env={"REGION": "us"}).stdout
    assert "ran in" in qik(root, "show", env={"REGION": "eu"}).stdout


def test_missing_required_var_only_when_used(make_repo: Callable[..., Path], qik: Qik) -> None:
    root = make_repo({"qik.toml": TOML})
    assert qik(root, "other").returncode == 0
    missing = qik(root, "show")
    assert missing.returncode == 2 and "error[missing-var]" in missing.stderr


def test_bad_env_values_are_coded(make_repo: Callable[..., Path], qik: Qik) -> None:
    root = make_repo({"qik.toml": TOML})
    for env, code in (
        ({"QIK__WORKERS": "many"}, "invalid-option"),
        ({"LEVEL": "high", "REGION": "x"}, "invalid-var-value"),
        ({"QIK__PROFILE": "nope"}, "unknown-profile"),
    ):
        result = qik(root, env=env)
        assert result.returncode == 2, env
        assert f"error[{code}]" in result.stderr
        assert "Traceback" not in result.stderr


def test_var_declared_with_a_dash(make_repo: Callable[..., Path], qik: Qik) -> None:
    # {ctx.my-var} and {ctx.my_var} both name a var declared as "my-var" (env: MY_VAR).
    toml = """
vars = [{name = "my-var", default = "d"}]

[commands.show]
exec = "echo a={ctx.my-var} b={ctx.my_var}"

[ctx.ci.project]
my-var = "ci"
"""
    root = make_repo({"qik.toml": toml})
    out = qik(root)
    assert out.returncode == 0, out.stderr
    assert "a=d b=d" in out.stdout
    assert "a=x b=x" in qik(root, env={"PROJECT__MY_VAR": "x"}).stdout
    assert "a=ci b=ci" in qik(root, "-p", "ci").stdout


QIK_VALUES = """
[commands.x]
exec = "echo w=[{ctx.qik.workers}] c=[{ctx.qik.cache}] a=[{ctx.qik.arch}]"
[ctx.ci.qik]
workers = 5
"""


def test_qik_values_are_this_runs_options(make_repo: Callable[..., Path], qik: Qik) -> None:
    """{ctx.qik.OPTION} is the option as the run has it: flag over QIK__ over profile."""
    root = make_repo({"qik.toml": QIK_VALUES})
    assert "w=[5] c=[] a=[" in qik(root, "-p", "ci").stdout
    assert "w=[4] c=[]" in qik(root, "-p", "ci", "-n", "4").stdout
    assert "w=[3] c=[repo]" in qik(root, "-n", "3", env={"QIK__CACHE": "repo"}).stdout


def test_meta_commands_render_qik_values_as_the_run_did(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    """``:cache ls`` and ``:explain`` with ``-p`` see the result a ``-p`` run stored."""
    toml = '[commands.c]\nexec = "echo {ctx.qik.workers} {ctx.qik.profile}"\ndeps = ["x"]\n'
    root = make_repo({"qik.toml": toml + "[ctx.ci.qik]\nworkers = 3\n", "x": ""})
    assert qik(root, "-p", "ci").returncode == 0
    listed = qik(root, ":cache", "-p", "ci", "ls")
    assert "warm" in listed.stdout and "cold" not in listed.stdout, listed.stdout
    assert "warm" in qik(root, ":explain", "-p", "ci", "c").stdout


def test_an_unknown_qik_value_is_an_error(make_repo: Callable[..., Path], qik: Qik) -> None:
    """A typo must not become an empty string: {ctx.qik.arch} keeps architectures apart."""
    toml = '[commands.x]\nexec = "echo"\ndeps = [{type = "const", val = "{ctx.qik.acrh}"}]\n'
    result = qik(make_repo({"qik.toml": toml}))
    assert result.returncode == 2
    assert "error[unknown-var]" in result.stderr and "{ctx.qik.acrh}" in result.stderr


def test_an_undeclared_var_in_a_cache_fails_warm_runs_too(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    """A cache's settings are rendered only when it is read; a typo in them must not pass
    on a warm machine and fail on a fresh one."""
    toml = """
        [caches.remote]
        type = "s3"
        bucket = "b"
        endpoint-url = "{ctx.s3_endpointt}"
        [commands.x]
        exec = "echo x"
        deps = ["f"]
        """
    root = make_repo({"qik.toml": toml, "f": ""})
    for args in ((), ("--ls",)):
        result = qik(root, *args)
        assert result.returncode == 2
        assert "error[unknown-var]: [caches.remote] endpoint-url" in result.stderr


def test_a_warm_pass_is_not_stopped_by_a_command_that_is_never_cached(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    # The CI guide's first step, `qik --cache-status warm`, in a job without one command's
    # secret: a command without deps is never warm, so it is not selected, and its missing
    # variable is not an error there (found by an audit). Run, it still is.
    toml = (
        'vars = ["secret"]\n'
        '[commands.needs]\nexec = "echo {ctx.secret}"\n'
        '[commands.free]\nexec = "echo free"\ndeps = ["qik.toml"]\n'
    )
    root = make_repo({"qik.toml": toml})
    assert qik(root, "free").returncode == 0
    warm = qik(root, "--cache-status", "warm")
    assert warm.returncode == 0, warm.stderr
    assert "1 replayed" in warm.stdout
    assert "error[missing-var]" in qik(root).stderr
