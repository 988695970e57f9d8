"""``--watch``: run, then re-run what a file change affects, until Ctrl-C.

After each batch of changes (debounced) the project is loaded again, so edits to
``qik.toml`` apply, and planned again: the runnables whose dep hash no longer has a stored
result are exactly the affected ones, and only those run. Runnables without deps are run
once at the start and never re-run (nothing tells when they'd be affected). A failing
command, or a config error, is reported and watching goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["is_watched", "require_watchfiles", "watch_changes"]

_IGNORED_DIRS = frozenset({".git", "._qik", ".qik", "__pycache__", ".mypy_cache", ".ruff_cache"})
DEBOUNCE_MS = 150


def is_watched(root: Path, path: str) -> bool:
    """Changes under qik's own and tools' cache dirs never trigger a run."""
    try:
        parts = Path(path).resolve().relative_to(root.resolve()).parts
    except ValueError:
        return False
    return not any(part in _IGNORED_DIRS for part in parts)


def require_watchfiles() -> None:
    """``--watch`` needs the ``watch`` extra."""
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        from qik.errors import QikError

        raise QikError(
            "--watch needs watchfiles, which isn't installed",
            code="watch-not-installed",
            hint="install qik with the watch extra: pip install 'qik[watch]'",
        ) from None


def watch_changes(root: Path) -> Iterator[set[str]]:
    """Batches of changed paths under ``root`` (blocking; Ctrl-C ends it)."""
    import watchfiles

    def keep(change: object, path: str) -> bool:
        return is_watched(root, path)

    for changes in watchfiles.watch(
        root, watch_filter=keep, debounce=DEBOUNCE_MS, step=50, raise_interrupt=True
    ):
        yield {path for _, path in changes}


def watch_loop(
    root: Path, run_affected: Callable[[bool], None], changes: Iterator[set[str]]
) -> None:
    """Run everything once, then the affected runnables after every batch of changes."""
    run_affected(True)
    for _batch in changes:
        run_affected(False)
