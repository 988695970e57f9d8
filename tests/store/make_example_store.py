"""Write the frozen example stores: format 1 (``store/examples/v1``) and format 2
(``store/examples/v2``).

Run once per format, with the qik that introduced it::

    python -m tests.store.make_example_store store/examples/v1
    python -m tests.store.make_example_store store/examples/v2 2

The output is committed and never regenerated: ``test_example_store.py`` checks that
every later qik still reads it. The values below are duplicated there on purpose.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from qik.store import ArtifactEntry, Manifest, Store, sign

SIGNING_KEY = b"qik-example-store-key"
LOG_LINT = b"All checks passed!\n"
LOG_BUILD = b"building app...\nerror: tests failed\n"
REPORT = b"no findings\n"  # the shared object: an artifact of both manifests
APP = bytes(range(256)) * 4
LOG_BUILD_2 = b"building app...\n\xff\xfe not UTF-8\nerror: tests failed\n"
INPUTS = b"3b18e512dba79e4c8300dd08aeb37f8e728b8dad src/app/__init__.py\n"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_example_store(root: Path, format: int = 1) -> tuple[Manifest, Manifest]:
    """Format 1 as frozen in v1. Format 2 keeps the lint log and the inputs inline, and
    the build log (``LOG_BUILD_2``, not UTF-8) as an object."""
    store = Store.local(root)
    small = store.put_bytes if format == 1 else store.put_small
    report = store.put_bytes(REPORT)
    lint = Manifest(
        runnable="lint@pkg_a",
        dep_hash=_sha("example: lint@pkg_a"),
        exit_code=0,
        duration=1.25,
        qik_version="0.3.0",
        created=1767225600.0,
        log=small(LOG_LINT),
        artifacts=(ArtifactEntry("reports/lint-pkg_a.txt", report.digest, report.size, 0o644),),
        deps={"glob:pkg_a/**.py": _sha("pkg_a files"), "pydist:ruff": _sha("0.5.0")},
        format=format,
    )
    app, empty = store.put_bytes(APP), store.put_bytes(b"")
    build = Manifest(
        runnable="build",
        dep_hash=_sha("example: build"),
        exit_code=1,
        duration=42.5,
        qik_version="0.3.0",
        created=1767229200.5,
        log=store.put_bytes(LOG_BUILD if format == 1 else LOG_BUILD_2),
        artifacts=(
            ArtifactEntry("dist/app.bin", app.digest, app.size, 0o755),
            ArtifactEntry("dist/EMPTY", empty.digest, empty.size, 0o600),
            ArtifactEntry("reports/build.txt", report.digest, report.size, 0o644),
        ),
        deps={"command:lint@pkg_a": _sha("example: lint@pkg_a"), "const:linux-64": _sha("c")},
        inputs=small(INPUTS),
        format=format,
    )
    lint = sign(lint, SIGNING_KEY)
    store.write_manifest(lint)
    store.write_manifest(build)
    return lint, build


if __name__ == "__main__":
    write_example_store(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1)
