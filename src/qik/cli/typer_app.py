"""The typer ``qik`` command: help, version, usage errors, and any argv ``fastargs`` declines.

A plain ``qik ...`` never imports this module (see ``qik.cli.fastargs``); keep its options
in step with ``fastargs.OPTIONS`` (tests/cli/test_fastargs.py fails when they drift).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from qik import __version__

__all__ = ["app", "run"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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
    json_: Annotated[
        bool | None,
        typer.Option("--json", help="With --ls: JSON rows; else one JSON event per line."),
    ] = None,
    fail: Annotated[
        bool | None,
        typer.Option("--fail", help="List, run nothing, and exit 1 if anything is selected."),
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
        typer.Option("--shard", help="K/N: this machine's share of the selected runnables."),
    ] = None,
    report: Annotated[
        str | None, typer.Option("--report", help="Write a JSON run report to this file.")
    ] = None,
    logger: Annotated[
        str | None,
        typer.Option("-l", "--logger", help="qik 0.2's choice of output; accepted and ignored."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Run all commands, or the named ones (and what they depend on)."""
    from qik.cli.run import execute_run

    if cache_status is not None and cache_status not in ("warm", "cold"):
        from qik.errors import QikError

        raise QikError(
            f"--cache-status {cache_status!r}: must be warm or cold",
            code="invalid-option",
            hint="use --cache-status warm|cold",
        )
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
        "logger": logger,
    }
    raise typer.Exit(execute_run(flags))
