"""``qik :explain``: names exactly the inputs that changed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

Qik = Callable[..., subprocess.CompletedProcess[str]]

TOML = """
modules = ["a", "b"]

[commands.lint]
exec = "echo lint {module.dir}"
deps = ["{module.dir}/**.py", {type = "const", val = "one"}]

[commands.up]
exec = "echo up"
deps = ["shared.txt"]

[commands.down]
exec = "echo down"
deps = ["b/**.py", {type = "command", name = "up"}]

[commands.plain]
exec = "echo plain"
"""


def _repo(make_repo: Callable[..., Path], qik: Qik) -> Path:
    root = make_repo(
        {"qik.toml": TOML, "a/x.py": "", "a/y.py": "", "b/z.py": "", "shared.txt": "1"}
    )
    assert qik(root).returncode == 0
    return root


def test_warm_says_where_from(make_repo: Callable[..., Path], qik: Qik) -> None:
    out = qik(_repo(make_repo, qik), ":explain", "lint@a").stdout
    assert "lint@a: warm" in out and "local cache" in out


def test_one_edited_file_is_named_and_only_it(make_repo: Callable[..., Path], qik: Qik) -> None:
    root = _repo(make_repo, qik)
    (root / "a/x.py").write_text("x = 1\n")
    out = qik(root, ":explain", "lint").stdout
    assert "lint@a: cold" in out
    assert "modified  a/x.py" in out
    assert "a/y.py" not in out
    assert "lint@b: warm" in out


def test_added_removed_const_and_upstream(make_repo: Callable[..., Path], qik: Qik) -> None:
    root = _repo(make_repo, qik)
    (root / "a/new.py").write_text("")
    (root / "a/y.py").unlink()
    (root / "shared.txt").write_text("2")
    (root / "qik.toml").write_text(TOML.replace('"one"', '"two"'))
    out = qik(root, ":explain", "lint@a", "down").stdout
    assert "added     a/new.py" in out
    assert "removed   a/y.py" in out
    assert "value changed: 'one' -> 'two'" in out
    assert "upstream runnable up changed" in out


def test_command_line_change_and_json(make_repo: Callable[..., Path], qik: Qik) -> None:
    root = _repo(make_repo, qik)
    (root / "qik.toml").write_text(TOML.replace('"echo up"', '"echo UP"'))
    rows = [json.loads(line) for line in qik(root, ":explain", "up", "--json").stdout.splitlines()]
    assert rows[0]["status"] == "cold"
    assert rows[0]["changes"][0]["subject"] == "the command line changed"


def test_never_ran_and_uncached(make_repo: Callable[..., Path], qik: Qik) -> None:
    root = make_repo({"qik.toml": TOML, "a/x.py": "", "b/z.py": "", "shared.txt": ""})
    out = qik(root, ":explain", "up", "plain").stdout
    assert "no earlier result" in out
    assert "plain: never cached" in out


def test_unknown_meta_command(make_repo: Callable[..., Path], qik: Qik) -> None:
    root = make_repo({"qik.toml": TOML})
    result = qik(root, ":nope")
    assert result.returncode == 2 and "error[unknown-meta-command]" in result.stderr


def test_a_long_listing_is_one_shared_object_that_a_replay_leaves_alone(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    """A manifest keeps a short listing inline; a long one is an object, one for the
    runnables covering the same files, checked (not marked used) by each replay."""
    toml = (
        'modules = ["big", "small"]\n'
        '[commands.lint]\nexec = "echo lint"\ndeps = ["{module.dir}/**.py"]\n'
        '[commands.test]\nexec = "echo test"\ndeps = ["{module.dir}/**.py"]\n'
    )
    # Over the 8 KiB kept inline: about 85 bytes a file.
    files = {f"big/a_module_with_a_rather_long_name_{i:03}.py": f"x = {i}\n" for i in range(120)}
    root = make_repo({"qik.toml": toml, "small/a.py": "", **files})
    assert qik(root).returncode == 0
    docs = [json.loads(p.read_bytes()) for p in (root / "._qik/manifests").glob("*.json")]
    inputs = {doc["runnable"]: doc["inputs"] for doc in docs}
    assert "text" in inputs["lint@small"] and "text" in inputs["test@small"]
    assert "text" not in inputs["lint@big"] and inputs["lint@big"] == inputs["test@big"]
    digest = inputs["lint@big"]["digest"]
    (obj,) = (root / "._qik/objects").rglob(f"{digest}*")
    before = obj.stat().st_mtime_ns
    out = qik(root).stdout
    assert "0 ran, 4 replayed" in out
    assert obj.stat().st_mtime_ns == before
    edited = "big/a_module_with_a_rather_long_name_003.py"
    (root / edited).write_text("x = 'three'\n")
    explained = qik(root, ":explain", "lint@big").stdout
    assert f"modified  {edited}" in explained
