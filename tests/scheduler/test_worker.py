"""One cold runnable in a worker (``qik.scheduler.worker``), outside a pool."""

from __future__ import annotations

from pathlib import Path

from qik.scheduler.worker import ColdRequest, run_cold


def test_a_command_runs_when_its_output_file_cannot_be_created(tmp_path: Path) -> None:
    # ._qik out of space or inodes, or not a directory: the stress suite's exhaustion case
    # saw such commands fail unrun. They run, and a warning says where the output went.
    blocker = tmp_path / "._qik"
    blocker.write_text("a file where the store should be\n")
    request = ColdRequest(
        name="x",
        exec="echo ran > ran.txt; echo the output",
        root=str(tmp_path),
        out_path=str(blocker / "out" / "x.out"),
    )
    outcome = run_cold(request)
    assert outcome.exit_code == 0
    assert (tmp_path / "ran.txt").read_text() == "ran\n"
    (warning,) = outcome.warnings
    assert "can't write" in warning
    output = Path(warning.rsplit("output in ", 1)[1])
    assert output.read_text() == "the output\n"
    output.unlink()
