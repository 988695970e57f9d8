"""Glob deps: gitignore-style patterns, anchored at the project root, matched at scale.

Semantics (a pattern as written in ``deps``), those of qik 0.2, which handed patterns to git as
``:(glob)`` pathspecs:

- Anchored at the root, always: ``requirements.in`` is the root file only, never
  ``a/requirements.in``; ``*.py`` is the Python files at the root, ``**/*.py`` all of them.
- A pattern without wildcards names a file, or a directory and so every file below it
  (``src``, ``src/``).
- A pattern with wildcards matches whole paths, with gitignore wildcards (``pathspec``): ``*``
  and ``?`` stay within one segment, ``**/`` crosses any number of directories, ``[a-z]`` is a
  class, ``\\`` escapes. So ``src/*`` is the files directly in ``src`` and ``*`` the root files.
  Ending in ``/`` or ``/**`` it names directories instead: ``src/*/`` is every file in a
  subdirectory of ``src``, ``src/**`` every file below ``src``.
- ``**.py`` is read as ``**/*.py``, and ``a/**.py`` as ``a/**/*.py`` (qik 0.2 spelling; git
  and gitignore would read it as ``*.py``).
- A leading ``./`` or ``/`` is ignored, as are ``.`` segments and surrounding whitespace;
  ``.``, ``./`` and ``**`` match every file. ``..`` is an error: nothing outside the root is
  in the file index.
- In a list (:meth:`Matcher.match_all`), ``!pattern`` removes what earlier patterns added.

Speed: every match of a pattern lies in the subtree of its literal directory prefix (the
segments before the first wildcard). The path list is sorted, so that subtree is one
contiguous slice found by bisection, and only the slice is tested against the regex. Results
are memoized per normalized pattern, since runnables of one command over many modules share
few distinct patterns, and many runnables repeat the same ones.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import pathspec

from qik.errors import QikError

__all__ = ["Glob", "GlobError", "Indexed", "Matcher", "match", "parse", "subtree"]

_WILDCARDS = frozenset("*?[\\")


class GlobError(QikError):
    """A glob dep can't be understood."""

    code = "glob-invalid"


@dataclass(frozen=True)
class Glob:
    """A parsed pattern.

    ``body`` is the normalized pattern without the anchoring "/" (``"src/**/*.py"``);
    ``prefix`` the directory every match lies under (``"src/"``, or ``""``). ``literal`` is
    the whole body when it has no wildcard (``"src/pkg"``), which is matched without a regex.
    ``regex`` is None for a pattern that matches nothing (gitignore drops an invalid range).
    ``is_dir``: the pattern ends with "/" or "/**", so a match of a leading directory of a
    path selects the path; otherwise the regex must match the whole path.
    """

    body: str
    negated: bool
    prefix: str
    literal: str | None
    is_dir: bool
    regex: re.Pattern[str] | None


class Indexed(Protocol):
    """What :func:`match` needs of a file index: its (memoizing) matcher."""

    @property
    def matcher(self) -> Matcher: ...


@functools.lru_cache(maxsize=8192)
def parse(pattern: str) -> Glob:
    """Normalize and compile ``pattern`` (memoized: compiling costs more than most matches).

    Raises :class:`GlobError` if ``pattern`` is empty, invalid or leaves the root.

    >>> parse("./src/**.py").body
    'src/**/*.py'
    """
    text = pattern.strip()
    negated = text.startswith("!")
    segments = _segments(pattern, text[1:] if negated else text) or ["**"]
    is_dir = text.endswith("/") or segments[-1] == "**"
    body = "/".join(segments)
    literal_segments = _literal_head(segments)
    is_literal = len(literal_segments) == len(segments)
    return Glob(
        body=body,
        negated=negated,
        prefix="".join(f"{segment}/" for segment in literal_segments[: len(segments) - 1]),
        literal=body if is_literal else None,
        is_dir=is_dir,
        regex=None if is_literal else _compile(pattern, f"/{body}{_dir_mark(text)}"),
    )


def match(index: Indexed, pattern: str) -> tuple[str, ...]:
    """The sorted paths of ``index`` that ``pattern`` matches (memoized per index)."""
    return index.matcher.match(pattern)


