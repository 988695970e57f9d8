"""Selection, listing, parallelism, interrupts and config errors, through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.conftest import QIK

Qik = Callable[..., subprocess.CompletedProcess[str]]

MODULES_TOML = """
modules = ["a", "b"]

[commands.lint]
exec = "echo lint {module.dir}"
deps = ["{module.dir}/**.py"]
cache = "repo"

[commands.check]
exec = "echo check"
deps = ["**.py", {type = "command", name = "lint"}]
tags = ["slow"]

[commands.fmt]
exec = "echo fmt"
"""


@pytest.fixture
def modules_repo(make_repo: Callable[..., Path]) -> Path:
    return make_repo({"qik.toml": MODULES_TOML, "a/x.py": "", "b/y.py": ""})


def test_ls_lists_runnables(modules_repo: Path, qik: Qik) -> None:
    out = qik(modules_repo, "--ls")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["lint@a", "lint@b", "check", "fmt"]


def test_ls_by_module_tag_and_isolated(modules_repo: Path, qik: Qik) -> None:
    assert qik(modules_repo, "lint", "-m", "b", "--ls").stdout.split() == ["lint@b"]
    assert qik(modules_repo, "-t", "slow", "--ls").stdout.split() == ["lint@a", "lint@b", "check"]
    assert qik(modules_repo, "check", "--isolated", "--ls").stdout.split() == ["check"]


def test_ls_json(modules_repo: Path, qik: Qik) -> None:
    rows = json.loads(qik(modules_repo, "--ls", "--json").stdout)
    assert [r["name"] for r in rows] == ["lint@a", "lint@b", "check", "fmt"]
    assert rows[0]["module"] == "a" and rows[0]["cache"] == "repo"
    assert rows[3]["name"] == "fmt" and rows[3]["cache"] is None  # no deps: never cached
    assert {r["status"] for r in rows} == {"cold"}
    assert all(len(r["dep_hash"]) >= 32 for r in rows)


def test_cache_selects_no_uncached_command(make_repo: Callable[..., Path], qik: Qik) -> None:
    # A command without deps is never cached, even under [defaults] cache = "repo": the CI
    # guide's check must be able to pass, and `qik --cache repo` runs only cached commands.
    toml = """
[defaults]
cache = "repo"

[commands.fmt]
exec = "echo fmt"

[commands.lock]
exec = "echo lock"
deps = ["requirements.in"]
"""
    root = make_repo({"qik.toml": toml, "requirements.in": "six\n"})
    check = ("--cache", "repo", "--cache-status", "cold", "--fail", "--ls")
    cold = qik(root, *check)
    assert (cold.returncode, cold.stdout.split()) == (1, ["lock"])
    ran = qik(root, "--cache", "repo")
    assert ran.returncode == 0, ran.stderr
    assert "fmt" not in ran.stdout
    warm = qik(root, *check)
    assert (warm.returncode, warm.stdout) == (0, "")
    assert qik(root, "--cache-status", "cold", "--ls").stdout.split() == ["fmt"]
    named = qik(root, "fmt", "lock", "--cache", "repo")  # a name that --cache leaves out
    assert named.returncode == 0 and "1 replayed" in named.stdout
    assert "fmt: not selected, its results go to no cache, not repo" in named.stderr
    # Left out by another filter, it is not --cache's doing: no such warning (an audit).
    other = qik(root, "lock", "-t", "nosuch", "--cache", "repo")
    assert other.returncode == 0 and "results go to" not in other.stderr, other.stderr
    assert "lock: not selected: no runnable of it is left by -t nosuch" in other.stderr


def test_cache_names_the_cache_of_named_commands_it_would_leave_out(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    """The CI guide's ``qik pytest --cache my_remote_cache_name``, for a pytest naming no
    cache: rather than run nothing, --cache says where its results go, for this run."""
    toml = '[commands.test]\nexec = "echo tested >> count"\ndeps = ["t.py"]\n'
    toml += '[commands.lint]\nexec = "echo lint"\ndeps = ["t.py"]\ncache = "repo"\n'
    root = make_repo({"qik.toml": toml, "t.py": "", ".gitignore": "count\n"})
    first = qik(root, "test", "--cache", "repo")
    assert first.returncode == 0 and "1 ran" in first.stdout, first.stdout + first.stderr
    assert len(list((root / ".qik" / "manifests").glob("*.json"))) == 1  # stored in repo
    shutil.rmtree(root / "._qik")
    again = qik(root, "test", "--cache", "repo")
    assert "replayed from repo cache" in again.stdout
    assert (root / "count").read_text() == "tested\n"
    # A name --cache keeps (lint uses repo): then it only selects, as without names.
    assert qik(root, "test", "lint", "--cache", "repo", "--ls").stdout.split() == ["lint"]


def test_dotted_modules_are_import_paths(make_repo: Callable[..., Path], qik: Qik) -> None:
    # The blog post's example: modules written as dotted import paths.
    toml = """
