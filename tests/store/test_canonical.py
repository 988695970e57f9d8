"""``Manifest.to_bytes`` writes the manifest's fixed schema directly (``_write``); the
canonical encoding is defined by ``json.dumps`` (``_canonical``). They must agree byte
for byte on every valid manifest: signatures, checksums and the frozen example stores
depend on these bytes."""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qik.store import ArtifactEntry, Manifest, ManifestInvalid, ObjectRef
from qik.store.manifest import _canonical, _encode, _write
from qik.store.paths import UnsafePath, check_artifact_path
from tests.store.factories import make_manifest

EXAMPLES = Path(__file__).resolve().parents[2] / "store" / "examples"


def reference(manifest: Manifest) -> bytes:
    """The canonical encoding as FORMAT.md defines it: ``json.dumps``, then the seal."""
    return manifest.encoded(_canonical)


def assert_same_encoding(manifest: Manifest) -> None:
    assert _write(manifest) == _canonical(_encode(manifest))
    assert manifest.to_bytes() == reference(manifest)


# -- strategies ---------------------------------------------------------------------------


def _hex(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text("0123456789abcdef", min_size=low, max_size=high)


# Any unicode a manifest may hold: control characters, quotes, backslashes, DEL, the
# characters json escapes specially (\b \f \n \r \t), non-BMP (written as surrogate
# pairs); no lone surrogates (not valid unicode).
_any_char = st.characters(codec="utf-8")
_specials = st.sampled_from(['"', "\\", "\x00", "\x1f", "\x7f", "\b\f\n\r\t", "\u2028", "😀"])
_any_text = st.lists(_any_char.map(str) | _specials, max_size=40).map("".join)
_plain_char = st.characters(codec="utf-8", exclude_categories=["Cc"])
_plain_text = st.text(_plain_char, min_size=1, max_size=60) | st.sampled_from(
    ['a "quoted" \\ name', "lint@ü", "\U0001d4b3@pkg"]
)
_digests = _hex(64, 64)
_sizes = st.integers(0, 1 << 40) | st.sampled_from([0, 1, (1 << 40) - 1, 1 << 40])


def _inline(text: str) -> ObjectRef:
    ref = ObjectRef.inline(text.encode("utf-8"))
    assert ref is not None
    return ref


_inline_texts = _any_text | st.text(_any_char, max_size=3000) | st.just("")
_stored_refs = st.builds(ObjectRef, _digests, _sizes)
_refs_2 = _stored_refs | _inline_texts.filter(lambda t: len(t.encode()) <= 8192).map(_inline)


def _valid_path(path: str) -> bool:
    try:
        check_artifact_path(path)
    except UnsafePath:
        return False
    return True


_segments = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc"], exclude_characters="/\\"),
    min_size=1,
    max_size=12,
) | st.sampled_from(["bin", "out.txt", 'q"uote', "é", "😀"])
_paths = st.lists(_segments, min_size=1, max_size=4).map("/".join).filter(_valid_path)
_artifacts = st.lists(
    st.builds(ArtifactEntry, _paths, _digests, _sizes, st.integers(0, 0o7777)),
    max_size=6,
    unique_by=lambda a: a.path.split("/")[0],  # no duplicates, none inside another
).map(tuple)
# Labels may hold anything but lone surrogates, control characters included; the keys
# are written sorted (by code point), whatever order they were given in.
_labels = st.text(_any_char, min_size=1, max_size=30) | _specials
_deps = st.dictionaries(_labels, _hex(8, 128), max_size=8)
# Floats: integral ones (written "1.0"), tiny ones (written "5e-324"), up to 2**40;
# ints given to the constructor become floats.
_seconds = (
    st.floats(0, 1 << 40)
    | st.integers(0, 1 << 40)
    | st.sampled_from([0.0, 1.0, 5e-324, 1e-7, 0.1, 1.5, 1767225600.0, float(1 << 40)])
)
_exit_codes = st.integers(-(1 << 31), (1 << 32) - 1) | st.sampled_from([-(1 << 31), -9, 0, 1, 255])
_signatures = st.none() | st.from_regex(r"[a-z0-9-]{1,32}:[0-9a-f]{16,512}", fullmatch=True)


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    version = draw(st.sampled_from([1, 2]))
    refs = _stored_refs if version == 1 else _refs_2
    return Manifest(
        runnable=draw(_plain_text.filter(lambda t: len(t) <= 4096)),
        dep_hash=draw(_hex(16, 128)),
        exit_code=draw(_exit_codes),
        duration=draw(_seconds),
        qik_version=draw(_plain_text.filter(lambda t: len(t) <= 64)),
        created=draw(_seconds),
        log=draw(refs),
        artifacts=draw(_artifacts),
        deps=draw(_deps),
        signature=draw(_signatures),
        inputs=draw(st.none() | refs),
        format=version,
    )


