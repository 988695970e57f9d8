"""``--shard``, ``--report``, ``--json`` events and GitHub Actions output, through the CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

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
    report = json.loads((root / "out/report.json").read_text())
    assert report["exit_code"] == 1
    by_name = {r["name"]: r for r in report["runnables"]}
    assert by_name["ok"]["replayed"] and by_name["ok"]["cache"] == "local"
    assert by_name["bad"]["status"] == "failed" and by_name["bad"]["exit_code"] == 2
    assert len(by_name["ok"]["dep_hash"]) == 64


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
