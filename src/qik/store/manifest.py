"""Manifests: the result of one runnable for one dep hash, and its JSON encoding.

A manifest read from a mirror is untrusted. ``Manifest.from_bytes`` accepts exactly the
schema in ``store/FORMAT.md`` and raises ``ManifestInvalid`` for anything else; the
constructors run the same checks, so a ``Manifest`` value is always valid, however built.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from json.encoder import encode_basestring_ascii
from types import MappingProxyType
from typing import TypeVar, cast

from qik.store.paths import StoreError, UnsafePath, check_artifact_path

_T = TypeVar("_T")

__all__ = [
    "FORMAT_VERSION",
    "INLINE_MAX",
    "MAX_MANIFEST_BYTES",
    "MAX_OBJECT_SIZE",
    "READABLE_FORMATS",
    "ArtifactEntry",
    "Manifest",
    "ManifestInvalid",
    "ObjectRef",
    "check_dep_hash",
    "check_digest",
    "sign",
    "verify_signature",
]

FORMAT_VERSION = 2  # what this qik writes
READABLE_FORMATS = (1, 2)
# Format 2 keeps a log or inputs listing of at most this many UTF-8 bytes inside the
# manifest: a replay then reads one file, and a cold run writes one object fewer.
INLINE_MAX = 8192
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_OBJECT_SIZE = 1 << 40  # 1 TiB: far above any log or artifact, far below a memory bomb
_MAX_TEXT = 4096
_MAX_LABEL_CHARS = 1 << 16
_MAX_VERSION_CHARS = 64
_MAX_SECONDS = 1 << 40
_EXIT_CODES = (-(1 << 31), (1 << 32) - 1)  # signals are negative; Windows codes are u32
_MAX_MODE = 0o7777

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# The dep hash names a file, so hex only; its length is the fingerprint's choice.
_DEP_HASH = re.compile(r"[0-9a-f]{16,128}")
# Per-dep digests include git blob ids (40 hex for sha1 repositories).
_DEP_DIGEST = re.compile(r"[0-9a-f]{8,128}")
_SIGNATURE = re.compile(r"[a-z0-9-]{1,32}:[0-9a-f]{16,512}")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_CHECKSUM = re.compile(r"sha256:([0-9a-f]{64})")
_UNSEALED = b'"sha256:' + b"0" * 64 + b'"'
_UNSEALED_TEXT = _UNSEALED.decode("ascii")
_SIGNING_ALGORITHM = "hmac-sha256"
_SIGNING_DOMAIN = b"qik-manifest-signature\x00"

_TOP_KEYS = frozenset(
    {
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
    }
)
_TOP_KEYS_2 = _TOP_KEYS | {"checksum"}
_REF_KEYS = frozenset({"digest", "size"})
_INLINE_REF_KEYS = _REF_KEYS | {"text"}
_ARTIFACT_KEYS = frozenset({"path", "digest", "size", "mode"})


class ManifestInvalid(StoreError):
    """A manifest that doesn't follow the format: for the caller, a warning and a miss."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ObjectRef:
    """An object: the SHA-256 hex of its uncompressed content, and that content's size.

    ``text`` (format 2, a manifest's log and inputs only) is the content itself, kept in
    the manifest when it is small UTF-8: no object is stored for it. Refs compare by
    digest and size alone: the same content, however it is kept.
    """

    digest: str
    size: int
    text: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        _as_hex(self.digest, "digest", _SHA256_HEX)
        _as_int(self.size, "size", 0, MAX_OBJECT_SIZE)
        if self.text is not None:
            _check_inline(self.text, self.digest, self.size)

    @classmethod
    def inline(cls, data: bytes) -> ObjectRef | None:
        """A ref holding ``data`` itself, or None if it is too large or not UTF-8."""
        if len(data) > INLINE_MAX:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return _built(cls, digest=hashlib.sha256(data).hexdigest(), size=len(data), text=text)

    @property
    def stored(self) -> bool:
        """Is the content an object of the store (not kept inline)?"""
        return self.text is None


