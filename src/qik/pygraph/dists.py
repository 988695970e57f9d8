"""Top-level module -> distribution, and installed versions, from the environment qik runs in.

``importlib.metadata.packages_distributions()`` answers the first question by parsing the
metadata of every installed distribution, a quarter of a second in a venv of a hundred, on
every run; importing ``importlib.metadata`` alone costs tens of milliseconds. Here:

- *listing*: the ``*.dist-info`` / ``*.egg-info`` directories on ``sys.path`` (about a
  millisecond) give what is installed (the name is in the directory's name) and a key: a
  distribution installed, removed or upgraded renames or touches its directory.
- *mapping* a module: first the distribution named like it (``yaml`` -> ``yaml``?), checked
  against its ``top_level.txt`` or ``RECORD``; then, if the module can be found on the path
  at all (an optional dependency often can't), every distribution's, read the way
  ``packages_distributions()`` reads them (``top_level.txt``, else the first segment of each
  ``RECORD`` path). Answers are kept in ``._qik/pygraph/dists.json`` under the listing's key,
  so a run in an unchanged environment reads no metadata at all.
- *versions* are read from the ``Version:`` header of the first copy on ``sys.path`` (as
  importlib.metadata picks it) on every run: an edited ``METADATA`` counts.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from qik.store.backend import atomic_file

__all__ = ["STDLIB", "Environment", "canonical_name"]

_CACHE_VERSION = 1
_META_SUFFIXES = (".dist-info", ".egg-info")
_NORMALIZE = re.compile(r"[-_.]+")

# Modules of the standard library in any Python qik supports (3.10 to 3.14), not only the
# running one: code often imports `tomllib` under a version check, or a module removed later.
STDLIB = frozenset(
    {
        *sys.stdlib_module_names,
        *sys.builtin_module_names,
        "__main__",
        "_typeshed",  # exists only for type checkers
        "annotationlib",
        "asynchat",
        "asyncore",
        "audioop",
        "cgi",
        "cgitb",
        "chunk",
        "compression",
        "crypt",
        "distutils",
        "imghdr",
        "imp",
        "lib2to3",
        "mailcap",
        "msilib",
        "nis",
        "nntplib",
        "ossaudiodev",
        "pipes",
        "smtpd",
        "sndhdr",
        "spwd",
        "sunau",
        "telnetlib",
        "tomllib",
        "uu",
        "xdrlib",
    }
)


def canonical_name(name: str) -> str:
    """A distribution's name as PEP 503 compares it: ``Foo_Bar`` -> ``foo-bar``."""
    return _NORMALIZE.sub("-", name).lower()


@dataclass(frozen=True)
class _Meta:
    path: str
    mtime_ns: int
    canonical: str  # from the directory's name: "PyYAML-6.0.dist-info" -> "pyyaml"


class Environment:
    """The distributions on ``paths`` (``sys.path``), read lazily and cached in ``cache_dir``."""

    def __init__(self, paths: Sequence[str], cache_dir: Path | None) -> None:
        self._paths = list(paths)
        self._metas = list(_listing(paths))
        self._file = cache_dir / "dists.json" if cache_dir is not None else None
        self._known: dict[str, tuple[str, ...] | None] | None = None

    @cached_property
    def key(self) -> str:
        text = "\n".join(f"{m.path}\0{m.mtime_ns}" for m in self._metas)
        return hashlib.sha256(f"{_CACHE_VERSION}\n{sys.version}\n{text}".encode()).hexdigest()

    @cached_property
    def installed(self) -> frozenset[str]:
        """Canonical names of every installed distribution."""
        return frozenset(m.canonical for m in self._metas)

    @cached_property
    def _first(self) -> dict[str, _Meta]:
        # The first copy on the path is the one Python imports and importlib.metadata reads.
        first: dict[str, _Meta] = {}
        for meta in self._metas:
            first.setdefault(meta.canonical, meta)
        return first

    def providers(self, modules: Iterable[str]) -> dict[str, tuple[str, ...] | None]:
        """Distribution names providing each top-level module; None for none."""
        known = self._load()
        wanted = [m for m in dict.fromkeys(modules) if m not in known]
        if wanted:
            known.update(self._map(wanted))
            self._save(known)
        return {m: known[m] for m in modules}

    def version(self, dist: str) -> str | None:
        meta = self._first.get(canonical_name(dist))
        return None if meta is None else _header(meta.path, "version")

    def _map(self, modules: list[str]) -> dict[str, tuple[str, ...] | None]:
        found: dict[str, tuple[str, ...] | None] = {}
        rest = []
        for module in modules:
            meta = self._first.get(canonical_name(module))
            if meta is not None and module in _top_level(meta.path):
                found[module] = (self._name(meta),)
            elif self._is_importable(module):
                rest.append(module)
            else:  # an optional dependency that isn't installed: no metadata to read
                found[module] = None
        if rest:
            found.update(self._scan(rest))
        return found

    def _is_importable(self, module: str) -> bool:
        try:
            return importlib.machinery.PathFinder.find_spec(module, self._paths) is not None
        except (ImportError, ValueError):
            return True  # can't tell: read the metadata

    def _scan(self, modules: list[str]) -> dict[str, tuple[str, ...] | None]:
        wanted = set(modules)
        hits: dict[str, list[str]] = {m: [] for m in modules}
        for meta in self._first.values():
            for module in _top_level(meta.path) & wanted:
                hits[module].append(self._name(meta))
        return {m: tuple(names) or None for m, names in hits.items()}

    def _name(self, meta: _Meta) -> str:
        return _header(meta.path, "name") or meta.canonical

    def _load(self) -> dict[str, tuple[str, ...] | None]:
        if self._known is None:
            cached = _read_cache(self._file, self.key) if self._file is not None else None
            self._known = cached or {}
        return self._known

    def _save(self, known: dict[str, tuple[str, ...] | None]) -> None:
        if self._file is not None:
            _write_cache(self._file, self.key, known)


