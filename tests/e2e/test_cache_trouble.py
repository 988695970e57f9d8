"""Cache trouble seen from the command line: repaired by the next run, warned about once.

Each case was found by the stress suite (``python -m stress``): corruption, failing-S3
and hostile-cache cases.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import zstandard

from qik.store.cas import Store, object_key

Qik = Callable[..., subprocess.CompletedProcess[str]]


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def _report(root: Path) -> dict[str, dict[str, object]]:
    rows = json.loads((root / "report.json").read_text())["runnables"]
    return {row["name"]: row for row in rows}


def test_a_result_whose_inputs_listing_is_gone_runs_again(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    # Enough files for a listing over the 8 KiB kept inline in the manifest: an object.
    toml = '[commands.a]\nexec = "echo a"\ndeps = ["*.txt"]\n'
    files = {f"input-file-{i:04}.txt": str(i) for i in range(250)}
    root = make_repo({"qik.toml": toml, **files})
    assert qik(root).returncode == 0
    store = Store.local(root / "._qik")
    (dep_hash,) = store.iter_manifests()
    manifest = store.read_manifest(dep_hash)
    assert manifest is not None and manifest.inputs is not None
    store.delete_object(manifest.inputs.digest)
    result = qik(root, "--report", "report.json")
    assert result.returncode == 0
    assert not _report(root)["a"]["replayed"]  # a replay would leave the store broken
    assert qik(root, ":cache", "verify").returncode == 0


class _Failing(BaseHTTPRequestHandler):
    """An S3 endpoint in an outage: every request gets a 500."""

    def _fail(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length and self.headers.get("Expect", "").lower() != "100-continue":
            self.rfile.read(length)
        body = b"<Error><Code>InternalError</Code><Message>down</Message></Error>"
        self.send_response(500)
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _fail

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def failing_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_outage_met_while_planning_and_while_running_is_one_warning(
    make_repo: Callable[..., Path], qik: Qik, failing_endpoint: str
) -> None:
    toml = f"""
        [caches.remote]
        type = "s3"
        bucket = "b"
        region-name = "us-east-1"
        endpoint-url = "{failing_endpoint}"
        aws-access-key-id = "k"
        aws-secret-access-key = "s"

        [commands.a]
        exec = "echo a"
        deps = ["*.txt"]
        cache = "remote"
        """
    root = make_repo({"qik.toml": toml, "a.txt": "a"})
    result = qik(root, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(_warnings(result.stderr)) == 1, result.stderr


def _frame(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_content_size=True).compress(data)


def test_results_a_shared_cache_cannot_restore_are_one_warning(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    # Valid results in the committed repo cache whose artifacts go through a symlink out
    # of the repository: rejected on restore, with one warning for all of them.
    toml = '[commands.a]\nexec = "echo a"\ndeps = ["a.txt"]\ncache = "repo"\n'
    toml += '[commands.b]\nexec = "echo b"\ndeps = ["b.txt"]\ncache = "repo"\n'
    root = make_repo({"qik.toml": toml, "a.txt": "a", "b.txt": "b"})
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")
    listed = json.loads(qik(root, "--ls", "--json").stdout)
    cache = root / ".qik"
    for row in listed:
        blobs = {}
        for content in (b"log\n", f"evil {row['name']}\n".encode()):
            digest = hashlib.sha256(content).hexdigest()
            blobs[digest] = content
            path = cache / object_key(digest)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_frame(content))
        log, art = list(blobs)
        doc = {
            "format": 1, "runnable": row["name"], "dep_hash": row["dep_hash"], "exit_code": 0,
            "duration": 1.0, "qik_version": "0.3.0", "created": 1.0,
            "log": {"digest": log, "size": 4},
            "artifacts": [
                {"path": f"link/{row['name']}.txt", "digest": art,
                 "size": len(blobs[art]), "mode": 420},
            ],
            "deps": {}, "signature": None, "inputs": None,
        }  # fmt: skip
        (cache / "manifests").mkdir(exist_ok=True)
        (cache / "manifests" / f"{row['dep_hash']}.json").write_text(json.dumps(doc))
    result = qik(root, "--report", "report.json")
    assert result.returncode == 0, result.stderr
    assert not any(row["replayed"] for row in _report(root).values())
    assert list((tmp_path / "outside").iterdir()) == []
    assert len(_warnings(result.stderr)) == 1, result.stderr


def test_a_result_restores_only_the_commands_declared_artifacts(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    """A manifest naming a file the command doesn't declare (a poisoned cache, a commit
    to .qik/ nobody reviews) must not rewrite it: a warning, and the command runs."""
    toml = '[commands.gen]\nexec = "mkdir -p out && echo made > out/a.txt"\n'
    toml += 'deps = ["in.txt"]\nartifacts = ["out/**"]\n'
    root = make_repo({"qik.toml": toml, "in.txt": "1", ".gitignore": "out/\n"})
    assert qik(root).returncode == 0
    store = Store.local(root / "._qik")
    (dep_hash,) = store.iter_manifests()
    manifest = store.read_manifest(dep_hash)
    assert manifest is not None
    (root / "evil.toml").write_text('[commands.gen]\nexec = "echo pwned"\n')
    stray = dataclasses.replace(store.put_artifact(root, "evil.toml"), path="qik.toml")
    store.write_manifest(
        dataclasses.replace(manifest, artifacts=(*manifest.artifacts, stray)), check_objects=False
    )
    (root / "out/a.txt").unlink()
    result = qik(root)
    assert result.returncode == 0
    assert "qik.toml is not among the command's artifacts" in result.stderr
    assert "pwned" not in (root / "qik.toml").read_text()
    assert (root / "out/a.txt").read_text() == "made\n"  # ran again


def test_an_endpoint_url_without_a_scheme_is_a_warning(
    make_repo: Callable[..., Path], qik: Qik
) -> None:
    """botocore's ValueError ("Invalid endpoint") was a traceback; it is the cache's
    trouble, so a warning and a run, and a coded error for :cache commands."""
    toml = """
        [caches.remote]
        type = "s3"
        bucket = "b"
        endpoint-url = "127.0.0.1:9"
        aws-access-key-id = "x"
        aws-secret-access-key = "x"
        [commands.x]
        exec = "echo x"
        deps = ["f"]
        cache = "remote"
        """
    root = make_repo({"qik.toml": toml, "f": ""})
    run = qik(root)
    assert run.returncode == 0, run.stderr
    assert "invalid endpoint-url '127.0.0.1:9'" in run.stderr and "Traceback" not in run.stderr
    stats = qik(root, ":cache", "stats", "--cache", "remote")
    assert stats.returncode == 2 and "error[cache-unavailable]" in stats.stderr


def test_a_directory_planted_where_a_result_goes_is_cleared(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    """A rename can't replace a directory: without clearing it, that result failed to
    store on every run."""
    log = tmp_path / "ran.log"
    toml = f'[commands.big]\nexec = "echo ran >> {log}; head -c 5000 /dev/zero > out.bin"\n'
    toml += 'deps = ["a.txt"]\nartifacts = ["out.bin"]\n'
    root = make_repo({"qik.toml": toml, "a.txt": "1"})
    assert qik(root).returncode == 0
    manifests = list((root / "._qik" / "manifests").iterdir())
    objects = [p for p in (root / "._qik" / "objects").rglob("*") if p.is_file()]
    for path in (*manifests, *objects):
        path.unlink()
        (path / "planted").mkdir(parents=True)
    again = qik(root)
    assert again.returncode == 0 and not _warnings(again.stderr), again.stderr
    third = qik(root)
    assert third.returncode == 0 and "replayed" in third.stdout, third.stdout
    assert log.read_text().split() == ["ran", "ran"]
    assert all(p.is_file() for p in (*manifests, *objects))


def test_cache_stats_without_boto3_is_one_error(
    make_repo: Callable[..., Path], qik: Qik, tmp_path: Path
) -> None:
    # Without boto3 (hidden here: a None in sys.modules makes find_spec and import fail),
    # `:cache stats --cache remote` warned "continuing without it", then stopped with
    # boto3-missing (an audit): the error alone.
    shim = tmp_path / "no-boto3"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text("import sys\nsys.modules['boto3'] = None\n")
    toml = """
        [caches.remote]
        type = "s3"
        bucket = "b"

        [commands.a]
        exec = "echo a"
        deps = ["*.txt"]
        """
    root = make_repo({"qik.toml": toml, "a.txt": "a"})
    out = qik(root, ":cache", "stats", "--cache", "remote", env={"PYTHONPATH": str(shim)})
    assert out.returncode == 2 and "error[boto3-missing]" in out.stderr, out.stderr
    assert "continuing without it" not in out.stderr
