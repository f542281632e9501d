"""A real HTTP server on 127.0.0.1 that records webhook deliveries, and a verifier for
Standard Webhooks signatures written from the spec, independent of the code under test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload


@dataclass
class Receiver:
    """Answers each path with its scripted statuses in turn (then 200), recording all.
    A path in ``locations`` also answers with that ``Location`` header."""

    port: int = 0
    scripts: dict[str, list[int]] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def answer(self, path: str) -> int:
        with self.lock:
            script = self.scripts.get(path, [])
            return script.pop(0) if script else 200


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with receiver.lock:
                receiver.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            status = receiver.answer(self.path)
            self.send_response(status)
            if self.path in receiver.locations:
                self.send_header("location", receiver.locations[self.path])
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            receiver.arrived.set()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def verify_standard_webhook(
    secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300
) -> bool:
    """Standard Webhooks verification, from the spec: HMAC-SHA256 over
    ``{webhook-id}.{webhook-timestamp}.{body}`` keyed with the base64-decoded secret
    (after its ``whsec_`` prefix); the header lists ``v1,<base64 signature>`` entries."""
    key = base64.b64decode(secret.split("_", 1)[1])
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    to_sign = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, to_sign, hashlib.sha256).digest()).decode()
    for entry in headers["webhook-signature"].split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False
