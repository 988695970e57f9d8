"""A batch's one check of its results' inputs (``worker.run_batch`` with ``run_cold``): real
commands, a real local store, real files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path

import pytest

from qik.fingerprint.files import blob_id
from qik.inputs import encode_inputs
from qik.scheduler.run import Job, Scheduler
from qik.scheduler.worker import ColdOutcome, ColdRequest, run_batch, run_cold
from tests.scheduler.conftest import Recorder


def _listing(root: Path, *names: str) -> str:
    return encode_inputs((name, blob_id(root / name, "sha1") or "") for name in names)


def _request(root: Path, name: str, exec_: str, listing: str) -> ColdRequest:
    return ColdRequest(
        name,
        exec_,
        str(root),
        str(root / "._qik" / "out" / f"{name}.out"),
        dep_hash=hashlib.sha256(name.encode()).hexdigest(),
        store_dir=str(root / "._qik"),
        inputs=listing,
    )


def _manifest(root: Path, request: ColdRequest) -> Path:
    return root / "._qik" / "manifests" / f"{request.dep_hash}.json"


@pytest.fixture
def lstats(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    """The paths under ``tmp_path`` that ``os.lstat`` is called on."""
    seen: list[str] = []
    real = os.lstat

    def counting(path: str | os.PathLike[str], *args: object, **kwargs: object) -> os.stat_result:
        if str(path).startswith(str(tmp_path)):
            seen.append(str(path))
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "lstat", counting)
    yield seen


def test_results_sharing_inputs_are_checked_once_and_all_stored(
    tmp_path: Path, lstats: list[str]
) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "b.py").write_text("b = 1\n")
    listing = _listing(tmp_path, "a.py", "b.py")
    lstats.clear()
    one = run_batch(run_cold, [_request(tmp_path, "alone@m", "true", listing)], 5.0)
    assert [o.stored for o in one.outcomes if isinstance(o, ColdOutcome)] == [True]
    alone = sorted(p for p in lstats if p.endswith(".py"))
    lstats.clear()
    commands = ("lint", "type", "test")
    requests = [_request(tmp_path, f"{c}@m", f"echo {c}", listing) for c in commands]
    done = run_batch(run_cold, requests, 5.0)
    outcomes = [o for o in done.outcomes if isinstance(o, ColdOutcome)]
    assert [o.stored for o in outcomes] == [True, True, True]
    assert all(_manifest(tmp_path, r).is_file() for r in requests)
    # Three results, their files looked at as often as for one.
    assert sorted(p for p in lstats if p.endswith(".py")) == alone


def test_a_change_within_the_batch_keeps_every_result_covering_it_unstored(
    tmp_path: Path,
) -> None:
    # The first result saw a.py before the second command changed it; the check comes
    # after both, so neither is stored (the first would be safe, but is not known to be).
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "b.py").write_text("b = 1\n")
    both, only_b = _listing(tmp_path, "a.py", "b.py"), _listing(tmp_path, "b.py")
    requests = [
        _request(tmp_path, "read@m", "cat a.py", both),
        _request(tmp_path, "fmt@m", "echo 'a = 2' > a.py", both),
        _request(tmp_path, "other@n", "cat b.py", only_b),
    ]
    done = run_batch(run_cold, requests, 5.0)
    outcomes = {o.name: o for o in done.outcomes if isinstance(o, ColdOutcome)}
    assert not outcomes["read@m"].stored and not outcomes["fmt@m"].stored
    assert "changed while it ran" in outcomes["read@m"].warnings[0]
    assert "changed while it ran" in outcomes["fmt@m"].warnings[0]
    assert outcomes["other@n"].stored and outcomes["other@n"].warnings == ()
    assert not _manifest(tmp_path, requests[0]).exists()
    assert not _manifest(tmp_path, requests[1]).exists()
    assert _manifest(tmp_path, requests[2]).is_file()
    # Every output is where it goes, whether stored or not.
    assert (tmp_path / "._qik" / "out" / "read@m.out").read_text() == "a = 1\n"


def test_touching_a_covered_file_without_changing_it_stores_the_results(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    listing = _listing(tmp_path, "a.py")
    requests = [
        _request(tmp_path, "touch@m", "touch a.py", listing),
        _request(tmp_path, "read@m", "cat a.py", listing),
    ]
    done = run_batch(run_cold, requests, 5.0)
    assert [o.stored for o in done.outcomes if isinstance(o, ColdOutcome)] == [True, True]


def test_a_deleted_input_keeps_the_results_unstored(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    listing = _listing(tmp_path, "a.py")
    requests = [
        _request(tmp_path, "keep@m", "true", listing),
        _request(tmp_path, "rm@m", "rm a.py", listing),
    ]
    done = run_batch(run_cold, requests, 5.0)
    assert [o.stored for o in done.outcomes if isinstance(o, ColdOutcome)] == [False, False]


def test_batches_take_the_runnables_of_one_group_together(tmp_path: Path, pool: Executor) -> None:
    # In plan order the commands come one after the other over all modules; with batches
    # the scheduler starts a module's commands together, so a batch covers fewer files.
    names = [f"{c}@m{i}" for c in ("lint", "test", "type") for i in range(20)]
    recorder = Recorder()

    def prepare(name: str, touched: bool) -> Job:
        out = str(tmp_path / f"{name}.out")
        return Job(name, request=ColdRequest(name, "true", str(tmp_path), out))

    def run(request: ColdRequest) -> ColdOutcome:
        return ColdOutcome(request.name, 0, 0.0)

    Scheduler(
        names,
        {n: () for n in names},
        prepare=prepare,
        run_cold=run,
        make_pool=lambda: pool,
        reporter=recorder,
        max_in_flight=2,
        batch=8,
        group=lambda name: name.split("@")[1],
    ).run()
    started = [n for kind, n in recorder.events if kind == "start"]
    assert started == [f"{c}@m{i}" for i in range(20) for c in ("lint", "test", "type")]
