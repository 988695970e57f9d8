"""What a case tried and what happened: rows of trials and failures, printed as tables."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["CaseReport", "Check", "Trial", "render_case", "render_summary", "write_json"]

# Problems kept per row: enough to debug from, not a wall of text on a bad day.
_MAX_PROBLEMS = 12


@dataclass
class Trial:
    """One attempt: collects every expectation that did not hold."""

    label: str
    problems: list[str] = field(default_factory=list)

    def expect(self, condition: bool, problem: str) -> bool:
        if not condition:
            self.problems.append(problem)
        return condition

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Check:
    """One row of a case's table: a kind of fault, how often it was tried, how often qik
    did the wrong thing. ``counts`` holds what happened besides pass/fail (how many kills
    landed mid-run, how many corruptions were caught by which mechanism, ...)."""

    what: str
    trials: int = 0
    failures: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, trial: Trial) -> bool:
        self.trials += 1
        if not trial.ok:
            self.failures += 1
            if len(self.problems) < _MAX_PROBLEMS:
                self.problems.append(f"{trial.label}: " + "; ".join(trial.problems))
        return trial.ok

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    @property
    def notes(self) -> str:
        return ", ".join(f"{v} {k}" for k, v in self.counts.items())


@dataclass
class CaseReport:
    name: str
    title: str
    reproduce: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    crashed: str | None = None  # the harness itself failed: a traceback, counted as failure

    def check(self, what: str) -> Check:
        for existing in self.checks:
            if existing.what == what:
                return existing
        self.checks.append(Check(what))
        return self.checks[-1]

    @property
    def trials(self) -> int:
        return sum(c.trials for c in self.checks)

    @property
    def failures(self) -> int:
        return sum(c.failures for c in self.checks) + (1 if self.crashed else 0)


def _table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    rows = [header, *rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    right = {i for i, h in enumerate(header) if h in ("trials", "failures", "seconds")}
    lines = []
    for row in rows:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  " + "  ".join([*cells, row[-1]]).rstrip())
    return lines


def render_case(report: CaseReport) -> str:
    lines = [f"== {report.name}: {report.title}"]
    rows = [(c.what, str(c.trials), str(c.failures), c.notes) for c in report.checks]
    lines += _table(("what was tried", "trials", "failures", "what happened"), rows)
    for name, value in report.figures.items():
        lines.append(f"  {name}: {value}")
    for check in report.checks:
        for problem in check.problems:
            lines.append(f"  FAIL [{check.what}] {problem}")
    if report.crashed:
        lines.append("  FAIL the case itself crashed:")
        lines += [f"    {line}" for line in report.crashed.rstrip().splitlines()]
    lines.append(f"  {report.trials} trials, {report.failures} failures in {report.seconds:.0f}s")
    lines.append(f"  reproduce: {report.reproduce}")
    return "\n".join(lines)


def render_summary(reports: list[CaseReport]) -> str:
    rows = [
        (r.name, str(r.trials), str(r.failures), f"{r.seconds:.0f}", r.reproduce) for r in reports
    ]
    total = sum(r.failures for r in reports)
    lines = ["== summary", *_table(("case", "trials", "failures", "seconds", "reproduce"), rows)]
    lines.append(f"  {'FAILED' if total else 'passed'}: {total} failures")
    return "\n".join(lines)


def write_json(path: Path, reports: list[CaseReport], meta: dict[str, object]) -> None:
    doc = {
        **meta,
        "cases": [{**asdict(r), "trials": r.trials, "failures": r.failures} for r in reports],
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
