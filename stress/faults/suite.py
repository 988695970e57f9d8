"""``python -m stress --quick | --full [--case NAME ...] [--seed N] [--json FILE]``.

Runs the fault cases one after the other, each in its own scratch directory, prints each
case's table as it finishes and a summary at the end, and exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from stress.faults import procs
from stress.faults.harness import Ctx, Mode
from stress.faults.report import CaseReport, render_case, render_summary, write_json

__all__ = ["CASES", "main"]

# Case name -> module (one per case, imported only when it runs).
CASES = {
    "crash": "stress.faults.crash",
    "concurrency": "stress.faults.concurrency",
    "corruption": "stress.faults.corruption",
    "s3-faults": "stress.faults.s3_faults",
    "hostile": "stress.faults.hostile",
    "config-fuzz": "stress.faults.config_fuzz",
    "signals": "stress.faults.signals",
    "exhaustion": "stress.faults.exhaustion",
    "load": "stress.faults.load",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stress", description=__doc__.split("\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="mode", const="quick")
    size.add_argument("--full", action="store_const", dest="mode", const="full")
    p.add_argument("--case", action="append", choices=sorted(CASES), help="repeatable")
    p.add_argument("--seed", type=int, default=None, help="default: a new one, printed")
    p.add_argument("--json", type=Path, help="write every table here as JSON")
    p.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return p


def main(argv: Sequence[str]) -> int:
    opts = _parser().parse_args(argv)
    mode: Mode = opts.mode or "quick"
    seed = opts.seed if opts.seed is not None else int.from_bytes(os.urandom(3), "big")
    names = opts.case or list(CASES)
    work = opts.work or Path(tempfile.mkdtemp(prefix="qik-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    reaper = procs.become_subreaper()
    print(
        f"qik fault suite: --{mode}, seed {seed}, cases {', '.join(names)}; scratch {work}"
        + ("" if reaper else " (not a subreaper: orphan checks see only direct children)"),
        flush=True,
    )
    started = time.monotonic()
    reports = []
    try:
        for name in names:
            reports.append(_run_case(name, mode, seed, work / name, argv))
            print(render_case(reports[-1]), flush=True)
    finally:
        procs.kill_strays()
        _stop_helpers()
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(render_summary(reports), flush=True)
    print(f"  total {time.monotonic() - started:.0f}s", flush=True)
    if opts.json:
        meta = {"mode": mode, "seed": seed, "seconds": round(time.monotonic() - started, 1)}
        write_json(opts.json, reports, meta)
    return 1 if any(r.failures for r in reports) else 0


def _run_case(name: str, mode: Mode, seed: int, work: Path, argv: Sequence[str]) -> CaseReport:
    reproduce = f"python -m stress --{mode} --case {name} --seed {seed}"
    print(f"-- {name} ...", file=sys.stderr, flush=True)
    start = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    ctx = Ctx(mode, seed, work)
    try:
        module = importlib.import_module(CASES[name])
        report = cast(Callable[[Ctx], CaseReport], module.run)(ctx)
    except Exception:
        report = CaseReport(name, "(the case crashed)", reproduce, crashed=traceback.format_exc())
    finally:
        procs.kill_strays()
    report.reproduce = reproduce
    report.seconds = time.monotonic() - start
    return report


def _stop_helpers() -> None:
    from stress.faults import moto

    moto.stop_all()
