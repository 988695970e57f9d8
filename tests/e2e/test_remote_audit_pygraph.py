"""pygraph deps through the real executable: grimp's cache never hands back stale imports."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

Qik = Callable[..., subprocess.CompletedProcess[str]]

TOML = """
[commands.t]
exec = "echo ran >> LOG"
deps = [{type = "pygraph", pyimport = "a"}]

[plugins.pygraph]
ignore-type-checking = false
"""


def _runs(log: Path) -> int:
    runs = len(log.read_text().splitlines()) if log.exists() else 0
    log.unlink(missing_ok=True)
    return runs


def _ok(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr


def _imports(qik: Qik, root: Path) -> str:
    done = qik(root, ":graph", "--imports", "a")
    _ok(done)
    return done.stdout


def _abc(make_repo: Callable[..., Path], qik: Qik, log: Path) -> Path:
    """Packages a (importing b), b and c, after a first run of ``t``."""
    files = {
        "qik.toml": TOML.replace("LOG", str(log)),
        "a/__init__.py": "import b\n",
        "b/__init__.py": "",
        "c/__init__.py": "",
    }
    root = make_repo(files)
    _ok(qik(root, "t"))
    return root


def test_an_import_added_while_another_package_set_was_scanned_counts(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    # grimp keeps one file of modification times per package, shared by every set of
    # packages (and options) it scanned: a module edited during a scan of another set
    # looked unchanged to this one, which then read the module's old imports.
    log = tmp_path / "log"
    root = _abc(make_repo, qik, log)
    assert _runs(log) == 1

    (root / "a/__init__.py").write_text("import b\nimport c\n")
    (root / "extra").mkdir()
    (root / "extra/__init__.py").write_text("")  # another set of packages
    _ok(qik(root, "t"))
    assert _runs(log) == 1
    (root / "extra/__init__.py").unlink()
    (root / "extra").rmdir()  # the first set again, with a as edited
    assert "c/__init__.py" in _imports(qik, root)
    _ok(qik(root, "t"))
    assert _runs(log) == 0  # what a covers is what it covered with extra there

    (root / "c/__init__.py").write_text("value = 1\n")
    _ok(qik(root, "t"))
    assert _runs(log) == 1


def test_an_import_added_while_other_options_were_used_counts(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    root = _abc(make_repo, qik, log)
    toml = root / "qik.toml"
    toml.write_text(toml.read_text().replace("= false", "= true"))
    (root / "a/__init__.py").write_text(
        textwrap.dedent(
            """\
            import b
            import c
            """
        )
    )
    _ok(qik(root, "t"))
    toml.write_text(toml.read_text().replace("= true", "= false"))
    assert "c/__init__.py" in _imports(qik, root)