@dataclass(frozen=True)
class ArtifactEntry:
    """One restored file: repo-relative posix path, content and permission bits."""

    path: str
    digest: str
    size: int
    mode: int

    def __post_init__(self) -> None:
        _as_artifact_path(self.path)
        _as_hex(self.digest, "digest", _SHA256_HEX)
        _as_int(self.size, "size", 0, MAX_OBJECT_SIZE)
        _as_int(self.mode, "mode", 0, _MAX_MODE)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.digest, self.size)


@dataclass(frozen=True)
class Manifest:
    """The result of one runnable for one dep hash.

    ``deps`` maps each dep's label to the digest that entered the dep hash, so ``:explain``
    can name the input that changed; ``inputs``, when set, is an object listing the files
    behind those digests. ``created`` and ``duration`` are seconds.
    """

    runnable: str
    dep_hash: str
    exit_code: int
    duration: float
    qik_version: str
    created: float
    log: ObjectRef
    artifacts: tuple[ArtifactEntry, ...] = ()
    deps: Mapping[str, str] = field(default_factory=dict)
    signature: str | None = None
    inputs: ObjectRef | None = None
    format: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if isinstance(self.format, bool) or self.format not in READABLE_FORMATS:
            raise ManifestInvalid(f"format: unsupported version {self.format}")
        _as_text(self.runnable, "runnable", _MAX_TEXT)
        check_dep_hash(self.dep_hash)
        _as_int(self.exit_code, "exit_code", *_EXIT_CODES)
        # Floats so that an int given here encodes like the float read back (signatures).
        object.__setattr__(self, "duration", _as_seconds(self.duration, "duration"))
        _as_text(self.qik_version, "qik_version", _MAX_VERSION_CHARS)
        object.__setattr__(self, "created", _as_seconds(self.created, "created"))
        if not isinstance(self.log, ObjectRef):
            raise ManifestInvalid("log: not an object reference")
        if self.inputs is not None and not isinstance(self.inputs, ObjectRef):
            raise ManifestInvalid("inputs: not an object reference")
        if self.format == 1 and not all(r.stored for r in (self.log, self.inputs) if r):
            raise ManifestInvalid("format 1 keeps no content inline")
        object.__setattr__(self, "artifacts", _as_artifacts(self.artifacts))
        object.__setattr__(self, "deps", _as_deps(self.deps))
        if self.signature is not None:
            _as_hex(self.signature, "signature", _SIGNATURE)

    def __hash__(self) -> int:
        # The generated hash would fail on the deps mapping; these fields suffice.
        return hash((self.dep_hash, self.created, self.signature))

    @property
    def objects(self) -> tuple[ObjectRef, ...]:
        """Every object the store must hold for the manifest: log, artifacts, then inputs,
        leaving out content kept inline."""
        log = (self.log,) if self.log.stored else ()
        inputs = (self.inputs,) if self.inputs is not None and self.inputs.stored else ()
        return (*log, *(entry.ref for entry in self.artifacts), *inputs)

    def to_bytes(self) -> bytes:
        """Canonical JSON: sorted keys, ASCII only, two-space indent, one trailing newline.

        The same bytes as ``self.encoded(_canonical)``, written by ``_write``."""
        data = _write(self).encode("ascii")
        return _seal(data) if self.format >= 2 else data

    def encoded(self, dump: Callable[[dict[str, object]], str]) -> bytes:
        """The manifest as ``dump`` writes its JSON document (ASCII only), with the
        format-2 checksum computed over the bytes it wrote."""
        data = dump(_encode(self)).encode("ascii")
        return _seal(data) if self.format >= 2 else data

    @classmethod
    def from_bytes(cls, data: bytes, *, expected_dep_hash: str | None = None) -> Manifest:
        """Parse untrusted bytes. ``expected_dep_hash`` is the dep hash the file is named by."""
        doc = _load_json(data)
        manifest = _decode(doc)
        if manifest.format >= 2:
            assert isinstance(doc, dict)
            _check_checksum(doc["checksum"], data)
        if expected_dep_hash is not None and manifest.dep_hash != expected_dep_hash:
            raise ManifestInvalid(
                f"dep_hash: {manifest.dep_hash} differs from its name {expected_dep_hash}"
            )
        return manifest


