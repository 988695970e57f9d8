"""``--since`` against a fully cached ``--ls``, side by side on one generated repository.

A repository of about 100,000 files and 1,000 runnables (334 packages x 300 files, three
commands each) is generated and committed; every runnable is run once so the cache is warm;
then one file is edited and committed, and, interleaved over the repetitions:

- ``qik --ls`` (fully cached: the plan reads every manifest), and
- ``qik --since HEAD~1 --ls`` (fingerprints every runnable at HEAD~1 from ``git ls-tree``
  and now, and lists the three that changed).

The issue's target: the second at most 1.5x the first.

    python -m stress.bench_since [--packages 334] [--files 300] [--reps 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stress.bench.generate import generate

QIK = str(Path(sys.executable).parent / "qik")


def _run(root: Path, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(
        [QIK, *args], cwd=root, capture_output=True, text=True, check=True, timeout=900
    )
    return time.perf_counter() - start, out.stdout


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def measure(root: Path, reps: int) -> dict[str, float]:
    _run(root, "-n", "2", "-v", "0")  # warm every runnable
    edited = next((root / "src" / "pkg_000").glob("*.py"))
    edited.write_text(edited.read_text() + "\n# edited\n")
    _git(root, "commit", "-qam", "edit one file")
    _, listed = _run(root, "--since", "HEAD~1", "--ls", "--isolated")
    assert len(listed.split()) == 3, listed  # the edited package's three runnables
    times: dict[str, list[float]] = {"ls": [], "since": []}
    for _ in range(reps):
        times["ls"].append(_run(root, "--ls")[0])
        times["since"].append(_run(root, "--since", "HEAD~1", "--ls", "--isolated")[0])
    medians = {name: statistics.median(values) for name, values in times.items()}
    medians["ratio"] = medians["since"] / medians["ls"]
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=334)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="generate here and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="qik-since-"))
    try:
        if not (work / "qik.toml").exists():
            generate(work, args.packages, args.files)
        result = measure(work, args.reps)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    runnables = args.packages * 3
    print(f"repository: {args.packages * args.files} files, {runnables} runnables")
    print(f"qik --ls (fully cached)        median {result['ls']:.3f} s")
    print(f"qik --since HEAD~1 --ls        median {result['since']:.3f} s")
    print(f"ratio since / cached ls        {result['ratio']:.2f}  (target <= 1.5)")
    return 0 if result["ratio"] <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
