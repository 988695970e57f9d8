"""The manifest memo: validated manifests kept decoded, each while its file is unchanged."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from qik.store import Manifest, ObjectRef
from qik.store.backend import LocalBackend
from qik.store.cas import Store, manifest_key
from qik.store.manifest import from_memo_fields, memo_fields, sign
from qik.store.memo import _KEEP, MEMO_NAME, ManifestMemo, file_identity
from tests.store.factories import make_manifest

Qik = Callable[..., subprocess.CompletedProcess[str]]

TOML = '[commands.hello]\nexec = "echo hello; echo ran >> ../count"\ndeps = ["*.py"]\n'


def _memo_store(root: Path) -> Store:
    return Store(LocalBackend(root), memo=ManifestMemo(root / MEMO_NAME))


def test_a_memo_entry_decodes_to_the_manifest_it_was_made_from() -> None:
    for manifest in (
        make_manifest(),
        make_manifest(artifacts=(), exit_code=3, inputs=ObjectRef.inline(b"x y\n")),
        sign(make_manifest(), b"key"),
    ):
        again = from_memo_fields(memo_fields(manifest))
        assert again == manifest and again.to_bytes() == manifest.to_bytes()
        assert (again.log.text, again.inputs and again.inputs.text) == (
            manifest.log.text,
            manifest.inputs and manifest.inputs.text,
        )


def test_a_second_store_reads_from_the_memo_until_the_file_changes(tmp_path: Path) -> None:
    first = _memo_store(tmp_path)
    manifest = make_manifest(log=ObjectRef.inline(b"hello\n"))
    first.write_manifest(manifest, check_objects=False)
    assert first.read_manifest(manifest.dep_hash) == manifest
    assert first.memo is not None
    first.memo.save()
    path = tmp_path / manifest_key(manifest.dep_hash)
    identity = file_identity(str(path))
    assert identity is not None

    # The same bytes, damaged in place with the file's identity kept: only a read through
    # the memo still gives the manifest (a plain store finds it invalid).
    data = path.read_bytes()
    fd = os.open(path, os.O_WRONLY)
    os.write(fd, data.replace(b'"exit_code": 0', b'"exit_code": 7'))
    os.close(fd)
    os.utime(path, ns=(identity[2], identity[2]))
    assert file_identity(str(path)) == identity
    assert _memo_store(tmp_path).read_manifest(manifest.dep_hash) == manifest

    # Rewritten (a new file renamed over it): read again, and what is read is kept.
    changed = make_manifest(log=ObjectRef.inline(b"hello\n"), exit_code=1)
    first.write_manifest(changed, check_objects=False)
    second = _memo_store(tmp_path)
    assert second.read_manifest(manifest.dep_hash) == changed
    assert second.read_manifest(manifest.dep_hash).exit_code == 1  # type: ignore[union-attr]
    path.unlink()
    assert _memo_store(tmp_path).read_manifest(manifest.dep_hash) is None


def test_a_damaged_or_foreign_memo_is_ignored(tmp_path: Path) -> None:
    store = _memo_store(tmp_path)
    manifest = make_manifest(log=ObjectRef.inline(b"hello\n"))
    store.write_manifest(manifest, check_objects=False)
    store.read_manifest(manifest.dep_hash)
    assert store.memo is not None
    store.memo.save()
    memo = tmp_path / MEMO_NAME
    good = memo.read_bytes()
    for damaged in (good[:-1] + bytes([good[-1] ^ 1]), good[:30], b"", b"not a memo at all"):
        memo.write_bytes(damaged)
        fresh = ManifestMemo(memo)
        identity = file_identity(str(tmp_path / manifest_key(manifest.dep_hash)))
        assert identity is not None
        assert fresh.get(manifest.dep_hash, identity) is None
        # ... and a store with it reads the file, and writes a good memo again.
        reader = Store(LocalBackend(tmp_path), memo=fresh)
        assert reader.read_manifest(manifest.dep_hash) == manifest
        fresh.save()
        assert ManifestMemo(memo).get(manifest.dep_hash, identity) == manifest


def test_entries_unused_for_several_rewrites_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / MEMO_NAME
    old, kept = make_manifest(), make_manifest(exit_code=1, dep_hash="ab" * 32)
    memo = ManifestMemo(path)
    memo.put(old.dep_hash, (1, 2, 3), old)
    memo.put(kept.dep_hash, (4, 5, 6), kept)
    memo.save()
    for i in range(_KEEP):
        memo = ManifestMemo(path)
        assert memo.get(kept.dep_hash, (4, 5, 6)) == kept
        memo.put("cd" * 32, (7, 8, i), kept)  # something new, so the memo is written
        memo.save()
    memo = ManifestMemo(path)
    assert memo.get(old.dep_hash, (1, 2, 3)) is None
    assert memo.get(kept.dep_hash, (4, 5, 6)) == kept


def test_a_cached_run_replays_through_the_memo(make_repo: Callable[..., Path], qik: Qik) -> None:
    root = make_repo({"qik.toml": TOML, "a.py": "a = 1\n"})
    assert qik(root).returncode == 0
    assert not (root / "._qik" / MEMO_NAME).exists()  # nothing was read yet
    assert "hello" in qik(root).stdout
    memo = root / "._qik" / MEMO_NAME
    assert memo.exists()
    written = memo.stat().st_mtime_ns
    replayed = qik(root)
    assert (
        replayed.returncode == 0 and "hello" in replayed.stdout and "replayed" in replayed.stdout
    )
    assert memo.stat().st_mtime_ns == written  # nothing new was read: not written again
    assert (root.parent / "count").read_text() == "ran\n"

    # A damaged memo costs a parse, never a wrong replay; the result still replays.
    memo.write_bytes(memo.read_bytes()[:-5])
    again = qik(root)
    assert again.returncode == 0 and "replayed" in again.stdout and "hello" in again.stdout
    assert (root.parent / "count").read_text() == "ran\n"

    # A deleted manifest is a miss, whatever the memo holds.
    for manifest in (root / "._qik" / "manifests").iterdir():
        manifest.unlink()
    assert qik(root).returncode == 0
    assert (root.parent / "count").read_text() == "ran\nran\n"


def test_equal_parts_are_kept_once(tmp_path: Path) -> None:
    """A module's commands share one inputs listing: the memo holds it once."""
    listing = ObjectRef.inline(b"".join(b"%040d src/m_%d.py\n" % (i, i) for i in range(50)))
    assert listing is not None and listing.text is not None
    first = make_manifest(inputs=listing, log=ObjectRef.inline(b"one\n"))
    second = make_manifest(dep_hash="ab" * 32, inputs=listing, log=ObjectRef.inline(b"two\n"))
    memo = ManifestMemo(tmp_path / MEMO_NAME)
    # As two separate reads would give them: equal listings, not the same string.
    memo.put(first.dep_hash, (1, 1, 1), from_memo_fields(memo_fields(first)))
    memo.put(second.dep_hash, (2, 2, 2), _copied(second))
    memo.save()
    assert (tmp_path / MEMO_NAME).stat().st_size < 1.5 * len(listing.text)
    loaded = ManifestMemo(tmp_path / MEMO_NAME)
    a, b = loaded.get(first.dep_hash, (1, 1, 1)), loaded.get(second.dep_hash, (2, 2, 2))
    assert a == first and b == second
    assert a is not None and b is not None and a.inputs is not None and b.inputs is not None
    assert a.inputs.text == listing.text and a.inputs.text is b.inputs.text


def _copied(manifest: Manifest) -> Manifest:
    """``manifest`` with its inputs listing in a string of its own."""
    assert manifest.inputs is not None and manifest.inputs.text is not None
    text = "".join(list(manifest.inputs.text))
    inputs = ObjectRef(manifest.inputs.digest, manifest.inputs.size, text)
    return dataclasses.replace(manifest, inputs=inputs)
