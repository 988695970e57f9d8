"""Space roots: below a space's ``root``, qik and qikx work in that space by default.

Roots split a project into a flat set of areas, so they may not nest: below two roots at
once, which space would be meant?
"""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath

from qik.config.schema import Project
from qik.errors import SelectionError
from qik.options import Options
from qik.spaces import SpaceError, has_roots

__all__ = ["check_roots", "select_spaces", "space_at"]


def select_spaces(options: Options, project: Project, cwd: Path) -> Options:
    """The spaces a run selects: those given (``-s``, ``QIK__SPACE``), each of which must
    exist; else, below a space's root, that space."""
    unknown = [space for space in options.spaces if space not in project.spaces]
    if unknown:
        raise SelectionError(
            f"no space named {unknown[0]!r}",
            code="unknown-space",
            hint="spaces are declared under [spaces.NAME]: " + ", ".join(sorted(project.spaces)),
        )
    if not has_roots(project):
        return options
    space = space_at(project, cwd)  # checks the roots even when -s is given
    if options.spaces or space is None:
        return options
    return dataclasses.replace(options, spaces=(space,))


def space_at(project: Project, cwd: Path) -> str | None:
    """The space whose root holds ``cwd``, or None (also when no space has a root)."""
    if not has_roots(project):
        return None
    roots = check_roots(project)
    try:
        rel = PurePosixPath(cwd.resolve().relative_to(project.root.resolve()).as_posix())
    except ValueError:
        return None
    for root, space in roots.items():
        if _is_within(rel, root):
            return space
    return None


def check_roots(project: Project) -> dict[PurePosixPath, str]:
    """Root -> space; raises SpaceError (``nested-roots``) if one root holds another."""
    roots: dict[PurePosixPath, str] = {}
    for name, space in project.spaces.items():
        if space.root is None:
            continue
        root = PurePosixPath(space.root)
        for other, other_name in roots.items():
            if _is_within(root, other) or _is_within(other, root):
                raise _nested(project, (other_name, other), (name, root))
        roots[root] = name
    return roots


def _is_within(path: PurePosixPath, root: PurePosixPath) -> bool:
    return root == PurePosixPath(".") or path == root or root in path.parents


def _nested(
    project: Project, first: tuple[str, PurePosixPath], second: tuple[str, PurePosixPath]
) -> SpaceError:
    (a, a_root), (b, b_root) = first, second
    return SpaceError(
        f"{project.config_path.name}: the roots of spaces {a!r} ({a_root}) and {b!r} "
        f"({b_root}) nest",
        code="nested-roots",
        hint="roots split the project into separate areas: move one of them out of the "
        f"other, or remove root from [spaces.{b}]",
    )
