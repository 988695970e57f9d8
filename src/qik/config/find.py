"""Finding the project root and reading its TOML files."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from qik.config.validate import Loc, as_table
from qik.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "CONFIG_NAME",
    "PYPROJECT_NAME",
    "ConfigSource",
    "discover",
    "parse_toml",
    "read_toml",
    "source_in",
]

CONFIG_NAME = "qik.toml"
PYPROJECT_NAME = "pyproject.toml"

_AT = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)\s*$")


@dataclass(frozen=True)
class ConfigSource:
    """The project's configuration as found: where it lives and its parsed qik table."""

    root: Path
    path: Path
    data: dict[str, object]
    loc: Loc  # where the qik table sits: "qik.toml" or "pyproject.toml: tool.qik"


def discover(cwd: Path) -> ConfigSource:
    """The nearest configuration at or above ``cwd``; ``qik.toml`` wins over pyproject."""
    start = cwd.resolve()
    for directory in (start, *start.parents):
        source = source_in(directory)
        if source is not None:
            return source
    raise ConfigError(
        f"no {CONFIG_NAME}, or {PYPROJECT_NAME} with a [tool.qik] table, in {start} "
        "or any parent directory",
        hint=f"run qik inside your project, or create {CONFIG_NAME} at the project root "
        '(e.g. [commands] hello = "echo hello")',
        code="config-not-found",
    )


def source_in(directory: Path) -> ConfigSource | None:
    """The configuration held by ``directory`` itself, if any."""
    qik_toml = directory / CONFIG_NAME
    if qik_toml.is_file():
        return ConfigSource(
            directory, qik_toml, read_toml(qik_toml, CONFIG_NAME), Loc(CONFIG_NAME)
        )
    if qik_toml.is_dir():  # there, but not a file we can read: say so, don't look further up
        raise ConfigError(
            f"{CONFIG_NAME}: can't be read (it is a directory)",
            hint=f"{qik_toml} must be a file: move the directory away",
            code="config-unreadable",
        )
    pyproject = directory / PYPROJECT_NAME
    if pyproject.is_file():
        return _pyproject_source(directory, pyproject)
    return None


def _pyproject_source(directory: Path, path: Path) -> ConfigSource | None:
    raw = _read_bytes(path, PYPROJECT_NAME)
    # Most pyproject.toml files on the way up have nothing for us: skip parsing them (and
    # don't fail on their syntax errors) unless "qik" appears at all.
    if b"qik" not in raw:
        return None
    tool = parse_toml(_decode(raw, PYPROJECT_NAME), PYPROJECT_NAME).get("tool")
    if not isinstance(tool, dict) or "qik" not in tool:
        return None
    loc = Loc(PYPROJECT_NAME, ("tool", "qik"))
    return ConfigSource(directory, path, as_table(tool["qik"], loc), loc)


def read_toml(path: Path, display: str) -> dict[str, object]:
    """Parse one TOML file; ``display`` names it in errors (relative to the root)."""
    return parse_toml(_decode(_read_bytes(path, display), display), display)


def _read_bytes(path: Path, display: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{display}: can't be read ({exc.strerror or exc})",
            hint=f"check that {path} is a readable file",
            code="config-unreadable",
        ) from None


def _decode(raw: bytes, display: str) -> str:
    try:
        # A byte order mark, as Windows editors write one, is not part of the TOML.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise _syntax_error(display, "not valid UTF-8", (line, column)) from None


def parse_toml(text: str, display: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _from_decode_error(exc, display, text) from None
    except RecursionError:
        raise _syntax_error(display, "arrays or tables nested too deeply", None) from None
    except ValueError as exc:  # e.g. an integer literal longer than Python's digit limit
        raise _syntax_error(display, str(exc), None) from None


def _from_decode_error(exc: tomllib.TOMLDecodeError, display: str, text: str) -> ConfigError:
    reason = str(exc)
    match = _AT.search(reason)
    if match is None:
        return _syntax_error(display, reason, None)
    if match.group(1):
        position = (int(match.group(1)), int(match.group(2)))
    else:  # "at end of document": where the last line ends
        lines = text.split("\n")
        position = (len(lines), len(lines[-1]) + 1)
    return _syntax_error(display, reason[: match.start()], position)


def _syntax_error(display: str, reason: str, position: tuple[int, int] | None) -> ConfigError:
    # tomllib reports some errors (a key defined twice) without a position.
    where = f"line {position[0]}, column {position[1]}" if position else ""
    return ConfigError(
        f"{display}: {where + ': ' if where else ''}invalid TOML: {reason}",
        hint=f"fix the TOML syntax {f'at {where} of' if where else 'in'} {display}",
        code="toml-syntax",
    )
