"""Every error code raised anywhere in qik has a section in docs/errors.md."""

from __future__ import annotations

import re
from pathlib import Path

from qik.config.codes import ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
_CODE = re.compile(r'\bcode\s*=\s*"([a-z0-9-]+)"')


def _raised_codes() -> set[str]:
    codes = set(ERROR_CODES)
    for path in (ROOT / "src" / "qik").rglob("*.py"):
        codes.update(_CODE.findall(path.read_text()))
    codes.discard("qik-error")  # the base class's placeholder, never raised as such
    return codes


def _documented_codes() -> set[str]:
    text = (ROOT / "docs" / "errors.md").read_text()
    return set(re.findall(r"^###? ([a-z0-9-]+)\s*$", text, flags=re.MULTILINE))


def test_every_code_is_documented() -> None:
    missing = _raised_codes() - _documented_codes()
    assert not missing, f"add these codes to docs/errors.md: {sorted(missing)}"
