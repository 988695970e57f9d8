"""The ``qik`` and ``qikx`` executables.

QikError is caught here, in one place: printed without a traceback, exit 2. Any other
exception is a bug in qik and is shown with its traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import gc
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, cast

from qik.interrupts import Terminated  # also qik.cli.Terminated

if TYPE_CHECKING:
    import typer

__all__ = ["app", "main", "qikx_main", "run_typer"]

# Set, typer's click answers a shell-completion request instead of running: leave it typer's.
_COMPLETE_VAR = "_QIK_COMPLETE"
_HELP = frozenset({"-h", "--help", "--version", "--install-completion", "--show-completion"})
_BUG = "This is a bug in qik. Please report it with the traceback above."


def _guarded(fn: Callable[[], int]) -> int:
    from qik.errors import QikError

    try:
        return fn()
    except QikError as exc:
        sys.stdout.flush()
        print(exc.render(), file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated) as exc:
        from qik.cli.run import release_pool, stop_children

        stop_children()  # pool workers (and their commands) must not outlive us
        release_pool(wait_for_threads=False)
        _discard_early_git()
        if "qik.console" in sys.modules:
            sys.modules["qik.console"].stop_live_views()
        sys.stdout.flush()
        print("qik: interrupted", file=sys.stderr, flush=True)
        # Skip interpreter teardown: pool threads of a killed pool only add noise.
        os._exit(143 if isinstance(exc, Terminated) or _exit_code() == 143 else 130)
    except Exception:
        import traceback

        traceback.print_exc()
        print(f"\n{_BUG}", file=sys.stderr)
        return 70  # EX_SOFTWARE: not the user's mistake


def _handle_stop_signals() -> None:
    """SIGINT and SIGTERM recorded as they arrive (``qik.interrupts``): code that catches
    any exception a handler raises (watchfiles turns SIGTERM into KeyboardInterrupt), or a
    callback that swallows it, can't hide that qik was asked to stop."""
    from qik import interrupts

    signal.signal(signal.SIGINT, interrupts.on_sigint)
    signal.signal(signal.SIGTERM, interrupts.on_sigterm)
    interrupts.quiet_when_swallowed()


def main() -> None:
    _handle_stop_signals()
    _printable_everywhere()
    argv = _meta_first(sys.argv[1:])
    if argv and argv[0].startswith(":"):
        from qik.cli.meta import run_meta

        sys.exit(_guarded(lambda: _pipe_safe(lambda: run_meta(argv))))
    code = _guarded(lambda: _run(argv))
    if _exit_code() is not None:  # a stop signal whose exception was lost on the way
        code = _guarded(_raise_again)
    _discard_early_git()
    from qik.cli.run import pool_was_started, release_pool

    if pool_was_started():
        # The pool's workers are gone by now; skip the ~0.2 s loky's resource tracker
        # spends at interpreter exit (it notices our exit and cleans up by itself).
        release_pool()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _leave(code)


def _exit_code() -> int | None:
    from qik import interrupts

    return interrupts.exit_code()


def _raise_again() -> int:
    from qik import interrupts

    interrupts.check()
    return 0


def _meta_first(argv: list[str]) -> list[str]:
    """``qik -p ci :cache ls`` as ``qik :cache -p ci ls``: options given before a meta
    command are its own (only options: ``qik lint :cache`` stays an unknown name)."""
    if not argv or not argv[0].startswith("-"):
        return argv
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg.startswith(":") and len(arg) > 1:
            return [arg, *argv[:i], *argv[i + 1 :]]
    return argv


def _leave(code: int) -> NoReturn:
    """Exit without the interpreter's teardown: after a fully cached run of 900
    runnables, collecting and freeing what the run built took longer (about 40 ms) than
    replaying them. The exit hooks run and the output is flushed first, as at any exit;
    with a thread still running (none should be), the ordinary exit waits for it."""
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except OSError as exc:  # a closed pipe (``qik | head``): exit 1, quietly, as click does
        if exc.errno != errno.EPIPE:
            raise
        code = code or 1
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)