modules = ["my.module.a", "my.module.b", "plain", {name = "c", path = "lib.c"}]

[commands.lint]
exec = "echo dir={module.dir} imp={module.pyimport}"
deps = ["{module.dir}/**.py"]
"""
    root = make_repo(
        {
            "qik.toml": toml,
            "my/module/a/x.py": "",
            "my/module/b/y.py": "",
            "plain/z.py": "",
            "src/lib/c/w.py": "",
        }
    )
    names = ["lint@my.module.a", "lint@my.module.b", "lint@plain", "lint@c"]
    assert qik(root, "--ls").stdout.split() == names
    out = qik(root, "-n", "1")
    assert out.returncode == 0, out.stderr
    assert "dir=my/module/a imp=my.module.a" in out.stdout
    assert "dir=my/module/b imp=my.module.b" in out.stdout
    assert "dir=plain imp=plain" in out.stdout
    assert "dir=lib/c imp=lib.c" in out.stdout
    # The glob dep covers the module's folder: an edit there makes only its runnable cold.
    (root / "my/module/a/x.py").write_text("x = 1\n")
    cold = qik(root, "--cache-status", "cold", "--ls")
    assert cold.stdout.split() == ["lint@my.module.a"]
    # Under [defaults] python-path, a dotted module is a folder below it.
    (root / "qik.toml").write_text(toml + '\n[defaults]\npython-path = "src"\n')
    assert "dir=src/lib/c imp=lib.c" in qik(root, "lint@c").stdout


def test_cache_status_and_fail(modules_repo: Path, qik: Qik) -> None:
    check = ("--cache", "repo", "--cache-status", "cold", "--fail", "--ls")
    cold = qik(modules_repo, *check)
    assert cold.returncode == 1
    assert cold.stdout.split() == ["lint@a", "lint@b"]
    assert qik(modules_repo, "--cache", "repo").returncode == 0
    warm = qik(modules_repo, *check)
    assert warm.returncode == 0, warm.stdout
    assert warm.stdout == ""
    assert qik(modules_repo, "--cache-status", "warm", "--ls").stdout.split() == [
        "lint@a",
        "lint@b",
    ]
    assert (modules_repo / ".qik" / "manifests").is_dir()


NARROWED_TOML = """
[commands.codegen]
exec = "echo made >> made.log; echo gen > gen.out"
artifacts = ["gen.out"]
deps = ["f.txt"]

