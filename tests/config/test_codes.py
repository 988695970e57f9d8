"""ERROR_CODES lists exactly the codes qik.config raises; the error catalogue is built on it."""

from __future__ import annotations

import re
from pathlib import Path

import qik.config
from qik.config import ERROR_CODES

from .test_errors import CASES

_RAISED = re.compile(r'(?:config_error\(\s*|code=)"([a-z-]+)"')
# Raised by tests outside the CASES table (they need an environment or a special file).
_TESTED_ELSEWHERE = {
    "config-not-found",
    "config-unreadable",
    "unknown-profile",
    "invalid-var-value",
}


def _raised_codes() -> set[str]:
    package = Path(qik.config.__file__).parent
    return {code for path in package.glob("*.py") for code in _RAISED.findall(path.read_text())}


def test_every_raised_code_is_listed() -> None:
    assert _raised_codes() == set(ERROR_CODES)


def test_every_listed_code_is_tested() -> None:
    assert {code for _, _, code, _ in CASES} | _TESTED_ELSEWHERE == set(ERROR_CODES)


def test_descriptions_are_one_line() -> None:
    for code, description in ERROR_CODES.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", code)
        assert description.endswith(".") and "\n" not in description
