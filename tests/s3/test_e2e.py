"""The S3 cache through the CLI, against moto's server: share, dedup, repair, distrust."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

from qik.store.cas import object_key
from tests.conftest import QIK, git
from tests.s3.server import ACCESS_KEY, SECRET_KEY, MotoServer, start_moto
from tests.store.factories import encode as sealed_json

pytestmark = pytest.mark.s3

Qik = Callable[..., subprocess.CompletedProcess[str]]
PREFIX = "team-a"


def _toml(counter: Path, bucket: str, *, cache_extra: str = "") -> str:
    return f"""
        vars = ["s3_endpoint", "aws_key", "aws_secret", {{name = "sign", required = false}}]

        [caches.remote]
        type = "s3"
        bucket = "{bucket}"
        prefix = "{PREFIX}"
        region-name = "us-east-1"
        endpoint-url = "{{ctx.s3_endpoint}}"
        aws-access-key-id = "{{ctx.aws_key}}"
        aws-secret-access-key = "{{ctx.aws_secret}}"
        {cache_extra}

        [commands.build]
        exec = "echo ran >> {counter}; mkdir -p out; cp src/data.bin out/data.bin; echo built"
        deps = ["src/**"]
        artifacts = ["out/data.bin"]
        cache = "remote"
        """


@pytest.fixture
def env(moto: MotoServer) -> dict[str, str]:
    return {"S3_ENDPOINT": moto.endpoint, "AWS_KEY": ACCESS_KEY, "AWS_SECRET": SECRET_KEY}


@pytest.fixture
def project(
    make_repo: Callable[..., Path], tmp_path: Path, bucket: str
) -> Callable[..., tuple[Path, Path]]:
    """A repo whose ``build`` copies a random binary file to an artifact, S3-cached."""

    def make(cache_extra: str = "", name: str = "repo") -> tuple[Path, Path]:
        counter = tmp_path / f"{name}.counter"
        root = make_repo(
            {"qik.toml": _toml(counter, bucket, cache_extra=cache_extra), "src/keep": ""},
            name=name,
        )
        (root / "src" / "data.bin").write_bytes(os.urandom(200_000))
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "data")
        return root, counter

    return make


def _runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def _keys(client: Any, bucket: str, under: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{PREFIX}/{under}"
    )
    return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def _forget_locally(root: Path) -> None:
    shutil.rmtree(root / "._qik")
    shutil.rmtree(root / "out", ignore_errors=True)


def _dep_hash(qik: Qik, root: Path, env: dict[str, str]) -> str:
    listed = qik(root, "build", "--ls", "--json", env=env)
    dep_hash: str = json.loads(listed.stdout)[0]["dep_hash"]
    return dep_hash


def _flip_byte(client: Any, bucket: str, key: str) -> None:
    body = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    client.put_object(Bucket=bucket, Key=key, Body=bytes(body))


def test_a_cold_run_is_shared_through_the_bucket(
    project: Callable[..., tuple[Path, Path]],
    qik: Qik,
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
) -> None:
    root, counter = project()
    first = qik(root, "build", env=env)
    assert first.returncode == 0, first.stderr
    assert not _warnings(first.stderr)
    assert len(_keys(s3_client, bucket, "manifests/")) == 1
    original = (root / "out" / "data.bin").read_bytes()

    _forget_locally(root)
    again = qik(root, "build", env=env)
    assert again.returncode == 0, again.stderr
    assert "built" in again.stdout and "remote" in again.stdout
    assert (root / "out" / "data.bin").read_bytes() == original
    assert _runs(counter) == 1

    # Another machine: a clone with nothing local replays the first clone's result.
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(root), str(other)], check=True)
    (other / "src" / "data.bin").write_bytes((root / "src" / "data.bin").read_bytes())
    cloned = qik(other, "build", env=env)
    assert cloned.returncode == 0, cloned.stderr
    assert (other / "out" / "data.bin").read_bytes() == original
    assert _runs(counter) == 1


def test_identical_artifacts_are_stored_once(
    make_repo: Callable[..., Path],
    qik: Qik,
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
) -> None:
    toml = _toml(tmp_path / "c", bucket) + "\n".join(
        f"""
        [commands.copy{i}]
        exec = "mkdir -p out{i} && cp src/data.bin out{i}/data.bin"
        deps = ["src/**"]
        artifacts = ["out{i}/data.bin"]
        cache = "remote"
        """
        for i in (1, 2)
    )
    root = make_repo({"qik.toml": toml, "src/data.bin": "same bytes " * 5000})
    result = qik(root, "copy1", "copy2", env=env)
    assert result.returncode == 0, result.stderr
    manifests = [
        json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
        for key in _keys(s3_client, bucket, "manifests/")
    ]
    assert len(manifests) == 2
    digests = {m["artifacts"][0]["digest"] for m in manifests}
    assert len(digests) == 1
    refs = [r for m in manifests for r in [m["log"], *m["artifacts"], m["inputs"]] if r]
    stored = {r["digest"] for r in refs if "text" not in r}  # small logs are inline
    assert stored == digests
    assert len(_keys(s3_client, bucket, "objects/")) == len(stored)


def test_a_flipped_byte_in_the_bucket_reruns_and_repairs(
    project: Callable[..., tuple[Path, Path]],
    qik: Qik,
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
) -> None:
    root, counter = project()
    assert qik(root, "build", env=env).returncode == 0
    manifest_key = _keys(s3_client, bucket, "manifests/")[0]
    manifest = json.loads(s3_client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    artifact = f"{PREFIX}/{object_key(manifest['artifacts'][0]['digest'])}"
    _flip_byte(s3_client, bucket, artifact)

    _forget_locally(root)
    healed = qik(root, "build", env=env)
    assert healed.returncode == 0, healed.stderr
    assert _runs(counter) == 2
    assert len(_warnings(healed.stderr)) == 1, healed.stderr
    assert "bad object" in healed.stderr

    verify = qik(root, ":cache", "verify", "--cache", "remote", env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    _forget_locally(root)
    assert qik(root, "build", env=env).returncode == 0
    assert _runs(counter) == 2  # the repaired bucket replays


def test_a_damaged_object_in_the_bucket_is_replaced_by_the_next_writer(
    project: Callable[..., tuple[Path, Path]],
    qik: Qik,
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
) -> None:
    # The writer's HEAD found the object present and skipped it, publishing a manifest
    # over 5 bytes of junk: readers warned and ran again, a read-only one for good.
    root, counter = project()
    digest = hashlib.sha256((root / "src" / "data.bin").read_bytes()).hexdigest()
    key = f"{PREFIX}/{object_key(digest)}"
    s3_client.put_object(Bucket=bucket, Key=key, Body=b"junk!")
    written = qik(root, "build", env=env)
    assert written.returncode == 0 and not _warnings(written.stderr), written.stderr
    assert s3_client.head_object(Bucket=bucket, Key=key)["ContentLength"] > 5

    _forget_locally(root)
    replayed = qik(root, "build", "--cache-read-only", env=env)
    assert replayed.returncode == 0 and not _warnings(replayed.stderr), replayed.stderr
    assert _runs(counter) == 1
    assert (root / "out" / "data.bin").read_bytes() == (root / "src" / "data.bin").read_bytes()


@pytest.mark.parametrize("path", ["../../outside", "/etc/qik-poisoned", "ok/../../x"])
def test_a_hostile_manifest_is_a_miss(
    project: Callable[..., tuple[Path, Path]],
    qik: Qik,
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    path: str,
) -> None:
    root, counter = project()
    assert qik(root, "build", env=env).returncode == 0
    key = _keys(s3_client, bucket, "manifests/")[0]
    doc = json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    doc["artifacts"][0]["path"] = path
    s3_client.put_object(Bucket=bucket, Key=key, Body=json.dumps(doc).encode())

    _forget_locally(root)
    result = qik(root, "build", env=env)
    assert result.returncode == 0, result.stderr
    assert _runs(counter) == 2
    assert len(_warnings(result.stderr)) == 1 and "invalid manifest" in result.stderr
    assert not (tmp_path / "outside").exists()
    assert not Path("/etc/qik-poisoned").exists()


def test_an_object_that_decodes_past_its_size_is_rejected(
    project: Callable[..., tuple[Path, Path]],
    qik: Qik,
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
) -> None:
    root, counter = project()
    assert qik(root, "build", env=env).returncode == 0
    key = _keys(s3_client, bucket, "manifests/")[0]
    doc = json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    artifact = doc["artifacts"][0]
    s3_client.put_object(
        Bucket=bucket,
        Key=f"{PREFIX}/{object_key(artifact['digest'])}",
        Body=_lying_frame(declared=artifact["size"], actual=artifact["size"] * 50),
    )
    _forget_locally(root)
    result = qik(root, "build", env=env)
    assert result.returncode == 0, result.stderr
    assert _runs(counter) == 2
    assert len(_warnings(result.stderr)) == 1 and "bad object" in result.stderr


def _lying_frame(declared: int, actual: int) -> bytes:
    """A zstd frame that holds ``actual`` bytes but whose header declares ``declared``."""
    frame = bytearray(zstandard.ZstdCompressor(write_content_size=True).compress(b"\0" * actual))
    descriptor = frame[4]  # after the 4-byte magic number (RFC 8878, 3.1.1.1)
    single_segment = bool(descriptor & 0x20)
    size_bytes = {0: 1 if single_segment else 0, 1: 2, 2: 4, 3: 8}[descriptor >> 6]
    start = 5 + (0 if single_segment else 1) + {0: 0, 1: 1, 2: 2, 3: 4}[descriptor & 3]
    assert size_bytes >= 4, "the test needs a 4- or 8-byte content size field"
    frame[start : start + size_bytes] = declared.to_bytes(size_bytes, "little")
    return bytes(frame)


def test_a_server_that_stops_mid_run_costs_one_warning(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    server = start_moto()
    try:
        server.client().create_bucket(Bucket="dies")
        started = tmp_path / "started"
        commands = "\n".join(
            f"""
            [commands.slow{i}]
            exec = "touch {started}{i} && sleep 2 && echo done{i}"
            deps = ["src/**"]
            cache = "remote"
            """
            for i in (1, 2, 3)
        )
        toml = _toml(tmp_path / "c", "dies") + commands
        root = make_repo({"qik.toml": toml, "src/data.bin": "x"})
        env = {"S3_ENDPOINT": server.endpoint, "AWS_KEY": ACCESS_KEY, "AWS_SECRET": SECRET_KEY}
        proc = subprocess.Popen(
            [QIK, "slow1", "slow2", "slow3", "-n", "3"],
            cwd=root,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for(lambda: all(Path(f"{started}{i}").exists() for i in (1, 2, 3)), 30)
        server.stop()
        began = time.monotonic()
        _, err = proc.communicate(timeout=60)
    finally:
        server.stop()
    assert proc.returncode == 0, err
    assert time.monotonic() - began < 30
    assert len(_warnings(err)) == 1, err
    assert "unavailable" in err


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_read_only_runs_write_nothing_shared(
    project: Callable[..., tuple[Path, Path]],
    qik: Qik,
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
) -> None:
    root, counter = project()
    assert qik(root, "build", "--cache-read-only", env=env).returncode == 0
    assert qik(root, "build", env={**env, "QIK__CACHE_READ_ONLY": "1"}).returncode == 0
    assert _keys(s3_client, bucket) == []
    assert _runs(counter) == 1  # the local store is still written

    configured, _ = project(cache_extra="read-only = true", name="configured")
    assert qik(configured, "build", env=env).returncode == 0
    assert _keys(s3_client, bucket) == []


def test_signed_results_are_trusted_only_with_the_key(
    project: Callable[..., tuple[Path, Path]],
    qik: Qik,
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
) -> None:
    root, counter = project(cache_extra='sign-key = "{ctx.sign}"')
    assert qik(root, "build", env={**env, "SIGN": "main-secret"}).returncode == 0
    key = _keys(s3_client, bucket, "manifests/")[0]
    doc = json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert doc["signature"].startswith("hmac-sha256:")

    _forget_locally(root)
    assert qik(root, "build", env={**env, "SIGN": "main-secret"}).returncode == 0
    assert _runs(counter) == 1

    _forget_locally(root)
    forged = qik(root, "build", "--cache-read-only", env={**env, "SIGN": "wrong"})
    assert forged.returncode == 0
    assert _runs(counter) == 2
    assert len(_warnings(forged.stderr)) == 1 and "signed" in forged.stderr

    # An unsigned manifest (a writer without the key) is rejected by a reader with it.
    doc["signature"] = None
    s3_client.put_object(Bucket=bucket, Key=key, Body=sealed_json(doc))
    _forget_locally(root)
    unsigned = qik(root, "build", "--cache-read-only", env={**env, "SIGN": "main-secret"})
    assert unsigned.returncode == 0 and _runs(counter) == 3
    assert "unsigned" in unsigned.stderr

    # verify with the key's variable empty here: it says so, rather than blaming the
    # bucket's manifests for signatures it can't check.
    assert qik(root, "build", env={**env, "SIGN": "main-secret"}).returncode == 0
    keyless = qik(root, ":cache", "verify", "--cache", "remote", env={**env, "SIGN": ""})
    assert "sign-key is empty here" in keyless.stderr
    assert "not signed" not in keyless.stdout


def test_boto3_stays_unimported_without_an_s3_cache(
    make_repo: Callable[..., Path], env: dict[str, str], bucket: str, tmp_path: Path
) -> None:
    toml = _toml(tmp_path / "c", bucket).replace('cache = "remote"', 'cache = "local"')
    root = make_repo({"qik.toml": toml, "src/data.bin": "x"})
    # qik may leave through os._exit (after a pool run) or sys.exit: report on both.
    probe = (
        "import atexit, os, sys\n"
        "def report(): os.write(2, b'[probe:' + str('boto3' in sys.modules).encode() + b']')\n"
        "atexit.register(report)\n"
        "real_exit = os._exit\n"
        "os._exit = lambda code: (report(), real_exit(code))\n"
        "from qik.cli import main\n"
        "sys.argv = ['qik', 'build']\n"
        "main()\n"
    )
    for _ in range(2):  # cold, then warm
        done = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=root,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        # (loky's resource tracker may print after us: look for the probe, not the end)
        assert "[probe:False]" in done.stderr, done.stderr


def test_cache_commands_on_the_bucket(
    project: Callable[..., tuple[Path, Path]],
    qik: Qik,
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
) -> None:
    root, _ = project()
    assert qik(root, "build", env=env).returncode == 0
    listed = qik(root, ":cache", "ls", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["result_in"] == ["local", "remote"]
    stats = qik(root, ":cache", "stats", "--cache", "remote", "--json", env=env)
    assert json.loads(stats.stdout)["caches"]["remote"]["manifests"] == 1
    assert json.loads(stats.stdout)["last_run"] == {"hits": {}, "misses": 1}

    key = _keys(s3_client, bucket, "objects/")[0]
    _flip_byte(s3_client, bucket, key)
    broken = qik(root, ":cache", "verify", "--cache", "remote", env=env)
    assert broken.returncode == 1
    assert "corrupt" in broken.stdout

    refused = qik(root, ":cache", "clear", "--cache", "remote", env=env)
    assert refused.returncode == 2 and "clear-needs-yes" in refused.stderr
    assert qik(root, ":cache", "clear", "--cache", "remote", "--yes", env=env).returncode == 0
    assert _keys(s3_client, bucket) == []


def test_an_unreachable_bucket_is_an_error_for_cache_commands(
    project: Callable[..., tuple[Path, Path]], qik: Qik, env: dict[str, str]
) -> None:
    from tests.s3.server import free_port

    root, _ = project()
    dead = {**env, "S3_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    run = qik(root, "build", env=dead)
    assert run.returncode == 0 and len(_warnings(run.stderr)) == 1
    verify = qik(root, ":cache", "verify", "--cache", "remote", env=dead)
    assert verify.returncode == 2 and "cache-unavailable" in verify.stderr


def test_files_restored_by_a_pull_are_seen_downstream(
    make_repo: Callable[..., Path],
    qik: Qik,
    env: dict[str, str],
    bucket: str,
    tmp_path: Path,
) -> None:
    counter = tmp_path / "counter"
    toml = (
        _toml(counter, bucket)
        + f"""
        [commands.use]
        exec = "echo used >> {counter}; wc -c out/data.bin"
        deps = ["out/data.bin", {{type = "command", name = "build"}}]
        cache = "remote"
        """
    )
    root = make_repo({"qik.toml": toml, "src/data.bin": "payload " * 1000})
    assert qik(root, "use", env=env).returncode == 0
    assert _runs(counter) == 2
    _forget_locally(root)
    again = qik(root, "use", env=env)
    assert again.returncode == 0, again.stderr
    assert _runs(counter) == 2  # use re-hashed out/data.bin after the pull restored it


def test_shards_on_other_machines_share_the_recorded_split(
    make_repo: Callable[..., Path],
    qik: Qik,
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
) -> None:
    """Shard 2 starts on a fresh machine after shard 1 stored its results in the bucket:
    it reads the split shard 1 recorded there, and runs exactly the rest."""
    log = tmp_path / "ran.log"
    # Shard 1 gets c0, c2, c4, c6 (equal weights, dealt in name order): cached locally,
    # it still records the split in the bucket the others use.
    commands = "".join(
        f'[commands.c{i}]\nexec = "echo c{i} >> {log}"\n'
        f'deps = [{{type = "const", val = "v1"}}]\n' + ('cache = "remote"\n' if i % 2 else "")
        for i in range(8)
    )
    cache = _toml(tmp_path / "unused", bucket).split("[commands.build]")[0]
    root = make_repo({"qik.toml": cache + commands})
    first = qik(root, "--shard", "1/2", env=env)
    assert first.returncode == 0, first.stderr
    assert len(_keys(s3_client, bucket, "shards/")) == 1
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(root), str(other)], check=True)
    second = qik(other, "--shard", "2/2", env=env)
    assert second.returncode == 0, second.stderr
    assert not _warnings(second.stderr)
    assert sorted(log.read_text().split()) == [f"c{i}" for i in range(8)]


def test_shards_with_an_unreachable_bucket_run_with_one_warning(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    """Finding durations and the recorded split read the bucket too: an outage there is
    the one warning lookups give, not a traceback."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"S3_ENDPOINT": f"http://127.0.0.1:{port}", "AWS_KEY": "k", "AWS_SECRET": "s"}
    log = tmp_path / "ran.log"
    commands = "".join(
        f'[commands.c{i}]\nexec = "echo c{i} >> {log}"\n'
        f'deps = [{{type = "const", val = "v1"}}]\ncache = "remote"\n'
        for i in range(4)
    )
    cache = _toml(tmp_path / "unused", "some-bucket").split("[commands.build]")[0]
    root = make_repo({"qik.toml": cache + commands})
    for k in (1, 2):
        out = qik(root, "--shard", f"{k}/2", env=env)
        assert out.returncode == 0, out.stderr
        assert "Traceback" not in out.stderr
        assert len(_warnings(out.stderr)) == 1, out.stderr
    assert sorted(log.read_text().split()) == [f"c{i}" for i in range(4)]
    (root / "._qik").rename(tmp_path / "gone")  # cold again: :explain looks in the bucket
    explained = qik(root, ":explain", "c0", env=env)
    assert explained.returncode == 0 and "Traceback" not in explained.stderr
    assert len(_warnings(explained.stderr)) == 1, explained.stderr