def memo_fields(manifest: Manifest) -> tuple[object, ...]:
    """``manifest`` as plain values (``marshal`` can write them), for ``qik.store.memo``."""
    return (
        manifest.runnable,
        manifest.dep_hash,
        manifest.exit_code,
        manifest.duration,
        manifest.qik_version,
        manifest.created,
        _ref_fields(manifest.log),
        tuple((a.path, a.digest, a.size, a.mode) for a in manifest.artifacts),
        tuple(manifest.deps.items()),
        manifest.signature,
        None if manifest.inputs is None else _ref_fields(manifest.inputs),
        manifest.format,
    )


def from_memo_fields(fields: tuple[object, ...]) -> Manifest:
    """The manifest ``memo_fields`` gave, not validated again: the memo holds only what
    ``from_bytes`` accepted. Raises TypeError or ValueError on values of another shape."""
    (
        runnable,
        dep_hash,
        exit_code,
        duration,
        version,
        created,
        log,
        arts,
        deps,
        sig,
        inputs,
        fmt,
    ) = fields
    return _built(
        Manifest,
        runnable=runnable,
        dep_hash=dep_hash,
        exit_code=exit_code,
        duration=duration,
        qik_version=version,
        created=created,
        log=_memo_ref(log),
        artifacts=tuple(
            _built(ArtifactEntry, path=p, digest=d, size=n, mode=m)
            for p, d, n, m in cast("tuple[tuple[str, str, int, int], ...]", arts)
        ),
        deps=MappingProxyType(dict(cast("tuple[tuple[str, str], ...]", deps))),
        signature=sig,
        inputs=None if inputs is None else _memo_ref(inputs),
        format=fmt,
    )


def _ref_fields(ref: ObjectRef) -> tuple[str, int, str | None]:
    return (ref.digest, ref.size, ref.text)


def _memo_ref(fields: object) -> ObjectRef:
    digest, size, text = cast("tuple[str, int, str | None]", fields)
    return _built(ObjectRef, digest=digest, size=size, text=text)


def check_dep_hash(dep_hash: object) -> str:
    """Return ``dep_hash`` if it can name a manifest (lowercase hex), else raise."""
    return _as_hex(dep_hash, "dep_hash", _DEP_HASH)


def check_digest(digest: object) -> str:
    """Return ``digest`` if it can name an object (64 lowercase hex), else raise."""
    return _as_hex(digest, "digest", _SHA256_HEX)


def sign(manifest: Manifest, key: bytes) -> Manifest:
    """Return ``manifest`` with an HMAC-SHA256 signature made with ``key``."""
    return replace(manifest, signature=f"{_SIGNING_ALGORITHM}:{_mac(manifest, key)}")


def verify_signature(manifest: Manifest, key: bytes) -> bool:
    """Is ``manifest`` signed with ``key``, for its own dep hash? Unsigned is False."""
    if manifest.signature is None:
        return False
    import hmac

    algorithm, _, mac = manifest.signature.partition(":")
    return algorithm == _SIGNING_ALGORITHM and hmac.compare_digest(mac, _mac(manifest, key))


def _mac(manifest: Manifest, key: bytes) -> str:
    if not key:
        raise ValueError("a signing key must not be empty")
    # The dep hash is in the payload twice (prefix and body) on purpose: the prefix keeps
    # the binding explicit should the body encoding ever change.
    unsigned = replace(manifest, signature=None).to_bytes()
    payload = _SIGNING_DOMAIN + manifest.dep_hash.encode("ascii") + b"\x00" + unsigned
    import hmac

    return hmac.new(key, payload, hashlib.sha256).hexdigest()


