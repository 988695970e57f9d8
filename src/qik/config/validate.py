"""Typed reading of parsed TOML, with errors that name the file and key path.

Every converter takes the raw value and its :class:`Loc` and either returns a typed
value or raises a :class:`~qik.errors.ConfigError` saying where, what was expected and
what was found. Option keys are matched in kebab-case; the snake_case spelling of the
same key is accepted (qik 0.2 configs use both).
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from qik.errors import ConfigError

__all__ = [
    "Convert",
    "Fields",
    "Loc",
    "as_bool",
    "as_list",
    "as_number",
    "as_rel_path",
    "as_str",
    "as_str_list",
    "as_strs",
    "as_table",
    "choice",
    "config_error",
    "describe",
    "duplicate_key",
    "fields",
    "unknown_key",
    "wrong_type",
]

T = TypeVar("T")
Convert = Callable[[object, "Loc"], T]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# Values bigger than this are not echoed: str() of a huge int can itself raise.
_ECHO_LIMIT = 10**15


class Loc(NamedTuple):
    """A place in a config file: ``qik.toml: commands.lint.deps[2]``."""

    # A NamedTuple, not a frozen dataclass: one is made per key read, and making a tuple
    # takes ~40% less time (0.44 vs 0.73 us), which shows on configs with 1,000 commands.
    file: str
    keys: tuple[str | int, ...] = ()

    def __truediv__(self, key: str | int) -> Loc:
        return Loc(self.file, (*self.keys, key))

    @property
    def dotted(self) -> str:
        out = ""
        for key in self.keys:
            if isinstance(key, int):
                out += f"[{key}]"
            else:
                out += ("." if out else "") + _quote_key(key)
        return out

    def __str__(self) -> str:
        return f"{self.file}: {self.dotted}" if self.keys else self.file


def _quote_key(key: str) -> str:
    if _BARE_KEY.fullmatch(key):
        return key
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def config_error(code: str, loc: Loc, problem: str, hint: str) -> ConfigError:
    return ConfigError(f"{loc}: {problem}", hint=hint, code=code)


def describe(value: object) -> str:
    """Name a TOML value's type for an error message: ``an integer (3)``."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})" if abs(value) < _ECHO_LIMIT else "an integer"
    if isinstance(value, float):
        return f"a float ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'a string ("{shown}")'
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


def wrong_type(loc: Loc, expected: str, value: object, example: str) -> ConfigError:
    return config_error(
        "wrong-type",
        loc,
        f"expected {expected}, got {describe(value)}",
        f"write {loc.dotted} as {expected}, e.g. {example}",
    )


def as_table(value: object, loc: Loc) -> dict[str, object]:
    if not isinstance(value, dict):
        raise wrong_type(loc, "a table", value, f"[{loc.dotted}] with key = value lines")
    return value


def as_list(value: object, loc: Loc) -> list[object]:
    if not isinstance(value, list):
        raise wrong_type(loc, "an array", value, f'{_last(loc)} = ["..."]')
    return value


def as_str(value: object, loc: Loc) -> str:
    if not isinstance(value, str):
        raise wrong_type(loc, "a string", value, f'{_last(loc)} = "..."')
    return value


def as_bool(value: object, loc: Loc) -> bool:
    if not isinstance(value, bool):
        raise wrong_type(loc, "a boolean", value, f"{_last(loc)} = true")
    return value


def as_number(value: object, loc: Loc) -> float:
    """A finite, positive number (int or float): timeouts and the like."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise wrong_type(loc, "a number", value, f"{_last(loc)} = 60")
    if isinstance(value, int) and value >= _ECHO_LIMIT:
        # float() of a huge int overflows; it is out of range anyway
        message = "an integer this large is not a usable number"
        raise config_error("invalid-value", loc, message, _positive(loc))
    if not (math.isfinite(value) and value > 0):
        raise config_error(
            "invalid-value", loc, f"{describe(value)} is not a positive number", _positive(loc)
        )
    return float(value)


def _positive(loc: Loc) -> str:
    return f"set {loc.dotted} to a positive number, e.g. {_last(loc)} = 60"


def as_str_list(value: object, loc: Loc) -> tuple[str, ...]:
    """An array of strings."""
    return tuple(as_str(item, loc / i) for i, item in enumerate(as_list(value, loc)))


def as_strs(value: object, loc: Loc) -> tuple[str, ...]:
    """A string or an array of strings (``dotenv = "a.env"`` means ``["a.env"]``)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise wrong_type(loc, "a string or an array of strings", value, f'{_last(loc)} = "..."')
    return as_str_list(value, loc)


