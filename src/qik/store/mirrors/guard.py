"""The failure policy of a mirror: a warning once per run, and a circuit breaker.

A mirror is an optimisation, so whatever it does (refuse connections, time out, deny
access, return garbage) costs a miss and, once per kind of trouble per run, a warning;
never a failed run. When it keeps failing to answer, qik stops calling it for the rest of
the run, so a dead server costs one round of timeouts, not one per runnable.

Each process keeps its own guards: the main process for lookups and pulls, every pool
worker for its uploads (``worker_guard``). Their warnings are worded from the failure, not
the runnable, so the console (which shows each message once) prints one line per outage.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

from qik.store.backend import BackendFailure
from qik.store.codec import ObjectCorrupt, ObjectMissing
from qik.store.manifest import ManifestInvalid
from qik.store.paths import StoreError

__all__ = ["FAILURE_THRESHOLD", "MirrorGuard", "Trouble", "worker_guard"]

# Failed calls (each already retried by botocore) before the breaker opens. Connection
# failures and timeouts open it at once: retrying them is exactly what costs the time.
FAILURE_THRESHOLD = 3

Trouble = Literal["unavailable", "invalid", "unsigned", "object"]


@dataclass
class MirrorGuard:
    """One mirror's failures in one run (one process). Thread-safe: transfers record
    failures from several threads."""

    name: str
    threshold: int = FAILURE_THRESHOLD
    failures: int = 0
    _warned: set[Trouble] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def is_tripped(self) -> bool:
        """Has the breaker opened? Then the mirror is not called again this run."""
        return self.failures >= self.threshold

    def record(self, exc: StoreError) -> str | None:
        """Count a failure; return the warning to show, unless one of its kind was shown."""
        trouble = _trouble(exc)
        with self._lock:
            if isinstance(exc, BackendFailure):
                self.failures += self.threshold if exc.kind in ("unreachable", "timeout") else 1
            if trouble in self._warned:
                return None
            self._warned.add(trouble)
        return self.message(trouble, str(exc))

    def unsigned(self, runnable: str) -> str | None:
        """A manifest without a valid signature was ignored: the warning, the first time."""
        with self._lock:
            if "unsigned" in self._warned:
                return None
            self._warned.add("unsigned")
        return self.message("unsigned", runnable)

    def message(self, trouble: Trouble, detail: str) -> str:
        name = repr(self.name)
        if trouble == "unavailable":
            return f"cache {name} is unavailable: {detail}; continuing without it"
        if trouble == "invalid":
            return f"cache {name} holds an invalid manifest ({detail}); ignoring such results"
        if trouble == "unsigned":
            return (
                f"cache {name} holds results that are unsigned or signed with another key "
                f"(first: {detail}); ignoring them"
            )
        return f"cache {name} returned a bad object ({detail}); running such commands again"


def _trouble(exc: StoreError) -> Trouble:
    if isinstance(exc, ManifestInvalid):
        return "invalid"
    if isinstance(exc, ObjectCorrupt | ObjectMissing):
        return "object"
    return "unavailable"


_worker_guards: dict[tuple[str, str], MirrorGuard] = {}
_worker_lock = threading.Lock()


def worker_guard(run_id: str, name: str) -> MirrorGuard:
    """The guard of mirror ``name`` for run ``run_id`` in this process. Pool workers are
    reused across runs (``--watch``): a new run starts with a closed breaker."""
    with _worker_lock:
        for key in [k for k in _worker_guards if k[0] != run_id]:
            del _worker_guards[key]
        return _worker_guards.setdefault((run_id, name), MirrorGuard(name))
