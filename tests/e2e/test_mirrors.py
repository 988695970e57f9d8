"""The repo cache and the local store through the CLI: a committed cache that never grows,
merges cleanly, makes a fresh clone warm, and is repaired when damaged."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import git

Qik = Callable[..., subprocess.CompletedProcess[str]]


def _toml(counter: Path) -> str:
    return f"""
        [commands.gen]
        exec = "echo ran >> {counter}; mkdir -p out; cat src/a.txt > out/gen.txt; echo generated"
        deps = ["src/**"]
        artifacts = ["out/gen.txt"]
        cache = "repo"
        """


def _runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def _files(root: Path, under: str) -> list[str]:
    return sorted(p.name for p in (root / ".qik" / under).rglob("*") if p.is_file())


def _manifests(root: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((root / ".qik" / "manifests").iterdir())]


def _referenced(root: Path) -> list[str]:
    digests: set[str] = set()
    for doc in _manifests(root):
        log, artifacts, inputs = doc["log"], doc["artifacts"], doc["inputs"]
        assert isinstance(log, dict) and isinstance(artifacts, list)
        refs = [log, *artifacts, *([inputs] if isinstance(inputs, dict) else [])]
        digests |= {r["digest"] for r in refs if "text" not in r}  # inline: no object
    return sorted(digests)


def _repo(make_repo: Callable[..., Path], counter: Path, text: str = "one\n") -> Path:
    return make_repo(
        {"qik.toml": _toml(counter), "src/a.txt": text, ".gitignore": "._qik/\nout/\n"}
    )


def test_the_repo_cache_keeps_the_newest_result_only(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    counter = tmp_path / "counter"
    root = _repo(make_repo, counter)
    for text in ("one\n", "two\n", "three\n"):
        (root / "src" / "a.txt").write_text(text)
        result = qik(root, "gen")
        assert result.returncode == 0, result.stderr
        assert not [line for line in result.stderr.splitlines() if line.startswith("warning")]
    assert len(_manifests(root)) == 1
    assert _files(root, "objects") == _referenced(root)
    assert _runs(counter) == 3


def test_new_cache_files_are_staged_with_intent_to_add(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    root = _repo(make_repo, tmp_path / "counter")
    assert qik(root, "gen").returncode == 0
    status = git(root, "status", "--porcelain")
    assert " A .qik/manifests/" in status
    assert " A .gitattributes" in status
    assert ".qik/.lock" not in status  # the lock and temporary files are ignored
    assert ".qik/manifests/" in git(root, "diff", "--name-only")
    attributes = (root / ".gitattributes").read_text()
    assert ".qik/** -text linguist-generated=true merge=qik" in attributes
    assert "qik.store.mirrors.merge" in git(root, "config", "--local", "merge.qik.driver")

    # A result replaced before any commit: its intent-to-add entries go with it.
    (root / "src" / "a.txt").write_text("two\n")
    assert qik(root, "gen").returncode == 0
    assert " D " not in git(root, "status", "--porcelain")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "cache")
    assert git(root, "status", "--porcelain") == ""


def test_a_fresh_clone_is_warm(make_repo: Callable[..., Path], qik: Qik, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    root = _repo(make_repo, counter)
    assert qik(root, "gen").returncode == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "cache")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    result = qik(clone, "gen")
    assert result.returncode == 0, result.stderr
    assert "generated" in result.stdout and "repo" in result.stdout
    assert (clone / "out" / "gen.txt").read_text() == "one\n"
    assert _runs(counter) == 1
    assert git(clone, "status", "--porcelain") == ""  # replaying writes nothing to commit


def test_two_branches_that_updated_the_cache_merge_cleanly(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    toml = """
        [commands.big]
        exec = "cp src/big.txt big.out"
        deps = ["src/big.txt"]
        artifacts = ["big.out"]
        cache = "repo"

        [commands.small]
        exec = "cat src/small.txt"
        deps = ["src/small.txt"]
        cache = "repo"
        """
    lines = "".join(f"requirement-{i}==1.{i}.0\n" for i in range(20_000))
    files = {"qik.toml": toml, "src/big.txt": lines, "src/small.txt": "a\n"}
    root = make_repo({**files, ".gitignore": "._qik/\nbig.out\n"})
    assert qik(root, "big", "small").returncode == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "cache on main")

    # Each branch changes one line of the big file (a new result whose artifact is nearly
    # the old one: a rename, for git, unless the frames differ), and both make the same
    # change to the small file (one dep hash, two manifests written at different times).
    edits = {"left": lines.replace("requirement-1==", "left-1=="), "right": lines + "right\n"}
    for branch, text in edits.items():
        git(root, "checkout", "-q", "-b", branch, "main")
        (root / "src" / "big.txt").write_text(text)
        (root / "src" / "small.txt").write_text("b\n")
        assert qik(root, "big", "small").returncode == 0
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", f"{branch} changes")

    merge = subprocess.run(
        ["git", "merge", "--no-edit", "left"], cwd=root, capture_output=True, text=True
    )
    assert merge.returncode == 0, merge.stdout + merge.stderr
    assert "CONFLICT" not in merge.stdout
    verify = qik(root, ":cache", "verify", "--cache", "repo")
    assert verify.returncode == 0, verify.stdout

    # Settle the merged big file; the next publish prunes what the merge left over.
    assert (root / "src" / "big.txt").read_text().startswith("requirement-0")
    (root / "src" / "big.txt").write_text(lines + "both==1.0\n")
    small = qik(root, "big", "small")
    assert small.returncode == 0 and "small replayed" in small.stdout.replace("↺ ", "")
    assert sorted(str(doc["runnable"]) for doc in _manifests(root)) == ["big", "small"]
    assert _files(root, "objects") == _referenced(root)


def test_a_flipped_byte_in_the_repo_cache_reruns_and_repairs(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    counter = tmp_path / "counter"
    root = _repo(make_repo, counter)
    assert qik(root, "gen").returncode == 0
    _flip_artifact(root / ".qik", _manifests(root)[0])
    _forget_locally(root)

    result = qik(root, "gen")
    assert result.returncode == 0, result.stderr
    assert _runs(counter) == 2
    assert (root / "out" / "gen.txt").read_text() == "one\n"
    assert qik(root, ":cache", "verify", "--cache", "repo").returncode == 0
    _forget_locally(root)
    assert qik(root, "gen").returncode == 0
    assert _runs(counter) == 2


def test_a_flipped_byte_in_the_local_store_reruns_and_repairs(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    counter = tmp_path / "counter"
    toml = _toml(counter).replace('cache = "repo"', 'cache = "local"')
    root = make_repo({"qik.toml": toml, "src/a.txt": "one\n", ".gitignore": "._qik/\nout/\n"})
    assert qik(root, "gen").returncode == 0
    manifest = next((root / "._qik" / "manifests").iterdir())
    _flip_artifact(root / "._qik", json.loads(manifest.read_text()))
    (root / "out" / "gen.txt").unlink()

    broken = qik(root, ":cache", "verify")
    assert broken.returncode == 1 and "corrupt" in broken.stdout
    result = qik(root, "gen")
    assert result.returncode == 0, result.stderr
    assert _runs(counter) == 2
    assert (root / "out" / "gen.txt").read_text() == "one\n"
    assert qik(root, ":cache", "verify").returncode == 0


def test_a_local_hit_the_repo_cache_lacks_goes_there_too(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    """Run with a read-only cache (or before ``cache = "repo"`` was set, or after the repo
    cache was cleared): the next replay from the local store fills the repo cache, so a
    clone of the next commit is warm."""
    counter = tmp_path / "counter"
    root = _repo(make_repo, counter)
    assert qik(root, "gen", "--cache-read-only").returncode == 0
    assert not (root / ".qik").exists()
    replay = qik(root, "gen")
    assert replay.returncode == 0 and "0 ran, 1 replayed" in replay.stdout, replay.stderr
    assert len(_manifests(root)) == 1 and _runs(counter) == 1
    again = qik(root, "gen")  # there now: nothing more to write
    assert again.returncode == 0 and "1 replayed" in again.stdout
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "cache")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    cold = qik(clone, "--cache", "repo", "--cache-status", "cold", "--ls", "--fail")
    assert cold.returncode == 0 and cold.stdout == ""
    assert qik(clone, "gen").returncode == 0 and _runs(counter) == 1


def test_an_edit_and_its_revert_leave_the_repo_cache_with_the_result_of_the_revert(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    """The repo cache keeps one result per runnable: the edit's replaced the first one,
    and the revert replays the first from the local store, which puts it back."""
    counter = tmp_path / "counter"
    root = _repo(make_repo, counter)
    for text in ("one\n", "two\n", "one\n"):
        (root / "src" / "a.txt").write_text(text)
        assert qik(root, "gen").returncode == 0
    assert _runs(counter) == 2
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "cache")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    cold = qik(clone, "--cache", "repo", "--cache-status", "cold", "--ls", "--fail")
    assert cold.returncode == 0, cold.stdout
    assert qik(clone, "gen").returncode == 0 and _runs(counter) == 2


def test_read_only_runs_leave_the_repo_cache_alone(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    root = _repo(make_repo, tmp_path / "counter")
    assert qik(root, "gen", "--cache-read-only").returncode == 0
    assert not (root / ".qik").exists()
    assert git(root, "status", "--porcelain") == ""


def test_cache_ls_stats_gc_and_clear(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    root = _repo(make_repo, tmp_path / "counter")
    assert qik(root, "gen").returncode == 0
    listed = qik(root, ":cache", "ls")
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[1].split() == ["gen", "warm", "repo", "local,", "repo"]
    assert qik(root, "gen").returncode == 0
    stats = qik(root, ":cache", "stats")
    assert "repo:" in stats.stdout and "local:" in stats.stdout
    assert "1 hits (100%): local 1" in stats.stdout

    gc = qik(root, ":cache", "gc", "--max-age", "0s")
    assert gc.returncode == 0 and gc.stdout.startswith("removed 1 results")
    bad = qik(root, ":cache", "gc", "--max-size", "lots")
    assert bad.returncode == 2 and "invalid-size" in bad.stderr

    assert qik(root, ":cache", "clear").returncode == 0
    assert not list((root / "._qik").glob("objects/*/*"))
    assert qik(root, "gen").returncode == 0  # back from the repo cache


def _flip_artifact(store: Path, manifest: dict[str, object]) -> None:
    artifacts = manifest["artifacts"]
    assert isinstance(artifacts, list)
    digest = artifacts[0]["digest"]
    path = store / "objects" / digest[:2] / digest
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))


def _forget_locally(root: Path) -> None:
    import shutil

    shutil.rmtree(root / "._qik")
    (root / "out" / "gen.txt").unlink()


def test_a_replay_marks_an_older_result_as_used(make_repo: Callable[..., Path], qik: Qik) -> None:
    """gc drops the least recently used first; a replay counts as a use. A result stored or
    marked used less than an hour ago is not marked again (its mtime is that recent)."""
    import os
    import time

    root = make_repo({"qik.toml": '[commands.hello]\nexec = "echo hi"\ndeps = ["qik.toml"]\n'})
    assert qik(root).returncode == 0
    [path] = (root / "._qik" / "manifests").iterdir()
    half_an_hour_ago = time.time() - 1800
    os.utime(path, (half_an_hour_ago, half_an_hour_ago))
    assert "replayed" in qik(root).stdout
    assert path.stat().st_mtime == half_an_hour_ago  # used within the hour: not written again

    three_days_ago = time.time() - 3 * 86400
    os.utime(path, (three_days_ago, three_days_ago))
    assert "replayed" in qik(root).stdout
    assert path.stat().st_mtime > time.time() - 60
    gc = qik(root, ":cache", "gc", "--max-age", "1d")
    assert gc.returncode == 0 and gc.stdout.startswith("removed 0 results"), gc.stdout


def test_results_of_a_renamed_command_leave_the_repo_cache(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    # "The repo cache never grows": a renamed or removed command's result would otherwise
    # stay for good, since only a newer result of the same runnable replaces one.
    counter = tmp_path / "counter"
    root = _repo(make_repo, counter)
    assert qik(root, "gen").returncode == 0
    (root / "qik.toml").write_text(_toml(counter).replace("commands.gen", "commands.made"))
    (root / "src" / "a.txt").write_text("two\n")
    assert qik(root).returncode == 0
    assert [doc["runnable"] for doc in _manifests(root)] == ["made"]
    assert _files(root, "objects") == _referenced(root)


def test_a_removed_commands_result_stays_while_an_identical_one_uses_it(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    counter = tmp_path / "counter"
    root = _repo(make_repo, counter)
    other = '\n[commands.other]\nexec = "cat o.txt"\ndeps = ["o.txt"]\ncache = "repo"\n'
    twin = _toml(counter).replace("commands.gen", "commands.twin")
    (root / "o.txt").write_text("1\n")
    (root / "qik.toml").write_text(_toml(counter) + twin + other)
    assert qik(root).returncode == 0
    assert len(_manifests(root)) == 2  # gen and twin share one
    # gen goes; other runs again (a write to the repo cache, and so a prune).
    (root / "qik.toml").write_text(twin + other)
    (root / "o.txt").write_text("2\n")
    out = qik(root)
    assert "1 ran, 1 replayed" in out.stdout, out.stderr
    assert len(_manifests(root)) == 2  # twin still uses the result labelled gen
    clone = tmp_path / "clone"
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "cache")
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    assert "0 ran, 2 replayed" in qik(clone).stdout
