"""The runnables the import graph adds to a project: what :func:`qik.graph.expand.expand`
calls. Light on purpose: a project without fences pays one loop over its spaces."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qik.config.schema import Project, Space

if TYPE_CHECKING:
    from qik.graph.expand import Runnable

__all__ = ["builtin_runnables", "is_fenced"]


def is_fenced(space: Space) -> bool:
    """``fence = true`` or a list (an empty list fences the space's modules alone)."""
    return space.fence is True or isinstance(space.fence, tuple)


def builtin_runnables(project: Project) -> list[Runnable]:
    """``pygraph.check@SPACE`` for every fenced space; nothing when no space is fenced."""
    if not any(is_fenced(space) for space in project.spaces.values()):
        return []
    from qik.pygraph.check import check_runnables

    return check_runnables(project)
