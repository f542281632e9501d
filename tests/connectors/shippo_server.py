"""A local server speaking the Shippo API that the real shipping provider calls.

``POST /shipments/`` (``address_from``, ``address_to``, ``parcels``) answers the shipment
with two rates; ``POST /transactions/`` (``rate``, ``label_file_type``) buys the label:
``SUCCESS`` with a tracking number and a label URL; ``POST /refunds/`` (``transaction``)
voids it. Every call needs ``Authorization: ShippoToken <key>`` (401 otherwise).

``script`` forces the next answers (status, body) to test failures; ``hold_shipments``
makes ``/shipments/`` wait until it is set (``shipments_arrived`` tells the test the
request is waiting), so a test can kill the caller mid-call.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD_SECONDS = 60
RATES = (
    ("USPS", "usps_priority", "Priority Mail", "7.35"),
    ("UPS", "ups_ground", "Ground", "9.10"),
)


@dataclass
class ShippoServer:
    base_url: str
    api_key: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)  # transaction id -> it
    refunds: list[str] = field(default_factory=list)
    hold_shipments: threading.Event | None = None
    shipments_arrived: threading.Event = field(default_factory=threading.Event)

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]


@contextmanager
def shippo_server(api_key: str = "shippo_test_key") -> Iterator[ShippoServer]:
    state = ShippoServer("", api_key)
    lock = threading.Lock()
    rates: dict[str, dict[str, Any]] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the caller is gone (killed mid-call)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = None
            with lock:
                state.requests.append(
                    {
                        "path": self.path,
                        "body": body,
                        "auth": self.headers.get("Authorization", ""),
                        "content_type": self.headers.get("Content-Type"),
                    }
                )
                scripted = state.script.pop(0) if state.script else None
            if self.headers.get("Authorization") != f"ShippoToken {state.api_key}":
                self._answer(401, {"detail": "Invalid token."})
            elif scripted is not None:
                self._answer(*scripted)
            elif not isinstance(body, dict):
                self._answer(400, {"detail": "JSON parse error"})
            elif self.path == "/shipments/":
                self._shipment(body)
            elif self.path == "/transactions/":
                self._transaction(body)
            elif self.path == "/refunds/":
                self._refund(body)
            else:
                self._answer(404, {"detail": "Not found."})

        def _shipment(self, body: dict[str, Any]) -> None:
            if state.hold_shipments is not None:
                state.shipments_arrived.set()
                state.hold_shipments.wait(HOLD_SECONDS)
            missing = [
                key for key in ("address_from", "address_to", "parcels") if not body.get(key)
            ]
            if missing:
                self._answer(400, {key: ["This field is required."] for key in missing})
                return
            with lock:
                number = len(rates)
                offered = []
                for index, (carrier, token, name, amount) in enumerate(RATES):
                    rate = {
                        "object_id": f"rate_{number + index:06d}",
                        "amount": amount,
                        "currency": "USD",
                        "provider": carrier,
                        "servicelevel": {"token": token, "name": name},
                        "estimated_days": 2 + index,
                    }
                    rates[rate["object_id"]] = rate
                    offered.append(rate)
            self._answer(
                201,
                {
                    "object_id": f"shp_{number:06d}",
                    "status": "SUCCESS",
                    "address_from": body["address_from"],
                    "address_to": body["address_to"],
                    "parcels": body["parcels"],
                    "rates": offered,
                    "messages": [],
                },
            )

        def _transaction(self, body: dict[str, Any]) -> None:
            rate = rates.get(str(body.get("rate")))
            if rate is None:
                self._answer(
                    201,
                    {"status": "ERROR", "messages": [{"text": "Rate not found."}]},
                )
                return
            with lock:
                number = len(state.labels) + 1
                tracking = f"9400{number:018d}"
                transaction = {
                    "object_id": f"txn_{number:06d}",
                    "status": "SUCCESS",
                    "rate": rate["object_id"],
                    "tracking_number": tracking,
                    "tracking_status": "UNKNOWN",
                    "label_url": f"{state.base_url}/labels/{tracking}.pdf",
                    "metadata": body.get("metadata", ""),
                    "messages": [],
                }
                state.labels[transaction["object_id"]] = transaction
            self._answer(201, transaction)

        def _refund(self, body: dict[str, Any]) -> None:
            transaction = str(body.get("transaction"))
            if transaction not in state.labels:
                self._answer(400, {"transaction": ["Transaction not found."]})
                return
            with lock:
                state.refunds.append(transaction)
            self._answer(
                201,
                {
                    "object_id": f"ref_{len(state.refunds):06d}",
                    "status": "QUEUED",
                    "transaction": transaction,
                },
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if state.hold_shipments is not None:
            state.hold_shipments.set()
        server.shutdown()
        server.server_close()
        thread.join()
