"""Space roots: the space of the working directory, and nested roots as an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from qik.errors import SelectionError
from qik.options import Options
from qik.spaces import SpaceError
from qik.spaces.roots import select_spaces, space_at

from .conftest import Load

ROOTS = """
[spaces.app]
root = "app"
[spaces.web]
root = "services/web/"
[spaces.tools]
"""


@pytest.mark.parametrize(
    "cwd, space",
    [
        (".", None),
        ("app", "app"),
        ("app/deep/er", "app"),
        ("apple", None),
        ("services", None),
        ("services/web", "web"),
        ("services/web/src", "web"),
    ],
)
def test_space_at(load: Load, tmp_path: Path, cwd: str, space: str | None) -> None:
    project = load(ROOTS)
    (tmp_path / cwd).mkdir(parents=True, exist_ok=True)
    assert space_at(project, tmp_path / cwd) == space


def test_no_roots(load: Load, tmp_path: Path) -> None:
    assert space_at(load("[spaces.app]\n"), tmp_path) is None


def test_outside_the_project(load: Load, tmp_path: Path) -> None:
    assert space_at(load(ROOTS), tmp_path.parent) is None


@pytest.mark.parametrize(
    "roots",
    [("app", "app/sub"), ("app/sub", "app"), ("app", "app/"), (".", "lib")],
)
def test_nested_roots(load: Load, tmp_path: Path, roots: tuple[str, str]) -> None:
    toml = f'[spaces.a]\nroot = "{roots[0]}"\n[spaces.b]\nroot = "{roots[1]}"\n'
    with pytest.raises(SpaceError) as info:
        space_at(load(toml), tmp_path)
    assert info.value.code == "nested-roots"
    assert "'a'" in info.value.message and "'b'" in info.value.message


@pytest.mark.parametrize(
    "given, cwd, selected",
    [
        ((), ".", ()),
        ((), "app/x", ("app",)),
        (("tools",), "app", ("tools",)),  # -s wins over the root
        (("web", "tools"), ".", ("web", "tools")),
    ],
)
def test_select_spaces(
    load: Load, tmp_path: Path, given: tuple[str, ...], cwd: str, selected: tuple[str, ...]
) -> None:
    (tmp_path / cwd).mkdir(parents=True, exist_ok=True)
    options = select_spaces(Options(spaces=given), load(ROOTS), tmp_path / cwd)
    assert options.spaces == selected


def test_select_an_unknown_space(load: Load, tmp_path: Path) -> None:
    with pytest.raises(SelectionError) as info:
        select_spaces(Options(spaces=("nope",)), load("[spaces.app]\n"), tmp_path)
    assert info.value.code == "unknown-space"
    assert "app, default" in (info.value.hint or "")
