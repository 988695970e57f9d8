"""Side-by-side benchmark: our qik against qik 0.2.10, Turborepo 2, a git floor and xargs.

    python -m stress bench --packages 300 --files 50 --reps 5 --json bench.json

Every tool gets its own copy of the same generated repository (qik 0.2.10 and ours would
otherwise share ``._qik/``). See docs/performance.md for what each scenario means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from stress.bench import baselines, report
from stress.bench.baselines import Tool
from stress.bench.generate import COMMANDS, Layout, generate, layout
from stress.bench.measure import Peak, sample_peak_rss, timed
from stress.bench.rounds import Case, Check, Hook, Measure, run_round

__all__ = ["Options", "main", "parse_args"]

# The floor: what any git-based runner must at least pay on a fully cached run.
FLOOR_SCRIPT = (
    "import subprocess as s\n"
    "s.run(['git', 'ls-files', '-s'], capture_output=True, check=True)\n"
    "s.run(['git', 'status', '--porcelain'], capture_output=True, check=True)\n"
)
OURS, OLD, TURBO = "ours", "qik-0.2.10", "turbo"
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Options:
    packages: int
    files: int
    reps: int
    seed: int
    qik: str
    qik_ref: str | None
    qik_with: list[str]
    workers: int
    timeout: float
    json_path: Path | None
    work_dir: Path | None
    keep: bool
    reuse: bool


def parse_args(argv: Sequence[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m stress bench", description=__doc__.split("\n")[0])
    p.add_argument("--packages", type=int, default=300)
    p.add_argument("--files", type=int, default=50, help=".py files per package")
    p.add_argument("--reps", type=int, default=5, help="timed repetitions (plus one warm-up)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--qik", default="qik", help="our qik executable (default: qik on PATH)")
    p.add_argument(
        "--qik-ref",
        help="instead of --qik: install our qik as committed at this git ref into a temp venv",
    )
    p.add_argument(
        "--qik-with",
        action="append",
        default=[],
        metavar="REQ",
        help="with --qik-ref: also install this requirement (a dependency the commit lacks)",
    )
    p.add_argument("-n", "--workers", type=int, default=2, help="workers of the cold runs")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds, per command run")
    p.add_argument("--json", dest="json_path", type=Path, help="write the figures here")
    p.add_argument("--work-dir", type=Path, help="use (and keep) this folder, not a temp one")
    p.add_argument("--keep", action="store_true", help="keep the temp folder")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="with --work-dir: reuse its installed baselines, repositories and caches",
    )
    return Options(**vars(p.parse_args(argv)))


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# Hooks: untimed work around one timed run.


def _clear(folder: Path, trash: Path) -> Hook:
    """Empty a cache by moving it out of the repository; the round deletes ``trash`` once
    it is over. Deleting it here charged the next timed run for the deletion: on a file
    system that keeps freshly deleted inodes out of reuse (ext4 without a journal, as on
    our machine), each file created after ~1,800 were deleted scanned past all of them,
    which doubled a cold run's system time. A fresh clone's cold run pays none of that."""

    def hook(rep: int) -> None:
        if folder.exists():
            trash.mkdir(parents=True, exist_ok=True)
            folder.rename(trash / f"{folder.parent.name}-{time.monotonic_ns()}")

    return hook


def _editor(path: Path) -> tuple[Hook, Hook]:
    """Append a line that is new on every repetition, then restore the original bytes.

    New content each time matters: turbo (and a content-addressed qik) would replay a result
    they have seen before, so reverting to an earlier edit would measure a cache hit.
    """
    original = path.read_bytes()

    def edit(rep: int) -> None:
        path.write_bytes(original + f"\n# bench edit {rep} {time.time_ns()}\n".encode())

    def revert(rep: int) -> None:
        path.write_bytes(original)

    return edit, revert


# Checks: the run did what the scenario claims.


def _full_turbo(tail: str) -> str | None:
    return None if "FULL TURBO" in tail else "turbo did not report FULL TURBO"


_TURBO_CACHED = re.compile(r"Cached:\s+(\d+) cached, (\d+) total")


def _turbo_reran(expected: int) -> Check:
    def check(tail: str) -> str | None:
        found = _TURBO_CACHED.search(tail)
        if not found:
            return "turbo printed no 'Cached:' summary"
        reran = int(found[2]) - int(found[1])
        return None if reran == expected else f"turbo re-ran {reran} tasks, not {expected}"

    return check


@dataclass(frozen=True)
class Bench:
    opts: Options
    work: Path
    layout: Layout
    tools: dict[str, Tool]
    repos: dict[str, Path]

    @property
    def trash(self) -> Path:
        """Where the cold round's cleared caches wait to be deleted (see ``_clear``)."""
        return self.work / "trash"

    def argv(self, tool: str, *args: str) -> tuple[str, ...]:
        return (*self.tools[tool].argv, *args)

    def available(self, *names: str) -> list[str]:
        return [n for n in names if self.tools[n].is_available]

    def edited_file(self, tool: str) -> Path:
        pkg = self.layout.packages[len(self.layout.packages) // 2]
        return self.repos[tool] / self.layout.python_files(pkg)[-1]


def _xargs_lines(bench: Bench) -> Path:
    """The same shell lines qik runs, NUL-separated (``-0`` is in both GNU and BSD xargs)."""
    lines = [
        f"echo {cmd} {bench.layout.package_dir(pkg)}"
        for cmd in COMMANDS
        for pkg in bench.layout.packages
    ]
    path = bench.work / "xargs-lines"
    path.write_bytes(b"\0".join(line.encode() for line in lines))
    return path


def cold_cases(bench: Bench) -> list[Case]:
    n = str(bench.opts.workers)
    cases = [
        Case(
            "cold",
            t,
            bench.argv(t, "-n", n),
            bench.repos[t],
            before=_clear(bench.repos[t] / "._qik", bench.trash),
        )
        for t in bench.available(OURS, OLD)
    ]
    xargs = ("xargs", "-0", "-P", n, "-I", "CMD", "sh", "-c", "CMD")
    return [*cases, Case("cold", "xargs", xargs, bench.repos[OURS], stdin=_xargs_lines(bench))]


def cached_cases(bench: Bench) -> list[Case]:
    floor = Case("cached", "floor", (sys.executable, "-c", FLOOR_SCRIPT), bench.repos[OURS])
    runs = [Case("cached", t, bench.argv(t), bench.repos[t]) for t in bench.available(OURS, OLD)]
    if bench.tools[TURBO].is_available:
        turbo = bench.argv(TURBO, "run", *COMMANDS, "--ui=stream")
        runs.append(Case("cached", TURBO, turbo, bench.repos[TURBO], check=_full_turbo))
    ls = [
        Case("ls-warm", t, bench.argv(t, "--ls", "--cache-status", "warm"), bench.repos[t])
        for t in bench.available(OURS, OLD)
    ]
    return [floor, *runs, *ls]


def edit_cases(bench: Bench) -> list[Case]:
    cases = []
    for tool in bench.available(OURS, OLD, TURBO):
        edit, revert = _editor(bench.edited_file(tool))
        argv = (
            bench.argv(tool, "run", *COMMANDS, "--ui=stream")
            if tool == TURBO
            else bench.argv(tool)
        )
        check = _turbo_reran(len(COMMANDS)) if tool == TURBO else _is_fine
        cases.append(Case("edit", tool, argv, bench.repos[tool], edit, revert, check))
    return cases


def _is_fine(tail: str) -> str | None:
    del tail
    return None


def _lines(argv: Sequence[str], cwd: Path, timeout: float) -> list[str]:
    try:
        done = subprocess.run(
            list(argv), cwd=cwd, env=baselines.base_env(), capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [f"failed: {exc}"]
    return [line for line in done.stdout.splitlines() if line.strip()]


def probes(bench: Bench) -> dict[str, object]:
    """Untimed sanity checks: nothing is cold after the cached round; one edit makes 3 cold."""
    out: dict[str, object] = {}
    for tool in bench.available(OURS, OLD):
        repo, ls_cold = bench.repos[tool], bench.argv(tool, "--ls", "--cache-status", "cold")
        cold = _lines(ls_cold, repo, bench.opts.timeout)
        out[f"{tool}: cold when cached"] = {"lines": len(cold), "first": cold[:5]}
        edit, revert = _editor(bench.edited_file(tool))
        edit(-1)
        try:
            cold = _lines(ls_cold, repo, bench.opts.timeout)
        finally:
            revert(-1)
        out[f"{tool}: cold after one edit"] = {"lines": len(cold), "first": cold[:5]}
    return out


def _probe_lines(probed: dict[str, object]) -> list[str]:
    expected = {"cold when cached": 0, "cold after one edit": len(COMMANDS)}
    lines = ["", "sanity (qik --ls --cache-status cold)"]
    for name, found in probed.items():
        want = next(n for suffix, n in expected.items() if name.endswith(suffix))
        got = found.get("lines") if isinstance(found, dict) else None
        verdict = "ok" if got == want else "UNEXPECTED: the figures above are suspect"
        lines.append(f"  {name:<36} {got} runnables (expected {want}) {verdict}")
    return lines


def fill(bench: Bench, logs: Path) -> None:
    """Run every runner once so that the cached round, warm-up included, is all cache hits.

    turbo's first run here is its cold run (900 ``npm run`` calls): minutes, not timed.
    """
    for case in cached_cases(bench):
        if case.scenario == "cached" and case.tool != "floor":
            _say(f"  filling the cache of {case.tool} ...")
            log = logs / f"fill-{case.tool}.log"
            timed(
                case.argv,
                cwd=case.cwd,
                env=baselines.base_env(),
                timeout=bench.opts.timeout,
                log=log,
            )


def peak_rss(bench: Bench, logs: Path) -> dict[str, Peak]:
    """One sampled run per tool and scenario, apart from the timed runs."""
    timeout, env = bench.opts.timeout, baselines.base_env()
    peaks = {}
    for case in cached_cases(bench)[1:]:
        if case.scenario == "cached":
            log = logs / f"rss-cached-{case.tool}.log"
            peaks[f"cached: {case.tool}"] = sample_peak_rss(
                case.argv, cwd=case.cwd, env=env, timeout=timeout, log=log
            )
    for case in cold_cases(bench)[:-1]:
        case.before(0)
        log = logs / f"rss-cold-{case.tool}.log"
        peaks[f"cold -n {bench.opts.workers}: {case.tool}"] = sample_peak_rss(
            case.argv, cwd=case.cwd, env=env, timeout=timeout, log=log
        )
    shutil.rmtree(bench.trash, ignore_errors=True)
    return peaks


def _tools(opts: Options, folder: Path) -> dict[str, Tool]:
    if opts.qik_ref:
        _say(f"installing our qik at {opts.qik_ref} ...")
        ours = baselines.install_ours_at(opts.qik_ref, _REPO_ROOT, folder, opts.qik_with)
    else:
        ours = baselines.locate_ours(opts.qik)
    tools = {OURS: ours}
    old = baselines.installed_qik_010(folder) if opts.reuse else None
    turbo = baselines.installed_turbo(folder) if opts.reuse else None
    if not (old and old.is_available and turbo and turbo.is_available):
        _say("installing qik 0.2.10 (pip) and turbo 2 (npm) ...")
    tools[OLD] = old if old and old.is_available else baselines.install_qik_010(folder)
    tools[TURBO] = turbo if turbo and turbo.is_available else baselines.install_turbo(folder)
    for tool in tools.values():
        state = f"ok {tool.version}" if tool.is_available else f"UNAVAILABLE: {tool.reason[:300]}"
        _say(f"  {tool.name}: {state}")
    return tools


def _repos(opts: Options, work: Path) -> tuple[dict[str, Path], Layout]:
    """One copy of the repository per tool; with --reuse, the previous copies, reset.

    Reusing keeps each tool's cache (turbo's first fill alone is minutes at 300 x 50);
    ``git reset --hard`` undoes an edit left behind by an interrupted run.
    """
    repos = {name: work / f"repo-{name}" for name in (OURS, OLD, TURBO)}
    marker = work / "layout.json"
    params = json.dumps([opts.packages, opts.files, opts.seed])
    is_same = marker.is_file() and marker.read_text() == params
    if opts.reuse and is_same and all((r / ".git").is_dir() for r in repos.values()):
        for repo in repos.values():
            subprocess.run(["git", "reset", "-q", "--hard"], cwd=repo, check=True, timeout=120)
        return repos, layout(repos[OURS], opts.packages, opts.files, opts.seed)
    manager = f"npm@{baselines.npm_version() or '10.9.2'}"
    for name, repo in repos.items():
        _say(f"generating {opts.packages} x {opts.files} repository for {name} ...")
        shutil.rmtree(repo, ignore_errors=True)
        lay = generate(repo, opts.packages, opts.files, opts.seed, package_manager=manager)
    marker.write_text(params)
    return repos, lay


def prepare(opts: Options, work: Path) -> Bench:
    _say(f"work folder: {work}")
    tools = _tools(opts, work / "baselines")
    repos, lay = _repos(opts, work)
    return Bench(opts, work, lay, tools, repos)


def _context(bench: Bench, started: float, probed: dict[str, object]) -> dict[str, object]:
    return {
        "params": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(bench.opts).items()},
        "runnables": len(COMMANDS) * len(bench.layout.packages),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            **baselines.tool_versions(),
        },
        "tools": {n: asdict(t) for n, t in bench.tools.items()},
        "probes": probed,
        "seconds_total": round(time.perf_counter() - started, 1),
        "load_average_at_end": _load(),
    }