def as_rel_path(value: object, loc: Loc) -> str:
    """A path inside the project: relative, posix, never climbing out with ``..``."""
    text = as_str(value, loc)
    # String operations, not PurePosixPath: a config may list a module per package.
    if not text or "\0" in text or "\\" in text or text[0] == "/" or ".." in text.split("/"):
        raise config_error(
            "invalid-value",
            loc,
            f'"{text}" is not a relative path inside the project',
            f"write {loc.dotted} as a path relative to the project root using /, "
            'without "..", e.g. "app/api"',
        )
    return posixpath.normpath(text)


def as_rel_paths(value: object, loc: Loc) -> tuple[str, ...]:
    """``as_strs``, each a path inside the project (``as_rel_path``)."""
    items = as_strs(value, loc)
    at = (lambda i: loc) if isinstance(value, str) else (lambda i: loc / i)
    return tuple(as_rel_path(item, at(i)) for i, item in enumerate(items))


def as_file_path(value: object, loc: Loc) -> str:
    """A file qik only reads (a dotenv or constraint file): relative to the project, and
    unlike ``as_rel_path`` it may be outside it (``../shared.env``), but it is a path."""
    text = as_str(value, loc)
    if not text or "\0" in text:
        raise config_error(
            "invalid-value",
            loc,
            f"{text!r} is not a file path",
            f'write {loc.dotted} as a path relative to the project root, e.g. "app.env"',
        )
    return text


def as_file_paths(value: object, loc: Loc) -> tuple[str, ...]:
    """``as_strs``, each a path (``as_file_path``)."""
    items = as_strs(value, loc)
    at = (lambda i: loc) if isinstance(value, str) else (lambda i: loc / i)
    return tuple(as_file_path(item, at(i)) for i, item in enumerate(items))


def choice(options: Collection[str]) -> Convert[str]:
    """A converter accepting one of ``options``."""

    def convert(value: object, loc: Loc) -> str:
        text = as_str(value, loc)
        if text not in options:
            raise config_error(
                "invalid-value",
                loc,
                f'"{text}" is not one of {_listing(options)}',
                f"set {loc.dotted} to one of {_listing(options)}",
            )
        return text

    return convert


def _listing(options: Collection[str]) -> str:
    return ", ".join(f'"{option}"' for option in options)


def _last(loc: Loc) -> str:
    for key in reversed(loc.keys):
        if isinstance(key, str):
            return _quote_key(key)
    return "key"


def unknown_key(loc: Loc, key: str, valid: Collection[str]) -> ConfigError:
    # Imported here: difflib is only needed on this error path, not on every warm run.
    import difflib

    close = difflib.get_close_matches(key.replace("_", "-"), list(valid), n=1)
    if not close:
        close = difflib.get_close_matches(key, list(valid), n=1)
    guess = f' (did you mean "{close[0]}"?)' if close else ""
    where = f"in {loc.dotted}" if loc.keys else "at the top level"
    valid_text = ", ".join(sorted(valid)) or "none"
    return config_error(
        "unknown-key",
        loc / key,
        f'unknown key "{key}"{guess}',
        f"{_rename(close)}remove it from {loc.file}; valid keys {where}: {valid_text}",
    )


def _rename(close: list[str]) -> str:
    return f'rename it to "{close[0]}" or ' if close else ""


@dataclass(frozen=True)
class Fields:
    """A table's entries by canonical (kebab-case) key, each with the place it was written."""

    loc: Loc
    entries: Mapping[str, tuple[Loc, object]]

    def get(self, key: str) -> tuple[Loc, object] | None:
        return self.entries.get(key)

    def opt(self, key: str, convert: Convert[T]) -> T | None:
        entry = self.entries.get(key)
        return None if entry is None else convert(entry[1], entry[0])

    def get_or(self, key: str, convert: Convert[T], default: T) -> T:
        entry = self.entries.get(key)
        return default if entry is None else convert(entry[1], entry[0])

    def req(self, key: str, convert: Convert[T]) -> T:
        entry = self.entries.get(key)
        if entry is None:
            raise config_error(
                "missing-key",
                self.loc,
                f'missing required key "{key}"',
                f"add {key} = ... to {self.loc.dotted or 'the top level'} in {self.loc.file}",
            )
        return convert(entry[1], entry[0])


def fields(value: object, loc: Loc, valid: Collection[str]) -> Fields:
    """Check a table's keys against ``valid`` (kebab-case) and index them canonically."""
    entries: dict[str, tuple[Loc, object]] = {}
    for key, item in as_table(value, loc).items():
        canonical = key.replace("_", "-")
        if canonical not in valid:
            raise unknown_key(loc, key, valid)
        if canonical in entries:
            raise duplicate_key(loc / key, entries[canonical][0])
        entries[canonical] = (loc / key, item)
    return Fields(loc, entries)


def duplicate_key(loc: Loc, first: Loc) -> ConfigError:
    return config_error(
        "duplicate-key",
        loc,
        f"this key is also written as {first.dotted}",
        f"keep only one of {first.dotted} and {loc.dotted} in {loc.file}",
    )
