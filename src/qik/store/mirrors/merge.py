"""The git merge driver of the repo cache: ``python -m qik.store.mirrors.merge %O %A %B %P``.

Git calls it only for a file both branches changed differently. In ``.qik/`` that is:

- a manifest both branches wrote for the same dep hash (the same inputs ran on both, at
  different times): either result is right; the newer valid one is kept;
- an object both branches stored with different compressed bytes (another zstd version):
  both decode to the same content, which its name pins; ours is kept.

The merge is always clean (exit 0): the worst outcome is a manifest that reads as a miss,
and the next publish prunes what the merge left over (two manifests of one runnable).
"""

from __future__ import annotations

import sys
from pathlib import Path

from qik.store.manifest import Manifest, ManifestInvalid

__all__ = ["main", "merge_manifests"]


def merge_manifests(ours: bytes, theirs: bytes) -> bytes:
    """The bytes to keep: the newer of two valid manifests (ours on a tie), else the valid
    one, else ours."""
    mine, other = _parse(ours), _parse(theirs)
    if other is None:
        return ours
    if mine is None or other.created > mine.created:
        return theirs
    return ours


def _parse(data: bytes) -> Manifest | None:
    try:
        return Manifest.from_bytes(data)
    except ManifestInvalid:
        return None


def main(argv: list[str]) -> int:
    """``BASE OURS THEIRS PATH``: write the merged file over OURS, as git expects."""
    _base, ours, theirs, path = argv
    if "manifests/" in path and path.endswith(".json"):
        ours_path = Path(ours)
        merged = merge_manifests(ours_path.read_bytes(), Path(theirs).read_bytes())
        ours_path.write_bytes(merged)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