def _listing(paths: Iterable[str]) -> Iterator[_Meta]:
    """Every metadata directory, in ``sys.path`` order, sorted within a directory."""
    for entry in paths:
        try:
            scanner = os.scandir(entry or ".")
        except OSError:  # a zip file, or gone
            continue
        with scanner:
            found = []
            for item in scanner:
                if item.name.endswith(_META_SUFFIXES):
                    with contextlib.suppress(OSError):
                        found.append((item.name, item.path, item.stat().st_mtime_ns))
        for name, path, mtime in sorted(found):
            yield _Meta(path, mtime, canonical_name(name.rsplit(".", 1)[0].split("-", 1)[0]))


def _header(meta_dir: str, field: str) -> str | None:
    """A header of the distribution's metadata. Headers end at the first blank line; not
    parsing the rest with the email parser is what makes this fast."""
    prefix = field + ":"
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(meta_dir, filename), encoding="utf-8", errors="replace") as f:
                for line in f:
                    if not line.strip():
                        break
                    if line[: len(prefix)].lower() == prefix:
                        return line[len(prefix) :].strip() or None
        except OSError:
            continue
    return None


def _top_level(meta_dir: str) -> set[str]:
    """The top-level modules a distribution provides, as packages_distributions() infers
    them: ``top_level.txt``, else the first segment of each ``RECORD`` path."""
    try:
        with open(os.path.join(meta_dir, "top_level.txt"), encoding="utf-8") as f:
            return {line.strip() for line in f if line.strip()}
    except OSError:
        pass
    names: set[str] = set()
    try:
        with open(os.path.join(meta_dir, "RECORD"), encoding="utf-8", errors="replace") as f:
            for line in f:
                names.add(_record_top(line.split(",", 1)[0]))
    except OSError:
        return set()
    return {n for n in names if n and "." not in n}


def _record_top(path: str) -> str:
    """The importable name a RECORD path provides: its first directory, or a module file's
    name without its suffix (``six.py``, ``_x.cpython-312-x86_64-linux-gnu.so``)."""
    head, sep, _ = path.partition("/")
    if sep:
        return head
    for suffix in _MODULE_SUFFIXES:
        if head.endswith(suffix):
            return head[: -len(suffix)]
    return head


# Longest first, so "x.cpython-312-x86_64-linux-gnu.so" loses the whole suffix.
_MODULE_SUFFIXES = tuple(sorted(importlib.machinery.all_suffixes(), key=len, reverse=True))


def _read_cache(file: Path, key: str) -> dict[str, tuple[str, ...] | None] | None:
    # A missing, truncated or foreign cache only means reading the metadata again.
    try:
        doc = json.loads(file.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("key") != key:
        return None
    modules = doc.get("modules")
    if not isinstance(modules, dict):
        return None
    return {
        str(module): tuple(str(d) for d in dists) if isinstance(dists, list) else None
        for module, dists in modules.items()
    }


def _write_cache(file: Path, key: str, known: dict[str, tuple[str, ...] | None]) -> None:
    modules = {m: list(d) if d is not None else None for m, d in known.items()}
    payload = json.dumps({"key": key, "modules": modules}, sort_keys=True).encode()
    # Failing to save (a read-only checkout) only means reading the metadata again.
    with contextlib.suppress(OSError), atomic_file(file) as out:
        out.write(payload)
