"""A black-box audit of how files are named and hashed: names that are not UTF-8 or hold
line breaks, git's line-ending conversion, escaped glob characters, submodules."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import QIK, git, write_files

Qik = Callable[..., subprocess.CompletedProcess[str]]

NOT_CACHED = "result not cached"


def _toml(deps: str = '["src/**"]', *, extra: str = "") -> str:
    return f"""
        [commands.a]
        exec = "echo ran-a"
        deps = {deps}
        {extra}
        """


def _runs_then_replays(qik: Qik, root: Path, *args: str) -> None:
    first = qik(root, *args)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    assert NOT_CACHED not in first.stderr
    second = qik(root, *args)
    assert second.returncode == 0, second.stderr
    assert _replayed(second), second.stdout
    assert "ran-a" in second.stdout


def _replayed(done: subprocess.CompletedProcess[str]) -> bool:
    return "↺ a replayed" in done.stdout


def _write_bytes_name(folder: Path, name: bytes, data: str) -> Path:
    """A file whose name is ``name``'s bytes; skipped where the file system refuses it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name.decode("utf-8", "surrogateescape")
    try:
        path.write_text(data)
    except (OSError, UnicodeEncodeError):
        pytest.skip("the file system refuses this name")
    return path


# -- names that are not UTF-8 ---------------------------------------------------------


@pytest.mark.parametrize("state", ["committed", "untracked", "no-git"])
def test_a_name_that_is_not_utf8_is_hashed_by_its_bytes(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path, state: str
) -> None:
    if state == "no-git":
        root = tmp_path / "plain"
        write_files(root, {"qik.toml": _toml()})
    else:
        root = make_repo({"qik.toml": _toml(), "src/ok.txt": "ok"})
    bad = _write_bytes_name(root / "src", b"bad\xff.txt", "x")
    if state == "committed":
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "bad name")
    _runs_then_replays(qik, root, "a")
    warm = qik(root, ":explain", "a")
    assert warm.returncode == 0, warm.stderr
    assert "warm" in warm.stdout
    bad.write_text("y")
    explained = subprocess.run(  # bytes: the name prints as its own bytes, not UTF-8
        [QIK, ":explain", "a"], cwd=root, capture_output=True, check=False
    )
    assert explained.returncode == 0, explained.stderr
    assert b"modified  src/bad\xff.txt\n" in explained.stdout
    as_json = qik(root, ":explain", "--json", "a")
    assert as_json.returncode == 0, as_json.stderr
    again = qik(root, "a")
    assert again.returncode == 0, again.stderr
    assert not _replayed(again)
    bad.write_text("x")
    assert _replayed(qik(root, "a"))  # the first result, under the old bytes


# -- names with line breaks -----------------------------------------------------------

BREAKS = ["a\rb", "c\fd", "e\x1cf", "g\x1dh", "i\x1ej", "k\x85l", "m\u2028n", "o\u2029p"]


def test_names_with_line_breaks_are_cached(make_repo: Callable[..., Path], qik: Qik) -> None:
    """``str.splitlines`` breaks at all of these: the listing is split at "\\n" alone."""
    root = make_repo({"qik.toml": _toml(), **{f"src/{name}": name for name in BREAKS}})
    _runs_then_replays(qik, root, "a")
    (root / "src" / BREAKS[0]).write_text("changed")
    explained = qik(root, ":explain", "a")
    assert explained.returncode == 0, explained.stderr
    assert 'modified  "src/a\\rb"' in explained.stdout  # quoted, on one line


@pytest.mark.parametrize("name", ["x\ny", '"quoted"', 'x\n"y'])
def test_a_name_with_a_newline_or_a_quote_is_cached_and_explained(
    make_repo: Callable[..., Path], qik: Qik, name: str
) -> None:
    root = make_repo({"qik.toml": _toml(), f"src/{name}": "1", "src/plain": "1"})
    _runs_then_replays(qik, root, "a")
    (root / "src" / name).write_text("2")
    explained = qik(root, ":explain", "a")
    assert explained.returncode == 0, explained.stderr
    changes = [line.split(None, 1) for line in explained.stdout.splitlines()[2:]]
    assert [kind for kind, _ in changes] == ["modified"]
    ran = qik(root, "a")
    assert not _replayed(ran)
    assert NOT_CACHED not in ran.stderr
    assert _replayed(qik(root, "a"))


# -- git's line-ending conversion -----------------------------------------------------

CRLF_TOML = _toml('["input.txt"]', extra='cache = "repo"')


@pytest.mark.parametrize("where", ["", "proj/"])
def test_a_modified_file_is_hashed_as_git_stores_it(
    make_repo: Callable[..., Path], qik: Qik, where: str
) -> None:
    """With eol=crlf git stores "world\\n" for a file holding "world\\r\\n": the digest of
    the edited file must be that blob id, or the result committed with it is stale at once.
    ``where``: the project's directory in the repository."""
    top = make_repo(
        {
            f"{where}qik.toml": CRLF_TOML,
            ".gitattributes": "*.txt text eol=crlf\n",
            f"{where}input.txt": "hi\n",
        }
    )
    root = top / where
    assert qik(root).returncode == 0
    (root / "input.txt").write_bytes(b"world\r\n")
    ran = qik(root)
    assert ran.returncode == 0, ran.stderr
    assert NOT_CACHED not in ran.stderr
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "world")
    check = qik(root, "--cache", "repo", "--cache-status", "cold", "--fail", "--ls")
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == ""
    since = qik(root, "--since", "HEAD", "--ls")
    assert since.returncode == 0, since.stderr
    assert since.stdout.strip() == ""
    (root / "input.txt").write_bytes(b"other\r\n")
    assert qik(root, "--since", "HEAD", "--ls").stdout.split() == ["a"]
    explained = qik(root, ":explain", "a")
    assert "modified  input.txt" in explained.stdout


