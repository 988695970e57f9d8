"""Memory stays bounded however much a command prints."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from tests.conftest import QIK


def _peak_rss(args: list[str], cwd: Path) -> tuple[int, int]:
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, watched.memory_info().rss)
        time.sleep(0.01)
    return proc.wait(timeout=60), peak


def test_a_streamed_log_is_never_held_whole(make_repo: Callable[..., Path]) -> None:
    # A single runnable streams its output as it is written. Reading all that was new at
    # each look held a fast writer's output in memory: 718 MB for a 1 GB log (the stress
    # suite's load case). ~70 MB here, against qik's ~30 MB of its own.
    root = make_repo({"qik.toml": '[commands.big]\nexec = "seq 1 9000000"\n'})
    code, peak = _peak_rss([QIK, "big"], root)
    assert code == 0
    assert (root / "._qik" / "out" / "big.out").stat().st_size > 60_000_000
    assert peak < 60_000_000, f"peak RSS {peak / 1e6:.0f} MB"
