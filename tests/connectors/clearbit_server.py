"""A local server speaking the Clearbit company API that the real enricher calls:
``GET /v2/companies/find?domain=...`` with ``Authorization: Bearer <key>``; 200 with the
company, 404 when unknown, 401 for a wrong key. ``script`` forces the next answers
(status, body) to test retries; ``delay`` slows every answer."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTOSO = {
    "id": "027b0d40-016c-40ea-8925-a076fa640992",
    "name": "Contoso Ltd",
    "legalName": "Contoso Limited",
    "domain": "contoso.com",
    "category": {"sector": "Information Technology", "industry": "Software"},
    "metrics": {"employees": 1200, "annualRevenue": 240000000, "raised": None},
    "geo": {"city": "Seattle", "state": "Washington", "countryCode": "US"},
    "description": "Business software and cloud services.",
}


@dataclass
class ClearbitServer:
    base_url: str
    api_key: str
    companies: dict[str, dict[str, Any]]
    requests: list[dict[str, str]] = field(default_factory=list)
    script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    delay: float = 0.0

    def lookups(self) -> int:
        return len(self.requests)


@contextmanager
def clearbit_server(
    api_key: str = "sk_test_enrich", companies: dict[str, dict[str, Any]] | None = None
) -> Iterator[ClearbitServer]:
    state = ClearbitServer(
        "", api_key, {"contoso.com": CONTOSO} if companies is None else companies
    )
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            domain = urllib.parse.parse_qs(url.query).get("domain", [""])[0]
            with lock:
                state.requests.append(
                    {
                        "path": url.path,
                        "domain": domain,
                        "auth": self.headers.get("Authorization", ""),
                    }
                )
                scripted = state.script.pop(0) if state.script else None
            if state.delay:
                time.sleep(state.delay)
            if url.path != "/v2/companies/find":
                self._answer(404, {"error": {"type": "not_found", "message": "no route"}})
            elif self.headers.get("Authorization") != f"Bearer {state.api_key}":
                self._answer(401, {"error": {"type": "auth_required", "message": "bad key"}})
            elif scripted is not None:
                self._answer(*scripted)
            elif domain in state.companies:
                self._answer(200, state.companies[domain])
            else:
                self._answer(404, {"error": {"type": "unknown_record", "message": "Unknown"}})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
