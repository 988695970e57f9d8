"""Shard planning is pure: table and property tests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qik.errors import QikError
from qik.shard import parse_shard, plan_shards


@pytest.mark.parametrize("spec, expected", [("1/3", (1, 3)), (" 3 / 3 ", (3, 3))])
def test_parse(spec: str, expected: tuple[int, int]) -> None:
    assert parse_shard(spec) == expected


@pytest.mark.parametrize("spec", ["0/3", "4/3", "a/b", "3", ""])
def test_parse_errors(spec: str) -> None:
    with pytest.raises(QikError) as info:
        parse_shard(spec)
    assert info.value.code == "invalid-option"


def test_cold_upstream_stays_on_the_same_shard() -> None:
    order = ["gen", "test", "lint", "other"]
    upstream = {"gen": (), "test": ("gen",), "lint": (), "other": ()}
    plan = plan_shards(order, upstream, order, {"gen": 5, "test": 5, "lint": 4, "other": 4}, 2)
    owners = {n: s.index for s in plan.shards for n in s.listed}
    assert owners["gen"] == owners["test"]
    assert {s.expected for s in plan.shards} == {10, 8}


def test_warm_upstream_is_replayed_where_needed() -> None:
    order = ["gen", "a", "b"]
    upstream = {"gen": (), "a": ("gen",), "b": ("gen",)}
    plan = plan_shards(order, upstream, ["a", "b"], {"a": 1, "b": 1}, 2)
    for shard in plan.shards:
        assert "gen" in shard.run
    assert sum("gen" in s.listed for s in plan.shards) == 1


@given(
    durations=st.lists(st.floats(min_value=0.01, max_value=100), min_size=1, max_size=40),
    count=st.integers(min_value=1, max_value=6),
    warm=st.sets(st.integers(min_value=0, max_value=39)),
)
def test_cover_exactly_once_and_balance(
    durations: list[float], count: int, warm: set[int]
) -> None:
    order = [f"r{i}" for i in range(len(durations))]
    cold = [n for i, n in enumerate(order) if i not in warm]
    weights = dict(zip(order, durations, strict=True))
    plan = plan_shards(order, dict.fromkeys(order, ()), cold, weights, count)
    listed = [n for s in plan.shards for n in s.listed]
    assert sorted(listed) == sorted(order)
    loads = [s.expected for s in plan.shards]
    longest = max((weights[n] for n in cold), default=0.0)
    assert max(loads) - min(loads) <= longest + 1e-6
