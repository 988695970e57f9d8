"""What every case needs: the run context, git repositories, and the real ``qik``."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, TypeVar

from stress.faults import procs

__all__ = [
    "QIK",
    "Ctx",
    "Mode",
    "QikRun",
    "git",
    "make_repo",
    "qik",
    "start_qik",
    "traceback_text",
    "tracebacks",
]

Mode = Literal["quick", "full"]
T = TypeVar("T")


def _qik_path() -> str:
    # The qik beside this interpreter (the venv's), as the tests use; else the one on PATH.
    beside = Path(sys.executable).parent / "qik"
    return str(beside) if beside.exists() else (shutil.which("qik") or "qik")


QIK = _qik_path()
GIT_ENV = {
    "GIT_AUTHOR_NAME": "qik stress",
    "GIT_AUTHOR_EMAIL": "stress@qik.invalid",
    "GIT_COMMITTER_NAME": "qik stress",
    "GIT_COMMITTER_EMAIL": "stress@qik.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass
class Ctx:
    """One case's run: its mode, its random source, its scratch directory."""

    mode: Mode
    seed: int
    work: Path
    rng: random.Random = field(init=False)
    env: dict[str, str] = field(init=False)
    _dirs: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        home = self.work / "home"
        home.mkdir(parents=True, exist_ok=True)
        self.env = _clean_env(home)

    def scale(self, quick: T, full: T) -> T:
        return quick if self.mode == "quick" else full

    def fresh(self, name: str) -> Path:
        """A new empty directory under the case's scratch space."""
        self._dirs += 1
        path = self.work / f"{self._dirs:04d}-{name}"
        path.mkdir(parents=True)
        return path

    def log(self, message: str) -> None:
        print(f"   {message}", file=sys.stderr, flush=True)


def _clean_env(home: Path) -> dict[str, str]:
    """The environment qik runs in: ours without qik settings, a scratch HOME, plain output
    (no TTY, no CI annotations), and a git identity for commits."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QIK__", "PROJECT__", "AWS_", "GITHUB_"))
    }
    env.update(GIT_ENV)
    env["HOME"] = str(home)
    env["CI"] = "1"
    env.pop("PYTHONPATH", None)
    return env


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=root,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))


def make_repo(root: Path, files: Mapping[str, str | bytes], *, ignore: str = "") -> Path:
    """A committed git repository at ``root`` holding ``files``."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    write_files(root, {".gitignore": "._qik/\n" + ignore, **files})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


@dataclass
class QikRun:
    args: tuple[str, ...]
    code: int | None  # None: it did not finish in time (and was killed)
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.code is None

    def warnings(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("warning:")]

    def brief(self) -> str:
        tail = " | ".join(self.stderr.strip().splitlines()[-3:])[:300]
        return f"qik {' '.join(self.args)} -> {self.code} in {self.seconds:.1f}s [{tail}]"


def traceback_text(run: QikRun, limit: int = 1200) -> str:
    """The first traceback in the run's stderr, for a problem report."""
    at = run.stderr.find("Traceback (most recent call last)")
    return run.stderr[at : at + limit] if at >= 0 else run.brief()


def tracebacks(run: QikRun) -> bool:
    """Did qik show a traceback (or its bug exit code)? That is never acceptable here."""
    return "Traceback (most recent call last)" in run.stderr or run.code == 70


class Started:
    """A qik process running in the background (its own session, like a job in a shell)."""

    def __init__(
        self,
        args: Sequence[str],
        root: Path,
        env: Mapping[str, str],
        out: IO[bytes],
        err: IO[bytes],
    ) -> None:
        self.args = tuple(args)
        self._out, self._err = out, err
        self.owns_out = True  # False: the caller reads (and closes) its own stdout file
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [QIK, *args],
            cwd=root,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        procs.owned.add(self.proc.pid)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: int, *, group: bool = False) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)

    def finish(self, timeout: float) -> QikRun:
        """Wait for the exit (killing the whole tree after ``timeout`` seconds)."""
        try:
            code: int | None = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            procs.kill_tree(self.proc.pid)
            self.proc.wait()
            code = None
        procs.owned.discard(self.proc.pid)
        seconds = time.monotonic() - self.started
        stdout = _read(self._out) if self.owns_out else ""
        return QikRun(self.args, code, stdout, _read(self._err), seconds)

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)


def _read(fh: IO[bytes], limit: int = 8 << 20) -> str:
    """The captured stream (its last ``limit`` bytes: a 1 GB log is checked elsewhere)."""
    fh.flush()
    size = fh.seek(0, os.SEEK_END)
    fh.seek(max(0, size - limit))
    data = fh.read()
    fh.close()
    return data.decode("utf-8", "replace")


def start_qik(
    root: Path, *args: str, env: Mapping[str, str], stdout: IO[bytes] | None = None
) -> Started:
    import tempfile

    # Files, not pipes: nothing to drain while qik runs, whatever it prints. Started
    # closes them when the run is read back.
    out = stdout if stdout is not None else tempfile.TemporaryFile()  # noqa: SIM115
    started = Started(args, root, env, out, tempfile.TemporaryFile())  # noqa: SIM115
    started.owns_out = stdout is None
    return started


def qik(
    root: Path,
    *args: str,
    env: Mapping[str, str],
    timeout: float = 120.0,
    extra_env: Mapping[str, str] | None = None,
) -> QikRun:
    """Run the real ``qik`` in ``root`` to the end; ``code`` is None if it overran."""
    full = {**env, **(extra_env or {})}
    return start_qik(root, *args, env=full).finish(timeout)