def _load() -> list[float] | None:
    """1, 5 and 15 minute load averages: above the core count, other work shared the CPUs."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # not on Windows
        return None


def bench_all(bench: Bench) -> tuple[list[Measure], dict[str, Peak], dict[str, object]]:
    env, logs, opts = baselines.base_env(), bench.work / "logs", bench.opts
    measures: list[Measure] = []
    rounds: list[tuple[str, Callable[[Bench], list[Case]]]] = [
        ("cold", cold_cases), ("cached", cached_cases), ("edit", edit_cases),
    ]  # fmt: skip
    probed: dict[str, object] = {}
    for name, cases in rounds:
        if name == "cached":
            fill(bench, logs)
        _say(f"round {name}: {opts.reps} reps after one warm-up")
        shutil.rmtree(bench.trash, ignore_errors=True)  # an earlier run's, if it was stopped
        measures += run_round(
            cases(bench), reps=opts.reps, env=env, timeout=opts.timeout, logs=logs, progress=_say
        )
        shutil.rmtree(bench.trash, ignore_errors=True)
        if name == "cached":
            probed = probes(bench)
    _say(f"peak RSS ... (load average {_load()} on {os.cpu_count()} CPUs)")
    return measures, peak_rss(bench, logs), probed


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if opts.reuse and not opts.work_dir:
        print("--reuse needs --work-dir", file=sys.stderr)
        return 2
    started = time.perf_counter()
    work = opts.work_dir or Path(tempfile.mkdtemp(prefix="qik-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        bench = prepare(opts, work)
        measures, peaks, probed = bench_all(bench)
        print(report.render(measures, peaks))
        print("\n".join(_probe_lines(probed)))
        if opts.json_path:
            data = report.to_json(measures, peaks, _context(bench, started, probed))
            opts.json_path.write_text(json.dumps(data, indent=2) + "\n")
    finally:
        if not (opts.keep or opts.work_dir):
            shutil.rmtree(work, ignore_errors=True)
    return 0
