"""The inputs listing of a result: the files behind its file deps, for ``:explain`` and
for the worker's check that none changed while the command ran.

One line per file, ``<blob id> <repo-relative path>\\n``, stored as UTF-8 with
``surrogateescape``: a file name that is not valid UTF-8 (git and ``os`` hand it over as
a str with lone surrogates) is stored as its own bytes. A name that a line can't hold as
it is (one with a ``\\n``, or one that starts with ``"``) is written as a JSON string,
quotes included; nothing else starts with ``"``. Lines are split on ``\\n`` alone:
``\\r``, ``\\f``, U+2028 and the rest of what ``str.splitlines`` breaks at are parts of a
name.

This module imports nothing of qik's: a pool worker reads listings on every result it
stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["decode_inputs", "encode_inputs", "listing_bytes"]


def encode_inputs(files: Iterable[tuple[str, str]]) -> str:
    """The inputs listing of ``files``, (path, blob id) pairs: a line ``<blob> <path>`` each."""
    return "".join([f"{blob} {_quoted(path)}\n" for path, blob in files])


def listing_bytes(listing: str) -> bytes:
    """A listing as stored: UTF-8, a name's undecodable bytes as they were."""
    return listing.encode("utf-8", "surrogateescape")


def decode_inputs(listing: str) -> Iterator[tuple[str, str]]:
    """(blob id, path) of each line of a listing (:func:`encode_inputs`)."""
    for line in listing.split("\n"):
        blob, _, path = line.partition(" ")
        if path:
            yield blob, _unquoted(path) if path[0] == '"' else path


def _quoted(path: str) -> str:
    if "\n" not in path and not path.startswith('"'):
        return path
    import json

    return json.dumps(path)  # ASCII: a lone surrogate becomes "\udcff", read back alike


def _unquoted(path: str) -> str:
    import json

    try:
        name = json.loads(path)
    except ValueError:  # a listing of qik before quoting: a name starting with '"'
        return path
    return name if isinstance(name, str) else path
