from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qik.store import ArtifactEntry, Manifest, ManifestInvalid, ObjectRef, sign, verify_signature
from qik.store.manifest import INLINE_MAX, MAX_MANIFEST_BYTES
from tests.store.factories import ARTIFACT, DEP_HASH, LOG, encode, make_manifest, manifest_doc

HEX64 = "ab" * 32
KEY = b"signing key"

Doc = dict[str, Any]


# -- round trips -------------------------------------------------------------------------


def test_round_trip() -> None:
    manifest = make_manifest(inputs=ObjectRef(HEX64, 10), signature=None)
    assert Manifest.from_bytes(manifest.to_bytes(), expected_dep_hash=DEP_HASH) == manifest


def test_canonical_bytes_are_sorted_ascii_json() -> None:
    data = make_manifest(runnable="lint@ü").to_bytes()
    doc = json.loads(data)
    assert data.isascii() and data.endswith(b"}\n")
    assert list(doc) == sorted(doc)
    assert doc["format"] == 2
    assert set(doc) == {
        "format",
        "runnable",
        "dep_hash",
        "exit_code",
        "duration",
        "qik_version",
        "created",
        "log",
        "artifacts",
        "deps",
        "signature",
        "inputs",
        "checksum",
    }


def test_equal_values_encode_alike() -> None:
    a = make_manifest(deps={"x": "0" * 8, "y": "1" * 8}, duration=2)
    b = make_manifest(deps={"y": "1" * 8, "x": "0" * 8}, duration=2.0)
    assert a == b
    assert a.to_bytes() == b.to_bytes()
    assert isinstance(a.duration, float)


def test_a_manifest_is_immutable_and_hashable() -> None:
    manifest = make_manifest()
    with pytest.raises(TypeError):
        manifest.deps["x"] = "0" * 8  # type: ignore[index]  # the point: it is read-only
    assert hash(manifest) == hash(make_manifest())


def test_objects_lists_log_artifacts_and_inputs() -> None:
    inputs = ObjectRef("cd" * 32, 4)
    manifest = make_manifest(inputs=inputs)
    assert manifest.objects == (LOG, ARTIFACT.ref, inputs)


_texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), min_size=1)
_digests = st.text("0123456789abcdef", min_size=64, max_size=64)
_sizes = st.integers(0, 1 << 40)
_segments = st.text("abcXYZ019_-. ", min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..") and s.lower() != ".git"
)
_paths = st.lists(_segments, min_size=1, max_size=4).map("/".join)
_artifacts = st.lists(
    st.builds(ArtifactEntry, _paths, _digests, _sizes, st.integers(0, 0o7777)),
    max_size=5,
    unique_by=lambda a: a.path.split("/")[0],  # no duplicates, none inside another
)
_manifests = st.builds(
    Manifest,
    runnable=_texts,
    dep_hash=_digests,
    exit_code=st.integers(-255, 255),
    duration=st.floats(0, 1e6),
    qik_version=st.text("0123456789.abrc", min_size=1, max_size=20),
    created=st.floats(0, 4e9),
    log=st.builds(ObjectRef, _digests, _sizes),
    artifacts=_artifacts.map(tuple),
    deps=st.dictionaries(st.text(st.characters(codec="utf-8"), min_size=1), _digests, max_size=5),
    signature=st.none() | _digests.map(lambda d: f"hmac-sha256:{d}"),
    inputs=st.none() | st.builds(ObjectRef, _digests, _sizes),
)


@settings(max_examples=60, deadline=None)
@given(_manifests)
def test_every_valid_manifest_round_trips(manifest: Manifest) -> None:
    data = manifest.to_bytes()
    again = Manifest.from_bytes(data, expected_dep_hash=manifest.dep_hash)
    assert again == manifest
    assert again.to_bytes() == data


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(sorted(manifest_doc())), value=_json)
def test_any_field_replaced_by_junk_parses_or_is_invalid(key: str, value: object) -> None:
    doc = manifest_doc()
    doc[key] = value
    with contextlib.suppress(ManifestInvalid):
        Manifest.from_bytes(json.dumps(doc).encode())


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_invalid(data: bytes) -> None:
    with pytest.raises(ManifestInvalid):
        Manifest.from_bytes(data)