# -- encoding ------------------------------------------------------------------------------


def _canonical(doc: dict[str, object]) -> str:
    """The canonical encoding of FORMAT.md, by definition: the reference for ``_write``."""
    return json.dumps(doc, sort_keys=True, indent=2, allow_nan=False) + "\n"


# What ``json.dumps`` writes for each kind of value: the C string escaper (ensure_ascii),
# and the plain int and float reprs (so an IntEnum is written as a number).
_string = encode_basestring_ascii
_int = int.__repr__
_float = float.__repr__


def _write(manifest: Manifest) -> str:
    """``_canonical(_encode(manifest))``, byte for byte, for the manifest's fixed schema.

    With ``indent``, ``json.dumps`` runs its pure-Python encoder, a generator per nested
    value; writing the known keys in their sorted order is several times faster (a pool
    worker writes one manifest per cold runnable). ``_string`` is the escaper that
    ``json.dumps`` itself calls; ``tests/store/test_canonical.py`` holds the two equal
    over arbitrary manifests. Keys, sorted: artifacts, checksum (format 2), created,
    dep_hash, deps, duration, exit_code, format, inputs, log, qik_version, runnable,
    signature. Empty lists and objects are ``[]`` and ``{}`` on one line.
    """
    s = _string
    if manifest.artifacts:
        artifacts = (
            "[\n"
            + ",\n".join(
                [
                    f'    {{\n      "digest": {s(a.digest)},\n      "mode": {_int(a.mode)},'
                    f'\n      "path": {s(a.path)},\n      "size": {_int(a.size)}\n    }}'
                    for a in manifest.artifacts
                ]
            )
            + "\n  ]"
        )
    else:
        artifacts = "[]"
    if manifest.deps:
        deps = (
            "{\n"
            + ",\n".join([f"    {s(k)}: {s(v)}" for k, v in sorted(manifest.deps.items())])
            + "\n  }"
        )
    else:
        deps = "{}"
    checksum = '\n  "checksum": ' + _UNSEALED_TEXT + "," if manifest.format >= 2 else ""
    signature = "null" if manifest.signature is None else s(manifest.signature)
    version = manifest.format
    return (
        f'{{\n  "artifacts": {artifacts},{checksum}'
        f'\n  "created": {_float(manifest.created)},'
        f'\n  "dep_hash": {s(manifest.dep_hash)},'
        f'\n  "deps": {deps},'
        f'\n  "duration": {_float(manifest.duration)},'
        f'\n  "exit_code": {_int(manifest.exit_code)},'
        f'\n  "format": {_int(version)},'
        f'\n  "inputs": {_write_ref(manifest.inputs)},'
        f'\n  "log": {_write_ref(manifest.log)},'
        f'\n  "qik_version": {s(manifest.qik_version)},'
        f'\n  "runnable": {s(manifest.runnable)},'
        f'\n  "signature": {signature}\n}}\n'
    )


def _write_ref(ref: ObjectRef | None) -> str:
    """``_encode_ref(ref)`` as ``_write`` places it: a value of the top-level object."""
    if ref is None:
        return "null"
    text = "" if ref.text is None else f',\n    "text": {_string(ref.text)}'
    return f'{{\n    "digest": {_string(ref.digest)},\n    "size": {_int(ref.size)}{text}\n  }}'


def _seal(data: bytes) -> bytes:
    """Fill in the checksum: SHA-256 of the bytes with its 64 digits as zeros."""
    if data.count(_UNSEALED) != 1:
        raise ValueError("an encoded manifest must hold one unsealed checksum")
    checksum = hashlib.sha256(data).hexdigest()
    return data.replace(_UNSEALED, b'"sha256:' + checksum.encode("ascii") + b'"')