# -- tests --------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
@example(make_manifest(artifacts=(), deps={}, log=_inline(""), inputs=None))
@example(make_manifest(format=1, artifacts=(), deps={}))
def test_the_fast_writer_writes_the_canonical_encoding(manifest: Manifest) -> None:
    assert_same_encoding(manifest)
    assert Manifest.from_bytes(manifest.to_bytes()) == manifest


@settings(max_examples=100, deadline=None)
@given(manifests())
def test_a_read_manifest_writes_back_the_same_bytes(manifest: Manifest) -> None:
    # A manifest read from bytes is built without its constructor (``_built``).
    read = Manifest.from_bytes(reference(manifest))
    assert_same_encoding(read)
    assert read.to_bytes() == reference(manifest)


class Code(enum.IntEnum):
    KILLED = -9
    MODE = 0o644


class Label(str):
    pass


def test_subclasses_are_written_as_json_dumps_writes_them() -> None:
    # json.dumps writes an IntEnum as its number (int.__repr__), not as its repr.
    manifest = make_manifest(
        exit_code=Code.KILLED,
        artifacts=(ArtifactEntry(Label("a/b"), "ab" * 32, Code.MODE, Code.MODE),),
        deps={Label("z\n"): "0" * 8, Label("a"): "1" * 8},
    )
    assert_same_encoding(manifest)
    assert b'"exit_code": -9,' in manifest.to_bytes()


def test_the_constructor_refuses_true_for_format_1() -> None:
    # True == 1, but json.dumps would write true, which no reader takes.
    with pytest.raises(ManifestInvalid, match="format: unsupported version True"):
        make_manifest(format=True)


def test_a_label_like_the_unsealed_checksum_fails_both_writers() -> None:
    # The seal needs the zeroed checksum exactly once in the bytes.
    manifest = make_manifest(deps={"sha256:" + "0" * 64: "0" * 8})
    with pytest.raises(ValueError, match="one unsealed checksum"):
        manifest.to_bytes()
    with pytest.raises(ValueError, match="one unsealed checksum"):
        reference(manifest)


@pytest.mark.parametrize(
    "path",
    sorted(EXAMPLES.glob("v*/manifests/*.json")),
    ids=lambda p: f"{p.parts[-3]}-{p.stem[:8]}",
)
def test_the_example_stores_write_back_byte_for_byte(path: Path) -> None:
    data = path.read_bytes()
    manifest = Manifest.from_bytes(data, expected_dep_hash=path.stem)
    assert manifest.to_bytes() == data
    assert_same_encoding(manifest)


def test_the_example_stores_are_all_there() -> None:
    assert len(list(EXAMPLES.glob("v*/manifests/*.json"))) == 4


def test_a_typical_manifest() -> None:
    # The benchmark's manifest: a 3 KB inline inputs listing, four deps, one artifact.
    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    listing = "".join(f"{sha(str(i))[:40]} src/pkg/module_{i:03d}.py\n" for i in range(60))
    manifest = make_manifest(
        duration=0.01234,
        created=1767225600.123456,
        log=_inline("All checks passed!\n"),
        deps={f"glob:{c}/**.py": sha(c) for c in "abcd"},
        inputs=_inline(listing),
    )
    assert_same_encoding(manifest)
    assert json.loads(manifest.to_bytes())["inputs"]["text"] == listing
    signed = replace(manifest, signature="hmac-sha256:" + "ab" * 32)
    assert_same_encoding(signed)
