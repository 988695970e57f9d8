"""Fixtures for spaces tests: a project loaded from a qik.toml written into tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import pytest

from qik.config import load_project
from qik.config.schema import Project


class Load(Protocol):
    def __call__(self, toml: str, files: Mapping[str, str] | None = None) -> Project: ...


@pytest.fixture
def load(tmp_path: Path) -> Load:
    def _load(toml: str, files: Mapping[str, str] | None = None) -> Project:
        for rel, text in {"qik.toml": toml, **(files or {})}.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return load_project(tmp_path, environ={})

    return _load