def _committed_repo(make_repo: Callable[..., Path], qik: Qik, attributes: str) -> Path:
    root = make_repo(
        {
            "qik.toml": CRLF_TOML,
            "input.txt": "one\ntwo\n",
            **({".gitattributes": attributes} if attributes else {}),
        },
    )
    assert qik(root).returncode == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "cache")
    return root


def _clone(root: Path, tmp_path: Path, *config: str) -> Path:
    clone = tmp_path / "clone"
    flags = [arg for item in config for arg in ("-c", item)]
    subprocess.run(["git", "clone", "-q", *flags, str(root), str(clone)], check=True)
    return clone


def test_a_clone_with_autocrlf_is_warm_and_stores_what_it_runs(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    root = _committed_repo(make_repo, qik, "")
    clone = _clone(root, tmp_path, "core.autocrlf=true")
    assert (clone / "input.txt").read_bytes() == b"one\r\ntwo\r\n"
    check = qik(clone, "--cache", "repo", "--cache-status", "cold", "--fail", "--ls")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "invalid manifest" not in check.stderr
    assert "replayed from repo" in qik(clone).stdout
    forced = qik(clone, "-f")
    assert forced.returncode == 0, forced.stderr
    assert NOT_CACHED not in forced.stderr  # every file is new, and converted: not changed


def test_manifests_checked_out_with_crlf_are_read(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    """A repo cache committed under qik's older .gitattributes line (without -text), with
    `* text=auto eol=crlf`: every clone gets CRLF manifests, which must still verify; the
    next publish puts in the new line, once."""
    old_line = ".qik/** linguist-generated=true merge=qik"
    root = _committed_repo(make_repo, qik, "")
    (root / ".gitattributes").write_text(f"* text=auto eol=crlf\n{old_line}\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "old attributes")
    clone = _clone(root, tmp_path)
    manifest = next((clone / ".qik" / "manifests").iterdir())
    assert manifest.read_bytes().endswith(b"\r\n")
    check = qik(clone, "--cache", "repo", "--cache-status", "cold", "--fail", "--ls")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "invalid manifest" not in check.stderr
    for text in ("three\n", "four\n"):  # two publishes
        (clone / "input.txt").write_text(text)
        assert qik(clone).returncode == 0
    lines = (clone / ".gitattributes").read_bytes().decode().splitlines()
    assert lines == ["* text=auto eol=crlf", ".qik/** -text linguist-generated=true merge=qik"]
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "new attributes")
    fresh = _clone(clone, tmp_path / "again")
    manifest = next((fresh / ".qik" / "manifests").iterdir())
    assert not manifest.read_bytes().endswith(b"\r\n")  # -text: stored byte for byte
    assert "replayed from repo" in qik(fresh).stdout


# -- escaped glob characters ----------------------------------------------------------


@pytest.mark.parametrize("dep", ["x\\[1\\]", "x\\[1\\]/", "./x\\[1]"])
def test_an_escaped_name_of_a_directory_covers_its_files(
    make_repo: Callable[..., Path], qik: Qik, dep: str
) -> None:
    root = make_repo({"qik.toml": _toml(f"['{dep}']"), "x[1]/f": "1", "y/x[1]/g": "1"})
    _runs_then_replays(qik, root, "a")
    (root / "x[1]" / "f").write_text("2")
    assert not _replayed(qik(root, "a"))
    assert _replayed(qik(root, "a"))
    (root / "y" / "x[1]" / "g").write_text("2")  # anchored at the root: not covered
    assert _replayed(qik(root, "a"))


# -- submodules -----------------------------------------------------------------------


def test_a_submodule_commit_counts_through_a_variable_as_documented(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    """docs/commands.md: files of a submodule are not in the file index; its commit
    enters a dep hash through a variable set from `git -C lib rev-parse HEAD`."""
    lib = make_repo({"lib.txt": "1"}, name="lib")
    toml = _toml('[{type = "const", val = "{ctx.lib_rev}"}]', extra="").replace(
        "[commands.a]", 'vars = ["lib_rev"]\n\n        [commands.a]'
    )
    root = make_repo({"qik.toml": toml})
    allow = ["-c", "protocol.file.allow=always"]
    git(root, *allow, "submodule", "add", "-q", str(lib), "lib")
    git(root, "commit", "-q", "-m", "lib")

    def run() -> subprocess.CompletedProcess[str]:
        rev = git(root / "lib", "rev-parse", "HEAD").strip()
        return qik(root, "a", env={"LIB_REV": rev})

    assert not _replayed(run())
    assert _replayed(run())
    write_files(root / "lib", {"lib.txt": "2"})
    git(root / "lib", "commit", "-q", "-am", "two")
    assert not _replayed(run())