def _check_checksum(value: object, data: bytes) -> None:
    """A flipped bit that leaves the JSON valid (``"bin"`` read as ``"`in"``, an exit
    code 0 read as 1) must not change what is replayed: format 2 checks its bytes."""
    if not isinstance(value, str) or not (match := _CHECKSUM.fullmatch(value)):
        raise ManifestInvalid("checksum: not 'sha256:' and 64 lowercase hex digits")
    sealed = b'"' + value.encode("ascii") + b'"'
    if data.count(sealed) != 1:
        raise ManifestInvalid("checksum: must appear once, unescaped")
    unsealed = data.replace(sealed, _UNSEALED)
    if hashlib.sha256(unsealed).hexdigest() == match.group(1):
        return
    # git may have turned its line ends into CRLF on checkout (a repo cache committed
    # before .qik/** was marked -text, core.autocrlf, a later `* eol=crlf` line): JSON
    # strings hold no raw line break, so undoing that changes no value (store/FORMAT.md).
    if b"\r\n" not in unsealed or (
        hashlib.sha256(unsealed.replace(b"\r\n", b"\n")).hexdigest() != match.group(1)
    ):
        raise ManifestInvalid("checksum: does not match the manifest's bytes")


def _encode(manifest: Manifest) -> dict[str, object]:
    doc: dict[str, object] = {
        "format": manifest.format,
        "runnable": manifest.runnable,
        "dep_hash": manifest.dep_hash,
        "exit_code": manifest.exit_code,
        "duration": manifest.duration,
        "qik_version": manifest.qik_version,
        "created": manifest.created,
        "log": _encode_ref(manifest.log),
        "artifacts": [
            {"path": a.path, "digest": a.digest, "size": a.size, "mode": a.mode}
            for a in manifest.artifacts
        ],
        "deps": dict(manifest.deps),
        "signature": manifest.signature,
        "inputs": _encode_ref(manifest.inputs),
    }
    if manifest.format >= 2:
        doc["checksum"] = _UNSEALED[1:-1].decode("ascii")
    return doc


def _encode_ref(ref: ObjectRef | None) -> dict[str, object] | None:
    if ref is None:
        return None
    if ref.text is None:
        return {"digest": ref.digest, "size": ref.size}
    return {"digest": ref.digest, "size": ref.size, "text": ref.text}


def _load_json(data: bytes) -> object:
    if not isinstance(data, bytes | bytearray):
        raise ManifestInvalid("not bytes")
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestInvalid(f"larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        doc: object = _DECODER.decode(data.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ManifestInvalid(f"not JSON: {type(exc).__name__}") from None
    except ValueError as exc:  # JSONDecodeError, and ints past the digit limit
        raise ManifestInvalid(f"not JSON: {exc}") from None
    return doc


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # Parsers disagree on which duplicate wins; a hostile file could exploit that.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ManifestInvalid("duplicate key in a JSON object")
    return result


def _reject_constant(name: str) -> object:
    raise ManifestInvalid(f"not JSON: {name} is not a number")


# One decoder for every manifest read (``json.loads`` with options builds one per call).
_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant
)


def _built(cls: type[_T], **fields: object) -> _T:
    """An instance from fields the decoder has just validated, without validating them
    again in ``__post_init__`` (reading 900 manifests is on a fully cached run's path)."""
    obj = object.__new__(cls)
    obj.__dict__.update(fields)  # frozen, so no __setattr__; no __slots__, so a __dict__
    return obj