# -- hostile manifests -----------------------------------------------------------------


def _artifact(doc: Doc, **fields: object) -> Doc:
    doc["artifacts"][0].update(fields)
    return doc


def _two_artifacts(first: str, second: str) -> Callable[[Doc], Doc]:
    def mutate(doc: Doc) -> Doc:
        entry = doc["artifacts"][0]
        doc["artifacts"] = [{**entry, "path": first}, {**entry, "path": second}]
        return doc

    return mutate


def _set(key: str, value: object) -> Callable[[Doc], Doc]:
    def mutate(doc: Doc) -> Doc:
        doc[key] = value
        return doc

    return mutate


def _drop(key: str) -> Callable[[Doc], Doc]:
    def mutate(doc: Doc) -> Doc:
        del doc[key]
        return doc

    return mutate


HOSTILE_DOCS: list[tuple[str, Callable[[Doc], Doc], str]] = [
    ("traversal", lambda d: _artifact(d, path="../x"), "artifacts[0].path"),
    ("deep traversal", lambda d: _artifact(d, path="a/../../x"), "'..'"),
    ("absolute", lambda d: _artifact(d, path="/etc/x"), "absolute"),
    ("dot segment", lambda d: _artifact(d, path="a/./b"), "'.'"),
    ("backslash", lambda d: _artifact(d, path="a\\..\\..\\x"), "backslash"),
    ("windows drive", lambda d: _artifact(d, path="C:/x"), "drive"),
    ("into .git", lambda d: _artifact(d, path=".git/hooks/pre-commit"), ".git"),
    ("NUL in path", lambda d: _artifact(d, path="a\x00b"), "control"),
    ("empty path", lambda d: _artifact(d, path=""), "empty"),
    ("path not a string", lambda d: _artifact(d, path=["a"]), "path: not a string"),
    ("duplicate paths", _two_artifacts("a", "a"), "duplicate"),
    ("path inside another", _two_artifacts("a", "a/b"), "inside"),
    ("size as string", lambda d: _artifact(d, size="1"), "not an integer"),
    ("size as bool", lambda d: _artifact(d, size=True), "not an integer"),
    ("size as float", lambda d: _artifact(d, size=1.0), "not an integer"),
    ("negative size", lambda d: _artifact(d, size=-1), "outside"),
    ("huge size", lambda d: _artifact(d, size=1 << 41), "outside"),
    ("mode as string", lambda d: _artifact(d, mode="0755"), "not an integer"),
    ("mode too big", lambda d: _artifact(d, mode=0o10000), "outside"),
    ("negative mode", lambda d: _artifact(d, mode=-1), "outside"),
    ("uppercase digest", lambda d: _artifact(d, digest=HEX64.upper()), "digest"),
    ("short digest", lambda d: _artifact(d, digest="ab" * 20), "digest"),
    ("digest with newline", lambda d: _artifact(d, digest=HEX64 + "\n"), "digest"),
    ("extra artifact key", lambda d: _artifact(d, owner="root"), "unknown key 'owner'"),
    ("artifact not object", _set("artifacts", ["a"]), "artifacts[0]: not a JSON object"),
    ("artifacts not a list", _set("artifacts", {}), "artifacts: not a list"),
    ("log missing", _drop("log"), "missing key 'log'"),
    ("log null", _set("log", None), "log: not a JSON object"),
    ("log extra key", _set("log", {"digest": HEX64, "size": 1, "x": 1}), "unknown key"),
    ("log missing size", _set("log", {"digest": HEX64}), "missing key 'size'"),
    ("unknown top key", _set("owner", "me"), "unknown key 'owner'"),
    ("format missing", _drop("format"), "missing key 'format'"),
    ("format 3", _set("format", 3), "unsupported version 3"),
    ("format as string", _set("format", "1"), "format: not an integer"),
    ("exit code null", _set("exit_code", None), "exit_code"),
    ("exit code huge", _set("exit_code", 1 << 40), "exit_code"),
    ("runnable not str", _set("runnable", 1), "runnable: not a string"),
    ("runnable empty", _set("runnable", ""), "runnable"),
    ("runnable escape", _set("runnable", "a\x1b[2J"), "control"),
    ("duration negative", _set("duration", -1), "duration"),
    ("duration as string", _set("duration", "1"), "duration"),
    ("created huge", _set("created", 1e300), "created"),
    ("qik version long", _set("qik_version", "1" * 65), "qik_version"),
    ("dep hash uppercase", _set("dep_hash", HEX64.upper()), "dep_hash"),
    ("dep hash traversal", _set("dep_hash", "../../etc/passwd"), "dep_hash"),
    ("deps a list", _set("deps", [["a", HEX64]]), "deps"),
    ("dep digest not hex", _set("deps", {"a": "xyz"}), "deps['a']"),
    ("dep digest number", _set("deps", {"a": 1}), "deps['a']"),
    ("dep label empty", _set("deps", {"": HEX64}), "label"),
    ("signature number", _set("signature", 1), "signature"),
    ("signature no algorithm", _set("signature", HEX64), "signature"),
    ("inputs a string", _set("inputs", HEX64), "inputs: not a JSON object"),
    ("inputs bad digest", _set("inputs", {"digest": "x", "size": 1}), "inputs.digest"),
]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [pytest.param(m, r, id=name) for name, m, r in HOSTILE_DOCS],
)
def test_hostile_documents_are_invalid(mutate: Callable[[Doc], Doc], reason: str) -> None:
    data = encode(mutate(manifest_doc()))
    with pytest.raises(ManifestInvalid) as info:
        Manifest.from_bytes(data)
    assert reason in info.value.reason


