"""File names made from names the user chose (a runnable's, a space's), kept short enough.

A name is %-escaped into a file name (``bb/lint`` -> ``bb%2Flint``), which can triple its
length in bytes: 30 CJK characters, or an ASCII command name of 248, passed the 255
bytes a file name may have (``OSError: [Errno 36] File name too long``). Such a name is
cut, and a digest of the whole name keeps it apart from every other; names short enough
keep the file name they always had.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["MAX_STEM", "bounded"]

# Bytes of a file name before its suffixes: a runnable's output is ``<stem>.out.<pid>``
# while its command runs, and a file name may have 255 bytes (NAME_MAX).
MAX_STEM = 200
_DIGEST_CHARS = 16
_CUT_ESCAPE = re.compile(r"%[0-9A-Fa-f]?$")  # half of a %XX escape left by a cut


def bounded(escaped: str, name: str) -> str:
    """``escaped`` (an ASCII spelling of ``name``) if at most ``MAX_STEM`` bytes; else its
    head, ``~`` and the first 16 hex digits of the SHA-256 of ``name``, ``MAX_STEM``
    bytes in all.

    >>> bounded("lint", "lint")
    'lint'
    >>> len(bounded("a" * 300, "a" * 300))
    200
    """
    if len(escaped) <= MAX_STEM:
        return escaped
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]
    head = _CUT_ESCAPE.sub("", escaped[: MAX_STEM - _DIGEST_CHARS - 1])
    return f"{head}~{digest}"
