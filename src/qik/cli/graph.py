"""``qik :graph``: the runnable DAG, or what a module imports; and the fence check's output.

    qik :graph [NAME ...] [--format text|dot|mermaid|json]
    qik :graph --imports pkg.mod [--format text|json]

The ``pygraph.check@SPACE`` runnables run ``python -m qik.cli.graph --check SPACE``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qik.cli.parser import Parser

if TYPE_CHECKING:
    from qik.config.schema import Project
    from qik.graph.dag import Dag
    from qik.pygraph.check import CheckReport
    from qik.pygraph.resolve import Pygraph, Resolution

__all__ = ["main", "run_check", "run_graph"]

FORMATS = ("text", "dot", "mermaid", "json")


def _parser() -> Parser:
    parser = Parser(
        prog="qik :graph",
        description="Print the runnable DAG, or what a Python module depends on.",
    )
    parser.add_argument(
        "names", nargs="*", help="only these commands or runnables (and what they depend on)"
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format")
    parser.add_argument(
        "--imports",
        metavar="PKG.MOD",
        action="append",
        help="what this module depends on: project modules, files, distributions with versions",
    )
    parser.add_argument("-p", "--profile", help="context profile")
    return parser


def run_graph(args: list[str]) -> int:
    parser = _parser()
    opts = parser.parse_args(args)
    if opts.imports:
        if len(opts.imports) > 1 or opts.names:
            parser.error("--imports takes one module, and no command names")
        if opts.format not in ("text", "json"):
            parser.error(f"--imports prints text or json, not {opts.format}")
    project = _project(opts.profile)
    if opts.imports:
        return _print_imports(project, opts.imports[0], opts.format)
    _print_dag(_dag(project, opts.names), opts.format)
    return 0


def _project(profile: str | None) -> Project:
    from qik.config.load import load_project

    return load_project(Path.cwd(), profile=profile or os.environ.get("QIK__PROFILE"))


def _pygraph(project: Project) -> Pygraph:
    from qik.fingerprint.files import FileIndex
    from qik.pygraph.hook import digester

    return digester(project, FileIndex.from_worktree(project.root)).pygraph


# -- the DAG ----------------------------------------------------------------------------------


def _dag(project: Project, names: Sequence[str]) -> Dag:
    from qik.graph.dag import Dag, Selector, build_dag, select
    from qik.graph.expand import expand

    dag = build_dag(expand(project))
    if not names:
        return dag
    chosen = set(select(dag, Selector(names=tuple(names)), known_modules=project.modules))
    return Dag(
        runnables={n: r for n, r in dag.runnables.items() if n in chosen},
        upstream={n: tuple(u for u in dag.upstream[n] if u in chosen) for n in chosen},
        order=tuple(n for n in dag.order if n in chosen),
    )


def _print_dag(dag: Dag, fmt: str) -> None:
    render = {"text": _dag_text, "dot": _dag_dot, "mermaid": _dag_mermaid, "json": _dag_json}
    sys.stdout.write(render[fmt](dag))


def _dag_text(dag: Dag) -> str:
    lines = []
    for name in dag.order:
        ups = dag.upstream[name]
        lines.append(f"{name} <- {', '.join(ups)}" if ups else name)
    return "".join(f"{line}\n" for line in lines)


def _dag_dot(dag: Dag) -> str:
    lines = ["digraph qik {", "  rankdir=LR;"]
    lines += [f"  {_dot_id(name)};" for name in dag.order]
    lines += [
        f"  {_dot_id(up)} -> {_dot_id(name)};" for name in dag.order for up in dag.upstream[name]
    ]
    return "\n".join([*lines, "}"]) + "\n"


def _dot_id(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dag_mermaid(dag: Dag) -> str:
    ids = {name: f"n{i}" for i, name in enumerate(dag.order)}
    lines = ["graph LR"]
    lines += [f'  {ids[name]}["{_mermaid_label(name)}"]' for name in dag.order]
    lines += [f"  {ids[up]} --> {ids[name]}" for name in dag.order for up in dag.upstream[name]]
    return "\n".join(lines) + "\n"


def _mermaid_label(name: str) -> str:
    return name.replace('"', "#quot;")


def _dag_json(dag: Dag) -> str:
    rows = [
        {
            "name": name,
            "command": dag.runnables[name].command,
            "module": dag.runnables[name].module,
            "space": dag.runnables[name].space,
            "upstream": list(dag.upstream[name]),
        }
        for name in dag.order
    ]
    return json.dumps({"runnables": rows}, indent=2) + "\n"


# -- imports of a module ----------------------------------------------------------------------


def _print_imports(project: Project, pyimport: str, fmt: str) -> int:
    pygraph = _pygraph(project)
    found = pygraph.resolve(pyimport)
    versions = {dist: pygraph.version(dist) for dist in found.dists}
    if fmt == "json":
        sys.stdout.write(json.dumps(_imports_doc(found, versions), indent=2) + "\n")
    else:
        sys.stdout.write(_imports_text(found, versions))
    return 0


def _imports_doc(found: Resolution, versions: dict[str, str | None]) -> dict[str, object]:
    return {
        "pyimport": found.pyimport,
        "modules": sorted(found.modules),
        "files": list(found.files),
        "distributions": [{"name": d, "version": versions[d]} for d in found.dists],
        "unmapped": [
            {"module": u.name, "file": u.importer_file, "line": u.line} for u in found.unmapped
        ],
    }


def _imports_text(found: Resolution, versions: dict[str, str | None]) -> str:
    lines = [found.pyimport, f"  modules ({len(found.modules)}):"]
    lines += [f"    {m}" for m in sorted(found.modules)]
    lines.append(f"  files ({len(found.files)}):")
    lines += [f"    {f}" for f in found.files]
    lines.append(f"  distributions ({len(found.dists)}):")
    lines += [f"    {d} {versions[d] or '(not installed)'}" for d in found.dists]
    if found.unmapped:
        lines.append(f"  unmapped ({len(found.unmapped)}): no distribution provides these")
        lines += [f"    {u.name} ({u.importer_file}:{u.line})" for u in found.unmapped]
    return "".join(f"{line}\n" for line in lines)


# -- pygraph.check ----------------------------------------------------------------------------


def run_check(spaces: Sequence[str]) -> int:
    """Print every import crossing the fences of ``spaces``; 1 if there is any."""
    from qik.pygraph.check import check_space

    pygraph = _pygraph(_project(None))
    reports = [check_space(pygraph, space) for space in spaces]
    sys.stdout.write("".join(_check_text(report) for report in reports))
    return 1 if any(report.violations for report in reports) else 0


def _check_text(report: CheckReport) -> str:
    lines = [v.render() for v in report.violations]
    fence = ", ".join(p or "." for p in report.allowed) or "nothing"
    count = len(report.violations)
    if count:
        noun = "import crosses" if count == 1 else "imports cross"
        lines.append(f'{count} {noun} the fence of space "{report.space}" (fence: {fence})')
    else:
        lines.append(
            f'no import crosses the fence of space "{report.space}" '
            f"({_files(len(report.checked))} checked; fence: {fence})"
        )
    return "".join(f"{line}\n" for line in lines)


def _files(count: int) -> str:
    return "1 file" if count == 1 else f"{count} files"


def main(argv: list[str] | None = None) -> None:
    """``python -m qik.cli.graph --check SPACE ...``, as the pygraph.check runnables run it."""
    from qik.errors import QikError

    args = sys.argv[1:] if argv is None else argv
    try:
        code = run_check(args[1:]) if args[:1] == ["--check"] else run_graph(args)
    except QikError as exc:
        sys.stdout.flush()
        print(exc.render(), file=sys.stderr)
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
