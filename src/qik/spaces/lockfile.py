"""Reading distribution versions out of a lock file (``uv pip compile`` / pip-tools output)."""

from __future__ import annotations

import re

__all__ = ["normalize", "pinned_versions"]

# name[extras]==version ; markers   (=== too). Continuations and --hash lines never match.
_PIN = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?"
    r"\s*===?\s*(?P<version>[^\s;\\#]+)"
)


def normalize(name: str) -> str:
    """PEP 503: ``Foo_Bar.baz`` and ``foo-bar-baz`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions(text: str) -> dict[str, str]:
    """Normalized name -> version of every pin in ``text``.

    A universal lock may pin one distribution at several versions under different markers
    (``numpy==1.26.4 ; python_version < '3.12'``); they are joined with ``,`` in file order,
    so the version that enters a dep hash changes whenever any of them does.

    >>> pinned_versions("six==1.16.0\\n    # via -r r.txt\\nA_b[x]==2 ; os_name == 'nt'\\n")
    {'six': '1.16.0', 'a-b': '2'}
    """
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            versions = found.setdefault(normalize(match["name"]), [])
            if match["version"] not in versions:
                versions.append(match["version"])
    return {name: ",".join(versions) for name, versions in found.items()}
