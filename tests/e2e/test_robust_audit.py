"""Regressions of a black-box audit of the store's robustness: symbolic links where the
store's folders belong, linked artifact folders, temporary files left by a killed restore,
a store qik can't enter, and runnable names too long for a file name."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import QIK, git

Qik = Callable[..., subprocess.CompletedProcess[str]]

GEN = """
    [commands.gen]
    exec = "echo built > out.txt"
    deps = ["a.txt"]
    artifacts = ["out.txt"]
    cache = "repo"
    """

DIGEST = "ab" + "0" * 62


def _victim(tmp_path: Path) -> Path:
    """A folder outside the repository holding files that look like a store's."""
    victim = tmp_path / "victim"
    (victim / "ab").mkdir(parents=True)
    (victim / "ab" / DIGEST).write_text("important\n")
    (victim / f"{'c' * 64}.json").write_text("important\n")
    return victim


def _snapshot(folder: Path) -> dict[str, bytes]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


# Each: the link's place in the repository, and what it points at in the victim folder.
LINKS = [
    (".qik/objects", ""),
    (".qik/manifests", ""),
    (".qik", ""),
    ("._qik", ""),
    ("._qik/objects", ""),
    ("._qik/manifests", ""),
    ("._qik/objects/ab", "ab"),
    (".qik/objects/ab", "ab"),
]


@pytest.mark.parametrize(("link", "target"), LINKS)
def test_a_store_folder_that_is_a_symbolic_link_is_never_used(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path, link: str, target: str
) -> None:
    # The audit: `.qik/objects -> /tmp/victim` had qik write an object there and delete
    # /tmp/victim/ab/ab000… as an unreferenced object; `._qik -> /elsewhere` took every
    # run's writes, and `qik :cache clear` deleted files there.
    victim = _victim(tmp_path)
    root = make_repo({"qik.toml": GEN, "a.txt": "a\n"}, commit=False)
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(victim / target, root / link)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a linked store")
    before = _snapshot(victim)
    for _ in range(2):
        result = qik(root)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert (root / "out.txt").read_text() == "built\n"
        linked = [line for line in result.stderr.splitlines() if "symbolic link" in line]
        assert len(linked) == 1, result.stderr  # one warning, naming the link
        assert str(root / link) in linked[0]
    # The local store unused: the command runs again, uncached; else the local one replays.
    assert ("1 ran" if link.startswith("._qik") else "1 replayed") in result.stdout
    for args in (
        [":cache", "gc"],
        [":cache", "verify"],
        [":cache", "stats"],
        [":cache", "clear"],
        [":cache", "clear", "--cache", "repo"],
        [":cache", "ls"],
    ):
        result = qik(root, *args)
        assert result.returncode in (0, 2), (args, result.stderr)
        assert "Traceback" not in result.stderr, args
    assert _snapshot(victim) == before


def test_a_linked_store_names_the_link_in_a_coded_error(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    victim = _victim(tmp_path)
    root = make_repo({"qik.toml": GEN, "a.txt": "a\n"})
    os.symlink(victim, root / "._qik")
    result = qik(root, ":cache", "clear")
    assert result.returncode == 2
    assert "error[cache-symlink]" in result.stderr
    assert str(root / "._qik") in result.stderr
    assert (victim / "ab" / DIGEST).exists()


def _stored_text(root: Path) -> str:
    """Every manifest of the local store, as text (artifact paths are in there)."""
    return "".join(p.read_text() for p in sorted((root / "._qik" / "manifests").glob("*.json")))


@pytest.mark.parametrize(
    ("exec_", "artifacts", "link"),
    [
        ('ln -sfn "$OUTSIDE" dist', '["dist"]', "dist"),
        (
            'mkdir -p out && echo mine > out/own.txt && ln -sfn "$OUTSIDE" out/sub',
            '["out/**"]',
            "out/sub",
        ),
        (
            'mkdir -p out && echo mine > out/own.txt && ln -sfn "$OUTSIDE" out/sub',
            '["out"]',
            "out/sub",
        ),
        ('ln -sfn "$OUTSIDE" dist', '["dist/*"]', "dist"),
    ],
)
def test_a_linked_artifact_folder_is_not_followed(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path, exec_: str, artifacts: str, link: str
) -> None:
    # The audit: `ln -sfn /tmp/outside dist` with `artifacts = ["dist"]` stored
    # dist/id_rsa from outside the repository (and `out/**` stored out/sub/id_rsa, while
    # warning that out/sub is a symbolic link).
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "id_rsa").write_text("secret\n")
    toml = f"""
        [commands.gen]
        exec = '{exec_}'
        deps = ["a.txt"]
        artifacts = {artifacts}
        """
    root = make_repo({"qik.toml": toml, "a.txt": "a\n"})
    result = qik(root, env={"OUTSIDE": str(outside)})
    assert result.returncode == 0, result.stderr
    assert f"artifact {link} is a symbolic link: not stored" in result.stderr
    stored = _stored_text(root)
    assert "id_rsa" not in stored
    assert ("out/own.txt" in stored) == link.startswith("out")


