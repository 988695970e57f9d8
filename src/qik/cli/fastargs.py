"""Parse a plain ``qik [COMMAND ...] [OPTIONS]`` without importing typer (~30 ms of start-up).

``parse`` returns exactly the flags the typer ``run`` command (``qik.cli.typer_app``) would
pass to ``execute_run``, or None whenever it is not sure: help, version, ``--``, combined
short flags, unknown options, missing or unusual values, anything typer would reject. None
means "let typer handle it", so every message and usage error stays typer's own.

``OPTIONS`` mirrors the typer signature; tests/cli/test_fastargs.py checks it against the
click command typer builds, and checks ``parse`` against the typer path on many argvs.
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = ["FLAG", "INT", "MULTI", "OPTIONS", "VALUE", "parse"]

MULTI: Final = "multi"  # repeatable, collected into a tuple
VALUE: Final = "value"  # one string; given twice, the last wins (as in click)
INT: Final = "int"  # one int
FLAG: Final = "flag"  # True when given, else None

# (key in the flags dict, kind, spellings), in the order of the typer signature.
OPTIONS: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("modules", MULTI, ("-m", "--module")),
    ("spaces", MULTI, ("-s", "--space")),
    ("tags", MULTI, ("-t", "--tag")),
    ("workers", INT, ("-n", "--workers")),
    ("isolated", FLAG, ("--isolated",)),
    ("force", FLAG, ("-f", "--force")),
    ("ls", FLAG, ("--ls",)),
    ("json", FLAG, ("--json",)),
    ("fail", FLAG, ("--fail",)),
    ("since", VALUE, ("--since",)),
    ("caches", MULTI, ("--cache",)),
    ("cache_status", VALUE, ("--cache-status",)),
    ("cache_when", VALUE, ("--cache-when",)),
    ("cache_read_only", FLAG, ("--cache-read-only",)),
    ("profile", VALUE, ("-p", "--profile")),
    ("verbosity", INT, ("-v", "--verbosity")),
    ("watch", FLAG, ("--watch",)),
    ("shard", VALUE, ("--shard",)),
    ("report", VALUE, ("--report",)),
    ("logger", VALUE, ("-l", "--logger")),  # qik 0.2's choice of output: ignored
)

_BY_SPELLING: Final = {name: (key, kind) for key, kind, names in OPTIONS for name in names}
_INT = re.compile(r"-?[0-9]+")  # what int() and so click's INT read alike
_CHOICES: Final = {"cache_status": ("warm", "cold")}  # else typer raises BadParameter


def parse(argv: list[str]) -> dict[str, Any] | None:
    """The flags dict typer's ``run`` would build from ``argv``, or None if not sure."""
    commands: list[str] = []
    flags: dict[str, Any] = {key: [] if kind == MULTI else None for key, kind, _ in OPTIONS}
    tokens = iter(argv)
    for token in tokens:
        if not token.startswith("-"):
            commands.append(token)
            continue
        spelling, value = _split(token)
        if spelling not in _BY_SPELLING:
            return None  # "-", "--", help, version, unknown or combined short options
        key, kind = _BY_SPELLING[spelling]
        if kind == FLAG:
            if value is not None:
                return None  # "--ls=1", "-fv": a usage error or combined short flags
            flags[key] = True
            continue
        if value is None:
            value = next(tokens, None)
            if value is None or value.startswith("-"):
                return None  # missing, or "-m -x": leave the odd cases to click
        if kind == INT:
            if not _INT.fullmatch(value):
                return None
            flags[key] = int(value)
        elif kind == MULTI:
            flags[key].append(value)
        else:
            if value not in _CHOICES.get(key, (value,)):
                return None
            flags[key] = value
    return {
        "commands": tuple(commands),
        **{key: tuple(v) if isinstance(v, list) else v for key, v in flags.items()},
    }


def _split(token: str) -> tuple[str, str | None]:
    """``--name=value``, ``--name``, ``-xVALUE`` or ``-x`` into (spelling, attached value)."""
    if token.startswith("--"):
        name, eq, value = token.partition("=")
        return name, value if eq else None
    return token[:2], token[2:] or None
