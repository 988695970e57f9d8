"""All terminal output of a run.

Three shapes, chosen by the CLI:
- ``StreamConsole``: one runnable or ``-n 1``: its output streams live as it is written.
- ``PlainConsole``: no TTY (CI): each runnable's log printed whole when it finishes, never
  interleaved with another's.
- ``LiveConsole``: a TTY: a rich live view of what runs, with failures' logs printed whole.

Every shape ends with one summary line. rich is imported only by the live console.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO, cast

from qik.scheduler.run import Result

if TYPE_CHECKING:  # the worker's module only once something runs
    from qik.scheduler.worker import ColdRequest

_CHUNK = 1 << 20  # how much of a log is held in memory at a time

__all__ = [
    "BaseConsole",
    "JsonConsole",
    "LiveConsole",
    "PlainConsole",
    "StreamConsole",
    "result_record",
    "stop_live_views",
    "summary_line",
]

# Writes the log of a finished runnable to a binary stream.
LogWriter = Callable[[Result, BinaryIO], None]

_MARKS = {"ran": "✓", "replayed": "↺", "failed": "✗", "skipped": "-"}


class _LastByte:
    """A binary stream that remembers the last byte written through it: a log that doesn't
    end in a newline (``printf done``) must not run into the line qik prints next."""

    __slots__ = ("last", "stream")

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.last = b"\n"

    def write(self, data: bytes) -> int:
        if data:
            self.last = data[-1:]
        return self.stream.write(data)


def _write_whole_log(write_log: LogWriter, result: Result, buffer: BinaryIO) -> None:
    """The log, ended by a newline if it has none."""
    tracked = _LastByte(buffer)
    write_log(result, cast(BinaryIO, tracked))
    if tracked.last != b"\n":
        buffer.write(b"\n")


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.2f}s"
    minutes, secs = divmod(int(value), 60)
    return f"{minutes}m{secs:02d}s"


def describe(result: Result) -> str:
    """``lint@a ✓ ran in 0.12s`` / ``lint@a ↺ replayed from local (saved 3.40s)``."""
    mark = _MARKS[result.status]
    if result.status == "skipped":
        return f"{mark} {result.name} skipped (an upstream runnable failed)"
    if result.is_replay:
        code = "" if result.exit_code == 0 else f", exit code {result.exit_code}"
        return f"{mark} {result.name} replayed from {result.source} cache{code}"
    if result.timed_out:
        return f"{mark} {result.name} timed out after {_seconds(result.duration)}"
    code = "" if result.exit_code == 0 else f", exit code {result.exit_code}"
    return f"{mark} {result.name} ran in {_seconds(result.duration)}{code}"


def summary_counts(results: Iterable[Result]) -> dict[str, int]:
    """The counts every summary gives (the line, the live view, ``--json``): ``ran`` and
    ``replayed`` say how each result came (a failure too), ``failed`` how many of them
    failed, ``skipped`` those left out because an upstream runnable failed."""
    counts = {"ran": 0, "replayed": 0, "failed": 0, "skipped": 0}
    for result in results:
        count(counts, result)
    return counts


def count(counts: dict[str, int], result: Result) -> None:
    if result.status == "skipped":
        counts["skipped"] += 1
        return
    counts["replayed" if result.is_replay else "ran"] += 1
    counts["failed"] += result.status == "failed"


def summary_line(results: Mapping[str, Result], wall: float) -> str:
    counts = summary_counts(results.values())
    saved = sum(r.saved for r in results.values())
    listed = ", ".join(f"{n} {what}" for what, n in counts.items())
    return f"qik: {listed} in {_seconds(wall)} (cache saved {_seconds(saved)})"


@dataclass
class BaseConsole:
    """What every console shares: how a log is written, how much is said."""

    write_log: LogWriter
    verbosity: int = 1
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    _warned: set[str] = field(default_factory=set)

    def warn(self, message: str) -> None:
        """Warnings are printed once per run, however many runnables hit them."""
        if message not in self._warned:
            self._warned.add(message)
            self.out.flush()
            print(f"warning: {message}", file=self.err, flush=True)

    def started(self, name: str, request: ColdRequest) -> None:
        pass

    def tick(self) -> None:
        pass

    def finished(self, result: Result) -> None:
        for warning in result.warnings:
            self.warn(warning)
        if self.verbosity == 0 and result.status == "failed":  # quiet, but not about that
            self.out.flush()
            print(f"── {describe(result)}", file=self.err, flush=True)

    def close(self, results: Mapping[str, Result], wall: float) -> None:
        if self.verbosity > 0:
            print(summary_line(results, wall), file=self.out, flush=True)

    def _print_log(self, result: Result) -> None:
        self.out.flush()
        buffer = self.out.buffer if hasattr(self.out, "buffer") else None
        if buffer is None:
            return
        _write_whole_log(self.write_log, result, buffer)
        buffer.flush()

    def _print_with_log(self, line: str, result: Result) -> None:
        """``line`` and the log in one write to the stream underneath (a write per runnable
        matters when 900 replays print)."""
        buffer = self.out.buffer if hasattr(self.out, "buffer") else None
        if buffer is None:
            print(line, end="", file=self.out, flush=True)
            return
        self.out.flush()
        buffer.write(line.encode(self.out.encoding or "utf-8", self.out.errors or "strict"))
        _write_whole_log(self.write_log, result, buffer)
        buffer.flush()

    def _shows_log(self, result: Result) -> bool:
        if result.status == "skipped" or self.verbosity == 0:
            return False
        return self.verbosity >= 2 or result.status == "failed" or self._logs_successes

    _logs_successes = True


class PlainConsole(BaseConsole):
    """For CI: a header and the whole log of each runnable as it finishes.

    Under GitHub Actions each log is a collapsible group and each failure an error
    annotation, so a failed run shows what failed at the top of the job page.
    """

    github: bool = False

    def finished(self, result: Result) -> None:
        if self.verbosity > 0:
            header = describe(result)
            if self.github and self._shows_log(result):
                print(f"::group::{header}", file=self.out, flush=True)
                self._print_log(result)
                print("::endgroup::", file=self.out, flush=True)
            elif self._shows_log(result):
                self._print_with_log(f"── {header}\n", result)
            else:
                print(f"── {header}", file=self.out, flush=True)
        if self.github and result.status == "failed":
            print(f"::error title=qik: {result.name} failed::{describe(result)}", file=self.out)
        super().finished(result)


class JsonConsole(BaseConsole):
    """``--json``: one JSON object per event on stdout, for other tools to read. (No fields
    of its own: BaseConsole's dataclass methods serve, and building them again costs.)"""

    def started(self, name: str, request: ColdRequest) -> None:
        self._emit({"event": "started", "name": name, "log_path": request.out_path})

    def finished(self, result: Result) -> None:
        self._emit({"event": "finished", **result_record(result)})
        super().finished(result)

    def warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self._emit({"event": "warning", "message": message})

    def close(self, results: Mapping[str, Result], wall: float) -> None:
        counts = summary_counts(results.values())
        saved = round(sum(r.saved for r in results.values()), 6)
        self._emit({"event": "summary", "wall": round(wall, 6), "saved": saved, **counts})

    def _emit(self, record: Mapping[str, object]) -> None:
        import json

        print(json.dumps(record, sort_keys=True), file=self.out, flush=True)


def result_record(result: Result) -> dict[str, object]:
    """One runnable's result as plain data (the run report and the ``--json`` stream)."""
    return {
        "name": result.name,
        "status": result.status,
        "replayed": result.is_replay,
        "cache": result.source,
        "exit_code": result.exit_code,
        "duration": round(result.duration, 6),
        "saved": round(result.saved, 6),
        "timed_out": result.timed_out,
    }


@dataclass
class StreamConsole(BaseConsole):
    """Streams the output of the running command(s) as it is written."""

    _tails: dict[str, tuple[Path, int]] = field(default_factory=dict)
    _last: bytes = b"\n"  # the last byte of output streamed
    github: bool = False  # GitHub Actions: each log a collapsible group, failures annotated
    _grouped: set[str] = field(default_factory=set)  # runnables whose group is open

    def started(self, name: str, request: ColdRequest) -> None:
        if self.verbosity > 0:
            self._tails[name] = (Path(request.out_path), 0)

    def tick(self) -> None:
        for name in list(self._tails):
            self._drain(name)

    def _drain(self, name: str) -> None:
        """Copy what the command wrote since the last look, a chunk at a time: a command
        that writes fast must not make qik hold its output in memory (the stress suite's
        load case saw 718 MB for a 1 GB log read in one piece)."""
        path, offset = self._tails[name]
        try:
            f = path.open("rb")
        except OSError:
            return
        with f:
            f.seek(offset)
            self.out.flush()
            while chunk := f.read(_CHUNK):
                if offset == 0 and self.github:  # its first output: open its group
                    print(f"::group::{name}", file=self.out, flush=True)
                    self._grouped.add(name)
                self.out.buffer.write(chunk)
                self._last = chunk[-1:]
                offset += len(chunk)
                self._tails[name] = (path, offset)
        self.out.buffer.flush()

    def finished(self, result: Result) -> None:
        grouped = False
        if result.name in self._tails:
            self._drain(result.name)
            del self._tails[result.name]
            grouped = result.name in self._grouped
            self._grouped.discard(result.name)
        elif self.verbosity > 0 and result.is_replay:
            grouped = self.github
            if grouped:
                print(f"::group::{result.name}", file=self.out, flush=True)
            self._print_log(result)
        if self.verbosity > 0:
            start = "" if self._last == b"\n" else "\n"
            self._last = b"\n"
            end = "::endgroup::\n" if grouped else ""
            print(f"{start}{end}── {describe(result)}", file=self.out, flush=True)
        if self.github and result.status == "failed":
            print(f"::error title=qik: {result.name} failed::{describe(result)}", file=self.out)
        super().finished(result)


class LiveConsole(BaseConsole):
    """A TTY: a live view of what runs; logs of failures (and at -v 2 of all) printed whole."""

    _logs_successes = False

    def __init__(self, write_log: LogWriter, verbosity: int = 1, workers: int = 1) -> None:
        super().__init__(write_log, verbosity)
        from rich.console import Console

        self._console = Console(file=self.out)
        # Handed to the pool, in order; the first ``workers`` of them run, the rest wait
        # for a worker (the scheduler keeps a few queued ahead). A start time is set when
        # one gets a worker: elapsed times count running, not waiting.
        self._workers = max(1, workers)
        self._running: dict[str, float | None] = {}
        self._counts = {"ran": 0, "replayed": 0, "failed": 0, "skipped": 0}
        self._live = self._start_live()

    def _start_live(self) -> Any:
        """A new live view below what was printed. (A view started again after ``stop``
        remembers its old height, and its first frame erased that many lines: the log
        just printed.)"""
        from rich.live import Live

        live = Live(console=self._console, refresh_per_second=8, transient=True)
        live.start()
        _LIVE_VIEWS.append(live)
        return live

    def _stop_live(self) -> None:
        self._live.stop()
        with contextlib.suppress(ValueError):
            _LIVE_VIEWS.remove(self._live)

    def started(self, name: str, request: ColdRequest) -> None:
        self._running[name] = None
        self._promote()
        self._refresh()

    def _promote(self) -> None:
        now = time.monotonic()
        for name in list(self._running)[: self._workers]:
            if self._running[name] is None:
                self._running[name] = now

    def tick(self) -> None:
        self._refresh()

    def finished(self, result: Result) -> None:
        self._running.pop(result.name, None)
        self._promote()
        count(self._counts, result)
        shows_log = self._shows_log(result)
        # A skipped runnable is named too: which, not only how many.
        if self.verbosity > 0 and (shows_log or result.status == "skipped"):
            from rich.text import Text

            self._live.console.print(Text(describe(result)))
        if self.verbosity > 0 and shows_log:
            self._stop_live()
            self._print_log(result)
            self._live = self._start_live()
        self._refresh()
        super().finished(result)

    def _refresh(self) -> None:
        from rich.table import Table
        from rich.text import Text

        # Text, not markup strings: the table must render alike whatever a print around
        # it asks of markup.
        table = Table.grid(padding=(0, 2))
        now = time.monotonic()
        running = [(name, start) for name, start in self._running.items() if start is not None]
        for name, start in running[:20]:
            table.add_row(Text("⧗", "bold blue"), Text(name), Text(_seconds(now - start)))
        if len(running) > 20:
            table.add_row(Text(""), Text(f"… and {len(running) - 20} more"), Text(""))
        waiting = len(self._running) - len(running)
        if waiting:
            table.add_row(Text(""), Text(f"{waiting} waiting for a worker", "dim"), Text(""))
        counts = ", ".join(f"{v} {k}" for k, v in self._counts.items())
        table.add_row(Text(""), Text(counts, "dim"), Text(""))
        self._live.update(table)

    def close(self, results: Mapping[str, Result], wall: float) -> None:
        self._stop_live()
        super().close(results, wall)


_LIVE_VIEWS: list[Any] = []  # the rich Live views on screen


def stop_live_views() -> None:
    """Take the live views off the screen and show the cursor again: for a run that ends
    without closing its console (Ctrl-C). Else the view's thread redraws it below the last
    message, and the terminal is left without a cursor."""
    while _LIVE_VIEWS:
        with contextlib.suppress(Exception):
            _LIVE_VIEWS.pop().stop()
