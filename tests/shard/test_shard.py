"""Shard planning is pure: table and property tests."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qik.errors import QikError
from qik.shard import (
    DEFAULT_SECONDS,
    decode_record,
    encode_record,
    parse_shard,
    plan_shards,
    record_key,
)


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


def test_a_recorded_split_round_trips_and_keys_by_selection() -> None:
    owners = {"a": 0, "b": 1, "c": 1}
    data = encode_record(owners, 2)
    assert decode_record(data, {"a", "b", "c"}, 2) == owners
    key = record_key(2, [("a", "1"), ("b", "2")])
    assert key == record_key(2, [("b", "2"), ("a", "1")])  # order doesn't matter
    assert key.startswith("shards/") and key.endswith(".json")
    assert key != record_key(3, [("a", "1"), ("b", "2")])
    assert key != record_key(2, [("a", "1"), ("b", "3")])  # another input


@pytest.mark.parametrize(
    "doc",
    [
        {"format": 1, "count": 2, "owners": {"a": 1, "b": 2}},  # c left to no one
        {"format": 1, "count": 2, "owners": {"a": 1, "b": 2, "c": 3}},  # no shard 3
        {"format": 1, "count": 2, "owners": {"a": 1, "b": 2, "c": True}},
        {"format": 1, "count": 3, "owners": {"a": 1, "b": 2, "c": 1}},  # another count
        {"format": 1, "count": 2, "owners": {"a": 1, "b": 2, "c": 1, "d": 1}},
        {"format": 2, "count": 2, "owners": {"a": 1, "b": 2, "c": 1}},
        ["a", "b", "c"],
    ],
)
def test_a_record_that_doesnt_fit_is_refused(doc: object) -> None:
    assert decode_record(json.dumps(doc).encode(), {"a", "b", "c"}, 2) is None
    assert decode_record(b"\xff not json", {"a", "b", "c"}, 2) is None


def test_a_recorded_split_is_kept_whatever_is_cold() -> None:
    order = ["a", "b", "c", "d"]
    upstream: dict[str, list[str]] = {n: [] for n in order}
    owners = {"a": 1, "b": 1, "c": 0, "d": 0}
    plan = plan_shards(order, upstream, ["b"], {}, 2, owners=owners)
    assert [s.listed for s in plan.shards] == [("c", "d"), ("a", "b")]
    assert [s.expected for s in plan.shards] == [0.0, DEFAULT_SECONDS]
