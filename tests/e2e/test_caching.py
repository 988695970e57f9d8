"""The core promise, through the CLI: unchanged work replays, changed work re-runs."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import git

Qik = Callable[..., subprocess.CompletedProcess[str]]


def _config(counter: Path, *, deps: str = '["src/**.py"]', extra: str = "") -> str:
    return f"""
        [commands.hello]
        exec = "echo ran >> {counter} && echo hello-output"
        deps = {deps}
        {extra}
        """


def _count(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def test_second_run_replays_output_and_exit_code(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    counter = tmp_path / "counter"
    root = make_repo({"qik.toml": _config(counter), "src/a.py": "x = 1\n"})
    first = qik(root, "hello")
    assert first.returncode == 0, first.stderr
    assert "hello-output" in first.stdout
    second = qik(root, "hello")
    assert second.returncode == 0, second.stderr
    assert "hello-output" in second.stdout
    assert "replayed" in second.stdout
    assert _count(counter) == 1


def test_failed_exit_code_is_replayed_with_cache_when_finished(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    counter = tmp_path / "counter"
    toml = f"""
        [commands.bad]
        exec = "echo ran >> {counter}; echo boom; exit 3"
        deps = ["src/**.py"]
        cache-when = "finished"
        """
    root = make_repo({"qik.toml": toml, "src/a.py": ""})
    assert qik(root, "bad").returncode == 1
    again = qik(root, "bad")
    assert again.returncode == 1
    assert "boom" in again.stdout
    assert _count(counter) == 1


def test_failures_are_not_cached_by_default(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    counter = tmp_path / "counter"
    toml = f'[commands.bad]\nexec = "echo ran >> {counter}; exit 1"\ndeps = ["src/**.py"]\n'
    root = make_repo({"qik.toml": toml, "src/a.py": ""})
    assert qik(root, "bad").returncode == 1
    assert qik(root, "bad").returncode == 1
    assert _count(counter) == 2


def test_what_breaks_the_cache(make_repo: Callable[..., Path], qik: Qik, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    root = make_repo({"qik.toml": _config(counter), "src/a.py": "x = 1\n", "README": "hi\n"})
    qik(root, "hello")
    assert _count(counter) == 1

    (root / "README").write_text("changed\n")  # not a dep
    qik(root, "hello")
    assert _count(counter) == 1

    (root / "src/a.py").write_text("x = 2\n")  # a dep, modified in the work tree
    qik(root, "hello")
    assert _count(counter) == 2

    (root / "src/new.py").write_text("")  # untracked, matches the glob
    qik(root, "hello")
    assert _count(counter) == 3

    (root / "src/ignored.py").write_text("")
    (root / ".gitignore").write_text("._qik/\nsrc/ignored.py\n")
    qik(root, "hello")  # .gitignore is not a dep; the ignored file doesn't count
    assert _count(counter) == 3

    git(root, "add", "-A")
    git(root, "commit", "-qm", "commit the edits")
    qik(root, "hello")  # committing changes no content
    assert _count(counter) == 3


def test_exec_and_const_changes_rerun(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    counter = tmp_path / "counter"
    deps = '["src/**.py", {type = "const", val = "one"}]'
    root = make_repo({"qik.toml": _config(counter, deps=deps), "src/a.py": ""})
    qik(root, "hello")
    qik(root, "hello")
    assert _count(counter) == 1
    (root / "qik.toml").write_text(_config(counter, deps=deps.replace("one", "two")))
    qik(root, "hello")
    assert _count(counter) == 2
    changed_exec = _config(counter, deps=deps.replace("one", "two")).replace(
        "hello-output", "hello-output2"
    )
    (root / "qik.toml").write_text(changed_exec)
    assert "hello-output2" in qik(root, "hello").stdout
    assert _count(counter) == 3


def test_uncached_command_always_runs(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    counter = tmp_path / "counter"
    root = make_repo({"qik.toml": f'[commands]\nfmt = "echo ran >> {counter}"\n'})
    qik(root, "fmt")
    qik(root, "fmt")
    assert _count(counter) == 2


def test_force_reruns(make_repo: Callable[..., Path], qik: Qik, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    root = make_repo({"qik.toml": _config(counter), "src/a.py": ""})
    qik(root, "hello")
    qik(root, "hello", "-f")
    assert _count(counter) == 2


def test_deleted_artifact_is_restored_byte_identical_with_mode(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    counter = tmp_path / "counter"
    write = "printf 'bin\\\\000ary' > out/tool"
    toml = f"""
        [commands.build]
        exec = "echo ran >> {counter}; mkdir -p out; {write}; chmod 751 out/tool"
        deps = ["src/**.py"]
        artifacts = ["out/tool"]
        """
    root = make_repo({"qik.toml": toml, "src/a.py": "", ".gitignore": "._qik/\nout/\n"})
    assert qik(root, "build").returncode == 0
    original = (root / "out/tool").read_bytes()
    assert original == b"bin\x00ary"
    (root / "out/tool").unlink()
    result = qik(root, "build")
    assert result.returncode == 0, result.stderr
    assert _count(counter) == 1
    assert (root / "out/tool").read_bytes() == original
    assert stat.S_IMODE(os.stat(root / "out/tool").st_mode) == 0o751


def test_artifact_glob_patterns(make_repo: Callable[..., Path], qik: Qik, tmp_path: Path) -> None:
    toml = """
        [commands.gen]
        exec = "mkdir -p gen/sub && echo a > gen/a.txt && echo b > gen/sub/b.txt"
        deps = ["src/**.py"]
        artifacts = ["gen/**/*.txt"]
        """
    root = make_repo({"qik.toml": toml, "src/a.py": "", ".gitignore": "._qik/\ngen/\n"})
    qik(root, "gen")
    for rel in ("gen/a.txt", "gen/sub/b.txt"):
        (root / rel).unlink()
    assert qik(root, "gen").returncode == 0
    assert (root / "gen/sub/b.txt").read_text() == "b\n"


def test_a_symlink_artifact_is_left_out_with_a_warning(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    toml = """
        [commands.gen]
        exec = "mkdir -p out && echo a > out/file && ln -sf file out/link"
        deps = ["src/**.py"]
        artifacts = ["out/**"]
        """
    root = make_repo({"qik.toml": toml, "src/a.py": "", ".gitignore": "._qik/\nout/\n"})
    first = qik(root, "gen")
    assert first.returncode == 0
    assert "artifact out/link is a symbolic link: not stored" in first.stderr
    assert "matched no file" not in first.stderr
    (root / "out/file").unlink()
    (root / "out/link").unlink()
    assert "replayed" in qik(root, "gen").stdout
    assert (root / "out/file").read_text() == "a\n" and not (root / "out/link").exists()


def test_an_ascii_only_output_encoding(make_repo: Callable[..., Path], qik: Qik) -> None:
    """qik's headers ("──", "✓", "↺") can't be written in ASCII: they print replaced,
    the logs come through, and nothing fails (it was a UnicodeEncodeError)."""
    toml = '[commands.a]\nexec = "echo hello"\ndeps = ["qik.toml"]\n'
    root = make_repo({"qik.toml": toml})
    for expected in ("1 ran", "1 replayed"):
        done = qik(root, env={"PYTHONIOENCODING": "ascii"})
        assert done.returncode == 0, done.stderr
        assert "hello" in done.stdout and expected in done.stdout
        assert "Traceback" not in done.stderr


def test_a_clone_that_only_replays_keeps_qik_local_store_out_of_git(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    """Nothing runs, so no worker makes ._qik ignore itself; the run still must."""
    toml = '[commands.lock]\nexec = "echo locked"\ndeps = ["in.txt"]\ncache = "repo"\n'
    root = make_repo({"qik.toml": toml, "in.txt": "1", ".gitignore": ""})  # no ._qik/ line
    assert qik(root).returncode == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "repo cache")
    assert "._qik" not in git(root, "ls-files")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    replayed = qik(clone)
    assert "0 ran, 1 replayed" in replayed.stdout, replayed.stdout + replayed.stderr
    assert (clone / "._qik").is_dir()
    assert git(clone, "status", "--porcelain") == ""


def test_identical_runnables_keep_their_shared_result_in_the_repo_cache(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    """Two runnables with one dep hash share one manifest. When one changes, the repo
    cache prunes its older results: the one the other still uses must stay, or a fresh
    clone finds that one cold (the CI guide's ``--cache repo --cache-status cold --fail``
    check failed)."""
    toml = (
        '[commands.a1]\nexec = "echo hi"\ndeps = ["x"]\ncache = "repo"\n'
        '[commands.a2]\nexec = "echo hi"\ndeps = ["x"]\ncache = "repo"\n'
    )
    root = make_repo({"qik.toml": toml, "x": "1"})
    assert qik(root, "a2").returncode == 0  # the shared manifest names a2
    assert "2 replayed" in qik(root).stdout
    a2 = toml.rindex("echo hi")
    (root / "qik.toml").write_text(f"{toml[:a2]}echo hi2{toml[a2 + len('echo hi') :]}")
    assert qik(root).returncode == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "a2 changed")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    check = qik(clone, "--cache", "repo", "--cache-status", "cold", "--ls", "--fail")
    assert (check.returncode, check.stdout) == (0, ""), check.stdout + check.stderr


def test_a_run_leaves_a_merge_conflict_in_the_repo_cache_to_the_user(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    """Without the merge driver, two branches' results for one dep hash conflict; a run
    before the user resolves it must not stage over the conflict (the merge could no
    longer be aborted)."""
    toml = '[commands.lock]\nexec = "echo locked"\ndeps = ["in.txt"]\ncache = "repo"\n'
    root = make_repo({"qik.toml": toml, "in.txt": "1"})
    git(root, "checkout", "-q", "-b", "other")
    assert qik(root).returncode == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "other's result")
    git(root, "checkout", "-q", "main")
    assert qik(root, "-f").returncode == 0  # the same dep hash, another result
    git(root, "add", "-A")
    git(root, "commit", "-qm", "main's result")
    git(root, "config", "--remove-section", "merge.qik")
    merge = subprocess.run(["git", "merge", "-q", "other"], cwd=root, capture_output=True)
    assert merge.returncode != 0  # the conflict
    assert git(root, "ls-files", "-u")
    shutil.rmtree(root / "._qik")  # as in a fresh clone: the repo cache is all there is
    qik(root)  # reads the conflicted manifest as invalid, runs, stores a new one
    assert git(root, "ls-files", "-u"), "the conflict stages are gone"
    subprocess.run(["git", "merge", "--abort"], cwd=root, check=True)


def test_a_command_that_changes_its_own_inputs_is_not_stored_under_them(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    """A formatter: stored under the dep hash of the unformatted file, its result replayed
    for that file later and left it unformatted (qik 0.2 hashed after the run)."""
    toml = (
        '[commands.fmt]\nexec = "tr a-z A-Z < src/a.txt > a.tmp && mv a.tmp src/a.txt"\n'
        'deps = ["src/*.txt"]\n'
        '[commands.toucher]\nexec = "touch src/b.txt"\ndeps = ["src/*.txt"]\n'
    )
    root = make_repo({"qik.toml": toml, "src/a.txt": "hello\n", "src/b.txt": "b\n"})
    first = qik(root, "fmt")
    assert "changed while it ran" in first.stderr, first.stderr
    assert (root / "src/a.txt").read_text() == "HELLO\n"
    assert "ran" in qik(root, "fmt").stdout  # on the formatted file: stored now
    assert "replayed" in qik(root, "fmt").stdout
    (root / "src/a.txt").write_text("hello\n")
    again = qik(root, "fmt")
    assert "ran" in again.stdout and (root / "src/a.txt").read_text() == "HELLO\n"
    # Touching an input without changing it is not a change.
    touched = qik(root, "toucher")
    assert touched.returncode == 0 and "warning" not in touched.stderr, touched.stderr
    assert "replayed" in qik(root, "toucher").stdout


def test_a_file_changed_long_before_a_command_starts_keeps_its_result_unstored(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    """The check looks at every file changed since qik read it for the dep hash, not only
    at those changed shortly before the command started: here a.py changed 2.5 s before
    ``b_test`` started, ``b_test`` printed the changed file under the dep hash of the old
    one, and once a.py was back, that output was replayed for it (found by an audit)."""
    toml = (
        '[commands.a_fmt]\nexec = "echo formatted >> a.py; sleep 2.5"\n'
        '[commands.b_test]\nexec = "cat a.py"\ndeps = ["a.py"]\n'
    )
    root = make_repo({"qik.toml": toml, "a.py": "x = 1\n"})
    first = qik(root, "-n", "1")
    assert "b_test: result not cached" in first.stderr, first.stderr
    git(root, "checkout", "a.py")
    again = qik(root, "b_test")
    assert "1 ran, 0 replayed" in again.stdout, again.stdout
    assert "formatted" not in again.stdout


def test_isolated_results_on_an_upstream_that_never_ran_are_not_stored(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    """``--isolated`` runs a command without the one it depends on: on outputs that are
    not that one's for today's inputs. Stored, a full run later replayed that result."""
    toml = (
        '[commands.up]\nexec = "cp in.txt gen.txt"\ndeps = ["in.txt"]\n'
        'artifacts = ["gen.txt"]\n'
        '[commands.down]\nexec = "cat gen.txt > down.txt"\n'
        'deps = [{type = "command", name = "up"}]\nartifacts = ["down.txt"]\n'
    )
    root = make_repo({"qik.toml": toml, "in.txt": "v1\n", "gen.txt": ""})
    isolated = qik(root, "down", "--isolated")
    assert "has no stored result" in isolated.stderr, isolated.stderr
    assert qik(root, "down").returncode == 0  # up runs, then down on its output
    assert (root / "down.txt").read_text() == "v1\n"
    (root / "in.txt").write_text("v2\n")
    qik(root, "down", "--isolated")  # on the v1 gen.txt
    assert qik(root, "down").returncode == 0
    assert (root / "down.txt").read_text() == "v2\n"


def test_a_directory_artifact_is_every_file_below_it(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    toml = (
        '[commands.cov]\nexec = "mkdir -p htmlcov/sub && echo a > htmlcov/index.html'
        " && echo b > htmlcov/sub/x.css && echo c > htmlcov/.gitignore"
        ' && mkdir -p htmlcov/.d && echo d > htmlcov/.d/e"\ndeps = ["in.txt"]\n'
        'artifacts = ["htmlcov"]\n'
    )
    root = make_repo({"qik.toml": toml, "in.txt": "1"})
    first = qik(root)
    assert first.returncode == 0 and "matched no file" not in first.stderr, first.stderr
    shutil.rmtree(root / "htmlcov")
    assert "replayed" in qik(root).stdout
    assert (root / "htmlcov/index.html").read_text() == "a\n"
    assert (root / "htmlcov/sub/x.css").read_text() == "b\n"
    # The directory whole: dotfiles too (``*`` would skip them).
    assert (root / "htmlcov/.gitignore").read_text() == "c\n"
    assert (root / "htmlcov/.d/e").read_text() == "d\n"