def _printable_everywhere() -> None:
    """An output encoding that can't write qik's own characters ("──", "✓": an ASCII
    ``PYTHONIOENCODING``) prints them replaced, rather than failing the run on a
    UnicodeEncodeError. A UTF-8 one prints a file name that isn't valid UTF-8 (a str with
    lone surrogates, as ``os`` and git's output decode it) as its own bytes, as ``ls``
    does, and as Python does already in the C locale."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        reconfigure = getattr(stream, "reconfigure", None)
        strict = getattr(stream, "errors", None) == "strict"
        if reconfigure is not None and strict:
            reconfigure(errors="surrogateescape" if encoding == "utf8" else "replace")


def _run(argv: list[str]) -> int:
    """A plain ``qik ...`` without typer; typer for anything ``fastargs`` is unsure of."""
    if os.environ.get(_COMPLETE_VAR):
        return _click_main(argv)
    # A run allocates a few objects per file and per runnable and frees them by reference
    # counting; with the default threshold the cycle collector ran some 85 times in a
    # cached run of 900 runnables (15 ms, more as the heap grows) and found next to
    # nothing. It still runs, after every 100,000 net allocations.
    gc.set_threshold(100_000, 20, 20)
    root = None
    if not _HELP.intersection(argv):
        from qik import early

        early.start(os.curdir)  # git's part of the file index, while qik imports the rest
        root = early.project_root()
    from qik.cli.fastargs import parse

    argv = _bare_verbosity(argv)
    flags = parse(argv)
    if flags is None:
        return _click_main(argv)
    if root is not None and not any(name.startswith(":") for name in flags["commands"]):
        from qik.scheduler.pool import prestart_if_all_cold

        # The pool's fork server loads on another CPU while qik loads and plans the run.
        prestart_if_all_cold(
            root,
            ls=flags["ls"] or flags["fail"],
            watch=flags["watch"],
            cache_status=flags["cache_status"],
            force=flags["force"],
        )
    return _run_flags(flags)


def _bare_verbosity(argv: list[str]) -> list[str]:
    """``-v`` (or ``--verbosity``) without a level is ``-v 2``, as in qik 0.2."""
    out: list[str] = []
    for i, token in enumerate(argv):
        if token == "--":
            return out + argv[i:]
        out.append(token)
        if token in ("-v", "--verbosity"):
            following = argv[i + 1] if i + 1 < len(argv) else None
            if following is None or not following.lstrip("-").isdigit():
                out.append("2")
    return out


def _discard_early_git() -> None:
    early = sys.modules.get("qik.early")
    if early is not None:
        early.discard()


def _run_flags(flags: dict[str, Any]) -> int:
    """``execute_run``, ending as it does under typer (``typer.core._main``, ``run_typer``)."""
    from qik.cli.run import execute_run

    try:
        code = _pipe_safe(lambda: execute_run(flags))
    except EOFError:
        print(file=sys.stderr, flush=True)
        raise KeyboardInterrupt from None
    if code == 130:
        raise KeyboardInterrupt
    return code


def _pipe_safe(fn: Callable[[], int]) -> int:
    """``fn()``, or exit 1 quietly if the output pipe closes (``qik --ls --json | head``),
    as click does."""
    try:
        return fn()
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.stdout = cast(TextIO, _PacifyFlush(sys.stdout))
        sys.stderr = cast(TextIO, _PacifyFlush(sys.stderr))
        sys.exit(1)


class _PacifyFlush:
    """click's PacifyFlushWrapper: a stream whose flush ignores a closed pipe."""

    def __init__(self, wrapped: TextIO) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.wrapped, attr)


def _click_main(argv: list[str]) -> int:
    from qik.cli.typer_app import app

    return run_typer(app, argv, "qik")


def __getattr__(name: str) -> Any:
    if name == "app":  # the typer app, imported only when asked for
        from qik.cli.typer_app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_typer(typer_app: typer.Typer, argv: list[str], prog: str) -> int:
    """Run a typer app and return its exit code; usage errors exit 2, Ctrl-C propagates."""
    # typer >= 0.26 bundles its own click: its exceptions are typer's, not click's.
    from typer.exceptions import Abort, TyperException

    try:
        code = typer_app(args=argv, prog_name=prog, standalone_mode=False)
    except Abort:  # click's spelling of Ctrl-C
        raise KeyboardInterrupt from None
    except TyperException as exc:  # usage errors (click's ClickException): exit 2
        code = int(getattr(exc, "exit_code", 2))
        message = getattr(exc, "format_message", None)
        if code == 2 and message is not None:  # a usage error: coded, as every mistake is
            from qik.errors import usage_error

            sys.stdout.flush()
            print(usage_error(prog, message()).render(), file=sys.stderr)
            return code
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        return code
    if code == 130:  # typer's spelling of Ctrl-C: a run itself never returns 130
        raise KeyboardInterrupt
    return code if isinstance(code, int) else 0


def qikx_main() -> None:
    _handle_stop_signals()
    from qik.cli.qikx import run_qikx

    sys.exit(_guarded(lambda: run_qikx(sys.argv[1:])))
