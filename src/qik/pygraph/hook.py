"""``DepEnv.pygraph`` for a run: one digester per (project, file index), loaded when called.

Every runnable's DepEnv gets the same digester, so the graph loads once per run, on the
first pygraph dep; a run without one imports only this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qik.config.schema import Project, PygraphDep
from qik.fingerprint.files import FileIndex

if TYPE_CHECKING:
    from qik.deps import DepDigest, DepEnv
    from qik.pygraph.resolve import Pygraph

__all__ = ["Digester", "digester"]


class Digester:
    """Resolves pygraph deps against the import graph of ``project`` as ``index`` sees it."""

    def __init__(self, project: Project, index: FileIndex) -> None:
        self.project = project
        self.index = index
        self._pygraph: Pygraph | None = None

    @property
    def pygraph(self) -> Pygraph:
        if self._pygraph is None:
            from qik.pygraph.resolve import Pygraph

            self._pygraph = Pygraph(self.project, self.index)
        return self._pygraph

    def __call__(self, dep: PygraphDep, env: DepEnv) -> list[DepDigest]:
        return self.pygraph(dep, env)


# --since digests the base revision's index between runs of the work tree's: keep a few, so
# neither loads its graph twice.
_CURRENT: dict[tuple[int, int], Digester] = {}
_KEEP = 4


def digester(project: Project, index: FileIndex) -> Digester:
    """The run's digester for ``project`` and ``index``: cheap until first called."""
    found = _CURRENT.get((id(project), id(index)))
    if found is not None and found.project is project and found.index is index:
        return found
    if len(_CURRENT) >= _KEEP:
        del _CURRENT[next(iter(_CURRENT))]
    found = _CURRENT[(id(project), id(index))] = Digester(project, index)
    return found
