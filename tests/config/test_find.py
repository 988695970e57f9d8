"""Finding the project root: qik.toml or pyproject.toml's [tool.qik], nearest first."""

from __future__ import annotations

from pathlib import Path

import pytest

from qik.config import find_root, load_project
from qik.config.find import read_toml
from qik.errors import ConfigError

from .conftest import write_files


def test_qik_toml_in_cwd(tmp_path: Path) -> None:
    write_files(tmp_path, "")
    assert find_root(tmp_path) == (tmp_path.resolve(), tmp_path.resolve() / "qik.toml")


def test_qik_toml_above_cwd(tmp_path: Path) -> None:
    write_files(tmp_path, {"qik.toml": "", "a/b/file.txt": ""})
    assert find_root(tmp_path / "a" / "b")[0] == tmp_path.resolve()


def test_nearest_config_wins(tmp_path: Path) -> None:
    write_files(tmp_path, {"qik.toml": "", "sub/qik.toml": "", "sub/x/y.txt": ""})
    assert find_root(tmp_path / "sub" / "x")[0] == (tmp_path / "sub").resolve()


def test_pyproject_tool_qik(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "x"\n\n[tool.qik.commands]\nfmt = "ruff ."\n',
            "src/pkg/__init__.py": "",
        },
    )
    root, config = find_root(tmp_path / "src" / "pkg")
    assert (root, config.name) == (tmp_path.resolve(), "pyproject.toml")
    project = load_project(tmp_path / "src", environ={})
    assert project.config_path == tmp_path.resolve() / "pyproject.toml"
    assert project.commands["fmt"].exec == "ruff ."


def test_pyproject_without_tool_qik_is_skipped(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "qik.toml": "",
            "sub/pyproject.toml": '[tool.ruff]\nline-length = 99\n[tool.other]\nqik = "x"\n',
        },
    )
    assert find_root(tmp_path / "sub")[0] == tmp_path.resolve()


def test_unrelated_broken_pyproject_is_skipped(tmp_path: Path) -> None:
    write_files(tmp_path, {"qik.toml": "", "sub/pyproject.toml": "[project\n"})
    assert find_root(tmp_path / "sub")[0] == tmp_path.resolve()


def test_qik_toml_wins_over_pyproject_in_the_same_directory(tmp_path: Path) -> None:
    write_files(tmp_path, {"qik.toml": "", "pyproject.toml": "[tool.qik]\n"})
    assert find_root(tmp_path)[1].name == "qik.toml"


def test_not_found(tmp_path: Path) -> None:
    write_files(tmp_path, {"pyproject.toml": '[project]\nname = "x"\n'})
    with pytest.raises(ConfigError) as info:
        find_root(tmp_path)
    assert info.value.code == "config-not-found"
    assert str(tmp_path.resolve()) in info.value.message
    assert info.value.hint


def test_relative_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_files(tmp_path, {"qik.toml": "", "a/x.txt": ""})
    monkeypatch.chdir(tmp_path / "a")
    assert find_root(Path("."))[0] == tmp_path.resolve()


def test_a_config_that_is_not_utf8_says_where(tmp_path: Path) -> None:
    (tmp_path / "qik.toml").write_bytes(b'[commands.a]\nexec = "caf\xe9"\n')
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    assert info.value.code == "toml-syntax"
    assert "line 2, column 12" in info.value.message


def test_a_byte_order_mark_is_not_toml(tmp_path: Path) -> None:
    # Windows editors start UTF-8 files with one; tomllib would refuse it at 1:1.
    path = tmp_path / "qik.toml"
    path.write_bytes(b'\xef\xbb\xbf[commands]\na = "echo a"\n')
    assert read_toml(path, "qik.toml") == {"commands": {"a": "echo a"}}
