"""``pygraph.check``: a built-in runnable per fenced space, cached like any command.

The runnable ``pygraph.check@SPACE`` (space ``SPACE``, so ``-s SPACE`` selects it) has one
dep, the space's fence, whose digest covers the files the fence checks and the imports of
theirs that cross it, computed from the import graph while fingerprinting. So the check
replays while nothing it reports can have changed, and runs again otherwise.

Its exec is ``sh ._qik/pygraph/check SPACE``: a two-line script, written while
fingerprinting, that runs this qik's interpreter. A path inside the project keeps the exec,
and so the dep hash, the same on every machine (the interpreter's own path would not), so
the result can be shared through the repo or a remote cache.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from qik.config.schema import Project, PygraphDep
from qik.deps import DepDigest
from qik.fingerprint.hashing import digest_parts
from qik.graph.expand import Runnable
from qik.pygraph.errors import PygraphError
from qik.pygraph.fence import Violation, crossings, fence_of, fenced_spaces
from qik.pygraph.resolve import FENCE_PREFIX, Pygraph

__all__ = ["CHECK_COMMAND", "CheckReport", "check_runnables", "check_space", "fence_digests"]

CHECK_COMMAND = "pygraph.check"
_SCRIPT = "._qik/pygraph/check"


def check_runnables(project: Project) -> list[Runnable]:
    """The ``pygraph.check@SPACE`` runnables, one per fenced space (none without fences).
    Fences that enclose each other fail here (``fence-cycle``), so ``--ls`` says so too."""
    spaces = fenced_spaces(project)
    for space in spaces:
        fence_of(project, space)
    return [_runnable(project, space) for space in spaces]


def _runnable(project: Project, space: str) -> Runnable:
    return Runnable(
        name=f"{CHECK_COMMAND}@{space}",
        command=CHECK_COMMAND,
        module=None,
        exec=f"sh {_SCRIPT} {shlex.quote(space)}",
        deps=(PygraphDep(FENCE_PREFIX + space),),
        artifacts=(),
        cache=project.pygraph.cache or project.default_cache,
        cache_when=project.default_cache_when,
        tags=("pygraph",),
        space=space,
        timeout=None,
        is_cached=True,
    )


@dataclass(frozen=True)
class CheckReport:
    space: str
    allowed: tuple[str, ...]
    checked: tuple[str, ...]
    violations: tuple[Violation, ...]


def check_space(pygraph: Pygraph, space: str) -> CheckReport:
    """What the fence of ``space`` encloses and checks, and the imports crossing it."""
    if space not in pygraph.project.spaces:
        raise PygraphError(
            f"no space named {space!r}",
            code="unknown-space",
            hint="spaces are declared under [spaces.NAME]: "
            + ", ".join(sorted(pygraph.project.spaces)),
        )
    fence = fence_of(pygraph.project, space)
    checked, found = crossings(pygraph, fence)
    return CheckReport(space, fence.allowed, tuple(checked), tuple(found))


def fence_digests(pygraph: Pygraph, space: str) -> list[DepDigest]:
    """The fence dep of ``pygraph.check@SPACE``: what the check would report, and on what."""
    _write_script(pygraph.project.root)
    report = check_space(pygraph, space)
    files = tuple((f, pygraph.index.digest(f) or "") for f in report.checked)
    digest = digest_parts(
        [
            ("fence", [("path", p) for p in report.allowed]),
            ("files", files),
            ("crossings", [("crossing", v.render()) for v in report.violations]),
        ]
    )
    # Labelled like a pygraph dep: :explain and --since then treat it as the file dep it is.
    return [DepDigest(f"pygraph:{FENCE_PREFIX}{space}", digest, files)]


def _write_script(root: Path) -> None:
    script = f'exec {shlex.quote(sys.executable)} -m qik.cli.graph --check "$@"\n'
    path = root / _SCRIPT
    with contextlib.suppress(OSError):
        if path.read_text() == script:
            return
    with contextlib.suppress(OSError):  # the check then fails to start, and says why
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".check-")
        with os.fdopen(fd, "w") as out:
            out.write(script)
        os.replace(tmp, path)
