"""An endpoint that answers every request with 200 and an HTML page (a captive portal, a
misrouted proxy): a failing cache, never a failed command or a traceback."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.s3

Qik = Callable[..., subprocess.CompletedProcess[str]]


class _Garbage(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        body = b"<html>garbage</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def garbage_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


TOML = """
vars = [{name = "s3_endpoint", required = false}]
[caches.remote]
type = "s3"
bucket = "qik-cache"
endpoint-url = "{ctx.s3_endpoint}"
[commands.build]
exec = "echo building; mkdir -p out; echo x > out/f"
deps = ["src/**"]
artifacts = ["out/**"]
cache = "remote"
[commands.test]
exec = "echo testing"
deps = ["src/**", {type = "command", name = "build"}]
cache = "remote"
"""


def test_a_server_answering_garbage_is_a_cache_failure(
    make_repo: Callable[..., Path], qik: Qik, garbage_endpoint: str
) -> None:
    root = make_repo({"qik.toml": TOML, "src/a.py": ""})
    env = {
        "S3_ENDPOINT": garbage_endpoint,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    out = qik(root, "build", "test", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 ran, 0 replayed, 0 failed" in out.stdout
    assert "warning:" in out.stderr and "Traceback" not in out.stderr
    listed = qik(root, ":cache", "ls", env=env)
    assert "Traceback" not in listed.stderr, listed.stderr
    assert listed.returncode in (0, 1, 2), listed.stderr
