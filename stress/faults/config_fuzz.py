"""Case 6, config fuzzing: hypothesis generates ``qik.toml`` files (mostly plausible
shapes, plus raw byte mutations of them, module-level files, ``[tool.qik]`` in
``pyproject.toml``, and ``QIK__``/``PROJECT__`` variables) and qik plans each one, as
``qik --ls`` does (config, runnables, DAG, selection, fingerprints, cache lookups).

Never a traceback: a config qik can't use must give a coded error (exit 2, ``error[``).

Three ways in, batched by cost: in-process (``load_project`` + ``make_plan``, as the CLI
calls them: milliseconds each), a forked child running the CLI's ``main()`` (the
executable's code, minus the interpreter start: ~50 ms each), and the real ``qik``
executable in a subprocess (~0.3 s each).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from stress.faults.harness import Ctx, git, make_repo, qik, tracebacks
from stress.faults.report import CaseReport, Check, Trial

__all__ = ["run", "to_document"]

TITLE = "config fuzzing: generated qik.toml files through the loader, the CLI and the executable"
PER_EXAMPLE_SECONDS = 30

# -- rendering TOML -------------------------------------------------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    # JSON escapes are TOML basic-string escapes, except that DEL must be escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _inline(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + "}"


def to_document(doc: dict[str, object], prefix: str = "") -> str:
    """TOML for ``doc``: plain keys first, then a ``[table]`` per non-empty dict value
    (how people write qik.toml), inline tables below that."""
    lines = [f"{_key(k)} = {_inline(v)}" for k, v in doc.items() if not _is_table(v)]
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in doc.items():
        if _is_table(value):
            assert isinstance(value, dict)
            name = f"{prefix}.{_key(key)}" if prefix else _key(key)
            text += f"\n[{name}]\n" + to_document(value, name).split("\n", 0)[0]
    return text


def _is_table(value: object) -> bool:
    return isinstance(value, dict) and bool(value)


# -- what to generate -------------------------------------------------------------------

CHARS = st.characters(exclude_categories=["Cs"])
WORDS = [
    "glob", "const", "command", "pydist", "dist", "pygraph", "module", "s3", "uv", "pip",
    "active", "space", "success", "failed", "finished", "local", "repo", "remote",
    "default", "ci", "app", "a", "lint", "int", "bool", "str", "../x", "/abs", ".", "a@b",
    "{module.dir}/**.py", "{module.name}", "{ctx.x}", "{ctx.qik.arch}", "src/**", "**",
    "[", "{", "x", "", "requirements.txt", "app.env",
]  # fmt: skip
scalars = st.one_of(
    st.sampled_from(WORDS),
    st.text(CHARS, max_size=8),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),
    st.booleans(),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(WORDS) | st.text(CHARS, max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


def mostly(*valid: object) -> st.SearchStrategy[object]:
    good = st.sampled_from(valid)
    return st.one_of(good, good, good, values)


deps = st.lists(
    st.one_of(
        st.sampled_from(["src/**", "{module.dir}/**.py", "a/*.txt", "requirements.txt"]),
        st.fixed_dictionaries(
            {"type": mostly("glob", "const", "command", "pydist", "dist", "pygraph", "module")},
            optional={
                "pattern": mostly("src/**"),
                "val": mostly("1", "{ctx.qik.arch}"),
                "name": mostly("lint", "fmt", "ruff", "x"),
                "pyimport": mostly("pkg", "pkg.mod"),
                "strict": mostly(True, False),
                "isolated": mostly(True, False),
            },
        ),
        values,
    ),
    max_size=3,
)
command_tables = st.fixed_dictionaries(
    {},
    optional={
        "exec": mostly("echo {module.name}", "true", "echo {ctx.x}"),
        "deps": deps,
        "artifacts": mostly(["out/*.txt"], ["{module.dir}/out"]),
        "cache": mostly("local", "repo", "remote", "nope"),
        "cache-when": mostly("success", "failed", "finished"),
        "cache_when": mostly("success"),
        "tags": mostly(["py"], []),
        "space": mostly("default", "app", "nope"),
        "timeout": mostly(1, 2.5, 0, -1),
        "hidden": mostly(True, False),
    },
)
commands = st.dictionaries(
    st.sampled_from(["lint", "fmt", "x", "a@b", "lint", "fmt", "x/y", ""]),
    st.one_of(st.text(CHARS, max_size=6), command_tables, command_tables, values),
    max_size=3,
)
modules = st.lists(
    st.sampled_from(["a", "b", "nested/c", "a", "", "../x"])
    | st.fixed_dictionaries({"name": mostly("a", "bb"), "path": mostly("a", "nested/c")})
    | values,
    max_size=3,
)
spaces = st.dictionaries(
    st.sampled_from(["default", "app", "x"]),
    st.fixed_dictionaries(
        {},
        optional={
            "modules": modules,
            "venv": mostly("requirements.txt", {"type": "uv", "reqs": "requirements.txt"}),
            "dotenv": mostly(["app.env"], "app.env"),
            "root": mostly("a", "app"),
            "fence": mostly(True, False, ["a"]),
        },
    )
    | values,
    max_size=2,
)
caches = st.dictionaries(
    st.sampled_from(["remote", "local", "x"]),
    st.fixed_dictionaries(
        {"type": mostly("s3", "gcs")},
        optional={
            "bucket": mostly("b", "{ctx.x}"),
            "prefix": mostly("p"),
            "region-name": mostly("us-east-1"),
            "endpoint-url": mostly("http://127.0.0.1:9", "{ctx.x}"),
            "read-only": mostly(True),
            "sign-key": mostly("{ctx.x}", ""),
        },
    )
    | values,
    max_size=2,
)
variables = st.lists(
    st.sampled_from(["x", "n", "qik", ""])
    | st.fixed_dictionaries(
        {"name": mostly("x", "n")},
        optional={"type": mostly("int", "bool", "str", "float"), "default": scalars,
                  "required": mostly(True, False)},
    ),
    max_size=3,
)  # fmt: skip
profiles = st.dictionaries(
    st.sampled_from(["ci", "default", "dev"]),
    st.fixed_dictionaries(
        {},
        optional={
            "qik": st.dictionaries(
                st.sampled_from(["workers", "cache", "cache-status", "verbosity", "ls", "x"]),
                scalars,
                max_size=2,
            ),
            "project": st.dictionaries(st.sampled_from(["x", "n", "y"]), scalars, max_size=2),
        },
    )
    | values,
    max_size=2,
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "commands": commands,
        "modules": modules,
        "spaces": spaces,
        "caches": caches,
        "vars": variables,
        "ctx": profiles,
        "base": st.fixed_dictionaries({}, optional={"deps": deps}) | values,
        "defaults": st.fixed_dictionaries(
            {}, optional={"cache": mostly("repo"), "python-path": mostly(".", "src")}
        )
        | values,
        "pydist": st.fixed_dictionaries(
            {}, optional={"versions": mostly({"x": "1.0"}), "ignore-missing": mostly(True)}
        )
        | values,
        "plugins": mostly({"s3": "qik.s3"}),
        "typo": values,
    },
)
environs = st.dictionaries(
    st.sampled_from(
        ["QIK__PROFILE", "QIK__WORKERS", "QIK__CACHE_STATUS", "QIK__CACHE", "QIK__LS",
         "QIK__VERBOSITY", "PROJECT__X", "PROJECT__N", "X", "N"]
    ),
    st.sampled_from(["ci", "dev", "1", "0", "-3", "no", "warm", "x", "", "1.5", "local"]),
    max_size=3,
)  # fmt: skip
EDITS = ["[", "]", '"', "'", "=", "\n", "{", "}", ",", ".", "\\", "\x00", "é", "#", " "]


@dataclass(frozen=True)
class Example:
    """One generated project: files (text or bytes) and environment variables."""

    files: dict[str, str | bytes]
    env: dict[str, str]

    def show(self) -> str:
        shown: dict[str, object] = {
            k: v if isinstance(v, str) else repr(v) for k, v in self.files.items()
        }
        return json.dumps({**shown, "env": self.env})[:1500]


@st.composite
def examples(draw: Callable[..., Any]) -> Example:
    doc: dict[str, object] = draw(documents)
    text = to_document(doc)
    files: dict[str, str | bytes] = {}
    shape = draw(st.sampled_from(["plain", "plain", "plain", "mutated", "pyproject", "module"]))
    if shape == "mutated":
        data = bytearray(text.encode())
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data)))
            if draw(st.booleans()) and data:
                del data[at : at + draw(st.integers(1, 8))]
            else:
                edit = draw(st.sampled_from(EDITS)).encode()
                data[at:at] = edit if draw(st.integers(0, 9)) else b"\xff"
        files["qik.toml"] = bytes(data)
    elif shape == "pyproject":
        files["pyproject.toml"] = '[project]\nname = "x"\n\n' + to_document({"tool": {"qik": doc}})
    else:
        files["qik.toml"] = text
    if shape == "module":
        files["a/qik.toml"] = to_document({"commands": draw(commands)})
    return Example(files, draw(environs))


# -- running one example ------------------------------------------------------------------


def _write(root: Path, example: Example) -> None:
    for name in ("qik.toml", "pyproject.toml", "a/qik.toml"):
        (root / name).unlink(missing_ok=True)
    for rel, content in example.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


class _Hung(Exception):
    pass


Verdict = tuple[str | None, str]  # (what went wrong, or None; "planned" or "coded error")


def _in_process(root: Path, example: Example) -> Verdict:
    """Plan the example as the CLI does."""
    from qik.config.load import load_project
    from qik.errors import QikError
    from qik.options import merge_options
    from qik.runner import make_plan

    def hung(signum: int, frame: object) -> None:
        raise _Hung()

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(PER_EXAMPLE_SECONDS)
    try:
        profile = example.env.get("QIK__PROFILE")
        project = load_project(root, profile=profile, environ=example.env)
        options = merge_options(
            {"ls": True}, project.qik_options, project.profile or "default", example.env
        )
        make_plan(project, options, lambda message: None)
    except QikError as exc:
        if not exc.code or not exc.render().startswith("error["):
            return f"a QikError without a code: {exc!r}", "bad error"
        return None, "coded error"
    except _Hung:
        return f"no answer in {PER_EXAMPLE_SECONDS}s", "hung"
    except Exception:
        return traceback.format_exc()[-1500:], "traceback"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return None, "planned"


def _forked(root: Path, example: Example) -> Verdict:
    """The CLI's ``main()`` in a forked child (the executable's code path), as
    ``qik --ls``; None if it exited 0, or 2 with a coded error."""
    with tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 99
            try:
                os.dup2(err.fileno(), 2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.chdir(root)
                os.environ.update(example.env)
                sys.argv = ["qik", "--ls"]
                from qik.cli import main

                main()
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:
                traceback.print_exc()
                code = 98
            finally:
                sys.stderr.flush()
                os._exit(code)
        status = _wait(pid)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return _judge_exit(status, stderr)


def _wait(pid: int) -> int | None:
    deadline_left = PER_EXAMPLE_SECONDS * 10
    while deadline_left:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        signal.sigtimedwait([signal.SIGCHLD], 0.1)
        deadline_left -= 1
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def _judge_exit(code: int | None, stderr: str) -> Verdict:
    if code is None:
        return f"no answer in {PER_EXAMPLE_SECONDS}s", "hung"
    if "Traceback (most recent call last)" in stderr or code not in (0, 2):
        return f"exit {code}: {stderr[-1500:]}", "traceback"
    if code == 2 and "error[" not in stderr:
        return f"exit 2 without a coded error: {stderr[-500:]}", "bad error"
    return None, "planned" if code == 0 else "coded error"


def _executable(ctx: Ctx, root: Path, example: Example) -> Verdict:
    done = qik(root, "--ls", env={**ctx.env, **example.env}, timeout=PER_EXAMPLE_SECONDS)
    if tracebacks(done):
        return done.stderr[-1500:], "traceback"
    return _judge_exit(done.code, done.stderr)


# -- the case -----------------------------------------------------------------------------


def run(ctx: Ctx) -> CaseReport:
    report = CaseReport("config-fuzz", TITLE, "")
    root = make_repo(
        ctx.fresh("fuzz") / "repo",
        {
            "src/pkg/__init__.py": "import os\n",
            "src/pkg/mod.py": "from pkg import os\n",
            "a/x.txt": "x\n",
            "nested/c/y.py": "",
            "requirements.txt": "ruff\n",
            "app.env": "A=1\n",
        },
    )
    git(root, "status")
    ways: list[tuple[str, int, Callable[[Path, Example], Verdict]]] = [
        ("in-process: load_project + make_plan", ctx.scale(300, 2000), _in_process),
        ("forked CLI main(), qik --ls", ctx.scale(60, 10_000), _forked),
        ("the qik executable, qik --ls", ctx.scale(30, 300), lambda r, e: _executable(ctx, r, e)),
    ]
    for what, count, check in ways:
        if count:
            _fuzz(ctx, root, report.check(what), count, check)
            ctx.log(f"config-fuzz: {what}: {count} examples")
    return report


def _fuzz(
    ctx: Ctx, root: Path, row: Check, count: int, check: Callable[[Path, Example], Verdict]
) -> None:
    smallest: list[tuple[int, str]] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],  # count every example; keep the smallest failure ourselves
        suppress_health_check=list(HealthCheck),
    )
    @seed(ctx.seed)
    @given(example=examples())
    def trial(example: Example) -> None:
        _write(root, example)
        problem, verdict = check(root, example)
        row.count(verdict)
        trial_ = Trial(f"example {row.trials}")
        if problem is not None:
            size = sum(len(v) for v in example.files.values())
            smallest.append((size, f"{problem.strip()}\n    config: {example.show()}"))
            trial_.expect(False, problem.strip().splitlines()[-1][:300])
        row.add(trial_)

    trial()
    if smallest:
        row.problems.append("smallest failing example: " + min(smallest)[1])
