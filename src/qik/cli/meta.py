"""Meta commands: ``qik :NAME ...`` (``:cache``, ``:graph``, ``:explain``).

Each entry names the module and function that handle it, imported only when called, so a
meta command's dependencies never slow down a run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from qik.errors import SelectionError

__all__ = ["run_meta"]

# name -> (module, function taking argv and returning the exit code)
_META: dict[str, tuple[str, str]] = {
    ":cache": ("qik.cli.cache", "cache_main"),
    ":explain": ("qik.cli.explain", "explain_main"),
    ":graph": ("qik.cli.graph", "run_graph"),
}


def run_meta(argv: list[str]) -> int:
    name, args = argv[0], argv[1:]
    target = _META.get(name)
    if target is None:
        raise SelectionError(
            f"no meta command {name!r}",
            code="unknown-meta-command",
            hint="meta commands are: " + ", ".join(sorted(_META)),
        )
    module, function = target
    handler = cast(Callable[[list[str]], int], getattr(importlib.import_module(module), function))
    return handler(args)
