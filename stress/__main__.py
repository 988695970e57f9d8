"""``python -m stress PROGRAM [ARGS...]``: a minimal dispatcher over the stress programs."""

from __future__ import annotations

import importlib
import sys

# Program name -> module with a ``main(argv) -> int``; imported lazily so that one broken
# program does not stop the others from running.
PROGRAMS = {
    "ab": "stress.ab",
    "bench": "stress.bench.run",
    "faults": "stress.faults.suite",
    "worker": "stress.worker_cost",
}


def main(argv: list[str]) -> int:
    if argv and argv[0].startswith("--") and argv[0] not in ("--help",):
        argv = ["faults", *argv]  # python -m stress --quick | --full | --case NAME ...
    if not argv or argv[0] not in PROGRAMS:
        print(
            f"usage: python -m stress {{{','.join(PROGRAMS)}}} [ARGS...]\n"
            "       python -m stress --quick | --full [--case NAME ...]  (the fault suite)",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(PROGRAMS[argv[0]])
    result: int = module.main(argv[1:])
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
