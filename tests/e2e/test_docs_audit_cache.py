"""What docs/cache-command.md promises of ``qik :cache``, through the real CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git

Qik = Callable[..., subprocess.CompletedProcess[str]]

_TWO = """
    [commands.a]
    exec = "echo a"
    deps = ["a.txt"]

    [commands.b]
    exec = "echo b"
    deps = ["b.txt"]
    """


def test_stats_counts_every_manifest_and_how_many_are_invalid(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    root = make_repo({"qik.toml": _TWO, "a.txt": "a\n", "b.txt": "b\n"})
    assert qik(root).returncode == 0
    manifests = sorted((root / "._qik" / "manifests").iterdir())
    assert len(manifests) == 2
    manifests[0].write_text("not json")
    stats = qik(root, ":cache", "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    local = json.loads(stats.stdout)["caches"]["local"]
    assert (local["manifests"], local["invalid_manifests"]) == (2, 1)
    text = qik(root, ":cache", "stats")
    assert "manifests     2 (1 invalid)" in text.stdout
    verify = qik(root, ":cache", "verify")
    assert verify.returncode == 1
    assert "local: 2 manifests" in verify.stdout


# -- a read-only S3 cache: verify reports damage and leaves it for a trusted writer ----

_S3 = """
    vars = ["s3_endpoint"]

    [caches.remote]
    type = "s3"
    bucket = "{bucket}"
    prefix = "p"
    region-name = "us-east-1"
    endpoint-url = "{{ctx.s3_endpoint}}"
    aws-access-key-id = "{key}"
    aws-secret-access-key = "{secret}"
    {extra}

    [commands.build]
    exec = "mkdir -p out && cp data.bin out/data.bin"
    deps = ["data.bin"]
    artifacts = ["out/data.bin"]
    cache = "remote"
    """


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    from tests.s3.server import start_moto

    server = start_moto()
    yield server
    server.stop()


@pytest.mark.s3
def test_verify_leaves_damaged_objects_in_a_read_only_cache(
    make_repo: Callable[..., Path], qik: Qik, moto: Any
) -> None:
    from tests.s3.server import ACCESS_KEY, SECRET_KEY

    client = moto.client()
    client.create_bucket(Bucket="audit")
    fields = {"bucket": "audit", "key": ACCESS_KEY, "secret": SECRET_KEY}
    root = make_repo({"qik.toml": _S3.format(extra="", **fields), "data.bin": "x" * 50_000})
    env = {"S3_ENDPOINT": moto.endpoint}
    assert qik(root, "build", env=env).returncode == 0
    [key] = [
        o["Key"]
        for o in client.list_objects_v2(Bucket="audit")["Contents"]
        if "/objects/" in o["Key"]
    ]
    client.put_object(Bucket="audit", Key=key, Body=b"damaged")

    (root / "qik.toml").write_text(_S3.format(extra="read-only = true", **fields))
    git(root, "commit", "-q", "-am", "read-only")
    verify = qik(root, ":cache", "verify", "--cache", "remote", env=env)
    assert verify.returncode == 1 and "corrupt" in verify.stdout, verify.stdout + verify.stderr
    assert client.get_object(Bucket="audit", Key=key)["Body"].read() == b"damaged"


def test_clearing_the_repo_cache_unstages_what_was_never_committed(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    toml = '[commands.lock]\nexec = "echo locked"\ndeps = ["in.txt"]\ncache = "repo"\n'
    root = make_repo({"qik.toml": toml, "in.txt": "0\n"})
    assert qik(root, "lock").returncode == 0
    assert git(root, "ls-files", ".qik/manifests")  # intent to add
    cleared = qik(root, ":cache", "clear", "--cache", "repo")
    assert cleared.returncode == 0, cleared.stderr
    assert "repo: removed 1 files" in cleared.stdout
    assert git(root, "ls-files", ".qik/manifests") == ""
    assert "D " not in git(root, "status", "--short", "--", ".qik")
    [row] = json.loads(qik(root, ":cache", "ls", "--json").stdout)
    assert row["result_in"] == ["local"]


def test_cache_ls_follows_the_profile_default_cache(
    make_repo: Callable[..., Path], qik: Qik, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[ctx.ci.qik] cache = ...`` sends results there in a run; ``:cache ls`` says so."""
    toml = '[commands.lock]\nexec = "echo locked"\ndeps = ["in.txt"]\n'
    toml += '[ctx.ci.qik]\ncache = "repo"\n'
    root = make_repo({"qik.toml": toml, "in.txt": "0\n"})
    assert qik(root, "-p", "ci").returncode == 0
    [row] = json.loads(qik(root, ":cache", "-p", "ci", "ls", "--json").stdout)
    assert (row["cache"], row["status"]) == ("repo", "warm")
    monkeypatch.setenv("QIK__PROFILE", "ci")
    [row] = json.loads(qik(root, ":cache", "ls", "--json").stdout)
    assert (row["cache"], row["status"]) == ("repo", "warm")
    monkeypatch.delenv("QIK__PROFILE")
    [row] = json.loads(qik(root, ":cache", "ls", "--json").stdout)
    assert row["cache"] == "local"


def test_a_read_only_cache_is_not_cleared(make_repo: Callable[..., Path], qik: Qik) -> None:
    toml = """
        [caches.remote]
        type = "s3"
        bucket = "b"
        endpoint-url = "http://127.0.0.1:9"
        read-only = true
        [commands.x]
        exec = "echo x"
        """
    cleared = qik(make_repo({"qik.toml": toml}), ":cache", "clear", "--cache", "remote", "--yes")
    assert cleared.returncode == 2 and "error[cache-read-only]" in cleared.stderr