[commands.check]
exec = "cat gen.out"
deps = ["f.txt", {type = "command", name = "codegen"}]
cache = "repo"
"""


def test_cache_filters_keep_what_a_cold_runnable_needs(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    """--cache and --cache-status choose what is listed; a chosen runnable that runs still
    gets the commands it depends on first (replayed if warm), or it runs on their missing
    or stale outputs and stores that as its result."""
    root = make_repo({"qik.toml": NARROWED_TOML, "f.txt": "1", ".gitignore": "gen.out\n"})
    assert qik(root, "--cache", "repo", "--ls").stdout.split() == ["check"]
    first = qik(root, "--cache", "repo")
    assert first.returncode == 0, first.stdout + first.stderr
    assert (root / "made.log").read_text() == "made\n"

    (root / "f.txt").write_text("2")  # both cold; then codegen alone warm, its output gone
    assert qik(root, "codegen").returncode == 0
    (root / "gen.out").unlink()
    assert qik(root, "--cache-status", "cold", "--ls").stdout.split() == ["check"]
    rows = json.loads(qik(root, "--cache-status", "cold", "--ls", "--json").stdout)
    assert [r["name"] for r in rows] == ["check"]
    second = qik(root, "--cache-status", "cold")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "codegen replayed" in second.stdout and "1 ran, 1 replayed" in second.stdout
    assert (root / "made.log").read_text() == "made\nmade\n"  # replayed, not run again

    (root / "f.txt").write_text("3")
    assert qik(root, "codegen").returncode == 0
    (root / "gen.out").unlink()
    warm = qik(root, "--cache-status", "warm")  # nothing cold runs, so nothing joins
    assert "codegen replayed" in warm.stdout and "check" not in warm.stdout
    (root / "gen.out").unlink()
    isolated = qik(root, "--cache-status", "cold", "--isolated")
    assert isolated.returncode == 1  # codegen left out on purpose: check finds no gen.out


def test_two_sleeps_run_in_parallel(make_repo: Callable[..., Path], qik: Qik) -> None:
    toml = '[commands]\none = "sleep 1"\ntwo = "sleep 1"\n'
    root = make_repo({"qik.toml": toml})
    qik(root, "--ls")  # warm the interpreter's file caches
    # Wall-clock on a shared 2-core machine: the best of three tries must make it.
    times = []
    for _ in range(3):
        start = time.monotonic()
        result = qik(root, "-n", "2")
        times.append(time.monotonic() - start)
        assert result.returncode == 0, result.stderr
        if times[-1] < 1.8:
            break
    assert min(times) < 1.8, times


def test_failure_skips_downstream(make_repo: Callable[..., Path], qik: Qik) -> None:
    toml = """
        [commands.up]
        exec = "exit 4"
        [commands.down]
        exec = "echo never"
        deps = [{type = "command", name = "up"}]
        """
    root = make_repo({"qik.toml": toml})
    result = qik(root, "down")
    assert result.returncode == 1
    assert "never" not in result.stdout
    assert "skipped" in result.stdout
    assert "1 failed, 1 skipped" in result.stdout


def test_timeout_kills_the_command(make_repo: Callable[..., Path], qik: Qik) -> None:
    toml = '[commands.slow]\nexec = "sleep 30"\ntimeout = 0.5\n'
    root = make_repo({"qik.toml": toml})
    start = time.monotonic()
    result = qik(root, "slow")
    assert result.returncode == 1
    assert time.monotonic() - start < 10
    assert "timed out" in result.stdout


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_kills_every_child(
    make_repo: Callable[..., Path], tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    toml = """
        [commands.one]
        exec = "sh -c 'sleep 60'"
        deps = ["*.py"]
        cache-when = "finished"
        [commands.two]
        exec = "sleep 60"
        deps = ["*.py"]
        cache-when = "finished"
        """
    root = make_repo({"qik.toml": toml})
    proc = subprocess.Popen(
        [QIK, "-n", "2"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    sleepers: list[psutil.Process] = []
    while time.monotonic() < deadline and len(sleepers) < 2:
        time.sleep(0.1)
        kids = psutil.Process(proc.pid).children(recursive=True)
        sleepers = [k for k in kids if _is_sleep(k)]
    assert len(sleepers) == 2, "the commands never started"
    everyone = psutil.Process(proc.pid).children(recursive=True)
    start = time.monotonic()
    proc.send_signal(sig)
    assert proc.wait(timeout=5) == code
    # The bound is for Ctrl-C; SIGTERM stops the same way, given a little slack.
    assert time.monotonic() - start < (2 if sig == signal.SIGINT else 3)
    time.sleep(0.2)
    alive = [p for p in everyone if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    manifests = root / "._qik" / "manifests"
    assert not manifests.exists() or not any(manifests.rglob("*.json"))


def _is_sleep(proc: psutil.Process) -> bool:
    try:
        return proc.name() == "sleep"
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize(
    "toml, code",
    [
        ("[commands.x\nexec = 1", "toml-syntax"),
        ("[commands.x]\nexec = 'a'\ndepz = []", "unknown-key"),
        ("[commands.x]\nexec = 3", "wrong-type"),
        ("[commands.x]\nexec = 'a'\ndeps = [{type = 'nope'}]", "unknown-dep-type"),
        ("[commands.x]\nexec = 'a'\ndeps = ['a']\ncache = 'nowhere'", "unknown-cache"),
        (
            "[commands.x]\nexec = 'a'\ndeps = [{type = 'command', name = 'y'}]\n"
            "[commands.y]\nexec = 'b'\ndeps = [{type = 'command', name = 'x'}]",
            "dep-cycle",
        ),
        ("vars = ['token']\n[commands.x]\nexec = 'echo {ctx.token}'", "missing-var"),
        # {module...} in a project without modules: an error, not a command with no runnables
        ("[commands.x]\nexec = 'ruff check {module.dir}'", "invalid-template"),
        # an artifact outside the project could never be restored
        ("[commands.x]\nexec = 'a'\ndeps = ['a']\nartifacts = ['../out.txt']", "invalid-value"),
        ("[defaults]\npython-path = '/usr/lib'\n[commands.x]\nexec = 'a'", "invalid-value"),
    ],
)
def test_config_errors_are_coded(
    make_repo: Callable[..., Path], qik: Qik, toml: str, code: str
) -> None:
    root = make_repo({"qik.toml": toml})
    result = qik(root)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"error[{code}]" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_command_and_module(modules_repo: Path, qik: Qik) -> None:
    unknown = qik(modules_repo, "nope")
    assert unknown.returncode == 2 and "error[unknown-command]" in unknown.stderr
    module = qik(modules_repo, "-m", "zz")
    assert module.returncode == 2 and "error[unknown-module]" in module.stderr


def test_options_before_a_meta_command_are_its_own(modules_repo: Path, qik: Qik) -> None:
    assert qik(modules_repo, "lint").returncode == 0
    listed = qik(modules_repo, "-p", "default", ":cache", "ls")
    assert listed.returncode == 0 and "lint@a" in listed.stdout, listed.stderr
    explained = qik(modules_repo, "-p", "default", ":explain", "lint@a")
    assert explained.returncode == 0 and "warm" in explained.stdout, explained.stderr
    named = qik(modules_repo, "lint", ":cache")  # a name before it: not an option
    assert named.returncode == 2 and "error[unknown-command]" in named.stderr


def test_qik_0_2_module_command_names_in_listings_and_explain(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    """``bb.lint``, qik 0.2's name of the module-level command ``bb/lint``, selects it
    everywhere, not only in a run (``:explain bb.lint`` printed nothing, exit 0)."""
    toml = '[commands.lint]\nexec = "echo lint"\ndeps = ["x.py"]\n'
    root = make_repo({"qik.toml": 'modules = ["bb"]\n', "bb/qik.toml": toml, "bb/x.py": ""})
    assert qik(root, "bb.lint", "--ls").stdout == "bb/lint\n"
    assert qik(root, "bb.lint").returncode == 0
    explained = qik(root, ":explain", "bb.lint")
    assert explained.returncode == 0 and explained.stdout.startswith("bb/lint: warm")


def test_usage_errors_are_coded(modules_repo: Path, qik: Qik) -> None:
    for args in (["--bogus"], ["-n"], [":cache", "frob"], [":graph", "--format", "svg"]):
        out = qik(modules_repo, *args)
        assert out.returncode == 2, args
        assert "error[usage]" in out.stderr and "docs/errors.md#usage" in out.stderr, args
        assert "Traceback" not in out.stderr


def test_cycle_error_names_the_cycle(make_repo: Callable[..., Path], qik: Qik) -> None:
    toml = (
        "[commands.x]\nexec = 'a'\ndeps = [{type = 'command', name = 'y'}]\n"
        "[commands.y]\nexec = 'b'\ndeps = [{type = 'command', name = 'x'}]"
    )
    result = qik(make_repo({"qik.toml": toml}), "--ls")
    assert "x -> y -> x" in result.stderr or "y -> x -> y" in result.stderr


def test_no_config_found(tmp_path: Path, qik: Qik) -> None:
    result = qik(tmp_path)
    assert result.returncode == 2
    assert "error[config-not-found]" in result.stderr


def test_qik_toml_directory_is_unreadable(make_repo: Callable[..., Path], qik: Qik) -> None:
    # A directory named qik.toml is not silently skipped in favour of a config further up.
    root = make_repo({"pyproject.toml": "[tool.qik.commands]\nhello = 'echo hello'\n"})
    (root / "qik.toml").mkdir()
    result = qik(root)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "error[config-unreadable]" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_module_qik_toml_directory_is_unreadable(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    root = make_repo({"qik.toml": 'modules = ["a"]\n[commands]\nhello = "echo hello"\n'})
    (root / "a" / "qik.toml").mkdir(parents=True)
    result = qik(root)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "error[config-unreadable]: a/qik.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_python_m_qik_is_the_qik_command(make_repo: Callable[..., Path]) -> None:
    toml = '[commands.a]\nexec = "echo from-a"\ndeps = ["*.txt"]\n'
    root = make_repo({"qik.toml": toml, "x.txt": "x"})
    listed = subprocess.run(
        [sys.executable, "-m", "qik", "--ls"], cwd=root, capture_output=True, text=True
    )
    assert (listed.returncode, listed.stdout) == (0, "a\n"), listed.stderr
    ran = subprocess.run(
        [sys.executable, "-m", "qik", "-n", "2"], cwd=root, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert "from-a" in ran.stdout
    again = subprocess.run([sys.executable, "-m", "qik"], cwd=root, capture_output=True, text=True)
    assert "1 replayed" in again.stdout + again.stderr


def test_a_bare_verbosity_flag_means_2(make_repo: Callable[..., Path], qik: Qik) -> None:
    """qik 0.2 read ``-v`` without a level as ``-v 2``."""
    root = make_repo({"qik.toml": '[commands]\na = "echo hello-a"\nb = "echo hello-b"\n'})
    both = qik(root, "-v")
    assert both.returncode == 0, both.stderr
    assert "hello-a" in both.stdout and "hello-b" in both.stdout
    one = qik(root, "-v", "a")
    assert one.returncode == 0 and "hello-b" not in one.stdout
    assert qik(root, "--verbosity", "0", "a").stdout == ""


def test_fail_alone_is_a_check_that_runs_nothing(modules_repo: Path, qik: Qik) -> None:
    """qik 0.2's ``--fail`` never ran anything: a CI gate written without --ls must not
    run the cold commands and pass."""
    gate = qik(modules_repo, "--cache", "repo", "--cache-status", "cold", "--fail")
    assert (gate.returncode, gate.stdout.split()) == (1, ["lint@a", "lint@b"])
    assert not (modules_repo / ".qik").exists()  # nothing ran, nothing stored


def test_commands_know_what_runs_them(make_repo: Callable[..., Path], qik: Qik) -> None:
    """QIK__CMD, QIK__RUNNABLE and QIK__WORKER, as qik 0.2 set them: two commands running
    at once have two worker numbers, the lowest free ones; a qik run inside a command
    doesn't take them for options."""
    toml = """
        modules = ["a", "b"]
        [commands.show]
        exec = "echo $QIK__CMD $QIK__RUNNABLE w$QIK__WORKER {module.name}; sleep 0.5"
        [commands.nested]
        exec = "qik --ls > /dev/null && echo nested-ok"
        """
    root = make_repo({"qik.toml": toml, "a/x.py": "", "b/y.py": ""})
    # The nested `qik` is the one under test, found first on PATH even when the venv
    # isn't activated (pytest run as .venv/bin/python -m pytest).
    path = f"{Path(QIK).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    out = qik(root, "-n", "2", env={"PATH": path})
    assert out.returncode == 0, out.stdout + out.stderr
    lines = {line for line in out.stdout.splitlines() if line.startswith("show ")}
    assert {line.split()[1] for line in lines} == {"show@a", "show@b"}
    assert {line.split()[2] for line in lines} <= {"w1", "w2"}
    assert "nested-ok" in out.stdout


def test_an_unknown_cache_on_the_command_line_names_the_declared_ones(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    # The hint listed the built-in caches as if declared (an audit).
    root = make_repo({"qik.toml": '[commands.a]\nexec = "echo a"\n'})
    out = qik(root, "--cache", "nope")
    assert out.returncode == 2 and "error[unknown-cache]" in out.stderr
    assert "declared under [caches.NAME] (none here)" in out.stderr, out.stderr


def test_a_named_command_the_current_space_leaves_out_is_warned_about(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    # Below a space's root a run selects that space: a command of another one, named,
    # selected nothing and said nothing (an audit).
    toml = (
        '[spaces.app]\nroot = "app"\n'
        '[commands.show]\nexec = "echo show"\nspace = "app"\n'
        '[commands.top]\nexec = "echo top"\n'
    )
    root = make_repo({"qik.toml": toml, "app/x.txt": ""})
    out = qik(root / "app", "top")
    assert out.returncode == 0
    assert "top: not selected: no runnable of it is left by -s app" in out.stderr, out.stderr
    assert "top: not selected" not in qik(root / "app", "show").stderr
