"""Rounds of measurements: every case of a round is run once per repetition, interleaved.

Interleaving (rep 1 of every tool, then rep 2 of every tool, …) spreads slow drifts of a
shared, noisy machine (thermal throttling, a neighbour's burst) over all tools alike, so the
ratios of medians taken in one round are fair even when the absolute times are not stable.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stress.bench.measure import Outcome, timed

__all__ = ["Case", "Measure", "run_round"]

Hook = Callable[[int], None]  # called with the repetition number (0 is the warm-up)
Check = Callable[[str], str | None]  # given the output's tail: what went wrong, or None


def _nothing(rep: int) -> None:
    del rep


def _no_check(tail: str) -> str | None:
    del tail
    return None


@dataclass(frozen=True)
class Case:
    scenario: str
    tool: str
    argv: tuple[str, ...]
    cwd: Path
    before: Hook = _nothing  # untimed, e.g. clear a cache or edit a file
    after: Hook = _nothing  # untimed, e.g. revert the edit
    check: Check = _no_check  # e.g. turbo must report FULL TURBO when fully cached
    stdin: Path | None = None


@dataclass
class Measure:
    scenario: str
    tool: str
    command: str
    seconds: list[float] = field(default_factory=list)
    error: str = ""  # the first failure; the case is not run again after it

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds and not self.error else None


def _last_lines(text: str, count: int = 4) -> str:
    """The end of an output on one line, for a table cell; the full log stays on disk."""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-count:])


def _problem(outcome: Outcome, check: Check) -> str | None:
    if outcome.returncode is None:
        return f"timed out after {outcome.seconds:.0f} s: {_last_lines(outcome.tail)}"
    if outcome.returncode:
        return f"exited {outcome.returncode}: {_last_lines(outcome.tail)}"
    return check(outcome.tail)


def run_round(
    cases: Sequence[Case],
    *,
    reps: int,
    env: Mapping[str, str],
    timeout: float,
    logs: Path,
    progress: Callable[[str], None],
) -> list[Measure]:
    """One untimed warm-up repetition (rep 0), then ``reps`` timed ones, interleaved."""
    measures = [Measure(c.scenario, c.tool, " ".join(c.argv)) for c in cases]
    logs.mkdir(parents=True, exist_ok=True)
    for rep in range(reps + 1):
        for i, (case, measure) in enumerate(zip(cases, measures, strict=True)):
            if measure.error:
                continue
            case.before(rep)
            log = logs / f"{case.scenario}-{i}-{rep}.log"
            try:
                outcome = timed(
                    case.argv, cwd=case.cwd, env=env, timeout=timeout, log=log, stdin=case.stdin
                )
            finally:
                case.after(rep)
            problem = _problem(outcome, case.check)
            if problem:
                measure.error = f"rep {rep}: {problem}"
            elif rep:
                measure.seconds.append(outcome.seconds)
            label = "warm-up" if rep == 0 else f"rep {rep}/{reps}"
            status = f"FAILED ({problem[:200]})" if problem else f"{outcome.seconds:.3f} s"
            progress(f"  {case.scenario:<8} {case.tool:<28} {label:<9} {status}")
    return measures