HOSTILE_BYTES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"{", id="truncated"),
    pytest.param(b"[]", id="a list"),
    pytest.param(b"null", id="null"),
    pytest.param(b"\xff\xfe{}", id="not utf-8"),
    pytest.param(b'{"format": 1, "format": 1}', id="duplicate key"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep nesting"),
    pytest.param(b'{"size": ' + b"9" * 5000 + b"}", id="huge integer literal"),
]


@pytest.mark.parametrize("data", HOSTILE_BYTES)
def test_hostile_bytes_are_invalid(data: bytes) -> None:
    with pytest.raises(ManifestInvalid):
        Manifest.from_bytes(data)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_invalid(constant: str) -> None:
    data = (
        make_manifest().to_bytes().replace(b'"duration": 1.5', f'"duration": {constant}'.encode())
    )
    with pytest.raises(ManifestInvalid, match="not a number"):
        Manifest.from_bytes(data)


def test_a_duplicate_key_inside_an_artifact_is_invalid() -> None:
    data = make_manifest().to_bytes().replace(b'"mode": 420', b'"mode": 420, "mode": 2559')
    with pytest.raises(ManifestInvalid, match="duplicate key"):
        Manifest.from_bytes(data)


def test_an_oversized_manifest_is_refused_unparsed() -> None:
    with pytest.raises(ManifestInvalid, match="larger than"):
        Manifest.from_bytes(b" " * (MAX_MANIFEST_BYTES + 1))


def test_a_newer_format_reads_as_such_despite_new_keys() -> None:
    doc = manifest_doc()
    doc.update(format=3, provenance={"builder": "ci"})
    with pytest.raises(ManifestInvalid, match="unsupported version 3"):
        Manifest.from_bytes(encode(doc))


def test_a_manifest_under_another_dep_hash_is_invalid() -> None:
    with pytest.raises(ManifestInvalid, match="differs from its name"):
        Manifest.from_bytes(make_manifest().to_bytes(), expected_dep_hash="cd" * 32)


def test_an_absent_signature_key_is_invalid_but_null_is_fine() -> None:
    doc = manifest_doc()
    assert Manifest.from_bytes(encode(doc)).signature is None
    del doc["signature"]
    with pytest.raises(ManifestInvalid, match="missing key 'signature'"):
        Manifest.from_bytes(encode(doc))


# -- the constructors run the same checks ------------------------------------------------

