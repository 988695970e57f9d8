"""Why a runnable is cold: its fingerprint now against its last stored result.

Every part of a dep hash is a labelled digest recorded in the manifest (``exec``,
``glob:src/**.py``, ``const:v1``, ``pydist:ruff``, ``command:lint@a``, ...), and the files
behind file deps are listed in the manifest's ``inputs`` object. Comparing the two says
exactly what changed: which files (added, removed, modified), which const or context
value, which distribution version, which upstream runnable, or the command line itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qik.deps import decode_version
from qik.inputs import decode_inputs
from qik.plan import Fingerprint, PlanEntry

__all__ = ["Change", "Explanation", "compare", "explain_entry", "parse_inputs"]

_PLAIN = {
    "exec": "the command line changed",
    "artifacts": "the artifact patterns changed",
    "space": "the command moved to another space",
}


@dataclass(frozen=True)
class Change:
    kind: str  # file-added | file-removed | file-modified | const | pydist | upstream | ...
    subject: str
    before: str | None = None
    after: str | None = None

    def describe(self) -> str:
        if self.kind.startswith("file-"):
            return f"{self.kind[5:]:<9} {_shown(self.subject)}"
        if self.kind == "pydist":
            return f"distribution {self.subject}: {self.before} -> {self.after}"
        if self.kind == "const":
            return f"value changed: {self.before!r} -> {self.after!r}"
        if self.kind == "upstream":
            return f"upstream runnable {self.subject} changed (`qik :explain {self.subject}`)"
        if self.kind in ("dep-added", "dep-removed"):
            return f"{self.kind[4:]} dep {self.subject}"
        return self.subject


def _shown(path: str) -> str:
    """A file name on one line: one with a line break or another unprintable character is
    quoted, with those characters escaped. Bytes that aren't UTF-8 (lone surrogates) stay,
    and print as themselves."""
    if path.isprintable() or all(c.isprintable() or _is_byte(c) for c in path):
        return path
    return (
        '"' + "".join(c if c.isprintable() or _is_byte(c) else ascii(c)[1:-1] for c in path) + '"'
    )


def _is_byte(char: str) -> bool:
    """A byte of a name that isn't UTF-8, as ``surrogateescape`` decodes it."""
    return "\udc80" <= char <= "\udcff"


@dataclass(frozen=True)
class Explanation:
    name: str
    status: str  # warm | cold | uncached
    dep_hash: str
    source: str | None = None  # where a warm result lives, or the compared result's cache
    previous: str | None = None  # dep hash of the compared result
    previous_created: float | None = None
    exit_code: int | None = None
    changes: tuple[Change, ...] = field(default=())
    note: str | None = None


def parse_inputs(data: bytes) -> dict[str, str]:
    """The ``inputs`` object (``qik.inputs``): path -> blob id of every file covered."""
    # surrogateescape: a name's bytes that aren't UTF-8 read back as the file index has them.
    listing = data.decode("utf-8", "surrogateescape")
    return {path: blob for blob, path in decode_inputs(listing)}


def compare(
    now: Fingerprint, before: Mapping[str, str], before_files: Mapping[str, str] | None
) -> tuple[Change, ...]:
    """What differs between a fingerprint now and a result's recorded dep digests."""
    after = now.digests()
    changes: list[Change] = []
    files_changed = False
    for label in after.keys() & before.keys():
        if after[label] == before[label]:
            continue
        kind = label.split(":", 1)[0]
        if kind in ("glob", "pygraph"):
            files_changed = True
        else:
            changes.append(_changed(label, before[label], after[label]))
    if files_changed or _file_labels_moved(after, before):
        changes[:0] = _file_changes(now, before_files)
    changes.extend(_added_and_removed(after, before))
    return tuple(changes)


def _changed(label: str, before: str, after: str) -> Change:
    kind, _, subject = label.partition(":")
    if label in _PLAIN:
        return Change("plain", _PLAIN[label])
    if kind == "pydist":
        return Change("pydist", subject, decode_version(before), decode_version(after))
    if kind == "command":
        return Change("upstream", subject)
    return Change("plain", f"{label} changed")


def _file_labels_moved(after: Mapping[str, str], before: Mapping[str, str]) -> bool:
    is_file = ("glob:", "pygraph:")
    return any(label.startswith(is_file) for label in after.keys() ^ before.keys())


def _file_changes(now: Fingerprint, before: Mapping[str, str] | None) -> list[Change]:
    if before is None:
        return [Change("plain", "the files of a file dep changed (the old file list is gone)")]
    current = {path: blob for dep in now.deps for path, blob in dep.files}
    changes = [Change("file-added", p) for p in sorted(current.keys() - before.keys())]
    changes += [Change("file-removed", p) for p in sorted(before.keys() - current.keys())]
    changes += [
        Change("file-modified", p)
        for p in sorted(current.keys() & before.keys())
        if current[p] != before[p]
    ]
    return changes


def _added_and_removed(after: Mapping[str, str], before: Mapping[str, str]) -> list[Change]:
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    consts_added = [a for a in added if a.startswith("const:")]
    consts_removed = [r for r in removed if r.startswith("const:")]
    changes: list[Change] = []
    # One const swapped for another reads best as a value change.
    if len(consts_added) == 1 and len(consts_removed) == 1:
        changes.append(Change("const", "", consts_removed[0][6:], consts_added[0][6:]))
        added.remove(consts_added[0])
        removed.remove(consts_removed[0])
    changes += [Change("dep-added", label) for label in added]
    changes += [Change("dep-removed", label) for label in removed]
    return changes


def explain_entry(
    entry: PlanEntry,
    previous: tuple[str, Mapping[str, str], Mapping[str, str] | None, float, str] | None,
) -> Explanation:
    """Explain one plan entry. ``previous`` is the last result: (dep hash, dep digests,
    input files or None, created, cache)."""
    runnable, fp = entry.runnable, entry.fingerprint
    if not runnable.is_cached:
        return Explanation(runnable.name, "uncached", fp.dep_hash, note="it has no deps")
    if entry.is_warm:
        assert entry.manifest is not None
        return Explanation(
            runnable.name,
            "warm",
            fp.dep_hash,
            source=entry.source,
            previous=entry.manifest.dep_hash,
            previous_created=entry.manifest.created,
            exit_code=entry.manifest.exit_code,
        )
    if previous is None:
        return Explanation(
            runnable.name, "cold", fp.dep_hash, note="no earlier result in any cache"
        )
    dep_hash, digests, files, created, cache = previous
    if dep_hash == fp.dep_hash:
        why = "its result is stored, but cache-when does not replay its exit code"
        return Explanation(runnable.name, "cold", fp.dep_hash, cache, dep_hash, created, note=why)
    changes = compare(fp, digests, files)
    note = None if changes else "qik's fingerprint format changed since that result"
    return Explanation(
        runnable.name, "cold", fp.dep_hash, cache, dep_hash, created, changes=changes, note=note
    )
