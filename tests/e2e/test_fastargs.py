"""A plain ``qik ...`` skips typer (``qik.cli.fastargs``); anything else still gets typer."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import QIK, run_qik
from tests.e2e.test_cli import MODULES_TOML

Qik = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    return make_repo({"qik.toml": MODULES_TOML, "a/x.py": "", "b/y.py": ""})


def _imports(root: Path, *args: str) -> str:
    """What a real ``qik`` run imports (``-X importtime``'s report)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", QIK, *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    return out.stderr


def _timeless(text: str) -> str:
    return re.sub(r"\d+(\.\d+)?s\b", "Ns", text)


# The same runs, the second spelled so that fastargs declines it ("--") and typer parses it.
SAME_RUNS = [
    (
        ("lint", "-m", "a", "--module=b", "-n1", "--cache-status", "warm"),
        ("-m", "a", "--module=b", "-n1", "--cache-status", "warm", "--", "lint"),
    ),
    (("-t", "slow", "-v", "2", "--cache-status=warm"), ("-t", "slow", "-v", "2", "--")),
]


@pytest.mark.parametrize("fast, typer", SAME_RUNS)
def test_cached_run_skips_typer_and_matches_the_typer_path(
    repo: Path, qik: Qik, fast: tuple[str, ...], typer: tuple[str, ...]
) -> None:
    assert qik(repo).returncode == 0
    fast_out, typer_out = qik(repo, *fast), qik(repo, *typer)
    assert fast_out.returncode == typer_out.returncode == 0
    assert "replayed" in fast_out.stdout and "lint b" in fast_out.stdout
    assert _timeless(fast_out.stdout) == _timeless(typer_out.stdout)
    assert fast_out.stderr == typer_out.stderr
    listed = [qik(repo, "--ls", "--json", *args).stdout for args in (fast, typer)]
    assert listed[0] == listed[1] and "lint@a" in listed[0]

    assert not re.search(r"\b(typer|click|rich)\b", _imports(repo, *fast))
    assert re.search(r"\btyper\b", _imports(repo, *typer))  # the check above can fail


def test_help_version_and_usage_errors_are_typers(repo: Path) -> None:
    helped = run_qik(repo, "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("Usage: qik [OPTIONS]")
    assert "--cache-status" in helped.stdout and "--version" in helped.stdout
    assert run_qik(repo, "-h").stdout == helped.stdout

    version = run_qik(repo, "--version")
    assert version.returncode == 0 and re.fullmatch(r"qik \d+\.\d+\.\d+\S*\n", version.stdout)

    not_int = run_qik(repo, "-n", "x")
    assert not_int.returncode == 2 and not_int.stdout == ""
    assert "Invalid value for '-n' / '--workers': 'x' is not a valid int." in not_int.stderr

    bogus = run_qik(repo, "--bogus")
    assert bogus.returncode == 2 and "No such option: --bogus" in bogus.stderr
    assert "Traceback" not in bogus.stderr + not_int.stderr

    lukewarm = run_qik(repo, "--cache-status", "lukewarm")
    assert lukewarm.returncode == 2 and "must be warm or cold" in lukewarm.stderr
    assert "error[invalid-option]" in lukewarm.stderr


@pytest.mark.parametrize(
    "args",
    [("--ls", "--json"), ("--ls", "--json", "--"), (":cache", "ls"), (":cache", "ls", "--json")],
)
def test_a_closed_pipe_exits_1_quietly(repo: Path, args: tuple[str, ...]) -> None:
    """``qik --ls --json | head -c 1``: exit 1 and no traceback, with or without typer,
    and for meta commands too."""
    with subprocess.Popen(
        [QIK, *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # before qik writes a byte
        assert proc.stderr.read() == b""
        assert proc.wait(timeout=60) == 1