BAD_FIELDS: list[tuple[str, object]] = [
    ("runnable", ""),
    ("dep_hash", "nothex"),
    ("exit_code", True),
    ("duration", float("nan")),
    ("duration", -0.5),
    ("created", "now"),
    ("qik_version", ""),
    ("log", "abc"),
    ("inputs", "abc"),
    ("artifacts", ["a"]),
    ("artifacts", (ARTIFACT, ARTIFACT)),
    ("deps", [("a", "b")]),
    ("deps", {"a": "B" * 64}),
    ("signature", "sig"),
]


@pytest.mark.parametrize(("name", "value"), BAD_FIELDS)
def test_constructing_an_invalid_manifest_raises(name: str, value: object) -> None:
    with pytest.raises(ManifestInvalid):
        make_manifest(**{name: value})


@pytest.mark.parametrize(
    "fields",
    [
        {"digest": "ab"},
        {"size": -1},
        {"size": 1 << 41},
        {"mode": 0o10000},
        {"path": "../x"},
        {"path": ".git/config"},
    ],
)
def test_constructing_an_invalid_artifact_raises(fields: dict[str, object]) -> None:
    args: dict[str, object] = {"path": "a", "digest": HEX64, "size": 1, "mode": 0o644, **fields}
    with pytest.raises(ManifestInvalid):
        ArtifactEntry(**args)  # type: ignore[arg-type]  # deliberately wrong values


# -- signatures --------------------------------------------------------------------------


def test_a_signed_manifest_verifies_with_its_key_only() -> None:
    signed = sign(make_manifest(), KEY)
    assert signed.signature is not None and signed.signature.startswith("hmac-sha256:")
    assert verify_signature(signed, KEY)
    assert not verify_signature(signed, b"another key")


def test_a_signature_survives_the_encoding() -> None:
    signed = sign(make_manifest(duration=3), KEY)
    assert verify_signature(Manifest.from_bytes(signed.to_bytes()), KEY)


def test_an_unsigned_manifest_does_not_verify() -> None:
    assert not verify_signature(make_manifest(), KEY)


@pytest.mark.parametrize(
    "change",
    [
        {"exit_code": 1},
        {"runnable": "lint@b"},
        {"log": ObjectRef("cd" * 32, 3)},
        {"artifacts": ()},
        {"deps": {}},
        {"inputs": ObjectRef("cd" * 32, 3)},
        {"created": 1.0},
    ],
)
def test_a_tampered_manifest_does_not_verify(change: dict[str, object]) -> None:
    signed = sign(make_manifest(), KEY)
    assert not verify_signature(replace(signed, **change), KEY)  # type: ignore[arg-type]


def test_a_signed_manifest_moved_to_another_dep_hash_does_not_verify() -> None:
    signed = sign(make_manifest(), KEY)
    assert not verify_signature(replace(signed, dep_hash="cd" * 32), KEY)


@pytest.mark.parametrize(
    "signature",
    [f"hmac-sha256:{HEX64}", f"ed25519:{HEX64}", f"hmac-sha256:{HEX64[:32]}"],
)
def test_a_forged_signature_does_not_verify(signature: str) -> None:
    assert not verify_signature(make_manifest(signature=signature), KEY)


def test_signing_needs_a_key() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign(make_manifest(), b"")


# -- format 2: checksum and inline content -------------------------------------------------


def test_every_single_bit_flip_is_caught() -> None:
    # Format 1 replayed a flip that left the JSON valid ("bin" read as "`in" in an
    # artifact path; found by the stress suite's corruption case). Format 2 can't.
    data = make_manifest(inputs=ObjectRef.inline(b"abc x.py\n"), exit_code=0).to_bytes()
    for i in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            with pytest.raises(ManifestInvalid):
                Manifest.from_bytes(bytes(flipped))


@pytest.mark.parametrize(
    ("checksum", "reason"),
    [
        ("sha256:" + "0" * 64, "does not match"),
        ("sha256:" + "A" * 64, "lowercase hex"),
        ("md5:" + "0" * 32, "lowercase hex"),
        (None, "lowercase hex"),
    ],
)
def test_a_bad_checksum_is_invalid(checksum: object, reason: str) -> None:
    doc = manifest_doc()
    doc["checksum"] = checksum
    with pytest.raises(ManifestInvalid, match=reason):
        Manifest.from_bytes(json.dumps(doc).encode())


