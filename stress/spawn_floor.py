"""Python's floor for a cold run: the lines of a file run by N processes, nothing else.

``python stress/spawn_floor.py FILE N`` starts N processes; each starts its share of
the NUL-separated shell lines of FILE one after the other (``posix_spawn`` of
``sh -c LINE``, output to a file, as a qik worker does) and waits for each. No plan,
no cache, no results: what any runner written in Python pays at least to run trivial
commands, next to ``xargs -P N`` (``python -m stress ab ... spawn=FILE``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from multiprocessing import get_context


def run_lines(lines: list[str], out: str) -> None:
    """Run each line with ``sh -c``, one after the other, output to the file ``out``."""
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, fd, 1),
        (os.POSIX_SPAWN_DUP2, fd, 2),
    ]
    for line in lines:
        pid = os.posix_spawn(
            "/bin/sh", ["/bin/sh", "-c", line], os.environ, file_actions=actions, setsid=True
        )
        os.waitpid(pid, 0)
    os.close(fd)


def main(argv: list[str]) -> int:
    path, workers = argv[0], int(argv[1])
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f.read().split("\0") if line]
    context = get_context("fork")
    with tempfile.TemporaryDirectory() as outs:
        procs = [
            context.Process(target=run_lines, args=(lines[i::workers], f"{outs}/{i}"))
            for i in range(workers)
        ]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