def _decode(value: object) -> Manifest:
    version = _check_format(value)
    doc = _as_object(value, "manifest", _TOP_KEYS if version == 1 else _TOP_KEYS_2)
    inline = version >= 2
    artifacts = _decode_artifacts(doc["artifacts"])
    _check_artifact_tree(artifacts)
    return _built(
        Manifest,
        runnable=_as_text(doc["runnable"], "runnable", _MAX_TEXT),
        dep_hash=check_dep_hash(doc["dep_hash"]),
        exit_code=_as_int(doc["exit_code"], "exit_code", *_EXIT_CODES),
        duration=_as_seconds(doc["duration"], "duration"),
        qik_version=_as_text(doc["qik_version"], "qik_version", _MAX_VERSION_CHARS),
        created=_as_seconds(doc["created"], "created"),
        log=_decode_ref(doc["log"], "log", inline=inline),
        artifacts=artifacts,
        deps=_as_deps(doc["deps"]),
        signature=_decode_signature(doc["signature"]),
        inputs=(
            None if doc["inputs"] is None else _decode_ref(doc["inputs"], "inputs", inline=inline)
        ),
        format=version,
    )


def _check_format(value: object) -> int:
    # Before the key set, so a newer format reads as such rather than as unknown keys.
    if not isinstance(value, dict):
        raise ManifestInvalid("manifest: not a JSON object")
    if "format" not in value:
        raise ManifestInvalid("manifest: missing key 'format'")
    version = _as_int(value["format"], "format", 0, 1 << 31)
    if version not in READABLE_FORMATS:
        raise ManifestInvalid(f"format: unsupported version {version}")
    return version


def _decode_ref(value: object, where: str, *, inline: bool = False) -> ObjectRef:
    if inline and isinstance(value, dict) and "text" in value:
        obj = _as_object(value, where, _INLINE_REF_KEYS)
    else:
        obj = _as_object(value, where, _REF_KEYS)
    try:
        digest = _as_hex(obj["digest"], "digest", _SHA256_HEX)
        size = _as_int(obj["size"], "size", 0, MAX_OBJECT_SIZE)
        text = obj.get("text")
        if text is not None:
            _check_inline(text, digest, size)
    except ManifestInvalid as exc:
        raise _within(where, exc) from None
    return _built(ObjectRef, digest=digest, size=size, text=text)


def _check_inline(text: object, digest: str, size: int) -> None:
    if not isinstance(text, str):
        raise ManifestInvalid("text: not a string")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestInvalid("text: not valid unicode") from None
    if len(data) != size or size > INLINE_MAX:
        raise ManifestInvalid(f"text: {len(data)} bytes, not the size {size} (<= {INLINE_MAX})")
    if hashlib.sha256(data).hexdigest() != digest:
        raise ManifestInvalid("text: does not match its digest")


def _decode_artifacts(value: object) -> tuple[ArtifactEntry, ...]:
    if not isinstance(value, list):
        raise ManifestInvalid("artifacts: not a list")
    return tuple(_decode_artifact(item, f"artifacts[{i}]") for i, item in enumerate(value))


def _decode_artifact(value: object, where: str) -> ArtifactEntry:
    obj = _as_object(value, where, _ARTIFACT_KEYS)
    try:
        return _built(
            ArtifactEntry,
            path=_as_artifact_path(obj["path"]),
            digest=_as_hex(obj["digest"], "digest", _SHA256_HEX),
            size=_as_int(obj["size"], "size", 0, MAX_OBJECT_SIZE),
            mode=_as_int(obj["mode"], "mode", 0, _MAX_MODE),
        )
    except ManifestInvalid as exc:
        raise _within(where, exc) from None


def _decode_signature(value: object) -> str | None:
    return None if value is None else _as_hex(value, "signature", _SIGNATURE)


# -- validators: each takes an untrusted value and returns it typed, or raises -------------


def _within(where: str, exc: ManifestInvalid) -> ManifestInvalid:
    """``exc``, said of a part of the manifest: ``where.reason``."""
    return ManifestInvalid(f"{where}.{exc.reason}")


def _as_object(value: object, where: str, keys: frozenset[str]) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where}: not a JSON object")
    if value.keys() == keys:  # the usual case, without building the differences
        return value
    missing = sorted(keys - value.keys())
    if missing:
        raise ManifestInvalid(f"{where}: missing key {missing[0]!r}")
    unknown = sorted(str(k) for k in value.keys() - keys)
    if unknown:
        raise ManifestInvalid(f"{where}: unknown key {unknown[0]!r}")
    return value