def test_qiks_temporary_files_are_never_artifacts_and_a_restore_removes_its_own(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    # The audit: a SIGKILL while qik restored o/big left o/.big.<hex>.qik-tmp in the work
    # tree for good, and the next cold run stored it as an artifact. (What the kill
    # leaves is made here by hand: a partial temporary file beside the artifact.)
    toml = """
        [commands.gen]
        exec = "mkdir -p o && cat a.txt > o/big"
        deps = ["a.txt"]
        artifacts = ["o/**"]
        """
    root = make_repo({"qik.toml": toml, "a.txt": "a\n" * 1000})
    leftover = root / "o" / ".big.0123456789abcdef.qik-tmp"
    other = root / "o" / ".other.0123456789abcdef.qik-tmp"  # not the restored artifact's
    leftover.parent.mkdir()
    leftover.write_text("a\n" * 10)
    other.write_text("x")
    result = qik(root)
    assert result.returncode == 0, result.stderr
    stored = _stored_text(root)
    assert "o/big" in stored and "qik-tmp" not in stored
    (root / "o" / "big").unlink()
    result = qik(root)
    assert "1 replayed" in result.stdout, result.stderr
    assert (root / "o" / "big").read_text() == "a\n" * 1000
    assert not leftover.exists()
    assert other.exists()


# Root ignores file modes: as root, qik runs without the capabilities that let it.
_DROP_CAPS = "-dac_override,-dac_read_search"


def _as_user() -> list[str]:
    """The prefix that runs a command subject to file modes; skips the test if there is
    none (root without setpriv)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, and setpriv (to drop DAC override) is not installed")
    drop = [setpriv, f"--bounding-set={_DROP_CAPS}", f"--inh-caps={_DROP_CAPS}", "--"]
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch, "probe")
        probe.write_text("")
        probe.chmod(0)
        done = subprocess.run([*drop, "cat", str(probe)], capture_output=True, check=False)
    if done.returncode == 0:
        pytest.skip("setpriv could not drop DAC override here")
    return drop


def _qik_as_user(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_as_user(), QIK, *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def cached_repo(make_repo: Callable[..., Path], qik: Qik) -> Iterator[Path]:
    root = make_repo({"qik.toml": GEN.replace('cache = "repo"', ""), "a.txt": "a\n"})
    assert qik(root).returncode == 0
    yield root
    for path in [root / "._qik", *(root / "._qik").rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # so that tmp_path can be removed


def test_a_local_store_qik_cant_enter_costs_the_cache_not_the_run(cached_repo: Path) -> None:
    # The audit: `chmod 000 ._qik` was a traceback in the pool worker (ignore_itself) and
    # in the main process (the run's usage file); `:cache verify|stats|gc|clear` crashed
    # listing ._qik/manifests.
    _as_user()  # skips early where modes can't be tested
    (cached_repo / "._qik").chmod(0)
    result = _qik_as_user(cached_repo)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "1 ran" in result.stdout
    assert "Permission denied" in result.stderr
    for action in ("verify", "stats", "gc", "clear"):
        result = _qik_as_user(cached_repo, ":cache", action)
        assert result.returncode == 2, (action, result.stderr)
        assert "error[cache-unavailable]" in result.stderr, action
        assert "Traceback" not in result.stderr, action


def test_verify_reports_an_object_it_cant_read(cached_repo: Path) -> None:
    # The audit: `chmod 000 ._qik/objects/*/*` made `:cache verify` crash (PermissionError).
    _as_user()
    objects = [p for p in (cached_repo / "._qik" / "objects").rglob("*") if p.is_file()]
    assert objects
    for path in objects:
        path.chmod(0)
    result = _qik_as_user(cached_repo, ":cache", "verify")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"object {objects[0].name} can't be read (Permission denied)" in result.stdout
    assert all(path.exists() for path in objects)  # not deleted as damaged


def test_long_runnable_names_get_short_file_names(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    # The audit: a module named with 30 CJK characters, or a command name of 248+ ASCII
    # characters, was `OSError: [Errno 36] File name too long` for ._qik/out/<name>.out.
    module, command = "日本" * 15, "c" * 250
    toml = f"""
        modules = ["{module}"]
        [commands.lint]
        exec = "echo hi {{module.name}}"
        deps = ["{{module.dir}}/**"]
        [commands.{command}]
        exec = "echo long"
        deps = ["qik.toml"]
        [commands.short]
        exec = "echo short"
        deps = ["qik.toml"]
        """
    root = make_repo({"qik.toml": toml, f"{module}/x.py": ""})
    result = qik(root)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"hi {module}" in result.stdout and "long" in result.stdout
    names = sorted(p.name for p in (root / "._qik" / "out").iterdir())
    assert all(len(name.encode()) <= 255 for name in names)
    assert "short.out" in names  # short names keep the file names they had
    assert len(names) == 3
    result = qik(root)
    assert "3 replayed" in result.stdout, result.stderr
