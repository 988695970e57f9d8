"""``qik :explain RUNNABLE ...``: why runnables are cold, or where their result comes from."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from qik.explain import Explanation, explain_entry, parse_inputs

__all__ = ["app", "explain_main"]

app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command()
def explain(
    names: Annotated[list[str], typer.Argument(help="Commands or runnables to explain.")],
    profile: Annotated[
        str | None, typer.Option("-p", "--profile", help="Context profile.")
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object per runnable.")] = False,
) -> None:
    """Say why runnables are cold: exactly which inputs changed since their last result."""
    raise typer.Exit(_explain(names, profile, json_))


def explain_main(argv: list[str]) -> int:
    from qik.cli import run_typer

    return run_typer(app, argv, "qik :explain")


def _explain(names: list[str], profile: str | None, as_json: bool) -> int:
    from qik.config.load import load_project
    from qik.options import merge_options
    from qik.runner import make_plan

    flags = {"commands": tuple(names), "profile": profile}  # as a run's, for {ctx.qik.*}
    profile = profile or os.environ.get("QIK__PROFILE")
    project = load_project(Path.cwd(), profile=profile)
    options = merge_options(flags, project.qik_options, profile or "default")
    options = dataclasses.replace(options, cache_status=None, since=None, force=False)
    plan = make_plan(project, options, _warn)
    wanted = _requested(plan, names)
    previous = _previous_results(plan, wanted)
    for name in wanted:
        text = _render_json if as_json else _render
        print(text(explain_entry(plan.entries[name], previous.get(name))))
    return 0


def _requested(plan: Any, names: list[str]) -> list[str]:
    """The planned runnables ``names`` stand for (qik 0.2's names too), in the order the
    names were given, each once."""
    from qik.graph.dag import resolved_name

    runnables = plan.dag.runnables
    wanted: dict[str, None] = {}
    for asked in (resolved_name(plan.dag, name) for name in names):
        wanted.update((n, None) for n in plan.names if asked in (n, runnables[n].command))
    return list(wanted)


def _previous_results(plan: Any, names: list[str]) -> dict[str, Any]:
    from qik.history import latest_results

    cold = [n for n in names if not plan.entries[n].is_warm]
    stores = [(c, plan.caches.store(c)) for c in _cache_names(plan, cold)]
    found = latest_results(
        [(c, s) for c, s in stores if s is not None], cold, warn=plan.caches.warn
    )
    results: dict[str, Any] = {}
    for name, hit in found.items():
        manifest = hit.manifest
        files = _inputs(plan.caches.store(hit.cache), manifest)
        results[name] = (manifest.dep_hash, manifest.deps, files, manifest.created, hit.cache)
    return results


def _cache_names(plan: Any, names: list[str]) -> list[str]:
    caches = ["local"] + [plan.entries[n].runnable.cache for n in names]
    return list(dict.fromkeys(caches))


def _inputs(store: Any, manifest: Any) -> dict[str, str] | None:
    if manifest.inputs is None:
        return {}
    try:
        return parse_inputs(store.read_bytes(manifest.inputs))
    except Exception:  # a missing or damaged listing: say so instead of failing
        return None


def _when(created: float | None) -> str:
    if created is None:
        return "?"
    return datetime.datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M:%S")


def _render(ex: Explanation) -> str:
    short = ex.dep_hash[:12]
    if ex.status == "uncached":
        return f"{ex.name}: never cached ({ex.note}); it runs every time"
    if ex.status == "warm":
        return (
            f"{ex.name}: warm — replays from the {ex.source} cache "
            f"(dep hash {short}, exit code {ex.exit_code}, stored {_when(ex.previous_created)})"
        )
    lines = [f"{ex.name}: cold (dep hash {short}) — it will run"]
    if ex.previous is not None:
        lines.append(
            f"  compared with its last result in the {ex.source} cache "
            f"(dep hash {ex.previous[:12]}, stored {_when(ex.previous_created)}):"
        )
    lines += [f"  {change.describe()}" for change in ex.changes]
    if ex.note:
        lines.append(f"  {ex.note}")
    return "\n".join(lines)


def _render_json(ex: Explanation) -> str:
    data = dataclasses.asdict(ex)
    return json.dumps(data, sort_keys=True)


_WARNED: set[str] = set()


def _warn(message: str) -> None:
    """Each warning once: an outage met by the lookups and again by the search for
    earlier results is one."""
    import sys

    if message not in _WARNED:
        _WARNED.add(message)
        print(f"warning: {message}", file=sys.stderr)
