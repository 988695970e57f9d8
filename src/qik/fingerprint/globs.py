"""Glob deps: gitignore-style patterns, relative to the project root, matched at scale.

Semantics (a pattern as written in ``deps``):

- A pattern with a wildcard and no slash matches at any depth, as in ``.gitignore``:
  ``*.py`` is every Python file (qik 0.2's git pathspecs matched it so too); ``/*.py`` or
  ``./*.py`` the root's only. Any other pattern is anchored at the root:
  ``requirements.in`` is the root file only, never ``a/requirements.in``.
- A pattern without wildcards names a file, or a directory and so every file below it
  (``src``, ``src/``). An escaped character is no wildcard, nor is a ``[`` without its
  ``]``: ``x\\[1\\]`` names the file or directory ``x[1]``, anchored at the root.
- A pattern with wildcards matches whole paths, with gitignore wildcards: ``*`` and ``?``
  stay within one segment, ``**/`` crosses any number of directories, ``[a-z]``/``[!a-z]``
  are classes, ``\\`` escapes. So ``src/*`` is the files directly in ``src`` and ``*`` the
  root files. Ending in ``/`` or ``/**`` it names directories instead: ``src/*/`` is every
  file in a subdirectory of ``src``, ``src/**`` every file below ``src``.
- ``**.py`` is read as ``**/*.py``, and ``a/**.py`` as ``a/**/*.py`` (qik 0.2 spelling; git
  and gitignore would read it as ``*.py``).
- A leading ``./`` or ``/`` anchors (see above) and is otherwise ignored, as are ``.``
  segments and surrounding whitespace; ``.``, ``./`` and ``**`` match every file. ``..`` is
  an error: nothing outside the root is in the file index.
- In a list (:meth:`Matcher.match_all`), ``!pattern`` removes what earlier patterns added.

Patterns are translated to regexes here rather than by ``pathspec``: its single-pattern
regexes differ between 0.12 and 1.x (whether ``dir/*`` and ``*`` reach into subdirectories),
and a dep hash must select the same files on every machine whatever is installed. The
translation is gitignore's wildcard rules; ``tests/fingerprint/test_globs.py`` checks it
against git's own ``:(glob)`` matching.

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from qik.errors import QikError

__all__ = ["Glob", "GlobError", "Indexed", "Matcher", "match", "parse", "subtree"]

_WILDCARDS = frozenset("*?[\\")
# One token of a segment: a run of stars, "?", a [class], an escaped character, a dangling
# backslash, or any other character (a "[" without its "]" included: it is literal).
_TOKEN = re.compile(
    r"(?P<star>\*+)|(?P<any>\?)|\[(?P<cls>[!^]?\]?(?:\\.|[^\]\\])*)\]"
    r"|\\(?P<esc>.)|(?P<dangling>\\$)|(?P<char>.)",
    re.DOTALL,
)
_CLASS_CHAR = re.compile(r"\\(.)|(.)", re.DOTALL)


class GlobError(QikError):
    """A glob dep can't be understood."""

    code = "glob-invalid"


