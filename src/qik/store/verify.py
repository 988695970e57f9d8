"""``qik :cache verify``: every manifest valid (and signed, given a key), every object it
references present and decoding to its digest."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from qik.store.cas import Store
from qik.store.codec import Discard, ObjectCorrupt, ObjectMissing
from qik.store.inventory import Inventory
from qik.store.manifest import ObjectRef, verify_signature
from qik.store.sync import TRANSFER_THREADS

__all__ = ["Problem", "verify_store"]


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with one manifest (``runnable`` is unknown for an invalid one)."""

    dep_hash: str
    runnable: str | None
    what: str

    def __str__(self) -> str:
        who = f" ({self.runnable})" if self.runnable else ""
        return f"manifests/{self.dep_hash}.json{who}: {self.what}"


def verify_store(
    store: Store,
    inventory: Inventory,
    *,
    sign_key: bytes | None = None,
    threads: int = TRANSFER_THREADS,
) -> list[Problem]:
    """Every problem found, sorted. Reading an object verifies it, and a damaged object is
    deleted on the way (as on any read), so the next writer of its content repairs it.
    A failing backend raises its ``BackendFailure``."""
    problems = [Problem(h, None, f"invalid: {reason}") for h, reason in inventory.invalid.items()]
    if sign_key is not None:
        problems += [
            Problem(h, m.runnable, "not signed with this cache's sign-key")
            for h, m in inventory.manifests.items()
            if not (sign_key and verify_signature(m, sign_key))
        ]
    users = inventory.references()
    refs = list(users)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="qik-verify") as pool:
        verdicts = list(pool.map(lambda ref: _check(store, inventory, ref), refs))
    for ref, verdict in zip(refs, verdicts, strict=True):
        if verdict is not None:
            problems += [
                Problem(h, inventory.manifests[h].runnable, f"object {ref.digest} {verdict}")
                for h in users[ref]
            ]
    return sorted(problems)


def _check(store: Store, inventory: Inventory, ref: ObjectRef) -> str | None:
    if ref.digest not in inventory.objects:
        return "is missing"
    try:
        store.copy_to(ref, Discard())
    except ObjectMissing:
        return "is missing"
    except ObjectCorrupt as exc:
        return f"is corrupt: {exc.reason}"
    except OSError as exc:  # the file's permissions: a problem of this object, not the cache
        return f"can't be read ({exc.strerror})"
    return None
