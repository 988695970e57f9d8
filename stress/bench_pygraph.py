"""Benchmark of pygraph deps: cold resolution against grimp, and the warm-run overhead.

    python -m stress.bench_pygraph [--work DIR] [--rounds N] [--only generated|django]

Two projects, each a fresh git repository:

- ``generated``: 1,000 modules in 10 top-level packages of 5 subpackages each; every module
  imports three modules of its own or a lower-numbered package, a stdlib module, and some an
  installed distribution.
- ``django``: Django's source tree, from its sdist on PyPI (``pip download``), unpacked and
  committed; ``[pydist] ignore-missing-modules`` covers its optional dependencies.

Measured, each in fresh processes, alternating, medians of ``--rounds``:

1. *cold*: resolving a pygraph dep on every top-level package with an empty ``._qik``
   (graph, grimp cache and distribution map all cold) against ``grimp.build_graph`` of the
   same packages without a cache. grimp is imported before the clock starts in both; so
   are, in qik's, what every run loads and does before fingerprinting (``qik.runner``, the
   configuration, the file index).
2. *warm*: a fully cached ``qik check`` run (a command parametrized over many modules) with
   pygraph deps, against the same run with glob deps on the modules' directories.

Prints a Markdown section for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

QIK = str(Path(sys.executable).parent / "qik")
_GIT = ("git", "-c", "user.name=qik bench", "-c", "user.email=bench@qik.invalid")
_GITIGNORE = "._qik/\n.qik/\n__pycache__/\n"
_THIRD_PARTY = ("pathspec", "zstandard", "psutil")  # installed with qik

_GRIMP = """
import json, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import grimp
roots = json.loads(sys.argv[2])
with tempfile.TemporaryDirectory() as cache:  # "cache": a cold one, as qik's is
    start, cpu = time.perf_counter(), time.process_time()
    grimp.build_graph(
        *roots, include_external_packages=True, cache_dir=cache if sys.argv[3] else None
    )
    print(json.dumps([time.perf_counter() - start, time.process_time() - cpu]))
"""

_QIK_COLD = """
import json, sys, time
from pathlib import Path
import grimp
import qik.runner  # loaded by every run before it fingerprints
from qik.config.load import load_project
from qik.fingerprint.files import FileIndex
root = Path(sys.argv[1])
project = load_project(root)
index = FileIndex.from_worktree(root)
start, cpu = time.perf_counter(), time.process_time()
from qik.config.schema import PygraphDep
from qik.deps import DepEnv
from qik.pygraph.hook import digester
pygraph = digester(project, index)
env = DepEnv(project=project, files=index, upstream_hashes={}, pygraph=pygraph)
for package in json.loads(sys.argv[2]):
    pygraph(PygraphDep(package), env)
print(json.dumps([time.perf_counter() - start, time.process_time() - cpu]))
"""

_ROOTS = """
import json, sys
from pathlib import Path
from qik.config.load import load_project
from qik.fingerprint.files import FileIndex
from qik.pygraph.build import _is_shadowed
from qik.pygraph.layout import initial_roots, layout
project = load_project(Path(sys.argv[1]))
lay = layout(FileIndex.from_worktree(project.root).paths, project.python_path)
roots = initial_roots(project, lay)
print(json.dumps([r for r in roots if not _is_shadowed(r, str(project.root))]))
"""


def _git(root: Path, *args: str) -> None:
    subprocess.run([*_GIT, *args], cwd=root, check=True, capture_output=True)


def _commit(root: Path) -> None:
    (root / ".gitignore").write_text(_GITIGNORE)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "bench")


# -- projects ---------------------------------------------------------------------------------


def generated(root: Path) -> list[str]:
    """1,000 modules; returns the modules (subpackages) the warm run is parametrized over."""
    rng = random.Random(1000)
    subpackages: list[str] = []
    earlier: list[str] = []
    for p in range(10):
        _write(root / f"pkg_{p}" / "__init__.py", "")
        for s in range(5):
            sub = f"pkg_{p}/sub_{s}"
            subpackages.append(sub)
            _write(root / sub / "__init__.py", "")
            for m in range(20):
                name = f"pkg_{p}.sub_{s}.mod_{m:02d}"
                _write(root / f"{sub}/mod_{m:02d}.py", _module(rng, earlier))
                earlier.append(name)
    return subpackages


def _module(rng: random.Random, earlier: Sequence[str]) -> str:
    lines = ["import os", "from typing import TYPE_CHECKING"]
    lines += [f"import {target}" for target in rng.sample(earlier, min(3, len(earlier)))]
    if rng.random() < 0.1:
        lines.append(f"import {rng.choice(_THIRD_PARTY)}")
    lines += ["", "def run() -> None:", "    return None", ""]
    return "\n".join(lines)


def django(root: Path, downloads: Path) -> list[str]:
    """Django's sdist; returns its top-level subpackages and contrib apps as modules."""
    sdist = _download_django(downloads)
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        tar.extractall(root.parent, filter="data")
    (root.parent / top).rename(root)
    source = root / "django"
    subpackages = [p for p in sorted(source.iterdir()) if (p / "__init__.py").exists()]
    contrib = [p for p in sorted((source / "contrib").iterdir()) if (p / "__init__.py").exists()]
    modules = [p.relative_to(root).as_posix() for p in subpackages + contrib]
    return [m for m in modules if m != "django/contrib"]


