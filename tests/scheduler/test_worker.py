"""One cold runnable in a worker (``qik.scheduler.worker``), outside a pool."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from qik.proc import RUN_MARKER
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


def _request(root: Path, name: str, line: str, **kw: object) -> ColdRequest:
    out = root / "._qik" / "out" / f"{name}.out"
    return ColdRequest(
        name=name,
        exec=line,
        root=str(root),
        out_path=f"{out}.123",
        store_dir=str(root / "._qik"),
        **kw,  # type: ignore[arg-type]
    )


def test_a_worker_that_settles_moves_the_output_and_sends_a_small_log_back(
    tmp_path: Path,
) -> None:
    final = tmp_path / "._qik" / "out" / "x.out"
    request = _request(tmp_path, "x", "echo hi; echo err >&2", settle_path=str(final))
    outcome = run_cold(request)
    assert outcome.exit_code == 0 and outcome.log == b"hi\nerr\n"
    assert final.read_bytes() == b"hi\nerr\n"
    assert not Path(request.out_path).exists()
    # Not settled when not asked to: the main process reads and moves the file.
    plain = run_cold(_request(tmp_path, "y", "echo hi"))
    assert plain.log is None
    assert (tmp_path / "._qik" / "out" / "y.out.123").read_text() == "hi\n"


def test_a_large_log_stays_where_it_is_for_the_main_process(tmp_path: Path) -> None:
    final = tmp_path / "._qik" / "out" / "big.out"
    line = "head -c 100000 /dev/zero | tr '\\0' x"
    request = _request(tmp_path, "big", line, settle_path=str(final), dep_hash="cd" * 32)
    outcome = run_cold(request)
    assert outcome.log is None and outcome.stored
    assert Path(request.out_path).stat().st_size == 100000
    assert not final.exists()


def test_a_worker_recreates_the_store_deleted_between_runnables(tmp_path: Path) -> None:
    # A pool worker outlives runs (--watch): ._qik may be gone when it runs the next one.
    first = run_cold(_request(tmp_path, "a", "echo a", dep_hash="ab" * 32))
    assert first.stored and not first.warnings
    shutil.rmtree(tmp_path / "._qik")
    second = run_cold(_request(tmp_path, "b", "echo b", dep_hash="ef" * 32))
    assert second.stored and not second.warnings
    assert (tmp_path / "._qik" / "out" / "b.out.123").read_text() == "b\n"
    assert (tmp_path / "._qik" / ".gitignore").read_text() == "*\n"


def test_each_command_gets_its_own_environment_and_the_run_mark(tmp_path: Path) -> None:
    def env_of(name: str, env: dict[str, str] | None, run_id: str) -> str:
        line = f'echo "$QIK_T|${RUN_MARKER}"'
        env_pairs = tuple(env.items()) if env is not None else None
        run_cold(_request(tmp_path, name, line, env=env_pairs, run_id=run_id))
        return (tmp_path / "._qik" / "out" / f"{name}.out.123").read_text().strip()

    assert env_of("a", {"QIK_T": "one", "PATH": os.environ["PATH"]}, "r1") == "one|r1"
    assert env_of("b", {"QIK_T": "two", "PATH": os.environ["PATH"]}, "r1") == "two|r1"
    assert env_of("c", {"QIK_T": "one", "PATH": os.environ["PATH"]}, "r2") == "one|r2"
    assert env_of("d", None, "") == "|"
