"""The environment: what is installed, who provides a module, versions; cached by listing."""

from __future__ import annotations

import importlib.machinery
from pathlib import Path

import pytest

from qik.pygraph.dists import Environment, canonical_name
from tests.pygraph.conftest import make_dist


def _env(*sites: Path, cache: Path | None = None) -> Environment:
    return Environment([str(site) for site in sites], cache)


def test_top_level_txt_record_and_egg_info(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_dist(site, "plain", "1.0")
    make_dist(site, "PyYAML", "6.0", modules=("yaml", "_yaml"))
    listed = make_dist(site, "opencv-python", "4.0", modules=("cv2",))
    (listed / "top_level.txt").write_text("cv2\n")
    (listed / "RECORD").write_text("other/__init__.py,,\n")  # top_level.txt wins
    binary = make_dist(site, "fast", "1.0")
    extension = "_fast" + importlib.machinery.EXTENSION_SUFFIXES[0]
    (binary / "RECORD").write_text(
        f"{extension},,\nsix.py,,\nfast-1.0.dist-info/RECORD,,\n../../bin/tool,,\nfast.pth,,\n"
    )
    (site / extension).write_bytes(b"")
    (site / "six.py").write_text("")
    egg = site / "Legacy-2.0-py3.11.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: Legacy\nVersion: 2.0\n")
    (egg / "top_level.txt").write_text("legacy\n")
    names = ["plain", "yaml", "_yaml", "cv2", "other", "_fast", "six", "legacy", "fast.pth", ".."]
    assert _env(site).providers(names) == {
        "plain": ("plain",),
        "yaml": ("PyYAML",),
        "_yaml": ("PyYAML",),
        "cv2": ("opencv-python",),
        "other": None,
        "_fast": ("fast",),
        "six": ("fast",),
        "legacy": ("Legacy",),
        "fast.pth": None,
        "..": None,
    }
    assert _env(site).installed == {"plain", "pyyaml", "opencv-python", "fast", "legacy"}


def test_a_module_that_is_not_there_reads_no_metadata(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_dist(site, "lib", "1.0", modules=("lib", "gone"))
    (site / "gone" / "__init__.py").unlink()
    (site / "gone").rmdir()  # the RECORD says so, but nothing can import it
    assert _env(site).providers(["gone"]) == {"gone": None}


def test_versions_and_the_first_copy_on_the_path(tmp_path: Path) -> None:
    make_dist(tmp_path / "one", "dup", "1.0", modules=("dup_a",))
    make_dist(tmp_path / "two", "dup", "2.0", modules=("dup_b",))
    env = _env(tmp_path / "one", tmp_path / "two")
    assert env.providers(["dup_a", "dup_b"]) == {"dup_a": ("dup",), "dup_b": None}
    assert (env.version("dup"), env.version("DUP"), env.version("nope")) == ("1.0", "1.0", None)


def test_answers_are_cached_until_a_distribution_changes(tmp_path: Path) -> None:
    site, cache = tmp_path / "site", tmp_path / "cache"
    meta = make_dist(site, "lib", "1.0", modules=("lib", "extra"))
    assert _env(site, cache=cache).providers(["extra"]) == {"extra": ("lib",)}
    # Same directories: the cached answer is used (this edit is not read).
    (meta / "RECORD").write_text("renamed/__init__.py,,\n")
    assert _env(site, cache=cache).providers(["extra"]) == {"extra": ("lib",)}
    # An upgrade replaces the directory: read again.
    meta.rename(site / "lib-2.0.dist-info")
    assert _env(site, cache=cache).providers(["extra"]) == {"extra": None}


def test_versions_are_read_every_time(tmp_path: Path) -> None:
    meta = make_dist(tmp_path / "site", "lib", "1.0")
    assert _env(tmp_path / "site", cache=tmp_path / "cache").version("lib") == "1.0"
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: lib\nVersion: 1.1\n")
    assert _env(tmp_path / "site", cache=tmp_path / "cache").version("lib") == "1.1"


def test_a_corrupt_cache_is_read_again(tmp_path: Path) -> None:
    site, cache = tmp_path / "site", tmp_path / "cache"
    make_dist(site, "lib", "1.0")
    _env(site, cache=cache).providers(["lib"])
    (cache / "dists.json").write_text("{not json")
    assert _env(site, cache=cache).providers(["lib"]) == {"lib": ("lib",)}


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("Django", "django"), ("typing_extensions", "typing-extensions"), ("a.b__c", "a-b-c")],
)
def test_canonical_name(name: str, canonical: str) -> None:
    assert canonical_name(name) == canonical
