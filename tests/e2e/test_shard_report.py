"""``--shard``, ``--report``, ``--json`` events and GitHub Actions output, through the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Qik = Callable[..., subprocess.CompletedProcess[str]]


def _toml(version: str) -> str:
    lines = []
    for i in range(9):
        lines.append(
            f'[commands.c{i}]\nexec = "sleep 0.{i}"\n'
            f'deps = [{{type = "const", val = "{version}"}}]\n'
        )
    return "\n".join(lines)


def test_shards_cover_everything_once_and_balance(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    root = make_repo({"qik.toml": _toml("v1")})
    assert qik(root, "-n", "2").returncode == 0  # records durations
    (root / "qik.toml").write_text(_toml("v2"))  # everything cold again
    rows = []
    for k in (1, 2, 3):
        out = qik(root, "--ls", "--json", "--shard", f"{k}/3")
        assert out.returncode == 0, out.stderr
        rows.append(json.loads(out.stdout))
    names = [r["name"] for shard in rows for r in shard]
    assert sorted(names) == [f"c{i}" for i in range(9)]
    loads = [sum(r["expected_seconds"] for r in shard) for shard in rows]
    assert max(loads) - min(loads) <= 0.8 + 0.05
    assert all(r["shard"] == f"{k}/3" for k, shard in enumerate(rows, 1) for r in shard)


def test_report_and_json_events(make_repo: Callable[..., Path], qik: Qik) -> None:
    toml = '[commands.ok]\nexec = "echo ok"\ndeps = ["*.txt"]\n[commands.bad]\nexec = "exit 2"\n'
    root = make_repo({"qik.toml": toml, "a.txt": ""})
    qik(root, "ok")
    events = qik(root, "--json", "--report", "out/report.json")
    assert events.returncode == 1
    lines = [json.loads(line) for line in events.stdout.splitlines()]
    kinds = [e["event"] for e in lines]
    assert kinds.count("finished") == 2 and kinds[-1] == "summary"
    # The counts of the text summary line: a failure counts as ran (or replayed) too.
    counts = {k: lines[-1][k] for k in ("ran", "replayed", "failed", "skipped")}
    assert counts == {"ran": 1, "replayed": 1, "failed": 1, "skipped": 0}
    report = json.loads((root / "out/report.json").read_text())
    assert report["exit_code"] == 1
    by_name = {r["name"]: r for r in report["runnables"]}
    assert by_name["ok"]["replayed"] and by_name["ok"]["cache"] == "local"
    assert by_name["bad"]["status"] == "failed" and by_name["bad"]["exit_code"] == 2
    assert len(by_name["ok"]["dep_hash"]) == 64


def test_a_report_that_cant_be_written_is_a_warning(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    # A folder where the report goes, or a file for its parent: the run's exit code
    # stands, no traceback, nothing left behind (was exit 70 and a traceback: an audit).
    root = make_repo({"qik.toml": '[commands.ok]\nexec = "echo ok"\n'})
    (root / "rdir").mkdir()
    for target in ("rdir", "qik.toml/x"):
        out = qik(root, "--report", target)
        assert out.returncode == 0, out.stderr
        assert f"warning: can't write the report to {target}" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    assert not (root / "rdir.tmp").exists()


def test_json_events_include_the_warnings_of_planning(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    # A cache warning met while planning (an invalid manifest in the repo cache) is a
    # ``warning`` event on stdout, as the run's own warnings are; nothing on stderr.
    toml = '[commands.ok]\nexec = "echo ok"\ndeps = ["*.txt"]\ncache = "repo"\n'
    root = make_repo({"qik.toml": toml, "a.txt": ""})
    assert qik(root).returncode == 0
    for manifest in (root / ".qik" / "manifests").glob("*.json"):
        manifest.write_text("{not json")
    shutil.rmtree(root / "._qik")  # as in a fresh clone: the repo cache is all there is
    events = qik(root, "--json", env={"QIK__CACHE_READ_ONLY": "1"})
    records = [json.loads(line) for line in events.stdout.splitlines()]
    warnings = [r["message"] for r in records if r["event"] == "warning"]
    assert any("invalid manifest" in w for w in warnings), events.stdout + events.stderr
    assert "warning" not in events.stderr, events.stderr


def test_github_actions_groups_and_annotations(make_repo: Callable[..., Path], qik: Qik) -> None:
    toml = '[commands.ok]\nexec = "echo fine"\n[commands.bad]\nexec = "echo broken; exit 1"\n'
    root = make_repo({"qik.toml": toml})
    out = qik(root, env={"GITHUB_ACTIONS": "true"}).stdout
    assert "::group::" in out and "::endgroup::" in out
    assert "::error title=qik: bad failed::" in out
    # One runnable (or -n 1) streams its output: it is grouped and annotated too.
    for args in (("bad",), ("-n", "1")):
        streamed = qik(root, *args, env={"GITHUB_ACTIONS": "true"}).stdout
        assert "::group::bad\nbroken\n::endgroup::\n" in streamed, streamed
        assert "::error title=qik: bad failed::" in streamed


def _counted(log: Path, *, flaky: str = "") -> str:
    """Nine commands that each append their name to ``log``; ``flaky`` fails while the
    file ``broken`` exists (not a dep: a flaky test, fixed by a re-run)."""
    lines = []
    for i in range(9):
        fail = "; test ! -e broken" if f"c{i}" == flaky else ""
        lines.append(
            f'[commands.c{i}]\nexec = "echo c{i} >> {log}{fail}"\n'
            'deps = [{type = "const", val = "v1"}]\n'  # cached: no deps would always run
        )
    return "\n".join(lines)


def _ran(log: Path) -> list[str]:
    return sorted(log.read_text().split()) if log.exists() else []


def test_shards_run_one_after_another_still_cover_everything_once(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    """The second shard starts after the first stored its results: it still gets its own
    share (the split recorded by the first), not a third of what is left cold."""
    log = tmp_path / "ran.log"
    root = make_repo({"qik.toml": _counted(log)})
    for k in (1, 2, 3):
        out = qik(root, "--shard", f"{k}/3")
        assert out.returncode == 0, out.stderr
        assert "warning" not in out.stderr
    assert _ran(log) == [f"c{i}" for i in range(9)]
    assert len(list((root / "._qik" / "shards").iterdir())) == 1
    assert qik(root, ":cache", "clear").returncode == 0  # results and records alike
    assert list((root / "._qik" / "shards").iterdir()) == []


def test_a_failed_shard_rerun_alone_runs_its_own_failures(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    root = make_repo({"qik.toml": _counted(log, flaky="c4"), "broken": ""})
    owner = {}
    for k in (1, 2, 3):
        listed = json.loads(qik(root, "--ls", "--json", "--shard", f"{k}/3").stdout)
        owner.update({r["name"]: k for r in listed})
    k = owner["c4"]
    codes = {j: qik(root, "--shard", f"{j}/3").returncode for j in (1, 2, 3)}
    assert codes[k] == 1 and sum(codes.values()) == 1
    (root / "broken").unlink()
    log.unlink()
    rerun = qik(root, "--shard", f"{k}/3")  # "re-run failed jobs"
    assert rerun.returncode == 0, rerun.stderr
    assert _ran(log) == ["c4"]  # run again here, not left to a shard that is done


def _without_c0(text: str) -> str:
    doc = json.loads(text)
    del doc["owners"]["c0"]  # would leave c0 to no shard
    return json.dumps(doc)


@pytest.mark.parametrize(
    "damage",
    [_without_c0, lambda text: "[" * 100_000],  # the second: a RecursionError in json
    ids=["a-runnable-missing", "deeply-nested"],
)
def test_a_damaged_split_record_is_ignored(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path, damage: Callable[[str], str]
) -> None:
    log = tmp_path / "ran.log"
    root = make_repo({"qik.toml": _counted(log)})
    assert qik(root, "--shard", "1/3").returncode == 0
    (record,) = (root / "._qik" / "shards").iterdir()
    record.write_text(damage(record.read_text()))
    rows = [json.loads(qik(root, "--ls", "--json", "--shard", f"{k}/3").stdout) for k in (1, 2, 3)]
    assert sorted(r["name"] for shard in rows for r in shard) == [f"c{i}" for i in range(9)]
    warned = qik(root, "--ls", "--shard", "1/3")
    assert warned.returncode == 0 and "Traceback" not in warned.stderr, warned.stderr
    assert "does not fit this run" in warned.stderr


# name: (seconds, upstream): a DAG with varied durations, for the runs below.
_DAG = {
    "a": (0.3, []),
    "b": (0.1, ["a"]),
    "c": (0.1, ["b"]),
    "d": (0.2, []),
    "e": (0.05, ["d"]),
    "f": (0.4, []),
    "g": (0.1, []),
    "h": (0.1, ["g", "a"]),
    "i": (0.2, []),
}


def _dag_toml(log: Path) -> str:
    """Each command fails while ``<log>.fail-<name>`` exists, else records that it ran."""
    lines = []
    for name, (seconds, ups) in _DAG.items():
        deps = ['{type = "const", val = "v1"}'] + [
            f'{{type = "command", name = "{u}"}}' for u in ups
        ]
        lines.append(
            f"[commands.{name}]\n"
            f'exec = "test ! -e {log}.fail-{name} && sleep {seconds} && echo {name} >> {log}"\n'
            f"deps = [{', '.join(deps)}]\n"
        )
    return "\n".join(lines)


def test_cache_status_shards_rerun_keep_their_split(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    """``--cache-status cold`` narrows the selection by what the caches hold: the split
    (and its record's key) is of the selection before it, so a re-run finds it."""
    log = tmp_path / "ran.log"
    root = make_repo({"qik.toml": _dag_toml(log)})
    for name in ("b", "i"):
        Path(f"{log}.fail-{name}").touch()
    codes = [
        qik(root, "--cache-status", "cold", "--shard", f"{k}/3").returncode for k in (1, 2, 3)
    ]
    assert 1 in codes
    for name in ("b", "i"):
        Path(f"{log}.fail-{name}").unlink()
    for k, code in enumerate(codes, 1):
        if code:  # "re-run failed jobs"
            rerun = qik(root, "--cache-status", "cold", "--shard", f"{k}/3")
            assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert qik(root, "--ls", "--cache-status", "cold").stdout == ""  # nothing left unrun
    assert sorted(log.read_text().split()) == sorted(_DAG)  # each once (a failure logs nothing)


def test_a_forced_shard_doesnt_reuse_a_plain_runs_split(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    """With -f everything is cold: a split recorded while upstream runnables were warm put
    them apart from their dependents, and a forced run then ran them twice."""
    log = tmp_path / "ran.log"
    root = make_repo({"qik.toml": _dag_toml(log)})
    assert qik(root, "a", "g", "d").returncode == 0
    assert qik(root, "--shard", "1/3").returncode == 0  # records the split of this state
    log.unlink()
    for k in (1, 2, 3):
        assert qik(root, "-f", "--shard", f"{k}/3").returncode == 0
    assert sorted(log.read_text().split()) == sorted(_DAG)  # each once


def test_a_shard_that_only_records_its_split_leaves_git_clean(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    root = make_repo({"qik.toml": _counted(log), ".gitignore": ""})  # ._qik not ignored
    assert qik(root, "--shard", "2/2", "--cache-status", "warm").returncode == 0
    assert (root / "._qik" / "shards").is_dir()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True)
    assert status.stdout == b""
