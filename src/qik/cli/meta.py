"""Meta commands: ``qik :NAME ...`` (``:cache``, ``:graph``, ``:explain``)."""

from __future__ import annotations

from collections.abc import Callable

from qik.errors import SelectionError

__all__ = ["run_meta"]

_META: dict[str, Callable[[list[str]], int]] = {}


def run_meta(argv: list[str]) -> int:
    name, args = argv[0], argv[1:]
    handler = _META.get(name)
    if handler is None:
        raise SelectionError(
            f"no meta command {name!r}",
            code="unknown-meta-command",
            hint="meta commands are: " + (", ".join(sorted(_META)) or "none yet"),
        )
    return handler(args)
