"""A fault-injecting HTTP proxy between qik and the S3 server.

qik's ``endpoint-url`` points here; requests are relayed to moto unless the current
``fault`` says otherwise. Faults are decided per request (not per connection), since
botocore keeps connections alive across many requests:

    ok          relay
    5xx         answer 500 InternalError             5xx-some    half of them 503
    throttle    answer 503 SlowDown (S3's throttling reply)
    reset       reset the connection (RST)           reset-some  a third of them
    slow        relay, but hold each answer for 0.5-2 s (below botocore's read timeout)
    garbage     relay, but replace the body of every GET answer with random bytes
    refuse      close the listening socket: connections are refused
    blackhole-connect   stop accepting, queue full: connection attempts time out
    blackhole-read      accept and read requests, never answer: reads time out

``fail_after`` (a request count) turns a fault on mid-run: the server "dies" then.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

__all__ = ["FAULTS", "Proxy"]

FAULTS = (
    "ok",
    "5xx",
    "5xx-some",
    "throttle",
    "reset",
    "reset-some",
    "slow",
    "garbage",
    "refuse",
    "blackhole-connect",
    "blackhole-read",
)
_ERROR_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
    "<Message>injected by the stress proxy</Message></Error>"
)


@dataclass
class Proxy:
    upstream_port: int
    port: int = 0
    fault: str = "ok"
    fail_after: int | None = None  # requests relayed before ``fault`` applies
    requests: int = 0
    injected: int = 0
    rng: random.Random = field(default_factory=random.Random)
    _listener: socket.socket | None = None
    _fillers: list[socket.socket] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _release: threading.Event = field(default_factory=threading.Event)  # ends black holes

    # -- control ----------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Proxy:
        self._listen()
        thread = threading.Thread(target=self._accept_loop, name="stress-proxy", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def set(self, fault: str, *, fail_after: int | None = None) -> None:
        """Switch to ``fault`` (after ``fail_after`` more requests, if given)."""
        assert fault in FAULTS, fault
        with self._lock:
            self.fault = fault
            self.fail_after = None if fail_after is None else self.requests + fail_after
            self.injected = 0
            self.requests = 0 if fail_after is None else self.requests
            self._release.set()
            self._release = threading.Event()
        if self._active() == "refuse":
            self._close_listener()
        elif self._listener is None:
            self._listen()
        self._fill_queue(self._active() == "blackhole-connect")

    def stop(self) -> None:
        self._stop.set()
        self._release.set()
        self._fill_queue(False)
        self._close_listener()

    def _active(self) -> str:
        with self._lock:
            if self.fail_after is not None and self.requests < self.fail_after:
                return "ok"
            return self.fault

    # -- the listening socket -----------------------------------------------------------

    def _listen(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5
        while True:
            try:
                sock.bind(("127.0.0.1", self.port))
                break
            except OSError:
                # The old listener lingers until the accept loop's pending accept() returns.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        # A backlog of 1 lets blackhole-connect fill the queue with two connections of
        # its own, after which the kernel drops new SYNs: clients time out connecting.
        sock.listen(1 if self.fault == "blackhole-connect" else 128)
        sock.settimeout(0.1)
        self.port = sock.getsockname()[1]
        self._listener = sock

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _fill_queue(self, on: bool) -> None:
        for filler in self._fillers:
            filler.close()
        self._fillers.clear()
        if not on:
            return
        self._close_listener()
        self._listen()
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError, OSError):
                filler.connect(("127.0.0.1", self.port))
            self._fillers.append(filler)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            listener = self._listener
            if listener is None or self._active() == "blackhole-connect":
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()

    # -- one client connection -------------------------------------------------------

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(None)
        upstream: socket.socket | None = None
        reader = _Reader(client)
        try:
            while not self._stop.is_set():
                head = reader.until(b"\r\n\r\n")
                if not head:
                    return
                with self._lock:
                    self.requests += 1
                fault = self._active()
                action = self._decide(fault)
                if action != "relay":
                    with self._lock:
                        self.injected += 1
                if action in ("500", "503", "slowdown"):
                    self._answer_error(client, reader, head, action)
                    return
                if action == "reset":
                    _reset(client)
                    return
                if action == "hold":
                    self._release.wait(600)
                    return
                if upstream is None:
                    upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
                if not self._relay(client, reader, upstream, head, fault):
                    return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                client.close()
            if upstream is not None:
                upstream.close()

    def _decide(self, fault: str) -> str:
        roll = self.rng.random()
        return {
            "5xx": "500",
            "5xx-some": "503" if roll < 0.5 else "relay",
            "throttle": "slowdown",
            "reset": "reset",
            "reset-some": "reset" if roll < 0.34 else "relay",
            "blackhole-read": "hold",
            "blackhole-connect": "hold",
        }.get(fault, "relay")

    def _answer_error(
        self, client: socket.socket, reader: _Reader, head: bytes, kind: str
    ) -> None:
        headers = _headers(head)
        if headers.get("expect", "").lower() != "100-continue":
            reader.exactly(int(headers.get("content-length", "0")))
        status, code = {
            "500": ("500 Internal Server Error", "InternalError"),
            "503": ("503 Service Unavailable", "ServiceUnavailable"),
            "slowdown": ("503 Slow Down", "SlowDown"),
        }[kind]
        body = _ERROR_BODY.format(code=code).encode()
        client.sendall(
            f"HTTP/1.1 {status}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    def _relay(
        self,
        client: socket.socket,
        reader: _Reader,
        upstream: socket.socket,
        head: bytes,
        fault: str,
    ) -> bool:
        """Relay one request and its answer; False when the connection should end."""
        headers = _headers(head)
        method = head.split(b" ", 1)[0].upper()
        up = _Reader(upstream)
        length = int(headers.get("content-length", "0"))
        if headers.get("expect", "").lower() == "100-continue":
            # Werkzeug (moto) never sends the interim answer: give it ourselves, and
            # relay the request without the header (SigV4 does not sign it).
            client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            head = _without_header(head, b"expect")
        upstream.sendall(head + reader.exactly(length))
        answer = up.until(b"\r\n\r\n")
        answer_headers = _headers(answer)
        body = _body(up, answer_headers, method)
        if fault == "slow":
            time.sleep(self.rng.uniform(0.5, 2.0))
        if fault == "garbage" and method == b"GET" and body:
            body = self.rng.randbytes(len(body))
            with self._lock:
                self.injected += 1
        client.sendall(answer + body)
        return answer_headers.get("connection", "").lower() != "close"


class _Reader:
    """Buffered reads from a socket: up to a delimiter, or an exact count."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def until(self, delimiter: bytes) -> bytes:
        while delimiter not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return b""
            self.buffer += chunk
        end = self.buffer.index(delimiter) + len(delimiter)
        found, self.buffer = self.buffer[:end], self.buffer[end:]
        return found

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(max(65536, size - len(self.buffer)))
            if not chunk:
                raise ConnectionError("closed mid-body")
            self.buffer += chunk
        found, self.buffer = self.buffer[:size], self.buffer[size:]
        return found


def _headers(head: bytes) -> dict[str, str]:
    found = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            found[name.strip().lower()] = value.strip()
    return found


def _without_header(head: bytes, name: bytes) -> bytes:
    lines = head.split(b"\r\n")
    kept = [line for line in lines if line.split(b":", 1)[0].strip().lower() != name]
    return b"\r\n".join(kept)


def _body(reader: _Reader, headers: dict[str, str], method: bytes) -> bytes:
    if method == b"HEAD":
        return b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size_line = reader.until(b"\r\n")
            parts.append(size_line)
            size = int(size_line.split(b";")[0], 16)
            parts.append(reader.exactly(size + 2))
            if size == 0:
                return b"".join(parts)
    return reader.exactly(int(headers.get("content-length", "0")))


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset rather than a clean FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
