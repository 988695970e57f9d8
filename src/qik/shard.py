"""``--shard K/N``: split the selected runnables over N CI machines, deterministically.

Cold runnables are what costs time, so they are balanced: each is weighed by the duration
its last stored result recorded (any cache), or the median of the known ones, and groups
are handed out largest first to the least loaded shard (LPT scheduling: loads end up within
one group's weight of each other). A cold runnable and its cold upstream runnables form
one group, so a shard never waits for another machine; warm upstream runnables are
replayed from the shared cache wherever they are needed. Warm runnables nobody needs are
dealt round-robin so that every selected runnable is listed by exactly one shard.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from qik.errors import QikError

__all__ = ["Shard", "ShardPlan", "parse_shard", "plan_shards"]

DEFAULT_SECONDS = 1.0
_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    listed: tuple[str, ...]  # the runnables this shard owns
    run: tuple[str, ...]  # what it executes: its own plus warm upstream runnables to replay
    expected: float  # seconds of cold work


@dataclass(frozen=True)
class ShardPlan:
    shards: tuple[Shard, ...]
    weights: Mapping[str, float]


def parse_shard(text: str) -> tuple[int, int]:
    match = _SPEC.fullmatch(text)
    if match is None or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise QikError(
            f"--shard {text!r} is not of the form K/N with 1 <= K <= N",
            code="invalid-option",
            hint="e.g. --shard 2/4 for the second of four machines",
        )
    return int(match.group(1)), int(match.group(2))


def plan_shards(
    order: Sequence[str],
    upstream: Mapping[str, Sequence[str]],
    cold: Iterable[str],
    durations: Mapping[str, float],
    count: int,
) -> ShardPlan:
    """Assign ``order`` (topological) to ``count`` shards."""
    selected = set(order)
    cold_set = set(cold) & selected
    weights = _weights(cold_set, durations)
    groups = _cold_groups(order, upstream, cold_set)
    loads = [0.0] * count
    owner: dict[str, int] = {}
    for group in sorted(groups, key=lambda g: (-sum(weights[n] for n in g), min(g))):
        target = min(range(count), key=lambda i: (loads[i], i))
        loads[target] += sum(weights[n] for n in group)
        owner.update(dict.fromkeys(group, target))
    warm = [n for n in sorted(selected - cold_set)]
    for i, name in enumerate(warm):
        owner[name] = i % count
    shards = tuple(_shard(i, order, upstream, owner, cold_set, loads[i]) for i in range(count))
    return ShardPlan(shards, weights)


def _weights(cold: set[str], durations: Mapping[str, float]) -> dict[str, float]:
    known = [durations[n] for n in cold if n in durations]
    default = statistics.median(known) if known else DEFAULT_SECONDS
    return {n: durations.get(n, default) for n in cold}


def _cold_groups(
    order: Sequence[str], upstream: Mapping[str, Sequence[str]], cold: set[str]
) -> list[list[str]]:
    """Union each cold runnable with its cold ancestors (through warm ones too)."""
    parent = {n: n for n in cold}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    selected = set(order)
    for name in cold:
        for ancestor in _ancestors(name, upstream, selected):
            if ancestor in cold:
                parent[find(ancestor)] = find(name)
    groups: dict[str, list[str]] = {}
    for name in order:
        if name in cold:
            groups.setdefault(find(name), []).append(name)
    return list(groups.values())


def _ancestors(name: str, upstream: Mapping[str, Sequence[str]], selected: set[str]) -> set[str]:
    seen: set[str] = set()
    stack = [u for u in upstream[name] if u in selected]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(u for u in upstream[node] if u in selected)
    return seen


def _shard(
    index: int,
    order: Sequence[str],
    upstream: Mapping[str, Sequence[str]],
    owner: Mapping[str, int],
    cold: set[str],
    load: float,
) -> Shard:
    listed = [n for n in order if owner[n] == index]
    needed = set(listed)
    selected = set(order)
    for name in listed:
        if name in cold:
            needed |= _ancestors(name, upstream, selected)
    run = tuple(n for n in order if n in needed)
    return Shard(index + 1, tuple(listed), run, round(load, 6))
