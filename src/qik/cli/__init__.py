"""The ``qik`` and ``qikx`` executables.

QikError is caught here, in one place: printed without a traceback, exit 2. Any other
exception is a bug in qik and is shown with its traceback.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from qik import __version__

__all__ = ["app", "main", "qikx_main", "run_typer"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_BUG = "This is a bug in qik. Please report it with the traceback above."


class Terminated(BaseException):
    """SIGTERM arrived: stop like Ctrl-C, but exit 143."""


def _version(value: bool) -> None:
    if value:
        print(f"qik {__version__}")
        raise typer.Exit()


@app.command()
def run(
    commands: Annotated[list[str] | None, typer.Argument(help="Commands or runnables.")] = None,
    module: Annotated[
        list[str] | None, typer.Option("-m", "--module", help="Only these modules.")
    ] = None,
    space: Annotated[
        list[str] | None, typer.Option("-s", "--space", help="Only these spaces.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("-t", "--tag", help="Only these tags.")] = None,
    workers: Annotated[
        int | None, typer.Option("-n", "--workers", help="Parallel workers.")
    ] = None,
    isolated: Annotated[
        bool | None, typer.Option("--isolated", help="Don't pull in upstream commands.")
    ] = None,
    force: Annotated[
        bool | None, typer.Option("-f", "--force", help="Ignore caches and run.")
    ] = None,
    ls: Annotated[
        bool | None, typer.Option("--ls", help="List what is selected, don't run.")
    ] = None,
    json_: Annotated[bool | None, typer.Option("--json", help="With --ls: JSON rows.")] = None,
    fail: Annotated[
        bool | None, typer.Option("--fail", help="With --ls: exit 1 if anything is selected.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only what changed since a git ref.")
    ] = None,
    cache: Annotated[
        list[str] | None, typer.Option("--cache", help="Only commands using this cache.")
    ] = None,
    cache_status: Annotated[
        str | None, typer.Option("--cache-status", help="warm or cold.")
    ] = None,
    cache_when: Annotated[
        str | None, typer.Option("--cache-when", help="success, failed or finished.")
    ] = None,
    cache_read_only: Annotated[
        bool | None,
        typer.Option("--cache-read-only", help="Read caches, never write shared ones."),
    ] = None,
    profile: Annotated[
        str | None, typer.Option("-p", "--profile", help="Context profile.")
    ] = None,
    verbosity: Annotated[
        int | None,
        typer.Option(
            "-v", "--verbosity", help="0 silent, 1 default, 2 show logs of successes too."
        ),
    ] = None,
    watch: Annotated[
        bool | None, typer.Option("--watch", help="Re-run what is affected when files change.")
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option("--shard", help="K/N: this machine's share of the cold runnables."),
    ] = None,
    report: Annotated[
        str | None, typer.Option("--report", help="Write a JSON run report to this file.")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Run all commands, or the named ones (and what they depend on)."""
    from qik.cli.run import execute_run

    if cache_status is not None and cache_status not in ("warm", "cold"):
        raise typer.BadParameter("must be warm or cold", param_hint="--cache-status")
    flags: dict[str, Any] = {
        "commands": tuple(commands or ()),
        "modules": tuple(module or ()),
        "spaces": tuple(space or ()),
        "tags": tuple(tag or ()),
        "caches": tuple(cache or ()),
        "workers": workers,
        "isolated": isolated,
        "force": force,
        "ls": ls,
        "json": json_,
        "fail": fail,
        "since": since,
        "cache_status": cache_status,
        "cache_when": cache_when,
        "cache_read_only": cache_read_only,
        "profile": profile,
        "verbosity": verbosity,
        "watch": watch,
        "shard": shard,
        "report": report,
    }
    raise typer.Exit(execute_run(flags))


def _guarded(fn: Callable[[], int]) -> int:
    from qik.errors import QikError

    try:
        return fn()
    except QikError as exc:
        sys.stdout.flush()
        print(exc.render(), file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated) as exc:
        from qik.cli.run import stop_children

        stop_children()  # pool workers (and their commands) must not outlive us
        sys.stdout.flush()
        print("qik: interrupted", file=sys.stderr, flush=True)
        # Skip interpreter teardown: pool threads of a killed pool only add noise.
        os._exit(143 if isinstance(exc, Terminated) else 130)
    except Exception:
        import traceback

        traceback.print_exc()
        print(f"\n{_BUG}", file=sys.stderr)
        return 70  # EX_SOFTWARE: not the user's mistake


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    argv = sys.argv[1:]
    if argv and argv[0].startswith(":"):
        from qik.cli.meta import run_meta

        sys.exit(_guarded(lambda: run_meta(argv)))
    code = _guarded(lambda: _click_main(argv))
    from qik.cli.run import pool_was_started

    if pool_was_started():
        # The pool's workers are gone by now; skip the ~0.2 s loky's resource tracker
        # spends at interpreter exit (it notices our exit and cleans up by itself).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _click_main(argv: list[str]) -> int:
    return run_typer(app, argv, "qik")


def run_typer(typer_app: typer.Typer, argv: list[str], prog: str) -> int:
    """Run a typer app and return its exit code; usage errors exit 2, Ctrl-C propagates."""
    # typer >= 0.26 bundles its own click: its exceptions are typer's, not click's.
    from typer.exceptions import Abort, TyperException

    try:
        code = typer_app(args=argv, prog_name=prog, standalone_mode=False)
    except Abort:  # click's spelling of Ctrl-C
        raise KeyboardInterrupt from None
    except TyperException as exc:  # usage errors (click's ClickException): exit 2
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        return int(getattr(exc, "exit_code", 2))
    if code == 130:  # typer's spelling of Ctrl-C: a run itself never returns 130
        raise KeyboardInterrupt
    return code if isinstance(code, int) else 0


def qikx_main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    from qik.cli.qikx import run_qikx

    sys.exit(_guarded(lambda: run_qikx(sys.argv[1:])))