def _download_django(downloads: Path) -> Path:
    found = sorted(downloads.glob("[Dd]jango-*.tar.gz"))
    if not found:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        subprocess.run([*pip, "django", "-d", str(downloads), "-q"], check=True)
        found = sorted(downloads.glob("[Dd]jango-*.tar.gz"))
    return found[-1]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _config(modules: Sequence[str], dep: str, extra: str) -> str:
    listed = ", ".join(f'"{m}"' for m in modules)
    return (
        f"modules = [{listed}]\n{extra}\n[commands.check]\n"
        f'exec = "echo {{module.name}}"\ndeps = [{dep}]\n'
    )


_PYGRAPH_DEP = '{type = "pygraph", pyimport = "{module.pyimport}"}'
_GLOB_DEP = '"{module.dir}/**.py"'


# -- measuring --------------------------------------------------------------------------------


def _environ(work: Path) -> dict[str, str]:
    """Subprocesses keep compiled bytecode (in ``work``), as an installed qik does: with
    PYTHONDONTWRITEBYTECODE every run would compile every module it imports."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(work / "pycache")}


_ENV: dict[str, str] = dict(os.environ)


def _seconds(script: str, *args: str) -> tuple[float, float]:
    """(wall, CPU) seconds the script reports."""
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        check=True,
        capture_output=True,
        text=True,
        env=_ENV,
    )
    wall, cpu = json.loads(out.stdout.strip().splitlines()[-1])
    return float(wall), float(cpu)


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU of the child processes) seconds ``fn`` took."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _qik(root: Path, *args: str) -> None:
    subprocess.run([QIK, *args], cwd=root, check=True, capture_output=True, env=_ENV)


def measure_cold(root: Path, rounds: int) -> dict[str, float]:
    roots = json.loads(
        subprocess.run(
            [sys.executable, "-c", _ROOTS, str(root)], check=True, capture_output=True, text=True
        ).stdout
    )
    times: dict[str, list[tuple[float, float]]] = {"grimp": [], "grimp-nocache": [], "qik": []}
    for _ in range(rounds):
        times["grimp"].append(_seconds(_GRIMP, str(root), json.dumps(roots), "cache"))
        times["grimp-nocache"].append(_seconds(_GRIMP, str(root), json.dumps(roots), ""))
        shutil.rmtree(root / "._qik", ignore_errors=True)
        times["qik"].append(_seconds(_QIK_COLD, str(root), json.dumps(roots)))
    return _medians(times)


def _medians(times: dict[str, list[tuple[float, float]]]) -> dict[str, float]:
    medians = {kind: statistics.median(w for w, _ in v) for kind, v in times.items()}
    medians.update({f"{k}-cpu": statistics.median(c for _, c in v) for k, v in times.items()})
    return medians


def measure_warm(root: Path, modules: Sequence[str], extra: str, rounds: int) -> dict[str, float]:
    configs = {
        "glob": _config(modules, _GLOB_DEP, extra),
        "pygraph": _config(modules, _PYGRAPH_DEP, extra),
    }
    times: dict[str, list[tuple[float, float]]] = {kind: [] for kind in configs}
    for text in configs.values():  # fill the caches first
        (root / "qik.toml").write_text(text)
        _qik(root, "check")
    for _ in range(rounds):
        for kind, text in configs.items():
            (root / "qik.toml").write_text(text)
            times[kind].append(_timed(lambda: _qik(root, "check")))
    return _medians(times)


# -- main ---------------------------------------------------------------------------------------


def _project(work: Path, name: str) -> tuple[Path, list[str], str]:
    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    if name == "generated":
        root.mkdir(parents=True)
        modules, extra = generated(root), ""
    else:
        modules, extra = django(root, work), "[pydist]\nignore-missing-modules = true\n"
    (root / "qik.toml").write_text(_config(modules, _PYGRAPH_DEP, extra))
    _commit(root)
    return root, modules, extra


def run(work: Path, rounds: int, only: Sequence[str]) -> str:
    _ENV.clear()
    _ENV.update(_environ(work))
    rows = []
    for name in only:
        root, modules, extra = _project(work, name)
        files = sum(1 for p in root.rglob("*.py") if "._qik" not in p.parts)
        cold = measure_cold(root, rounds)
        warm = measure_warm(root, modules, extra, rounds)
        rows.append((name, files, len(modules), cold, warm))
    return _report(rows, rounds)


def _report(
    rows: list[tuple[str, int, int, dict[str, float], dict[str, float]]], rounds: int
) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f}"

    lines = [
        "## Import graph (pygraph)",
        "",
        f"`python -m stress.bench_pygraph --rounds {rounds}`: medians of {rounds} rounds, "
        f"each in fresh processes, {os.cpu_count()} CPUs; wall-clock ms, and in parentheses "
        "CPU ms (user + system, all threads), which shared machines disturb less.",
        "",
        "Cold: resolve a pygraph dep on every top-level package with an empty `._qik`, "
        "against grimp's own `build_graph` of the same packages (with a fresh cache "
        "directory, as qik writes grimp's cache too, and without a cache).",
        "",
        "| project | .py files | grimp, cache | grimp, no cache | qik cold | ratio to "
        "grimp, cache | ratio to grimp, no cache |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, files, _, cold, _ in rows:
        lines.append(
            f"| {name} | {files} | {ms(cold['grimp'])} ({ms(cold['grimp-cpu'])}) | "
            f"{ms(cold['grimp-nocache'])} ({ms(cold['grimp-nocache-cpu'])}) | "
            f"{ms(cold['qik'])} ({ms(cold['qik-cpu'])}) | "
            f"{cold['qik'] / cold['grimp']:.2f} ({cold['qik-cpu'] / cold['grimp-cpu']:.2f}) | "
            f"{cold['qik'] / cold['grimp-nocache']:.2f} "
            f"({cold['qik-cpu'] / cold['grimp-nocache-cpu']:.2f}) |"
        )
    lines += [
        "",
        "Warm: `qik check` fully cached (every runnable replays, the graph is in the store, "
        "no `.py` changed), a command parametrized over the modules with a pygraph dep on "
        "each, against the same command with a glob dep on each module's directory.",
        "",
        "| project | runnables | glob deps | pygraph deps | difference |",
        "|---|---|---|---|---|",
    ]
    for name, _, count, _, warm in rows:
        lines.append(
            f"| {name} | {count} | {ms(warm['glob'])} ({ms(warm['glob-cpu'])}) | "
            f"{ms(warm['pygraph'])} ({ms(warm['pygraph-cpu'])}) | "
            f"{ms(warm['pygraph'] - warm['glob'])} "
            f"({ms(warm['pygraph-cpu'] - warm['glob-cpu'])}) |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.bench_pygraph")
    parser.add_argument("--work", type=Path, help="where the projects go (default: a temp dir)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", action="append", choices=("generated", "django"))
    args = parser.parse_args(argv)
    only = args.only or ["generated", "django"]
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        print(run(args.work.resolve(), args.rounds, only))
        return 0
    with tempfile.TemporaryDirectory(prefix="qik-bench-pygraph-") as tmp:
        print(run(Path(tmp), args.rounds, only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
