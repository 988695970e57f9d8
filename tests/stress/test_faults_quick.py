"""The fault suite itself runs: one case end to end, as CI runs them all (``python -m stress
--quick``). Whether qik passes it is the suite's verdict; here only that the harness works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.s3
def test_the_hostile_cache_case_runs_and_prints_its_table(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stress", "--quick", "--case", "hostile", "--seed", "1",
         "--work", str(tmp_path / "work"), "--json", str(tmp_path / "out.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert "== hostile: hostile shared cache" in done.stdout
    assert "the case itself crashed" not in done.stdout, done.stdout[-3000:]
    assert "== summary" in done.stdout
    assert (tmp_path / "out.json").exists()
