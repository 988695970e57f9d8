"""Benchmark of the S3 cache against a plain parallel boto3 transfer, on moto's server.

    python -m stress.bench_s3 [--files 500] [--total-mb 200] [--rounds 5] [--threads 16]

One result of ``--files`` artifacts totalling ``--total-mb`` (random bytes: zstd can't
shrink them, so both sides move the same number of bytes) is published to a bucket on a
moto server started for the run (a subprocess on 127.0.0.1). Then, in rounds that each
start with another contender, medians of ``--rounds``:

1. *baseline*: ``get_object`` of every stored object into a file, on a thread pool of
   ``--threads``, one boto3 client: the plain parallel download.
2. *qik pull*: what a replay does before restoring: the manifest read through the cache's
   reader (validated), then every object copied into an empty local store, verified.
3. *qik restore*: a replay's pull, which also writes each artifact into an empty work tree
   as its object streams by, then ``Run._restore``'s pass over the artifacts (a file the
   pull just wrote is recognised by its inode, size and mtime; any other is hashed).

And once: re-publishing the same content under a new dep hash, counting the object bytes
sent (expected: none, only the manifest).

Prints a Markdown section for docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from qik.store import ArtifactEntry, Manifest, Store
from qik.store.cas import object_key
from qik.store.mirrors.reader import MirrorReader
from qik.store.s3 import S3Backend, S3Settings
from qik.store.sync import TRANSFER_THREADS, Transfer, copy_result, restore_artifacts

KEY = "bench"
BUCKET = "qik-bench"


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qik-bench-s3-") as work:
        server, endpoint = _start_moto()
        try:
            print(_run(Path(work), endpoint, args))
        finally:
            server.terminate()
            server.wait()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stress.bench_s3")
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--total-mb", type=float, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=TRANSFER_THREADS)
    return parser


def _run(work: Path, endpoint: str, args: argparse.Namespace) -> str:
    settings = S3Settings(BUCKET, "bench", "us-east-1", endpoint, KEY, KEY)
    _client(settings).create_bucket(Bucket=BUCKET)
    local = Store.local(work / "source")
    manifest = _make_result(local, args.files, int(args.total_mb * (1 << 20)))
    remote = Store(S3Backend(settings))
    upload = _timed(lambda: copy_result(local, remote, manifest, threads=args.threads))
    rounds: dict[str, list[float]] = {"baseline": [], "pull": [], "restore": []}
    for i in range(args.rounds):
        contenders = list(
            _contenders(work / f"round{i}", settings, manifest, args.threads).items()
        )
        # Each round starts with another contender, so none always follows the same one.
        for name, fn in contenders[i % 3 :] + contenders[: i % 3]:
            rounds[name].append(_timed(fn))
            # Deleted at once, so no contender waits on the disk flushing another's files.
            shutil.rmtree(work / f"round{i}")
    again = replace(manifest, dep_hash=hashlib.sha256(b"another dep hash").hexdigest())
    transfer = copy_result(local, remote, again, threads=args.threads)
    return _report(args, manifest, upload, rounds, transfer.bytes_sent)


def _make_result(store: Store, files: int, total: int) -> Manifest:
    size = total // files
    artifacts = []
    for i in range(files):
        ref = store.put_bytes(os.urandom(size))
        artifacts.append(ArtifactEntry(f"out/{i:04d}.bin", ref.digest, ref.size, 0o644))
    log = store.put_bytes(b"restored\n")
    return Manifest(
        runnable="build",
        dep_hash=hashlib.sha256(b"bench").hexdigest(),
        exit_code=0,
        duration=1.0,
        qik_version="bench",
        created=time.time(),
        log=log,
        artifacts=tuple(artifacts),
    )


def _contenders(
    work: Path, settings: S3Settings, manifest: Manifest, threads: int
) -> dict[str, Callable[[], object]]:
    def baseline() -> None:
        _plain_download(settings, manifest, work / "plain", threads)

    def pull() -> None:
        _qik_pull(settings, manifest, work / "pull", threads)

    def restore() -> None:
        tree = work / "restore" / "tree"
        local, transfer = _qik_pull(settings, manifest, work / "restore", threads, tree)
        fresh = {r.path: r for r in transfer.restored}

        def is_current(dest: Path, artifact: ArtifactEntry) -> bool:  # as Run._restore asks
            done = fresh.pop(dest, None)
            return (done is not None and done.is_intact()) or _matches(dest, artifact)

        restore_artifacts(local, tree, manifest.artifacts, is_current=is_current, threads=threads)

    return {"baseline": baseline, "pull": pull, "restore": restore}


def _plain_download(settings: S3Settings, manifest: Manifest, dest: Path, threads: int) -> None:
    client = _client(settings)
    dest.mkdir(parents=True)

    def get(digest: str) -> None:
        body = client.get_object(Bucket=BUCKET, Key=f"bench/{object_key(digest)}")["Body"]
        with (dest / digest).open("wb") as fh:
            shutil.copyfileobj(body, fh, 1 << 20)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(get, [ref.digest for ref in dict.fromkeys(manifest.objects)]))


def _qik_pull(
    settings: S3Settings,
    manifest: Manifest,
    dest: Path,
    threads: int,
    restore_root: Path | None = None,
) -> tuple[Store, Transfer]:
    local = Store.local(dest / "._qik")
    reader = MirrorReader("remote", Store(S3Backend(settings)), _fail)
    found = reader.read(manifest.dep_hash)
    assert found == manifest
    return local, reader.pull(found, local, restore_root=restore_root)


def _matches(dest: Path, artifact: ArtifactEntry) -> bool:
    """What a replay asks of each artifact after the pull (``runner._same_file``)."""
    try:
        stat = dest.lstat()
    except FileNotFoundError:
        return False
    if stat.st_size != artifact.size or stat.st_mode & 0o7777 != artifact.mode:
        return False
    hasher = hashlib.sha256()
    with dest.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest() == artifact.digest


def _fail(message: str) -> None:
    raise RuntimeError(message)


def _client(settings: S3Settings) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=KEY, aws_secret_access_key=KEY, region_name="us-east-1"
    )
    config = Config(max_pool_connections=64, s3={"addressing_style": "path"})
    return session.client("s3", endpoint_url=settings.endpoint_url, config=config)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _report(
    args: argparse.Namespace,
    manifest: Manifest,
    upload: float,
    rounds: dict[str, list[float]],
    resent: int,
) -> str:
    total = sum(a.size for a in manifest.artifacts) / (1 << 20)
    base = statistics.median(rounds["baseline"])

    def row(name: str, label: str) -> str:
        median = statistics.median(rounds[name])
        return f"| {label} | {median:.2f} s | {total / median:.0f} MB/s | {base / median:.2f}x |"

    return "\n".join(
        [
            "## S3 cache: restoring from a bucket",
            "",
            f"{args.files} artifacts of random bytes, {total:.0f} MB in all, from moto's S3 "
            f"server on 127.0.0.1 (a subprocess), {args.threads} threads on both sides, "
            f"median of {args.rounds} rounds in rotating order, on a {os.cpu_count()}-core "
            "machine (`python -m stress.bench_s3`).",
            "",
            "| | time | throughput | vs plain boto3 |",
            "|---|---|---|---|",
            row("baseline", "plain parallel boto3 download (`get_object` to files)"),
            row("pull", "qik: read the manifest, copy every object to the local store, verified"),
            row("restore", "qik: a replay's pull and restore (artifacts written, then checked)"),
            "",
            f"Publishing the result in the first place took {upload:.2f} s. Publishing the same "
            f"content again under a new dep hash sent {resent} bytes of objects: only the "
            "manifest went up, after one existence check per object.",
        ]
    )


def _start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
