"""The runnable DAG: edges from command deps, cycle errors, topological order, selection.

Pure: data in, data out. Selection by cache status lives in the plan (it needs the store).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from qik.config.refs import NO_CACHE
from qik.errors import GraphError, SelectionError
from qik.graph.expand import Runnable

__all__ = [
    "Dag",
    "Selector",
    "build_dag",
    "dotted_alias",
    "named",
    "resolved_name",
    "select",
    "with_upstream",
]


@dataclass(frozen=True)
class Dag:
    """The runnables of a project and what each waits for, in a topological order."""

    runnables: Mapping[str, Runnable]
    upstream: Mapping[str, tuple[str, ...]]  # runnable -> the runnables it waits for
    order: tuple[str, ...]  # topological: upstream first

    def downstream(self) -> dict[str, list[str]]:
        down: dict[str, list[str]] = {name: [] for name in self.runnables}
        for name, ups in self.upstream.items():
            for up in ups:
                down[up].append(name)
        return down


@dataclass(frozen=True)
class Selector:
    """What the command line selects: names, modules, spaces, tags, caches."""

    names: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    spaces: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    caches: tuple[str, ...] = ()
    isolated: bool = False


def build_dag(runnables: Mapping[str, Runnable]) -> Dag:
    by_command: dict[str, list[str]] = {}
    for runnable in runnables.values():
        by_command.setdefault(runnable.command, []).append(runnable.name)
    upstream = {
        name: tuple(_upstream_names(runnable, runnables, by_command))
        for name, runnable in runnables.items()
    }
    return Dag(runnables=runnables, upstream=upstream, order=_toposort(upstream))


def _upstream_names(
    runnable: Runnable, runnables: Mapping[str, Runnable], by_command: Mapping[str, list[str]]
) -> list[str]:
    names: list[str] = []
    for dep in runnable.upstream:
        name = dep.name
        if name not in runnables and name not in by_command:
            name = dotted_alias(name, {*runnables, *by_command})
        if name in runnables:
            names.append(name)
        elif name in by_command:
            names.extend(by_command[name])
        else:
            raise _unknown_dep(runnable, dep.name, by_command)
    return list(dict.fromkeys(names))


def _unknown_dep(runnable: Runnable, name: str, by_command: Mapping[str, list[str]]) -> GraphError:
    command, at, module = name.partition("@")
    where = f"the deps of {_table(runnable.command)}"
    if at and command in by_command:
        return GraphError(
            f"runnable {runnable.name!r} depends on {name!r}, but command {command!r} has no "
            f"runnable for module {module!r}",
            code="unknown-command-dep",
            hint=f"name a module {command!r} runs over (`qik {command} --ls` lists them) in "
            + where,
        )
    return GraphError(
        f"runnable {runnable.name!r} depends on command {name!r}, which is not defined",
        code="unknown-command-dep",
        hint=f"define [commands.{command}] or fix the name in {where}",
    )


def _table(command: str) -> str:
    """Where a command is defined: a module's own commands are ``<module>/<command>``."""
    module, slash, name = command.rpartition("/")
    return f"[commands.{name}] in module {module}'s qik.toml" if slash else f"[commands.{command}]"


