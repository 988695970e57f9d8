"""The QikError family: every mistake a user can make has a stable code.

Each code has an entry in ``docs/errors.md`` (anchor = the code). The CLI catches
``QikError`` in one place, prints ``error[<code>]: <message>`` and the hint, and
exits 2. Any other exception is a bug in qik.
"""

from __future__ import annotations

__all__ = [
    "CacheError",
    "ConfigError",
    "GraphError",
    "QikError",
    "SelectionError",
    "usage_error",
]

DOCS_URL = "https://qik.build/errors"


class QikError(Exception):
    """A user-facing error with a stable ``code`` and a ``hint`` on what to do next."""

    code: str = "qik-error"

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.hint = hint

    def render(self) -> str:
        lines = [f"error[{self.code}]: {self.message}"]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        lines.append(f"  docs: docs/errors.md#{self.code}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class ConfigError(QikError):
    """Something in qik.toml (or pyproject.toml's [tool.qik]) is wrong."""

    code = "config-invalid"


class GraphError(QikError):
    """The command graph can't be built (cycles, unknown commands)."""

    code = "dep-cycle"


class SelectionError(QikError):
    """The command line selects something that does not exist."""

    code = "unknown-command"


class CacheError(QikError):
    """A cache operation the user asked for explicitly could not be done."""

    code = "cache-error"


def usage_error(prog: str, message: str) -> QikError:
    """A command line qik can't parse (an unknown option, a missing value)."""
    return QikError(message, code="usage", hint=f"`{prog} --help` lists what it takes")
