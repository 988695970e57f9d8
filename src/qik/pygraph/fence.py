"""Fences: which project files a space's modules may import, and the imports that cross.

A space with ``fence = true`` (or a list) encloses its modules' directories and the paths
listed; ``{type = "space", name = "x"}`` adds, recursively, everything space ``x`` encloses
(its modules and listed paths, whether or not ``x`` is fenced itself). The files checked are
those the space itself encloses; what they may import is its whole fence. A third-party
import is allowed when its distribution is in the space's environment, the standard library
always.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qik.config.schema import Project, Space, SpaceVenv
from qik.pygraph.builtin import is_fenced
from qik.pygraph.dists import canonical_name
from qik.pygraph.errors import PygraphError
from qik.pygraph.layout import python_prefix
from qik.pygraph.resolve import Pygraph

__all__ = ["Fence", "Violation", "crossings", "fence_of", "fenced_spaces"]


@dataclass(frozen=True)
class Fence:
    space: str
    own: tuple[str, ...]  # paths whose Python files are checked
    allowed: tuple[str, ...]  # paths those files may import from (own ones included)


@dataclass(frozen=True)
class Violation:
    file: str
    line: int
    importer: str
    imported: str
    reason: str

    def render(self) -> str:
        return f"{self.file}:{self.line}: {self.importer} imports {self.imported}: {self.reason}"


def fenced_spaces(project: Project) -> list[str]:
    return [name for name, space in project.spaces.items() if is_fenced(space)]


def fence_of(project: Project, name: str) -> Fence:
    """The fence of space ``name``. Raises ``fence-cycle`` if spaces enclose each other."""
    own = _own_paths(project.spaces[name])
    allowed = _enclosed(project, name, (name,))
    return Fence(name, tuple(dict.fromkeys(own)), tuple(dict.fromkeys(allowed)))


def _own_paths(space: Space) -> list[str]:
    paths = [module.path for module in space.modules]
    if isinstance(space.fence, tuple):
        paths.extend(entry for entry in space.fence if isinstance(entry, str))
    return [_normalize(p) for p in paths]


def _normalize(path: str) -> str:
    path = path.strip().removeprefix("./").strip("/")
    return "" if path == "." else path


def _enclosed(project: Project, name: str, chain: tuple[str, ...]) -> list[str]:
    space = project.spaces[name]
    paths = _own_paths(space)
    for entry in space.fence if isinstance(space.fence, tuple) else ():
        if isinstance(entry, str):
            continue
        ref = entry[1]
        if ref in chain:
            raise _cycle_error((*chain, ref))
        if ref in project.spaces:
            paths.extend(_enclosed(project, ref, (*chain, ref)))
    return paths


def _cycle_error(chain: tuple[str, ...]) -> PygraphError:
    return PygraphError(
        "fences enclose each other: " + " -> ".join(chain),
        code="fence-cycle",
        hint=f'remove {{type = "space", name = "{chain[-1]}"}} from the fence of space '
        f'"{chain[-2]}", or another link of the cycle',
    )


def _inside(path: str, prefixes: tuple[str, ...]) -> bool:
    # "app/common" encloses the directory and the module file app/common.py alike.
    return any(p == "" or path in (p, p + ".py") or path.startswith(p + "/") for p in prefixes)


def crossings(pygraph: Pygraph, fence: Fence) -> tuple[list[str], list[Violation]]:
    """The files the fence checks, and every import of theirs that crosses it."""
    graph = pygraph.graph
    env = _environment(pygraph, fence.space)
    prefix = python_prefix(pygraph.project.python_path)
    checked: list[str] = []
    found: list[Violation] = []
    for i, file in enumerate(graph.files):
        if file is None or not _inside(file, fence.own):
            continue
        checked.append(file)
        for entry in graph.imports[i]:
            reason = _problem(pygraph, fence, env, prefix, entry[0])
            if reason is not None:
                name = graph.target_name(entry[0])
                found.extend(
                    Violation(file, line, graph.modules[i], name, reason)
                    for line in (entry[1:] or [0])
                )
    found.sort(key=lambda v: (v.file, v.line, v.imported))
    return checked, found


def _problem(
    pygraph: Pygraph, fence: Fence, env: frozenset[str], prefix: str, target: int
) -> str | None:
    graph = pygraph.graph
    n = len(graph.modules)
    if target < n:
        path = graph.files[target] or prefix + graph.modules[target].replace(".", "/")
        if _inside(path, fence.allowed):
            return None
        return f'{path} is outside the fence of space "{fence.space}"'
    provided = pygraph.external_dists[target - n]
    if provided is None:
        return "no installed distribution provides it"
    if not provided or any(canonical_name(d) in env for d in provided):
        return None
    return f'distribution {provided[0]} is not in the environment of space "{fence.space}"'


def _environment(pygraph: Pygraph, space: str) -> frozenset[str]:
    """Canonical names of the distributions in the space's environment."""
    project = pygraph.project
    venv = _venv(project, space, ())
    if venv is None or venv.type == "active":
        return pygraph.env.installed
    names = set(_locked(project.root, venv))
    return frozenset(names) if names else pygraph.env.installed


def _venv(project: Project, space: str, seen: tuple[str, ...]) -> SpaceVenv | None:
    conf = project.spaces.get(space)
    venv = conf.venv if conf is not None and conf.venv is not None else project.default_venv
    if venv is not None and venv.type == "space" and venv.name and venv.name not in seen:
        return _venv(project, venv.name, (*seen, space))
    return venv


_REQUIREMENT = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)")
_UV_LOCK_NAME = re.compile(r'^name\s*=\s*"([^"]+)"', re.MULTILINE)


def _locked(root: Path, venv: SpaceVenv) -> Iterator[str]:
    """Distribution names from the venv's lock file, else its requirements files: what the
    space's environment is built from (the installed one may be another space's)."""
    files = [venv.lock] if venv.lock else list(venv.reqs)
    for rel in files:
        try:
            text = (root / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if rel.endswith(".lock"):  # uv.lock: [[package]] tables
            yield from (canonical_name(n) for n in _UV_LOCK_NAME.findall(text))
            continue
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            match = _REQUIREMENT.match(line)
            if match and not line.startswith("-"):
                yield canonical_name(match.group(1))
