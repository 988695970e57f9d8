"""Valid manifests and manifest documents for the store tests, with overrides."""

from __future__ import annotations

import copy
import hashlib
import json
import re

from qik.store import ArtifactEntry, Manifest, ObjectRef

DEP_HASH = hashlib.sha256(b"dep hash").hexdigest()
LOG = ObjectRef(hashlib.sha256(b"log").hexdigest(), 3)
ARTIFACT = ArtifactEntry("out/a.txt", hashlib.sha256(b"a").hexdigest(), 1, 0o644)
DEPS = {"glob:src/**.py": hashlib.sha256(b"src").hexdigest(), "pydist:ruff": "0a1b2c3d"}


def make_manifest(**overrides: object) -> Manifest:
    fields: dict[str, object] = {
        "runnable": "lint@a",
        "dep_hash": DEP_HASH,
        "exit_code": 0,
        "duration": 1.5,
        "qik_version": "0.3.0",
        "created": 1_700_000_000.25,
        "log": LOG,
        "artifacts": (ARTIFACT,),
        "deps": DEPS,
    }
    fields.update(overrides)
    return Manifest(**fields)  # type: ignore[arg-type]  # overrides are typed by each test


def manifest_doc() -> dict[str, object]:
    """The JSON document of ``make_manifest()``, as plain data to corrupt."""
    doc: dict[str, object] = json.loads(make_manifest().to_bytes())
    return copy.deepcopy(doc)


_UNSEALED = '"sha256:' + "0" * 64 + '"'


def encode(doc: object) -> bytes:
    """``doc`` as JSON bytes; a format-2 checksum that looks valid is recomputed (as
    FORMAT.md defines it, written out again here) so that other changes are what is
    tested. A checksum that doesn't look valid is left alone."""
    checksum = doc.get("checksum") if isinstance(doc, dict) else None
    if not (isinstance(checksum, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", checksum)):
        return json.dumps(doc).encode()
    assert isinstance(doc, dict)
    text = json.dumps({**doc, "checksum": _UNSEALED[1:-1]})
    sealed = f'"sha256:{hashlib.sha256(text.encode()).hexdigest()}"'
    return text.replace(_UNSEALED, sealed).encode()