class Matcher:
    """Matches patterns against one sorted path list, memoizing per normalized pattern.

    A cache, not a value: it lives as long as the file index it was built for (one run).
    """

    def __init__(self, paths: Sequence[str]) -> None:
        self._paths = paths
        self._memo: dict[tuple[str, bool], tuple[str, ...]] = {}

    def match(self, pattern: str) -> tuple[str, ...]:
        """The paths ``pattern`` matches, sorted. A lone ``!pattern`` matches nothing."""
        glob = parse(pattern)
        return () if glob.negated else self._match(glob)

    def match_all(self, patterns: Sequence[str]) -> tuple[str, ...]:
        """The paths matched by ``patterns`` in order, ``!pattern`` removing earlier matches."""
        selected: set[str] = set()
        for pattern in patterns:
            glob = parse(pattern)
            if glob.negated:
                selected.difference_update(self._match(glob))
            else:
                selected.update(self._match(glob))
        return tuple(sorted(selected))

    def _match(self, glob: Glob) -> tuple[str, ...]:
        key = (glob.body, glob.is_dir)
        hits = self._memo.get(key)
        if hits is None:
            hits = self._memo[key] = self._scan(glob)
        return hits

    def _scan(self, glob: Glob) -> tuple[str, ...]:
        if glob.literal is not None:
            return self._scan_literal(glob.literal, glob.is_dir)
        if glob.regex is None:
            return ()
        lo, hi = subtree(self._paths, glob.prefix)
        # gitignore regexes also match a directory's descendants ("x/*.py" matches
        # "x/a.py/b"), and pathspec versions differ on which; fullmatch pins "whole path".
        test = glob.regex.search if glob.is_dir else glob.regex.fullmatch
        return tuple([path for path in self._paths[lo:hi] if test(path)])

    def _scan_literal(self, literal: str, is_dir: bool) -> tuple[str, ...]:
        lo, hi = subtree(self._paths, f"{literal}/")
        below = tuple(self._paths[lo:hi])
        if is_dir:
            return below
        # The file itself sorts before its subtree; only one of the two can exist.
        index = bisect.bisect_left(self._paths, literal)
        is_file = index < len(self._paths) and self._paths[index] == literal
        return (literal, *below) if is_file else below


def _segments(pattern: str, text: str) -> list[str]:
    """The path segments of ``text``, with ``.`` and empty ones dropped and ``**x`` split."""
    if not text:
        raise GlobError(
            f"empty glob pattern {pattern!r}",
            hint="name files relative to the project root, e.g. 'src/**/*.py', or '.' for all",
        )
    segments: list[str] = []
    for segment in text.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            raise GlobError(
                f"glob pattern {pattern!r} points outside the project root",
                hint="write patterns relative to the project root, without '..'",
            )
        rest = segment.lstrip("*")
        if segment.startswith("**") and rest:
            segments.extend(("**", f"*{rest}"))  # qik 0.2's "**.py" is "**/*.py"
        else:
            segments.append(segment)
    return segments


def _dir_mark(text: str) -> str:
    return "/" if text.endswith("/") else ""


def _literal_head(segments: list[str]) -> list[str]:
    """The leading segments of ``segments`` without wildcards."""
    head: list[str] = []
    for segment in segments:
        if not _WILDCARDS.isdisjoint(segment):
            break
        head.append(segment)
    return head


def _compile(pattern: str, anchored: str) -> re.Pattern[str] | None:
    try:
        compiled = _gitignore_pattern()(anchored)
    except ValueError as exc:  # pathspec's GitIgnorePatternError
        raise GlobError(
            f"invalid glob pattern {pattern!r}: {exc}",
            hint="use gitignore syntax: *, ?, **/, [abc]; escape special characters with \\",
        ) from exc
    if not isinstance(compiled, pathspec.RegexPattern) or compiled.include is None:
        return None
    regex: re.Pattern[str] | None = compiled.regex
    return regex


def _gitignore_pattern() -> Callable[[str], pathspec.Pattern]:
    # pathspec 1.0 renamed "gitwildmatch" to "gitignore" and warns on the old name; 0.12
    # (our floor) only has the old one. Both compile a single pattern to the same regex.
    try:
        return pathspec.lookup_pattern("gitignore")
    except KeyError:
        return pathspec.lookup_pattern("gitwildmatch")


def subtree(paths: Sequence[str], prefix: str) -> tuple[int, int]:
    """The slice of sorted ``paths`` starting with ``prefix`` ("" or ending in "/")."""
    if not prefix:
        return 0, len(paths)
    lo = bisect.bisect_left(paths, prefix)
    # "/" + 1 is "0": every path under prefix sorts before prefix[:-1] + "0".
    return lo, bisect.bisect_left(paths, f"{prefix[:-1]}0", lo)
