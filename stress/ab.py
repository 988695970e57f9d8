"""``python -m stress ab``: two qik source trees (or xargs) alternated on one repository.

A change to a measured path is judged by running the work tree's qik and another
checkout's (``git worktree add /tmp/old REV``) one after the other, in alternating order,
on the same generated repository (``python -m stress bench --work-dir DIR --reuse`` makes
one: ``DIR/repo-ours``, and ``DIR/xargs-lines`` for the cold baseline), and comparing
medians: these machines are too noisy for figures taken minutes apart.

    python -m stress ab --repo /tmp/bench300/repo-ours --reps 9 --cold \\
        head /tmp/old/src xargs=/tmp/bench300/xargs-lines
    python -m stress ab --repo /tmp/bench300/repo-ours --reps 15 --args "--ls" head /tmp/old/src

A variant is ``head`` (the qik on PATH), a ``src`` folder of another checkout (run with
``PYTHONPATH`` pointing at it), ``xargs=FILE`` (``xargs -0 -P N -I CMD sh -c CMD`` over
the NUL-separated lines of FILE), or ``spawn=FILE`` (the same lines run by N Python
processes that do nothing else: ``stress/spawn_floor.py``). ``--cold`` moves the
repository's ``._qik`` aside before each qik run, into a temporary folder deleted at the
end, outside the timing, or into ``--trash DIR``, which is kept: on a file system that
keeps freshly deleted inodes out of reuse for a minute or more (ext4 without a journal,
as on our machine), creating files soon after deleting thousands is many times slower,
so runs started within minutes of a deletion (the end of another ``ab``, a test run)
measure the deletion too. ``--trash DIR`` lets the next measurement start clean.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress ab")
    parser.add_argument("variants", nargs="+", help="head, a src folder, xargs=FILE or spawn=FILE")
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--args", default="", help="qik's arguments, e.g. '--ls'")
    parser.add_argument("--cold", action="store_true", help="no local cache for each run")
    parser.add_argument("-n", "--workers", type=int, default=2)
    parser.add_argument("--trash", type=Path, help="keep the moved caches here")
    opts = parser.parse_args(argv)
    qik = shutil.which("qik") or "qik"
    if opts.trash:
        opts.trash.mkdir(parents=True, exist_ok=True)
    trash = Path(tempfile.mkdtemp(prefix="qik-ab-", dir=opts.trash))
    try:
        times: dict[str, list[float]] = {v: [] for v in opts.variants}
        for rep in range(opts.reps + 1):  # the first round warms the page cache, untimed
            order = opts.variants if rep % 2 else opts.variants[::-1]
            for variant in order:
                took = _run(variant, opts, qik, trash)
                if rep:
                    times[variant].append(took)
        first = statistics.median(times[opts.variants[0]])
        for variant, taken in times.items():
            median = statistics.median(taken)
            print(
                f"{variant:40s} median {median:.3f} s  min {min(taken):.3f} s  "
                f"{median / first:.3f} x {opts.variants[0]}"
            )
    finally:
        if not opts.trash:
            shutil.rmtree(trash, ignore_errors=True)
    return 0


def _run(variant: str, opts: argparse.Namespace, qik: str, trash: Path) -> float:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if variant.startswith("xargs="):
        lines = variant.removeprefix("xargs=")
        command = ["sh", "-c", f"xargs -0 -P {opts.workers} -I CMD sh -c CMD < {lines}"]
    elif variant.startswith("spawn="):
        floor = Path(__file__).with_name("spawn_floor.py")
        lines = variant.removeprefix("spawn=")
        command = [sys.executable, str(floor), lines, str(opts.workers)]
    else:
        if variant != "head":
            env["PYTHONPATH"] = variant
        if opts.cold and (opts.repo / "._qik").exists():
            (opts.repo / "._qik").rename(trash / str(time.monotonic_ns()))
        extra = ["-n", str(opts.workers)] if opts.cold else []
        command = [qik, *extra, *shlex.split(opts.args)]
    start = time.perf_counter()
    quiet = subprocess.DEVNULL
    subprocess.run(command, cwd=opts.repo, env=env, stdout=quiet, stderr=quiet, check=False)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
