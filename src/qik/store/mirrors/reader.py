"""Reading a cache in the main process: lookups at plan time, pulls before a replay.

Whatever a mirror returns is untrusted: manifests are validated (``Manifest.from_bytes``),
their signatures checked when the cache has a key, and every object verified as it is
pulled. Each kind of trouble is one warning per run (``guard.py``) and a miss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qik.store.backend import BackendFailure
from qik.store.cas import Store
from qik.store.codec import ObjectCorrupt, ObjectMissing
from qik.store.manifest import Manifest, verify_signature
from qik.store.mirrors.guard import MirrorGuard
from qik.store.paths import StoreError

if TYPE_CHECKING:  # a fully cached run pulls nothing: sync is imported on a pull
    from qik.store.sync import Transfer

__all__ = ["MirrorMiss", "MirrorReader"]


class MirrorMiss(StoreError):
    """A mirror's result could not be pulled. The warning has been given (once per run):
    the caller runs the command without another."""


@dataclass
class MirrorReader:
    """One cache, read through its failure policy.

    ``sign_key``: None reads any valid manifest; bytes accept only manifests signed with
    them; ``b""`` (a key is configured but empty on this machine) accepts none.
    """

    name: str
    store: Store
    warn: Callable[[str], None]
    sign_key: bytes | None = None
    guard: MirrorGuard = field(init=False)

    def __post_init__(self) -> None:
        self.guard = MirrorGuard(self.name)

    def read(self, dep_hash: str) -> Manifest | None:
        """The manifest of ``dep_hash`` if the cache has a valid (and trusted) one."""
        if self.guard.is_tripped:
            return None
        try:
            manifest = self.store.read_manifest(dep_hash)
        except StoreError as exc:
            self._failed(exc)
            return None
        except OSError as exc:  # a local store that can't be read: permissions, a bad disk
            self._failed(BackendFailure("error", f"{exc.strerror}: {exc.filename}"))
            return None
        if manifest is None or self.sign_key is None:
            return manifest
        if self.sign_key and verify_signature(manifest, self.sign_key):
            return manifest
        if self.sign_key:
            self._warn(self.guard.unsigned(manifest.runnable))
        return None

    def pull(
        self, manifest: Manifest, local: Store, *, restore_root: Path | None = None
    ) -> Transfer:
        """Copy a result found here into ``local``, every object verified (and artifacts
        restored under ``restore_root`` on the way, see ``copy_result``); ``MirrorMiss``
        if this cache fails to deliver it (``local``'s own errors propagate)."""
        from qik.store.sync import copy_result

        if self.guard.is_tripped:
            raise MirrorMiss(f"cache {self.name!r} is not used for the rest of this run")
        try:
            return copy_result(self.store, local, manifest, restore_root=restore_root)
        except (ObjectMissing, ObjectCorrupt, BackendFailure) as exc:
            self._failed(exc)
            raise MirrorMiss(str(exc)) from None

    def fetch(self, key: str, limit: int) -> bytes | None:
        """A small blob that is not a result (a ``--shard`` split record), read through
        this cache's failure policy: None if it is absent, larger than ``limit``, or the
        cache fails (one warning per kind of trouble, as for lookups)."""
        from qik.store.backend import KeyMissing
        from qik.store.codec import read_up_to

        if self.guard.is_tripped:
            return None
        try:
            stream = self.store.backend.open(key)
            try:
                data = read_up_to(stream, limit + 1)
            finally:
                stream.close()
        except KeyMissing:
            return None
        except StoreError as exc:
            self._failed(exc)
            return None
        except OSError as exc:  # a file that can't be read (permissions): not the cache
            self.warn(f"cache {self.name!r}: can't read {key} ({exc.strerror}); ignoring it")
            return None
        return data if len(data) <= limit else None

    def put(self, key: str, data: bytes) -> None:
        """Write a blob that is not a result (``fetch``), unless the cache is read-only or
        has failed this run; a failure is a warning."""
        from qik.store.backend import ReadOnlyBackend

        if self.guard.is_tripped or isinstance(self.store.backend, ReadOnlyBackend):
            return
        try:
            self.store.backend.write_bytes(key, data)
        except StoreError as exc:
            self._failed(exc)
        except OSError as exc:
            self.warn(f"cache {self.name!r}: can't write {key} ({exc.strerror})")

    def _failed(self, exc: StoreError) -> None:
        self._warn(self.guard.record(exc))

    def _warn(self, message: str | None) -> None:
        if message is not None:
            self.warn(message)
