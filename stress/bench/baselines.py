"""Find our qik and install the baselines (qik 0.2.10, Turborepo 2) into throw-away folders.

A baseline that cannot be installed or does not run is returned as unavailable with the
reason; the benchmark reports it and goes on with the others.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Tool",
    "base_env",
    "install_ours_at",
    "install_qik_010",
    "install_turbo",
    "locate_ours",
    "npm_version",
    "tool_versions",
]

QIK_BASELINE = "qik==0.2.10"
TURBO_BASELINE = "turbo@2"
_INSTALL_TIMEOUT = 900.0
_PROBE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Tool:
    name: str
    argv: tuple[str, ...] = ()  # the executable, ready to take arguments
    version: str = ""
    reason: str = ""  # why it is unavailable; empty when it is available

    @property
    def is_available(self) -> bool:
        return not self.reason


def base_env() -> dict[str, str]:
    """The environment every measured command gets.

    Telemetry and update checks are off so that no tool talks to the network while timed
    (turbo and npm both phone home by default).
    """
    env = dict(os.environ)
    env.update(
        TURBO_TELEMETRY_DISABLED="1",
        DO_NOT_TRACK="1",
        TURBO_NO_UPDATE_NOTIFIER="1",
        NPM_CONFIG_UPDATE_NOTIFIER="false",
        NPM_CONFIG_FUND="false",
        NPM_CONFIG_AUDIT="false",
        PYTHONDONTWRITEBYTECODE="1",
    )
    # Our own venv's qik must not leak into the 0.2.10 venv through VIRTUAL_ENV tricks.
    env.pop("VIRTUAL_ENV", None)
    return env


def _run(
    argv: Sequence[str], *, cwd: Path | None = None, timeout: float = _PROBE_TIMEOUT
) -> tuple[bool, str]:
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            env=base_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{' '.join(argv)}: {exc}"
    output = (done.stdout + done.stderr).strip()
    if done.returncode:
        return False, f"{' '.join(argv)} exited {done.returncode}: {output[-800:]}"
    return True, output


def _probe(name: str, argv: tuple[str, ...], version_args: Sequence[str]) -> Tool:
    is_ok, output = _run([*argv, *version_args])
    if not is_ok:
        return Tool(name, reason=output)
    return Tool(name, argv, version=output.splitlines()[-1] if output else "")


def locate_ours(qik: str) -> Tool:
    """``qik`` as given, else on PATH, else beside this interpreter (an inactive venv)."""
    found = shutil.which(qik) or shutil.which(qik, path=str(Path(sys.executable).parent))
    if not found:
        return Tool("ours", reason=f"{qik!r} not found on PATH nor beside {sys.executable}")
    # --help rather than --version: it exercises the CLI's imports, which is what can fail
    # while the CLI is being written.
    tool = _probe("ours", (found,), ["--help"])
    if not tool.is_available:
        return tool
    version = _probe("ours", (found,), ["--version"])
    return Tool("ours", tool.argv, version.version if version.is_available else "")


def _bindir(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin")


def _export(repo: Path, sha: str, dest: Path) -> str | None:
    """``git archive`` the commit into ``dest``; an error message, or None."""
    archive = dest.with_suffix(".tar")
    is_ok, output = _run(["git", "-C", str(repo), "archive", "-o", str(archive), sha])
    if not is_ok:
        return output
    with tarfile.open(archive) as tar:
        # The "data" filter refuses absolute paths and links out of dest (3.10.12+, 3.11.4+).
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - older patch releases
            tar.extractall(dest)  # our own repository's commit: trusted
    archive.unlink()
    return None


def install_ours_at(ref: str, repo: Path, folder: Path, extras: Sequence[str] = ()) -> Tool:
    """Our qik as committed at ``ref``, installed into its own venv (with ``extras`` beside).

    The work tree is shared with people editing it; measuring a commit gives figures that
    can be reproduced and are not broken by a half-saved file.
    """
    is_ok, sha = _run(["git", "-C", str(repo), "rev-parse", "--verify", f"{ref}^{{commit}}"])
    if not is_ok:
        return Tool("ours", reason=f"unknown ref {ref!r}: {sha}")
    venv = folder / f"ours-{sha[:12]}" if not extras else folder / f"ours-{sha[:12]}-extras"
    qik = (str(_bindir(venv) / "qik"),)
    if _probe("ours", qik, ["--help"]).is_available:
        return Tool("ours", qik, f"commit {sha[:12]}{' + ' + ' '.join(extras) if extras else ''}")
    shutil.rmtree(venv, ignore_errors=True)
    src = folder / f"ours-src-{sha[:12]}"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    problem = _export(repo, sha, src)
    if problem:
        return Tool("ours", reason=f"git archive {sha[:12]} failed: {problem}")
    for step in (
        [sys.executable, "-m", "venv", str(venv)],
        [str(_bindir(venv) / "python"), "-m", "pip", "install", "-q", str(src), *extras],
    ):
        is_ok, output = _run(step, timeout=_INSTALL_TIMEOUT)
        if not is_ok:
            return Tool("ours", reason=f"installing commit {sha[:12]} failed: {output}")
    tool = _probe("ours", qik, ["--help"])
    with_extras = f" + {' '.join(extras)}" if extras else ""
    return Tool("ours", tool.argv, f"commit {sha[:12]}{with_extras}", tool.reason)


def installed_qik_010(folder: Path) -> Tool:
    """qik 0.2.10 as an earlier run installed it under ``folder``, if it still runs."""
    tool = _probe("qik-0.2.10", (str(_bindir(folder / "qik-0.2.10") / "qik"),), ["--help"])
    return Tool(tool.name, tool.argv, "0.2.10", tool.reason)


def install_qik_010(folder: Path) -> Tool:
    """A fresh venv with the published qik 0.2.10 from PyPI."""
    venv = folder / "qik-0.2.10"
    is_ok, output = _run([sys.executable, "-m", "venv", str(venv)], timeout=_INSTALL_TIMEOUT)
    if not is_ok:
        return Tool("qik-0.2.10", reason=f"venv failed: {output}")
    bindir = _bindir(venv)
    is_ok, output = _run(
        [str(bindir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         QIK_BASELINE],
        timeout=_INSTALL_TIMEOUT,
    )  # fmt: skip
    if not is_ok:
        return Tool("qik-0.2.10", reason=f"pip install {QIK_BASELINE} failed: {output}")
    return installed_qik_010(folder)


def npm_version() -> str | None:
    npm = shutil.which("npm")
    if not npm:
        return None
    is_ok, output = _run([npm, "--version"])
    return output.splitlines()[-1] if is_ok and output else None


def _native_turbo(node_modules: Path) -> Path | None:
    """The platform binary that npm's ``turbo`` shim would exec.

    Calling it directly spares every turbo run a Node.js start-up (about 40 ms), which is the
    most favourable measurement for turbo.
    """
    for candidate in sorted(node_modules.glob("@turbo/*/bin/turbo")):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def installed_turbo(folder: Path) -> Tool:
    """turbo as an earlier run installed it under ``folder``, if it still runs."""
    node_modules = folder / "turbo" / "node_modules"
    binary = _native_turbo(node_modules)
    shim = node_modules / ".bin" / "turbo"
    return _probe("turbo", (str(binary),) if binary else (str(shim),), ["--version"])


def install_turbo(folder: Path) -> Tool:
    """``npm install turbo@2`` into its own folder, then check the native binary runs."""
    npm = shutil.which("npm")
    if not npm:
        return Tool("turbo", reason="npm not found on PATH")
    home = folder / "turbo"
    home.mkdir(parents=True, exist_ok=True)
    (home / "package.json").write_text(json.dumps({"name": "turbo-baseline", "private": True}))
    is_ok, output = _run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", TURBO_BASELINE],
        cwd=home,
        timeout=_INSTALL_TIMEOUT,
    )
    if not is_ok:
        return Tool("turbo", reason=f"npm install {TURBO_BASELINE} failed: {output}")
    return installed_turbo(folder)


def tool_versions() -> dict[str, str]:
    """Versions of the non-Python tools the figures depend on, for the report."""
    versions: dict[str, str] = {}
    for name, argv in {"git": ["git", "--version"], "node": ["node", "--version"]}.items():
        is_ok, output = _run(argv)
        versions[name] = output if is_ok else "unavailable"
    versions["npm"] = npm_version() or "unavailable"
    return versions
