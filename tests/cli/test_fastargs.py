"""The typer-free parser of a plain ``qik ...``: the typer command's flags, or None."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import typer.main
from hypothesis import given, settings
from hypothesis import strategies as st

import qik.cli.run
from qik.cli import run_typer
from qik.cli.fastargs import FLAG, INT, MULTI, OPTIONS, VALUE, parse
from qik.cli.typer_app import app


def typer_flags(argv: list[str]) -> dict[str, Any] | None:
    """The flags the typer path passes to ``execute_run`` for argv; None if it never does."""
    seen: list[dict[str, Any]] = []

    def capture(flags: dict[str, Any]) -> int:
        seen.append(flags)
        return 0

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(qik.cli.run, "execute_run", capture)
        mp.setattr(sys, "excepthook", sys.excepthook)  # typer installs its own
        code = run_typer(app, list(argv), "qik")
    assert len(seen) <= 1
    if not seen:
        return None
    assert code == 0
    return seen[0]


def _kind(param: Any) -> str:
    """The fast table's kind for a click option; fails on any kind the fast path lacks."""
    type_name = type(param.type).__name__
    assert param.nargs == 1 and not param.count and param.envvar is None
    if param.is_flag:  # a plain --flag: no --no-flag, no value
        assert type_name == "BoolParamType" and not param.multiple and not param.secondary_opts
        return FLAG
    if param.multiple:
        assert type_name == "StringParamType"
        return MULTI
    return {"IntParamType": INT, "StringParamType": VALUE}[type_name]


def test_table_mirrors_the_typer_command() -> None:
    command = typer.main.get_command(app)
    options = [p for p in command.params if p.param_type_name == "option"]
    typer_table = {
        frozenset([*p.opts, *p.secondary_opts]): _kind(p) for p in options if not p.is_eager
    }
    fast_table = {frozenset(names): kind for _, kind, names in OPTIONS}
    assert fast_table == typer_table
    assert len(OPTIONS) == len(typer_table)
    # What the fast path must leave to typer: eager options (--version) and help.
    declined = [n for p in options if p.is_eager for n in p.opts]
    assert declined == ["--version"]
    helps = command.context_settings["help_option_names"]
    assert not {*declined, *helps} & {n for _, _, names in OPTIONS for n in names}
    # One positional argument, taking every remaining token: the commands.
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    assert [(p.name, p.nargs) for p in arguments] == [("commands", -1)]


FAST = [
    [],
    ["lint"],
    ["lint", "test@a", "-m", "a", "--module", "b", "-mc", "--module=d"],
    ["-n", "4", "--workers=2"],
    ["-n4"],
    ["-n", "1", "-v", "0"],
    ["--workers=-3", "-v-1", "-n007"],
    ["--isolated", "-f", "--force", "--ls", "--json", "--fail", "--cache-read-only", "--watch"],
    ["--since", "main", "--since=HEAD~1"],
    ["--cache", "repo", "--cache=local", "-s", "py", "--space=js", "-t", "slow", "--tag=x"],
    ["--cache-status", "warm"],
    ["--cache-status=cold"],
    ["--cache-when", "finished", "-p", "ci", "--profile=dev", "-pprod"],
    ["--shard", "1/2", "--report", "r.json", "--report=", "-m="],
    ["-m=x", "-p=y", "--since=a=b"],
    ["", "lint", "--since", ""],
    ["--ls", "--ls", "-f", "-f"],
]

DECLINED = [
    ["--"],
    ["lint", "--", "-m"],
    ["-"],
    ["-h"],
    ["--help"],
    ["--version"],
    ["--bogus"],
    ["-x"],
    ["-fm", "a"],
    ["-ff"],
    ["--ls=1"],
    ["--force=true"],
    ["-m"],
    ["-m", "-x"],
    ["--since", "--ls"],
    ["-n", "x"],
    ["-n", "1.5"],
    ["-n", " 3"],
    ["-n", "+3"],
    ["-n", "1_000"],
    ["-n", "\u0663"],
    ["-n", "-1"],
    ["--cache-status", "lukewarm"],
    ["--cache-status="],
    ["--mod", "a"],
    ["---module", "a"],
    ["-mx", "--modules"],
]


@pytest.mark.parametrize("argv", FAST, ids=repr)
def test_plain_argv_parses_like_typer(argv: list[str]) -> None:
    flags = parse(argv)
    assert flags is not None
    assert flags == typer_flags(argv)


@pytest.mark.parametrize("argv", DECLINED, ids=repr)
def test_anything_unusual_is_left_to_typer(argv: list[str]) -> None:
    assert parse(argv) is None


def test_flags_unset_are_none_and_lists_tuples() -> None:
    flags = parse(["lint", "-m", "a"])
    assert flags is not None
    assert flags["commands"] == ("lint",) and flags["modules"] == ("a",)
    assert flags["spaces"] == () and flags["force"] is None and flags["workers"] is None


_SPELLINGS = [n for _, _, names in OPTIONS for n in names]
_VALUES = ["a", "lint@b", "", "0", "3", "-1", "007", "1.5", "x", "warm", "cold", "=", "a=b"]
_ODD = ["-", "--", "-h", "--help", "--version", "--bogus", "-fv", "-ff", "-fn3", "--ls=1"]
_token = st.one_of(
    st.sampled_from(_SPELLINGS),
    st.sampled_from(_VALUES),
    st.sampled_from(_ODD),
    st.builds(lambda o, v: f"{o}={v}", st.sampled_from(_SPELLINGS), st.sampled_from(_VALUES)),
    st.builds(
        lambda o, v: o + v,
        st.sampled_from([n for n in _SPELLINGS if not n.startswith("--")]),
        st.sampled_from(_VALUES),
    ),
    st.text(max_size=6),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_token, max_size=8))
def test_parse_never_disagrees_with_typer(argv: list[str]) -> None:
    flags = parse(argv)
    if flags is not None:
        assert flags == typer_flags(argv)


def _well_formed(kind: str, names: tuple[str, ...], key: str) -> st.SearchStrategy[list[str]]:
    if kind == FLAG:
        return st.sampled_from([[n] for n in names])
    values = {"cache_status": ["warm", "cold"]}.get(key, ["a", "lint@b", "a=b", "=", ""])
    good = st.sampled_from(["0", "3", "-2", "12"] if kind == INT else values)
    spelled = st.sampled_from(names)
    longs = st.sampled_from([n for n in names if n.startswith("--")])
    shorts = [n for n in names if not n.startswith("--")]
    forms = [
        st.builds(lambda n, v: [n, v], spelled, good.filter(lambda v: not v.startswith("-"))),
        st.builds(lambda n, v: [f"{n}={v}"], longs, good),
    ]
    if shorts:  # -mVALUE
        forms.append(st.builds(lambda n, v: [n + v], st.sampled_from(shorts), good.filter(bool)))
    return st.one_of(*forms)


_argv_part = st.one_of(
    st.sampled_from([["lint"], ["test@a"], ["x.y"]]),
    *(_well_formed(kind, names, key) for key, kind, names in OPTIONS),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_argv_part, max_size=8))
def test_well_formed_argv_takes_the_fast_path(parts: list[list[str]]) -> None:
    argv = [token for part in parts for token in part]
    flags = parse(argv)
    assert flags is not None
    assert flags == typer_flags(argv)