def _toposort(upstream: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Depth-first topological sort that reports the first cycle it meets, as a path."""
    done: set[str] = set()
    order: list[str] = []
    for start in upstream:
        if start in done:
            continue
        # Iterative DFS: deep chains of commands must not hit the recursion limit.
        path: list[str] = [start]
        on_path = {start}
        stack = [iter(upstream[start])]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                node = path.pop()
                on_path.discard(node)
                done.add(node)
                order.append(node)
            elif child in on_path:
                cycle = [*path[path.index(child) :], child]
                raise GraphError(
                    "dependency cycle: " + " -> ".join(cycle),
                    code="dep-cycle",
                    hint="remove one of these command deps so the commands can run in order",
                )
            elif child not in done:
                path.append(child)
                on_path.add(child)
                stack.append(iter(upstream[child]))
    return tuple(order)


def select(
    dag: Dag,
    selector: Selector,
    *,
    known_modules: Iterable[str] = (),
    narrow: Callable[[set[str]], set[str]] | None = None,
) -> list[str]:
    """The runnables a run covers, in topological order.

    Names, modules, spaces and tags narrow the set, then ``narrow`` (``--since``); then
    upstream runnables join unless the run (or the dep) is isolated; then ``--cache``
    narrows again, to cached runnables of those caches.
    """
    chosen = _by_names(dag, selector.names)
    chosen = _by_modules(dag, chosen, selector.modules, set(known_modules))
    if selector.spaces:
        chosen = {n for n in chosen if dag.runnables[n].space in selector.spaces}
    if selector.tags:
        chosen = {n for n in chosen if set(dag.runnables[n].tags) & set(selector.tags)}
    if narrow is not None:
        chosen = narrow(chosen)
    chosen = with_upstream(dag, chosen, selector.isolated)
    if selector.caches:
        # A runnable without deps is never cached: its results go to no cache, so only
        # --cache none selects it (else `--cache repo --cache-status cold --fail` never
        # passes).
        chosen = {n for n in chosen if _cache_of(dag.runnables[n]) in selector.caches}
    return [name for name in dag.order if name in chosen]


def named(dag: Dag, names: Sequence[str]) -> set[str]:
    """The runnables ``names`` name (commands, runnables), without what they depend on."""
    return _by_names(dag, names)


def _cache_of(runnable: Runnable) -> str:
    return runnable.cache if runnable.is_cached else NO_CACHE


def dotted_alias(name: str, known: Iterable[str]) -> str:
    """qik 0.2 also named a module's own command ``module.command``: the ``module/command``
    it stands for, when only that exists."""
    known = known if isinstance(known, set | frozenset | dict) else set(known)
    module, dot, command = name.rpartition(".")
    if name in known or not dot or not module:
        return name
    slashed = f"{module}/{command}"
    return slashed if slashed in known else name


# qik 0.2's uv plugin named a space's lock and venv build so.
_OLD_NAMES = {"uv.lock": "space.lock", "uv.install": "space.sync"}


def resolved_name(dag: Dag, name: str, commands: set[str] | None = None) -> str:
    """The command or runnable a name given on the command line stands for: itself, or
    what qik 0.2 called ``uv.lock`` or ``module.command``."""
    if commands is None:
        commands = {r.command for r in dag.runnables.values()}
    if name in dag.runnables or name in commands:
        return name
    command, at, module = name.partition("@")
    name = _OLD_NAMES.get(command, command) + at + module
    return dotted_alias(name, {*dag.runnables, *commands})


def _by_names(dag: Dag, names: Sequence[str]) -> set[str]:
    if not names:
        return {n for n, r in dag.runnables.items() if not r.hidden}
    chosen: set[str] = set()
    commands = {r.command for r in dag.runnables.values()}
    for name in names:
        name = resolved_name(dag, name, commands)
        matches = {n for n, r in dag.runnables.items() if name in (n, r.command) or n == name}
        if not matches:
            raise SelectionError(
                f"no command or runnable named {name!r}",
                code="unknown-command",
                hint="`qik --ls` lists every runnable; commands are defined under [commands]",
            )
        chosen |= matches
    return chosen


def _by_modules(dag: Dag, chosen: set[str], modules: Sequence[str], known: set[str]) -> set[str]:
    if not modules:
        return chosen
    for module in modules:
        if module not in known:
            raise SelectionError(
                f"no module named {module!r}",
                code="unknown-module",
                hint="modules are declared with `modules = [...]` or [spaces.NAME] modules",
            )
    return {n for n in chosen if dag.runnables[n].module in modules}


def with_upstream(dag: Dag, chosen: set[str], isolated: bool) -> set[str]:
    result = set(chosen)
    stack = list(chosen)
    while stack:
        runnable = dag.runnables[stack.pop()]
        for dep in runnable.upstream:
            joins = not (dep.isolated if dep.isolated is not None else isolated)
            if not joins:
                continue
            for up in _dep_targets(dag, runnable.name, dep.name):
                if up not in result:
                    result.add(up)
                    stack.append(up)
    return result


def _dep_targets(dag: Dag, name: str, dep_name: str) -> list[str]:
    ups = dag.upstream[name]
    found = [u for u in ups if u == dep_name or dag.runnables[u].command == dep_name]
    if found or "." not in dep_name:
        return found
    # qik 0.2's module.command, resolved as build_dag resolved it.
    alias = dotted_alias(dep_name, {*ups, *(dag.runnables[u].command for u in ups)})
    return [u for u in ups if alias in (u, dag.runnables[u].command)]
