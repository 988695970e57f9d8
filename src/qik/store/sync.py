"""Copying results between stores: objects in parallel, each only if absent, manifest last.

The same code pulls a hit from a mirror into the local store and publishes a fresh result
to a mirror. Objects travel as stored (the zstd frame), verified on the way
(``Store.send_object``); an object the destination already holds costs one existence
check and no bytes, which is what makes identical artifacts from any runnable, branch or
team cost one upload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from qik.store.cas import Store
from qik.store.manifest import Manifest, ObjectRef

__all__ = ["TRANSFER_THREADS", "Transfer", "copy_objects", "copy_result"]

# Transfers wait on the network (or the disk) far more than on the CPU; zstd and hashlib
# release the GIL on large buffers, so threads overlap well even on two cores.
TRANSFER_THREADS = 16


@dataclass(frozen=True)
class Transfer:
    """What a copy did: the objects it sent, and those the destination already had."""

    sent: tuple[ObjectRef, ...] = ()
    present: tuple[ObjectRef, ...] = ()

    @property
    def bytes_sent(self) -> int:
        return sum(ref.size for ref in self.sent)


def copy_result(
    source: Store, dest: Store, manifest: Manifest, *, threads: int = TRANSFER_THREADS
) -> Transfer:
    """Copy one result: every object ``dest`` lacks, then the manifest.

    Raises the first error of any object (``ObjectMissing`` / ``ObjectCorrupt`` from
    ``source``, a ``StoreError`` or ``OSError`` from either side); the manifest is then
    not written, so ``dest`` never holds a manifest that points at nothing.
    """
    transfer = copy_objects(source, dest, manifest.objects, threads=threads)
    dest.write_manifest(manifest, check_objects=False)
    return transfer


def copy_objects(
    source: Store, dest: Store, refs: Iterable[ObjectRef], *, threads: int = TRANSFER_THREADS
) -> Transfer:
    """Copy the objects ``dest`` lacks, up to ``threads`` at a time."""
    unique = tuple(dict.fromkeys(refs))
    sent = _map(lambda ref: _copy_if_absent(source, dest, ref), unique, threads)
    return Transfer(
        sent=tuple(ref for ref, was_sent in zip(unique, sent, strict=True) if was_sent),
        present=tuple(ref for ref, was_sent in zip(unique, sent, strict=True) if not was_sent),
    )


def _copy_if_absent(source: Store, dest: Store, ref: ObjectRef) -> bool:
    if dest.has(ref):
        return False
    source.send_object(ref, dest)
    return True


def _map(fn: Callable[[ObjectRef], bool], refs: tuple[ObjectRef, ...], threads: int) -> list[bool]:
    """``[fn(ref) for ref in refs]``, in parallel; the first error stops what hasn't started."""
    if threads <= 1 or len(refs) <= 1:
        return [fn(ref) for ref in refs]
    pool = ThreadPoolExecutor(max_workers=min(threads, len(refs)), thread_name_prefix="qik-sync")
    try:
        futures: list[Future[bool]] = [pool.submit(fn, ref) for ref in refs]
        return [future.result() for future in futures]
    finally:
        # On an error, cancel the queue and still wait for running copies: a thread left
        # writing after we return could race a retry of the same object.
        pool.shutdown(wait=True, cancel_futures=True)
