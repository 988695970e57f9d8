"""Fixtures for config tests: write real config files into tmp_path and load them."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import pytest

from qik.config import load_project
from qik.config.schema import Project
from qik.errors import ConfigError


class Load(Protocol):
    def __call__(
        self,
        files: Mapping[str, str] | str,
        *,
        profile: str | None = None,
        environ: Mapping[str, str] | None = None,
        cwd: str = ".",
    ) -> Project: ...


class LoadError(Protocol):
    def __call__(
        self,
        files: Mapping[str, str] | str,
        *,
        profile: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ConfigError: ...


def write_files(root: Path, files: Mapping[str, str] | str) -> None:
    """Write ``{relative path: text}``; a bare string is the root qik.toml."""
    if isinstance(files, str):
        files = {"qik.toml": files}
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def load(tmp_path: Path) -> Load:
    def _load(
        files: Mapping[str, str] | str,
        *,
        profile: str | None = None,
        environ: Mapping[str, str] | None = None,
        cwd: str = ".",
    ) -> Project:
        write_files(tmp_path, files)
        return load_project(tmp_path / cwd, profile=profile, environ=environ or {})

    return _load


@pytest.fixture
def load_error(load: Load) -> LoadError:
    def _load_error(
        files: Mapping[str, str] | str,
        *,
        profile: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ConfigError:
        with pytest.raises(ConfigError) as info:
            load(files, profile=profile, environ=environ)
        return info.value

    return _load_error
