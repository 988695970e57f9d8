"""``--shard K/N``: split the selected runnables over N CI machines, deterministically.

Cold runnables are what costs time, so they are balanced: each is weighed by the duration
its last stored result recorded (any cache), or the median of the known ones, and groups
are handed out largest first to the least loaded shard (LPT scheduling: loads end up within
one group's weight of each other). A cold runnable and its cold upstream runnables form
one group, so a shard never waits for another machine; warm upstream runnables are
replayed from the shared cache wherever they are needed. Warm runnables nobody needs are
dealt round-robin so that every selected runnable is listed by exactly one shard.

The split depends on what the caches hold, which changes as shards store results; so the
first shard records it (``encode_record``, under ``record_key``: the shard count and every
selected runnable's dep hash) and later ones with the same selection use that record
(``qik.runner``): a shard re-run alone keeps its own runnables.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from qik.errors import QikError

__all__ = [
    "RECORD_PREFIX",
    "Shard",
    "ShardPlan",
    "decode_record",
    "encode_record",
    "parse_shard",
    "plan_shards",
    "record_key",
]

DEFAULT_SECONDS = 1.0
# Where a split is kept in a store (``store/FORMAT.md``), and the version of its content.
RECORD_PREFIX = "shards/"
_RECORD_FORMAT = 1
_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    listed: tuple[str, ...]  # the runnables this shard owns
    run: tuple[str, ...]  # what it executes: its own plus warm upstream runnables to replay
    expected: float  # seconds of cold work


@dataclass(frozen=True)
class ShardPlan:
    # In order; those past the runnables' count only if a recorded split uses them.
    shards: tuple[Shard, ...]
    weights: Mapping[str, float]
    owners: Mapping[str, int]  # each selected runnable's shard, 0-based

    def shard(self, index: int) -> Shard:
        """Shard ``index`` (1-based): an empty one if no runnable is its."""
        found = next((s for s in self.shards if s.index == index), None)
        return found if found is not None else Shard(index, (), (), 0.0)


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
    *,
    owners: Mapping[str, int] | None = None,
) -> ShardPlan:
    """Assign ``order`` (topological) to ``count`` shards; with ``owners`` (each selected
    runnable's shard, 0-based: a split recorded earlier), keep that assignment."""
    selected = set(order)
    cold_set = set(cold) & selected
    weights = _weights(cold_set, durations)
    # More shards than runnables leave the rest empty whatever the split, and the split
    # with just as many shards is the same (--shard 1/10**9 built a billion of them).
    count = min(count, max(1, len(order)))
    split = owners if owners is not None else _split(order, upstream, cold_set, weights, count)
    owner = dict(split)
    loads: dict[int, float] = {}
    for name in order:  # in order, so that every machine adds the same floats alike
        if name in cold_set:
            loads[owner[name]] = loads.get(owner[name], 0.0) + weights[name]
    indices = sorted({*range(count), *owner.values()})
    shards = tuple(_shard(i, order, upstream, owner, cold_set, loads.get(i, 0.0)) for i in indices)
    return ShardPlan(shards, weights, owner)


def _split(
    order: Sequence[str],
    upstream: Mapping[str, Sequence[str]],
    cold: set[str],
    weights: Mapping[str, float],
    count: int,
) -> dict[str, int]:
    groups = _cold_groups(order, upstream, cold)
    loads = [0.0] * count
    owner: dict[str, int] = {}
    for group in sorted(groups, key=lambda g: (-sum(weights[n] for n in g), min(g))):
        target = min(range(count), key=lambda i: (loads[i], i))
        loads[target] += sum(weights[n] for n in group)
        owner.update(dict.fromkeys(group, target))
    warm = [n for n in sorted(set(order) - cold)]
    for i, name in enumerate(warm):
        owner[name] = i % count
    return owner


def record_key(count: int, selected: Iterable[tuple[str, str]], *, force: bool = False) -> str:
    """The store key of the split of these runnables (name, dep hash) over ``count``
    shards: the same selection of the same inputs, and only that, shares it. A ``--force``
    run splits everything as cold: its split is not another run's."""
    head = f"qik shards {_RECORD_FORMAT} {count}{' force' if force else ''}\n"
    digest = hashlib.sha256(head.encode())
    for name, dep_hash in sorted(selected):
        digest.update(f"{name} {dep_hash}\n".encode())
    return f"{RECORD_PREFIX}{digest.hexdigest()}.json"


def encode_record(owners: Mapping[str, int], count: int) -> bytes:
    """A split as stored: each runnable's shard, 1-based."""
    doc = {
        "format": _RECORD_FORMAT,
        "count": count,
        "owners": {name: index + 1 for name, index in sorted(owners.items())},
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def decode_record(data: bytes, selected: Collection[str], count: int) -> dict[str, int] | None:
    """The owners (0-based) of a stored split, or None unless it assigns exactly the
    ``selected`` runnables, each to one of ``count`` shards: a damaged or planted record
    may unbalance the shards, never leave a runnable to no one."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: a deeply nested document
        return None
    if not isinstance(doc, dict) or doc.get("format") != _RECORD_FORMAT:
        return None
    owners = doc.get("owners")
    if doc.get("count") != count or not isinstance(owners, dict) or owners.keys() != set(selected):
        return None
    if not all(type(i) is int and 1 <= i <= count for i in owners.values()):
        return None
    return {name: index - 1 for name, index in owners.items()}


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
