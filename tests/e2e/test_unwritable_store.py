"""A local store that can't be written costs the cache, never the run."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

Qik = Callable[..., subprocess.CompletedProcess[str]]

TOML = """
    [commands.a]
    exec = "echo hello from a"
    deps = ["*.txt"]
    [commands.b]
    exec = "echo hello from b"
    deps = ["*.txt"]
    """


def test_commands_run_and_show_their_output_when_qik_is_a_file(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    # Found by the stress suite's exhaustion case: a traceback (``._qik`` a file), and
    # commands failing unrun (a read-only ``._qik``: the same path, no output directory).
    root = make_repo({"qik.toml": TOML, "a.txt": "a"})
    (root / "._qik").write_text("not a directory\n")
    for _ in range(2):  # nothing is cached: the second run runs again
        result = qik(root)
        assert result.returncode == 0, result.stderr
        assert "hello from a" in result.stdout and "hello from b" in result.stdout
        assert "Traceback" not in result.stderr
        assert "can't write" in result.stderr
        assert "2 ran" in result.stdout
