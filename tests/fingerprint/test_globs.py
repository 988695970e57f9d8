"""Glob semantics (anchored gitignore-style) and the prefix-indexed matcher."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from qik.fingerprint import FileIndex, GlobError, Matcher, match
from qik.fingerprint.globs import parse

from .conftest import MakeGitRepo, git

PATHS = (
    ".hidden.py",
    "README.md",
    "requirements.in",
    "setup.py",
    "a/requirements.in",
    "a/x.py",
    "a/b/y.py",
    "a/b/c/z.py",
    "a/b/data.txt",
    "src/pkg/__init__.py",
    "src/pkg/mod.py",
    "src/pkg/notes.md",
    "src/pkg/sub/deep.py",
    "src/pkg-x/r.py",
    "src/pkgextra/q.py",
    "docs/index.md",
    "docs/guide/intro.md",
    "dir with space/f.py",
    "ünï/ç.py",
    "x.py/inner.txt",
)
INDEX = FileIndex.of(dict.fromkeys(PATHS, "0" * 40))
ALL = INDEX.paths
PY = tuple(p for p in ALL if p.endswith(".py"))
UNDER_A = tuple(p for p in ALL if p.startswith("a/"))
PKG = ("src/pkg/__init__.py", "src/pkg/mod.py", "src/pkg/notes.md", "src/pkg/sub/deep.py")


MATCH_CASES: list[tuple[str, tuple[str, ...]]] = [
    # anchored: a bare file name is the root file only
    ("requirements.in", ("requirements.in",)),
    ("a/requirements.in", ("a/requirements.in",)),
    ("**/requirements.in", ("a/requirements.in", "requirements.in")),
    # a wildcard and no slash: at any depth, as in .gitignore; a leading / anchors it
    ("*.py", PY),
    ("*.md", ("README.md", "docs/guide/intro.md", "docs/index.md", "src/pkg/notes.md")),
    ("*", ALL),
    ("/*.py", (".hidden.py", "setup.py")),
    ("./*.md", ("README.md",)),
    ("/*", (".hidden.py", "README.md", "requirements.in", "setup.py")),
    # * and ? stay within a segment; wildcard patterns match whole paths
    ("a/*.py", ("a/x.py",)),
    ("a/*", ("a/requirements.in", "a/x.py")),
    ("a/?.py", ("a/x.py",)),
    ("a/[xy].py", ("a/x.py",)),
    ("src/*/mod.py", ("src/pkg/mod.py",)),
    (
        "src/pkg*/*.py",
        ("src/pkg-x/r.py", "src/pkg/__init__.py", "src/pkg/mod.py", "src/pkgextra/q.py"),
    ),
    # **/ crosses directories, including none
    ("**/*.py", PY),
    ("docs/**/*.md", ("docs/guide/intro.md", "docs/index.md")),
    ("**/*.md", ("README.md", "docs/guide/intro.md", "docs/index.md", "src/pkg/notes.md")),
    ("src/pkg/**/*.py", ("src/pkg/__init__.py", "src/pkg/mod.py", "src/pkg/sub/deep.py")),
    # qik 0.2's **.py
    ("**.py", PY),
    ("a/**.py", ("a/b/c/z.py", "a/b/y.py", "a/x.py")),
    # a directory matches everything below it
    ("a", UNDER_A),
    ("a/", UNDER_A),
    ("a/**", UNDER_A),
    ("a/*/", ("a/b/c/z.py", "a/b/data.txt", "a/b/y.py")),
    ("src/pkg", PKG),  # not src/pkg-x nor src/pkgextra
    ("src/pkg/", PKG),
    ("x.py", ("x.py/inner.txt",)),
    # leading ./ and /, dot segments, whitespace
    ("./a/x.py", ("a/x.py",)),
    ("/a/x.py", ("a/x.py",)),
    ("./**.py", PY),
    ("/a//b/./c/z.py", ("a/b/c/z.py",)),
    ("  a/x.py  ", ("a/x.py",)),
    # everything
    (".", ALL),
    ("./", ALL),
    ("**", ALL),
    # odd names
    ("dir with space/*.py", ("dir with space/f.py",)),
    ("ünï/*.py", ("ünï/ç.py",)),
    ("#x", ()),  # not a comment once anchored: the file "#x", absent
    # nothing
    ("missing", ()),
    ("missing/**/*.py", ()),
    ("a/x.py/", ()),  # a file is not a directory
]


@pytest.mark.parametrize(("pattern", "expected"), MATCH_CASES)
def test_match(pattern: str, expected: tuple[str, ...]) -> None:
    assert match(INDEX, pattern) == tuple(sorted(expected))


@pytest.mark.parametrize(
    ("pattern", "body", "prefix", "literal"),
    [
        ("./src/**.py", "src/**/*.py", "src/", None),
        ("a/**.py", "a/**/*.py", "a/", None),
        ("**.py", "**/*.py", "", None),
        ("**/*.py", "**/*.py", "", None),
        ("a/b/*.py", "a/b/*.py", "a/b/", None),
        ("a/b*/c.py", "a/b*/c.py", "a/", None),
        ("/a//b/./c", "a/b/c", "a/b/", "a/b/c"),
        ("src/pkg/", "src/pkg/", "src/", "src/pkg"),
        ("src/pkg/**", "src/pkg/", "src/", "src/pkg"),
        ("a/**/**/b*", "a/**/b*", "a/", None),
        ("a/*/", "a/*/", "a/", None),
        (".", "", "", ""),
        ("**", "", "", ""),
        # Escaped characters are no wildcards: a name, anchored, its escapes undone.
        ("x\\[1\\]", "x\\[1\\]", "", "x[1]"),
        ("x\\[1\\]/", "x\\[1\\]/", "", "x[1]"),
        ("a\\*/b/*.py", "a\\*/b/*.py", "a*/b/", None),
        ("a[b", "a[b", "", "a[b"),
    ],
)
def test_parse(pattern: str, body: str, prefix: str, literal: str | None) -> None:
    glob = parse(pattern)
    assert (glob.body, glob.prefix, glob.literal) == (body, prefix, literal)


@pytest.mark.parametrize("pattern", ["", "   ", "!", "../x", "a/../b", "./.."])
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(GlobError) as info:
        parse(pattern)
    assert info.value.code == "glob-invalid"
    assert info.value.hint


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["a/**", "!a/b/**"], ("a/requirements.in", "a/x.py")),
        (
            ["**/*.py", "!src", "src/pkg/mod.py"],
            (*(p for p in PY if not p.startswith("src/")), "src/pkg/mod.py"),
        ),
        (["!a", "a/x.py"], ("a/x.py",)),
        (["a/x.py", "a/x.py"], ("a/x.py",)),
        ([], ()),
    ],
)
def test_match_all_with_negation(patterns: list[str], expected: tuple[str, ...]) -> None:
    assert INDEX.matcher.match_all(patterns) == tuple(sorted(expected))


def test_lone_negation_matches_nothing() -> None:
    assert match(INDEX, "!a") == ()


def test_memoized_per_normalized_pattern() -> None:
    matcher = Matcher(ALL)
    first = matcher.match("a/**.py")
    assert matcher.match("./a/**/*.py") is first
    assert INDEX.matcher is INDEX.matcher


def test_prefix_slice_agrees_with_a_full_scan() -> None:
    """The bisected subtree never loses a match a scan of every path would find."""
    for pattern, _ in MATCH_CASES:
        glob = parse(pattern)
        if glob.regex is not None:
            start = len(glob.prefix)
            scan = [p for p in ALL if p.startswith(glob.prefix) and glob.regex.fullmatch(p, start)]
            assert match(INDEX, pattern) == tuple(scan), pattern


@pytest.mark.parametrize(
    ("pattern", "paths", "expected"),
    [
        ("[ab].py", ["a.py", "b.py", "c.py"], ["a.py", "b.py"]),
        ("[a-b].py", ["a.py", "b.py", "c.py"], ["a.py", "b.py"]),
        ("[!a].py", ["a.py", "b.py", "c.py"], ["b.py", "c.py"]),
        ("[^a].py", ["a.py", "b.py"], ["b.py"]),
        ("[]a]", ["]", "a", "b"], ["]", "a"]),
        ("[!-a]", ["-", "a", "b"], ["b"]),
        ("x[!a]y", ["x/y", "xby"], ["xby"]),  # never "/"
        ("x?y", ["x/y", "xby"], ["xby"]),
        ("x*y", ["x/y", "xy", "xaby"], ["xaby", "xy"]),
        ("a**b", ["ab", "a/b", "axb"], ["ab", "axb"]),  # stars inside a segment are one star
        ("\\*.py", ["*.py", "a.py"], ["*.py"]),
        ("a\\[b].txt", ["a[b].txt", "ab.txt"], ["a[b].txt"]),
        ("a[b", ["a[b", "ab"], ["a[b"]),  # unclosed "[" is literal
        # An escaped name is a name: a directory covers every file below it, at the root.
        ("x\\[1\\]", ["x[1]/f", "x[1]/g/h", "a/x[1]/f", "x1/f"], ["x[1]/f", "x[1]/g/h"]),
        ("x\\[1]", ["x[1]", "a/x[1]", "x1"], ["x[1]"]),
        ("new*", ["new\nline", "new"], ["new", "new\nline"]),
        ("**/", ["a", "b/c"], ["a", "b/c"]),
        ("*/", ["a", "b/c", "b/d/e"], ["b/c", "b/d/e"]),
    ],
)
def test_wildcards(pattern: str, paths: list[str], expected: list[str]) -> None:
    assert Matcher(sorted(paths)).match(pattern) == tuple(sorted(expected))


@pytest.mark.parametrize("pattern", ["[z-a].py", "[[:alpha:]]", "a\\"])
def test_invalid_wildcards(pattern: str) -> None:
    with pytest.raises(GlobError, match="invalid glob pattern"):
        parse(pattern)


def test_empty_index() -> None:
    assert Matcher(()).match("**/*.py") == ()
    assert Matcher(()).match("a") == ()


# Where qik deliberately differs from git: "**.py" (git reads "*.py") and wildcards naming
# directories ("a/*/": git matches no file, qik the files below).
GIT_GLOB_PATTERNS = [
    pattern
    for pattern, _ in MATCH_CASES
    if not re.search(r"(^|/)\*\*[^/]", pattern) and not ("*" in pattern and pattern.endswith("/"))
]


def test_agrees_with_git_glob_pathspecs(make_git_repo: MakeGitRepo) -> None:
    """qik 0.2 handed deps to git as ``:(glob)`` pathspecs; we match what git matches."""
    root = make_git_repo(dict.fromkeys(PATHS, "x"))
    assert_agrees_with_git(root, GIT_GLOB_PATTERNS)


def test_random_patterns_agree_with_git(make_git_repo: MakeGitRepo) -> None:
    rng = random.Random(20)
    names = ["a", "b", "ab", "a.py", "b.py", "xay", "[a]", "a b"]
    paths = {"/".join(rng.choices(names, k=rng.randint(1, 3))) for _ in range(200)}
    # A path can't be both a file and a directory.
    files = {p: "x" for p in paths if not any(q.startswith(f"{p}/") for q in paths)}
    pieces = ["a", "b", "*", "?", "**", "*.py", "[ab]", "[!a]*", "x?y", "b*", "a?", "\\[a]"]
    patterns = ["/".join(rng.choices(pieces, k=rng.randint(1, 3))) for _ in range(120)]
    assert_agrees_with_git(make_git_repo(files), patterns)


def assert_agrees_with_git(root: Path, patterns: list[str]) -> None:
    index = FileIndex.from_worktree(root)
    for pattern in patterns:
        text = pattern.strip()
        # No slash and not literal: at any depth, as .gitignore has it (git's :(glob) is
        # anchored, so it is asked for **/pattern). Escaped characters are no wildcards.
        unescaped = re.sub(r"\\.", "", text)
        is_wild = bool(re.search(r"[*?]|\[.+\]", unescaped))
        anywhere = "/" not in text.rstrip("/") and text != "**" and is_wild
        pathspec = f":(glob){'**/' if anywhere else ''}{text.lstrip('/')}"
        if not is_wild and "\\" in text:
            # A name spelled with escapes: git's :(glob) reads it as a pattern, which matches
            # no file below a directory; qik reads it as the name, as a pathspec without
            # wildcards would be (a directory covers every file below it).
            name = re.sub(r"\\(.)", r"\1", text).strip("/")
            pathspec = f":(literal){name}"
        by_git = git(root, "ls-files", "-z", "--", pathspec).split("\0")[:-1]
        assert match(index, pattern) == tuple(sorted(by_git)), pattern
