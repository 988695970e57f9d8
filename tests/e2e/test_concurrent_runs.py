"""Two qik processes running the same runnable at once in one work tree."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from qik.store.cas import Store
from tests.conftest import QIK

TOML = """
    [commands.talk]
    exec = "for i in 1 2 3 4 5 6 7 8; do echo line $i of $$; sleep 0.1; done"
    deps = ["*.txt"]
    """


def _one_whole_log(text: str) -> bool:
    """Eight lines "line i of PID", in order, all from one shell: one run's whole log."""
    lines = [line for line in text.splitlines() if line.startswith("line ")]
    pids = {line.rsplit(" ", 1)[-1] for line in lines}
    numbers = [line.split()[1] for line in lines]
    return len(pids) == 1 and numbers == [str(i) for i in range(1, 9)] and "\0" not in text


def test_each_run_shows_and_stores_its_own_whole_log(make_repo: Callable[..., Path]) -> None:
    # Both used to write ._qik/out/talk.out: the second truncated the first's file under
    # its command, which then showed and stored half a log or NUL bytes. Found by the
    # stress suite's concurrency case.
    root = make_repo({"qik.toml": TOML, "a.txt": "a"})
    runs = []
    for _ in range(3):  # staggered: each starts while the previous one's command runs
        runs.append(
            subprocess.Popen(
                [QIK, "-f", "talk"],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        time.sleep(0.6)
    outputs = [run.communicate(timeout=60) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr
        assert _one_whole_log(stdout), stdout
    store = Store.local(root / "._qik")
    (dep_hash,) = store.iter_manifests()
    manifest = store.read_manifest(dep_hash)
    assert manifest is not None
    assert _one_whole_log(store.read_bytes(manifest.log).decode())
    assert _one_whole_log((root / "._qik" / "out" / "talk.out").read_text())
    assert [p.name for p in (root / "._qik" / "out").iterdir()] == ["talk.out"]