def test_a_missing_checksum_is_invalid_in_format_2_only() -> None:
    doc = manifest_doc()
    del doc["checksum"]
    with pytest.raises(ManifestInvalid, match="missing key 'checksum'"):
        Manifest.from_bytes(encode(doc))
    doc["format"] = 1
    assert Manifest.from_bytes(encode(doc)).format == 1


def test_a_checksum_written_twice_is_invalid() -> None:
    data = make_manifest().to_bytes()
    value = json.loads(data)["checksum"]
    doubled = data.replace(b'"runnable": "lint@a"', f'"runnable": "{value}"'.encode())
    with pytest.raises(ManifestInvalid, match="must appear once"):
        Manifest.from_bytes(doubled)


def test_inline_content_round_trips_and_needs_no_object() -> None:
    log, inputs = ObjectRef.inline(b"ok \xc3\xbc\n\x1b[1m"), ObjectRef.inline(b"x a.py\n")
    assert log is not None and inputs is not None
    manifest = make_manifest(log=log, inputs=inputs)
    read = Manifest.from_bytes(manifest.to_bytes())
    assert read == manifest
    assert read.log.text == "ok ü\n\x1b[1m" and read.inputs is not None
    assert read.objects == (ARTIFACT.ref,)


def test_format_1_keeps_nothing_inline() -> None:
    with pytest.raises(ManifestInvalid, match="inline"):
        make_manifest(log=ObjectRef.inline(b"ok\n"), format=1)
    doc = manifest_doc()
    doc["format"] = 1
    del doc["checksum"]
    doc["log"] = {**doc["log"], "text": "log"}  # type: ignore[dict-item]
    with pytest.raises(ManifestInvalid, match="unknown key 'text'"):
        Manifest.from_bytes(encode(doc))


def test_only_small_utf8_content_is_inline() -> None:
    assert ObjectRef.inline(b"x" * INLINE_MAX) is not None
    assert ObjectRef.inline(b"x" * (INLINE_MAX + 1)) is None
    assert ObjectRef.inline(b"\xff") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("lag", "does not match its digest"),
        ("logs", "not the size"),
        (3, "not a string"),
        ("\ud800lo", "not valid unicode"),
    ],
)
def test_inline_text_must_be_the_content(text: object, reason: str) -> None:
    doc = manifest_doc()
    doc["log"] = {**doc["log"], "text": text}  # type: ignore[dict-item]  # LOG is b"log"
    with pytest.raises(ManifestInvalid, match=reason):
        Manifest.from_bytes(encode(doc))


def test_an_artifact_has_no_inline_text() -> None:
    doc = manifest_doc()
    doc["artifacts"][0]["text"] = "a"  # type: ignore[index]
    with pytest.raises(ManifestInvalid, match="unknown key 'text'"):
        Manifest.from_bytes(encode(doc))


@pytest.mark.parametrize("dump", ["canonical", "one line"])
def test_line_ends_converted_to_crlf_still_verify(dump: str) -> None:
    """git may check a committed manifest out with CRLF line ends (core.autocrlf): JSON
    holds no raw line break in a string, so undoing that changes no value."""
    manifest = make_manifest()
    if dump == "canonical":
        data = manifest.to_bytes()
    else:  # as the repo cache writes it: one line and its end
        data = manifest.encoded(lambda doc: json.dumps(doc) + "\n")
    converted = data.replace(b"\n", b"\r\n")
    assert Manifest.from_bytes(converted) == manifest
    damaged = converted.replace(b'"runnable"', b'"runnablE"')
    with pytest.raises(ManifestInvalid):
        Manifest.from_bytes(damaged)
    flipped = converted.replace(b"\r\n", b"\r\r", 1)  # a CR where git never puts one
    with pytest.raises(ManifestInvalid, match="checksum"):
        Manifest.from_bytes(flipped)
