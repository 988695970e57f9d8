"""Today's code must read the frozen stores in ``store/examples/v1`` (format 1) and
``store/examples/v2`` (format 2).

The expected values are literals, not computed: if a change makes this test fail, the
change broke compatibility with stores written by earlier qik versions. Fix the change,
never the store or these values.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from qik.store import (
    FORMAT_VERSION,
    ArtifactEntry,
    Manifest,
    ObjectRef,
    Store,
    verify_signature,
)
from tests.store.make_example_store import write_example_store

EXAMPLE = Path(__file__).resolve().parents[2] / "store" / "examples" / "v1"
SIGNING_KEY = b"qik-example-store-key"

LINT_HASH = "aa4f24fc4f613a17ca995bf55ee86a7d89f9ecda8d31e15a239bde461aef0f85"
BUILD_HASH = "20b94446f4a235222abc424862fdf4b61aa7b656680c36375d51cda0f5b9234b"
REPORT = ObjectRef("af10e9ceeafa47b7f5ed273138ac423e7ae32a5e0d89a59e75a5fc792efd7fc6", 12)
LINT_LOG = ObjectRef("82b3e6a6c090a57601d22943bd23fca9218d1031dbe5a7b754092f9a156b4f18", 19)
BUILD_LOG = ObjectRef("c1b835558ce6952798b07d55bbf3f4204edf1a653d1b2482b36bcdf1ccfaef61", 36)
APP = ObjectRef("785b0751fc2c53dc14a4ce3d800e69ef9ce1009eb327ccf458afe09c242c26c9", 1024)
EMPTY = ObjectRef("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0)
INPUTS = ObjectRef("cd7d51515f3ce0193b5a209f6cf13d9c7ef440cf50447809177128f99964e969", 61)

CONTENTS = {
    REPORT: b"no findings\n",
    LINT_LOG: b"All checks passed!\n",
    BUILD_LOG: b"building app...\nerror: tests failed\n",
    APP: bytes(range(256)) * 4,
    EMPTY: b"",
    INPUTS: b"3b18e512dba79e4c8300dd08aeb37f8e728b8dad src/app/__init__.py\n",
}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    # A copy: reading may delete a damaged object, and the example must stay as it is.
    shutil.copytree(EXAMPLE, tmp_path / "v1")
    return Store.local(tmp_path / "v1")


def test_the_lint_manifest(store: Store) -> None:
    manifest = store.read_manifest(LINT_HASH)
    assert manifest is not None
    assert manifest.runnable == "lint@pkg_a"
    assert manifest.dep_hash == LINT_HASH
    assert manifest.exit_code == 0
    assert manifest.duration == 1.25
    assert manifest.qik_version == "0.3.0"
    assert manifest.created == 1767225600.0
    assert manifest.log == LINT_LOG
    assert manifest.artifacts == (
        ArtifactEntry("reports/lint-pkg_a.txt", REPORT.digest, REPORT.size, 0o644),
    )
    assert dict(manifest.deps) == {
        "glob:pkg_a/**.py": "2a63d5cca2f8da9391fbb5267e906b32f64ec1edea852ffbbe821b4f1fe0a5ee",
        "pydist:ruff": "d1f62539db82b51da84bda2f4885db5e847db8389183be41389efd0ae6edab94",
    }
    assert manifest.inputs is None
    assert manifest.signature == (
        "hmac-sha256:b37774f51c56c801ea8d37e150981445c2132e9457dd859acdd1fa4aeca95137"
    )
    assert verify_signature(manifest, SIGNING_KEY)


def test_the_build_manifest(store: Store) -> None:
    manifest = store.read_manifest(BUILD_HASH)
    assert manifest is not None
    assert manifest.runnable == "build"
    assert manifest.dep_hash == BUILD_HASH
    assert manifest.exit_code == 1
    assert manifest.duration == 42.5
    assert manifest.qik_version == "0.3.0"
    assert manifest.created == 1767229200.5
    assert manifest.log == BUILD_LOG
    assert manifest.artifacts == (
        ArtifactEntry("dist/app.bin", APP.digest, APP.size, 0o755),
        ArtifactEntry("dist/EMPTY", EMPTY.digest, EMPTY.size, 0o600),
        ArtifactEntry("reports/build.txt", REPORT.digest, REPORT.size, 0o644),
    )
    assert dict(manifest.deps) == {
        "command:lint@pkg_a": LINT_HASH,
        "const:linux-64": "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6",
    }
    assert manifest.inputs == INPUTS
    assert manifest.signature is None
    assert not verify_signature(manifest, SIGNING_KEY)


@pytest.mark.parametrize("ref", list(CONTENTS), ids=lambda ref: ref.digest[:8])
def test_every_object_reads_back(store: Store, ref: ObjectRef) -> None:
    assert store.read_bytes(ref) == CONTENTS[ref]
    out = io.BytesIO()
    store.copy_to(ref, out)
    assert out.getvalue() == CONTENTS[ref]


def test_the_listing(store: Store) -> None:
    assert sorted(store.iter_manifests()) == sorted([LINT_HASH, BUILD_HASH])
    assert {o.digest for o in store.iter_objects()} == {ref.digest for ref in CONTENTS}


def test_the_shared_object_serves_both_manifests(store: Store, tmp_path: Path) -> None:
    lint, build = store.read_manifest(LINT_HASH), store.read_manifest(BUILD_HASH)
    assert lint is not None and build is not None
    assert REPORT in lint.objects and REPORT in build.objects
    for manifest in (lint, build):
        assert store.missing_objects(manifest) == ()
        for entry in manifest.artifacts:
            dest = store.restore_artifact(tmp_path / "repo", entry)
            assert dest.read_bytes() == CONTENTS[entry.ref]


@pytest.mark.parametrize("version", [1, 2])
def test_todays_writer_still_writes_the_same_manifests(tmp_path: Path, version: int) -> None:
    # Object bytes depend on the zstd version, so only the manifests are compared. A
    # manifest read in format 1 is written in format 1 (when copied to another cache).
    example = EXAMPLE.parent / f"v{version}"
    lint, build = write_example_store(tmp_path / "fresh", version)
    for manifest in (lint, build):
        name = f"manifests/{manifest.dep_hash}.json"
        assert (tmp_path / "fresh" / name).read_bytes() == (example / name).read_bytes()
        read = Manifest.from_bytes((example / name).read_bytes())
        assert read == manifest and read.format == version
        assert read.to_bytes() == (example / name).read_bytes()


# -- format 2 ---------------------------------------------------------------------------

EXAMPLE_2 = EXAMPLE.parent / "v2"
BUILD_LOG_2 = ObjectRef("e79ce33f17e0c7b56a98f41b155b4669df55ba104db5973c84d99797fef0983a", 49)
CONTENTS_2 = {
    REPORT: CONTENTS[REPORT],
    APP: CONTENTS[APP],
    EMPTY: b"",
    BUILD_LOG_2: b"building app...\n\xff\xfe not UTF-8\nerror: tests failed\n",
}


@pytest.fixture
def store_2(tmp_path: Path) -> Store:
    shutil.copytree(EXAMPLE_2, tmp_path / "v2")
    return Store.local(tmp_path / "v2")


def test_format_2_keeps_small_content_inline(store_2: Store) -> None:
    assert FORMAT_VERSION == 2
    lint, build = store_2.read_manifest(LINT_HASH), store_2.read_manifest(BUILD_HASH)
    assert lint is not None and build is not None
    assert (lint.format, build.format) == (2, 2)
    assert lint.log == LINT_LOG and lint.log.text == "All checks passed!\n"
    assert build.log == BUILD_LOG_2 and build.log.text is None
    assert build.inputs == INPUTS and build.inputs.text == CONTENTS[INPUTS].decode()
    assert store_2.read_bytes(lint.log) == CONTENTS[LINT_LOG]
    assert store_2.read_bytes(build.inputs) == CONTENTS[INPUTS]
    assert lint.objects == (REPORT,)
    assert build.objects == (BUILD_LOG_2, APP, EMPTY, REPORT)
    assert verify_signature(lint, SIGNING_KEY) and not verify_signature(build, SIGNING_KEY)


def test_format_2_fields(store_2: Store) -> None:
    lint, build = store_2.read_manifest(LINT_HASH), store_2.read_manifest(BUILD_HASH)
    assert lint is not None and build is not None
    assert (lint.runnable, lint.exit_code, lint.duration, lint.created) == (
        "lint@pkg_a",
        0,
        1.25,
        1767225600.0,
    )
    assert lint.artifacts == (
        ArtifactEntry("reports/lint-pkg_a.txt", REPORT.digest, REPORT.size, 0o644),
    )
    assert lint.signature == (
        "hmac-sha256:af86c09a42723f5de5b72f42c71a3f724be07f0e69ca89b2d6178c930f03b02f"
    )
    assert (build.runnable, build.exit_code, build.duration, build.created) == (
        "build",
        1,
        42.5,
        1767229200.5,
    )
    assert [a.path for a in build.artifacts] == ["dist/app.bin", "dist/EMPTY", "reports/build.txt"]
    assert dict(build.deps)["command:lint@pkg_a"] == LINT_HASH


@pytest.mark.parametrize("ref", list(CONTENTS_2), ids=lambda ref: ref.digest[:8])
def test_every_format_2_object_reads_back(store_2: Store, ref: ObjectRef) -> None:
    assert store_2.read_bytes(ref) == CONTENTS_2[ref]
    assert {o.digest for o in store_2.iter_objects()} == {r.digest for r in CONTENTS_2}