@dataclass(frozen=True)
class Glob:
    """A parsed pattern.

    ``body`` is the canonical spelling, without the anchoring "/" and ending in "/" when the
    pattern names directories (``"src/**/*.py"``, ``"src/*/"``; ``""`` is everything).
    ``prefix`` is the directory every match lies under (``"src/"``, or ``""``). ``literal`` is
    set when the pattern has no wildcard (``"src/pkg"``), and is matched without a regex;
    ``regex`` otherwise, matched against the part of a path after ``prefix``.
    """

    body: str
    negated: bool
    is_dir: bool
    prefix: str
    literal: str | None
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
    body = text[1:] if negated else text
    segments = _segments(pattern, body)
    is_dir = text.endswith("/") or not segments or segments[-1] == "**"
    if len(segments) == 1 and "/" not in body.rstrip("/") and _unescaped(segments[0]) is None:
        # No slash: as in .gitignore (and as git's pathspecs matched `*.py` in qik 0.2),
        # the pattern matches at any depth. "/*.py" or "./*.py" is the root's only.
        segments.insert(0, "**")
    while segments and segments[-1] == "**":
        segments.pop()  # "a/**" names the directory a, like "a/"
    head = _literal_head(segments)
    is_literal = len(head) == len(segments)
    prefix = head[: len(segments) - 1]
    return Glob(
        body="/".join(segments) + ("/" if is_dir and segments else ""),
        negated=negated,
        is_dir=is_dir,
        prefix="".join(f"{segment}/" for segment in prefix),
        literal="/".join(head) if is_literal else None,
        # Matched against the path after the prefix: the same pattern over many modules
        # ("src/a/**/*.py", "src/b/**/*.py") then compiles one regex, not one per module.
        regex=None if is_literal else _compile(pattern, tuple(segments[len(prefix) :]), is_dir),
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
        self._memo: dict[str, tuple[str, ...]] = {}

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
        hits = self._memo.get(glob.body)
        if hits is None:
            hits = self._memo[glob.body] = self._scan(glob)
        return hits

    def _scan(self, glob: Glob) -> tuple[str, ...]:
        if glob.literal is not None:
            return self._scan_literal(glob.literal, glob.is_dir)
        assert glob.regex is not None
        lo, hi = subtree(self._paths, glob.prefix)
        fullmatch, start = glob.regex.fullmatch, len(glob.prefix)
        return tuple([path for path in self._paths[lo:hi] if fullmatch(path, start)])

    def _scan_literal(self, literal: str, is_dir: bool) -> tuple[str, ...]:
        lo, hi = subtree(self._paths, f"{literal}/" if literal else "")
        below = tuple(self._paths[lo:hi])
        if is_dir:
            return below
        # The file itself sorts before its subtree; only one of the two can exist.
        index = bisect.bisect_left(self._paths, literal)
        is_file = index < len(self._paths) and self._paths[index] == literal
        return (literal, *below) if is_file else below


def subtree(paths: Sequence[str], prefix: str) -> tuple[int, int]:
    """The slice of sorted ``paths`` starting with ``prefix`` ("" or ending in "/")."""
    if not prefix:
        return 0, len(paths)
    lo = bisect.bisect_left(paths, prefix)
    # "/" + 1 is "0": every path under prefix sorts before prefix[:-1] + "0".
    return lo, bisect.bisect_left(paths, f"{prefix[:-1]}0", lo)


def _segments(pattern: str, text: str) -> list[str]:
    """The path segments of ``text``: no empty or ``.`` ones, ``**x`` split, ``**/**`` merged."""
    if not text:
        raise GlobError(
            f"empty glob pattern {pattern!r}",
            hint="name files relative to the project root, e.g. 'src/**/*.py', or '.' for all",
        )
    segments: list[str] = []
    for segment in text.split("/"):
        if segment == "..":
            raise GlobError(
                f"glob pattern {pattern!r} points outside the project root",
                hint="write patterns relative to the project root, without '..'",
            )
        rest = segment.lstrip("*")
        parts = ["**", f"*{rest}"] if segment.startswith("**") and rest else [segment]
        for part in parts:  # qik 0.2's "**.py" is "**/*.py"
            if part not in ("", ".") and not (part == "**" and segments[-1:] == ["**"]):
                segments.append(part)
    return segments


def _literal_head(segments: list[str]) -> list[str]:
    """The leading segments of ``segments`` without wildcards, unescaped (``x\\[1\\]`` is
    the name ``x[1]``: an escaped character is no wildcard)."""
    head: list[str] = []
    for segment in segments:
        name = _unescaped(segment)
        if name is None:
            break
        head.append(name)
    return head


@functools.lru_cache(maxsize=4096)
def _unescaped(segment: str) -> str | None:
    """The name ``segment`` spells if it has no wildcard (``*``, ``?``, a ``[class]``;
    ``**`` included), its escapes undone; else None."""
    if _WILDCARDS.isdisjoint(segment):
        return segment
    name: list[str] = []
    for token in _TOKEN.finditer(segment):
        kind = token.lastgroup
        if kind not in ("esc", "char"):
            return None
        name.append(token.group(kind))
    return "".join(name)


def _compile(pattern: str, segments: tuple[str, ...], is_dir: bool) -> re.Pattern[str]:
    """The regex of the paths that ``segments`` match (or lie under, when ``is_dir``)."""
    try:
        return _compile_segments(segments, is_dir)
    except _Invalid as exc:
        raise _invalid(pattern, str(exc)) from None


class _Invalid(Exception):
    pass


@functools.lru_cache(maxsize=4096)
def _compile_segments(segments: tuple[str, ...], is_dir: bool) -> re.Pattern[str]:
    parts = [
        "(?:[^/]+/)*" if segment == "**" else f"{_segment_regex(segment)}/" for segment in segments
    ]
    regex = "".join(parts) + ".+" if is_dir else "".join(parts)[:-1]
    try:
        return re.compile(regex, re.DOTALL)
    except re.error as exc:  # a class range out of order, like [z-a]
        raise _Invalid(str(exc)) from exc


def _segment_regex(segment: str) -> str:
    """The regex of one path segment: ``*`` and ``?`` never match "/"."""
    out: list[str] = []
    for token in _TOKEN.finditer(segment):
        kind, value = token.lastgroup, token.group(token.lastgroup or 0)
        if kind == "star":
            out.append("[^/]*")
        elif kind == "any":
            out.append("[^/]")
        elif kind == "cls":
            out.append(_class_regex(value))
        elif kind == "dangling":
            raise _Invalid("it ends with an escaping backslash")
        else:
            out.append(re.escape(value))
    return "".join(out)


def _class_regex(body: str) -> str:
    """``[!a-z]`` as a regex class; "-" keeps making ranges, every other character is literal."""
    if "[:" in body:
        raise _Invalid("POSIX character classes like [[:alpha:]] are not supported")
    negated = body[:1] in ("!", "^")
    chars = [
        "-" if char == "-" else re.escape(escaped or char)
        for escaped, char in _CLASS_CHAR.findall(body[1:] if negated else body)
    ]
    # A negated class must not match "/" either; a lookahead keeps "/" out of the class,
    # where it could become the end of a range ("[^/-a]").
    return f"(?:(?!/)[^{''.join(chars)}])" if negated else f"[{''.join(chars)}]"


def _invalid(pattern: str, why: str) -> GlobError:
    return GlobError(
        f"invalid glob pattern {pattern!r}: {why}",
        hint="use gitignore syntax: *, ?, **/, [abc], [!abc]; escape special characters with \\",
    )
