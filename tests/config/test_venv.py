"""Space venvs given in the short forms (a requirements file, or a list of them)."""

from __future__ import annotations

import pytest

from .conftest import LoadError


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ("[spaces]\napp = []\n", "spaces.app"),
        ("[spaces.app]\nvenv = []\n", "spaces.app.venv"),
    ],
)
def test_an_empty_list_of_requirements_is_a_coded_error(
    load_error: LoadError, config: str, key: str
) -> None:
    # Found by the stress suite's config fuzzer: it loaded, then planning raised
    # IndexError (a traceback, exit 70) instead of a config error.
    error = load_error(config)
    assert error.code == "invalid-value"
    assert key in error.message
    assert error.hint


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ('[spaces]\ndefault = ""\n', "spaces.default"),
        ('[spaces]\napp = ["requirements.txt", "."]\n', "spaces.app"),
        ('[spaces.app]\nvenv = "reqs/"\n', "spaces.app.venv"),
        ('[spaces.app]\nvenv = {type = "uv", reqs = [".."]}\n', "spaces.app.venv.reqs"),
    ],
)
def test_a_requirements_path_that_names_no_file_is_a_coded_error(
    load_error: LoadError, config: str, key: str
) -> None:
    # Found by the stress suite's config fuzzer: [spaces] default = "" loaded, then
    # planning raised ValueError (a traceback, exit 70) deriving the lock's name.
    error = load_error(config)
    assert error.code == "invalid-value"
    assert key in error.message and "not a requirements file" in error.message