def _as_int(value: object, where: str, low: int, high: int) -> int:
    # bool is an int in Python but not in the format.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ManifestInvalid(f"{where}: not an integer")
    if not low <= value <= high:
        raise ManifestInvalid(f"{where}: {value} is outside [{low}, {high}]")
    return value


def _as_seconds(value: object, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ManifestInvalid(f"{where}: not a number")
    if not (0 <= value <= _MAX_SECONDS and math.isfinite(value)):
        raise ManifestInvalid(f"{where}: {value} is outside [0, {_MAX_SECONDS}]")
    return float(value)


def _as_text(value: object, where: str, max_chars: int) -> str:
    if not isinstance(value, str):
        raise ManifestInvalid(f"{where}: not a string")
    if not value or len(value) > max_chars:
        raise ManifestInvalid(f"{where}: must have 1 to {max_chars} characters")
    if _CONTROL_CHARS.search(value):
        raise ManifestInvalid(f"{where}: contains a control character")
    _check_unicode(value, where)
    return value


def _as_label(value: object) -> str:
    # Unlike other text, a label may hold control characters (a const dep's value may span
    # lines), so whoever prints one must escape it.
    if not isinstance(value, str):
        raise ManifestInvalid("deps: a label is not a string")
    if not value or len(value) > _MAX_LABEL_CHARS:
        raise ManifestInvalid(f"deps: a label must have 1 to {_MAX_LABEL_CHARS} characters")
    _check_unicode(value, "deps: a label")
    return value


def _check_unicode(value: str, where: str) -> None:
    # Lone surrogates survive JSON but can't become UTF-8 or a file name.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestInvalid(f"{where}: not valid unicode") from None


def _as_hex(value: object, where: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str):
        raise ManifestInvalid(f"{where}: not a string")
    if not pattern.fullmatch(value):
        raise ManifestInvalid(f"{where}: {value[:80]!r} does not match {pattern.pattern}")
    return value


def _as_artifact_path(value: object) -> str:
    if not isinstance(value, str):
        raise ManifestInvalid("path: not a string")
    try:
        check_artifact_path(value)
    except UnsafePath as exc:
        raise ManifestInvalid(f"path: {exc.path[:200]!r} {exc.reason}") from None
    return value


def _as_artifacts(value: object) -> tuple[ArtifactEntry, ...]:
    if not isinstance(value, tuple | list):
        raise ManifestInvalid("artifacts: not a sequence")
    entries = tuple(value)
    for entry in entries:
        if not isinstance(entry, ArtifactEntry):
            raise ManifestInvalid("artifacts: holds something other than an ArtifactEntry")
    _check_artifact_tree(entries)
    return entries


def _check_artifact_tree(entries: tuple[ArtifactEntry, ...]) -> None:
    """No path twice, and no path below another: both can't be files on restore."""
    paths: set[str] = set()
    for entry in entries:
        if entry.path in paths:
            raise ManifestInvalid(f"artifacts: duplicate path {entry.path!r}")
        paths.add(entry.path)
    for path in paths:
        segments = path.split("/")
        for depth in range(1, len(segments)):
            parent = "/".join(segments[:depth])
            if parent in paths:
                raise ManifestInvalid(f"artifacts: {path!r} is inside artifact {parent!r}")


def _as_deps(value: object) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise ManifestInvalid("deps: not a mapping")
    checked: dict[str, str] = {}
    for label, digest in sorted(value.items(), key=_label_order):
        _as_label(label)
        if type(digest) is not str or not _DEP_DIGEST.fullmatch(digest):
            _as_hex(digest, f"deps[{str(label)[:80]!r}]", _DEP_DIGEST)  # raises, saying why
        checked[label] = digest
    return MappingProxyType(checked)


def _label_order(item: tuple[object, object]) -> str:
    return str(item[0])
