"""Checking names that config refers to elsewhere: caches and spaces."""

from __future__ import annotations

from dataclasses import dataclass

from qik.config.validate import Loc, as_str, config_error

__all__ = ["BUILTIN_CACHES", "NO_CACHE", "Refs"]

BUILTIN_CACHES = ("local", "repo")
# ``cache = "none"`` (qik 0.2): the command's results are never stored, deps or not.
NO_CACHE = "none"


@dataclass(frozen=True)
class Refs:
    """The caches and spaces a project declares, for checking references to them."""

    caches: frozenset[str]
    spaces: frozenset[str]

    def cache(self, value: object, loc: Loc) -> str:
        name = as_str(value, loc)
        if name not in self.caches and name != NO_CACHE:
            raise config_error(
                "unknown-cache",
                loc,
                f'no cache named "{name}"; declared caches: {_names(self.caches)}',
                f'use one of {_names(self.caches)}, or declare it: [caches.{name}] type = "s3"',
            )
        return name

    def cache_or_template(self, value: object, loc: Loc) -> str:
        """A command's or ``[defaults]``' cache, which may be a template as in qik 0.2
        (``cache = "{ctx.bundle_cache}"``): checked once rendered, when runnables are made."""
        name = as_str(value, loc)
        return name if "{ctx." in name else self.cache(name, loc)

    def space(self, value: object, loc: Loc) -> str:
        name = as_str(value, loc)
        if name not in self.spaces:
            raise config_error(
                "unknown-space",
                loc,
                f'no space named "{name}"; declared spaces: {_names(self.spaces)}',
                f"use one of {_names(self.spaces)}, or declare it: [spaces.{name}]",
            )
        return name


def _names(names: frozenset[str]) -> str:
    return ", ".join(sorted(names))
