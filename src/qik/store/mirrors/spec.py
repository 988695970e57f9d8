"""The mirrors a fresh result is published to, as small frozen values a pool worker gets.

Everything here is already resolved in the main process (templates rendered, read-only
and broken mirrors left out), so a worker only carries out the copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from qik.store.s3 import S3Settings

__all__ = ["Mirror", "RepoMirror", "S3Mirror"]


@dataclass(frozen=True)
class RepoMirror:
    """The committed ``.qik/`` folder at ``path`` (its parent is the project root)."""

    path: str
    name: str = "repo"


@dataclass(frozen=True)
class S3Mirror:
    """An S3 cache. ``sign_key``, when set, signs every manifest written there.
    ``run_id`` scopes the worker's circuit breaker to one run."""

    name: str
    settings: S3Settings
    run_id: str
    sign_key: str | None = None

    def __repr__(self) -> str:
        return f"S3Mirror({self.name!r}, {self.settings!r})"  # never the key


Mirror = RepoMirror | S3Mirror
