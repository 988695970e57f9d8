"""The import graph's errors: each one has a stable code, documented in docs/errors.md."""

from __future__ import annotations

from qik.errors import QikError

__all__ = ["PygraphError"]


class PygraphError(QikError):
    """The import graph can't be built, or a pygraph dep can't be resolved."""

    code = "pygraph-build-failed"
