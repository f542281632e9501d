"""Shopify orders end to end: webhooks accepted per second, and the time from the
webhook to the order's ``commerce.order.fulfilled``, on a real server with its workers
and sandbox connectors.

    .venv/bin/python bench/orders.py [--count 200] [--concurrency 1 8] [--database-url URL]

Starts ``bizos serve`` (API, dispatcher, durable workflows, message delivery) on a fresh
data dir, signs up a workspace, sets the ``shopify`` connector's webhook secret
(``PUT /api/v1/connectors/shopify``) and creates products with plenty of stock. Then,
per ``--concurrency``:

1. **accepted/s** — ``--count`` signed ``orders/create`` webhooks POSTed to
   ``/webhooks/shopify/{slug}`` with that many in flight (each answered 200 once the raw
   payload is stored); the figure is webhooks answered per second.
2. **webhook -> fulfilled** — ``--count`` more, ``concurrency`` orders in flight through
   the whole saga at a time (a sender posts its next order once the last is fulfilled):
   stored -> ``commerce.order.received`` -> workflow ``commerce.order_to_cash`` ->
   allocate -> invoice -> sandbox shipping label -> customer email (sandbox) ->
   ``commerce.order.fulfilled``. This script follows ``GET /api/v1/events?type=
   commerce.order.*&after=``: ``received`` ties our order id to Shopify's (its
   ``external_id``), ``fulfilled`` says when it was done — so a figure includes up to one
   poll interval.

Seed target: Shopify order to fulfilled within 2 minutes; ours with sandbox
connectors: < 1 s p95.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
from _server import percentile, running_server

POLL_SECONDS = 0.02
SECRET = "bench-shopify-secret"
SHOP = "bench-coffee.myshopify.com"
STOCK = 1_000_000
PRODUCTS = [  # sku, name, price, tax rate, grams
    ("BENCH-ESP-250", "Espresso Blend 250 g", "14.50", "0.05", 250),
    ("BENCH-FILTER-1K", "Filter Roast 1 kg", "44.00", "0.05", 1000),
    ("BENCH-KETTLE", "Gooseneck Kettle", "59.00", "0.08", 1100),
]


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def shopify_order(order_id: int, number: int, run_id: str) -> dict[str, Any]:
    """A Shopify ``orders/create`` payload: two lines, tax, shipping, a customer."""
    lines = []
    subtotal = tax = 0.0
    for n, (sku, name, price, rate, grams) in enumerate(PRODUCTS[: 1 + number % 2]):
        quantity = 1 + (number + n) % 3
        amount = float(price) * quantity
        line_tax = round(amount * float(rate), 2)
        subtotal, tax = subtotal + amount, tax + line_tax
        lines.append(
            {
                "id": order_id * 10 + n,
                "sku": sku,
                "name": name,
                "title": name,
                "quantity": quantity,
                "price": price,
                "grams": grams,
                "requires_shipping": True,
                "taxable": True,
                "tax_lines": [{"title": "Tax", "price": f"{line_tax:.2f}", "rate": float(rate)}],
                "discount_allocations": [],
            }
        )
    shipping = 6.95
    address = {
        "first_name": "Bench",
        "last_name": f"Buyer {number}",
        "name": f"Bench Buyer {number}",
        "address1": f"{100 + number % 800} Alder St",
        "city": "Portland",
        "province_code": "OR",
        "zip": "97209",
        "country_code": "US",
    }
    return {
        "id": order_id,
        "name": f"#{1000 + number}",
        "order_number": 1000 + number,
        "email": f"buyer{number}-{run_id}@example.com",
        "currency": "USD",
        "created_at": "2026-01-01T10:00:00-05:00",
        "processed_at": "2026-01-01T10:00:00-05:00",
        "financial_status": "paid",
        "taxes_included": False,
        "subtotal_price": f"{subtotal:.2f}",
        "total_tax": f"{tax:.2f}",
        "total_discounts": "0.00",
        "total_price": f"{subtotal + tax + shipping:.2f}",
        "customer": {
            "id": order_id + 7,
            "email": f"buyer{number}-{run_id}@example.com",
            "first_name": "Bench",
            "last_name": f"Buyer {number}",
        },
        "line_items": lines,
        "shipping_lines": [
            {"title": "Standard", "price": f"{shipping:.2f}", "discounted_price": f"{shipping:.2f}"}
        ],
        "shipping_address": address,
        "billing_address": address,
        "discount_codes": [],
    }


class Shop:
    """Sends signed webhooks the way Shopify does, with fresh order ids."""

    def __init__(self, client: httpx.AsyncClient, slug: str, run_id: str) -> None:
        self.client, self.slug, self.run_id = client, slug, run_id
        self.number = 0
        self.base_id = 6_000_000_000_000 + int(uuid.uuid4().int % 10**9) * 1000

    async def post_order(self) -> tuple[str, float]:
        """POST one ``orders/create``; (Shopify's order id, seconds to the answer)."""
        self.number += 1
        order_id = self.base_id + self.number
        body = json.dumps(shopify_order(order_id, self.number, self.run_id)).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": sign(body),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Shop-Domain": SHOP,
        }
        started = time.perf_counter()
        r = await self.client.post(f"/webhooks/shopify/{self.slug}", content=body, headers=headers)
        took = time.perf_counter() - started
        r.raise_for_status()
        assert r.json()["status"] == "accepted", r.text
        return str(order_id), took


async def setup(base: str, run_id: str) -> tuple[dict[str, str], str]:
    """A workspace with the Shopify secret set and products in stock: (headers, slug)."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        r = await client.post(
            "/api/v1/auth/signup",
            json={
                "company_name": f"Bench Orders {run_id}",
                "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
                "password": "bench-password-1",
                "name": "Bench",
            },
        )
        r.raise_for_status()
        body = r.json()
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        r = await client.put(
            "/api/v1/connectors/shopify",
            json={"config": {"shop_domain": SHOP}, "secrets": {"webhook_secret": SECRET}},
            headers=headers,
        )
        r.raise_for_status()
        for sku, name, price, rate, grams in PRODUCTS:
            r = await client.post(
                "/api/v1/commerce/products",
                json={
                    "sku": sku,
                    "name": name,
                    "price": price,
                    "currency": "USD",
                    "tax_rate": rate,
                    "weight_grams": grams,
                    "stock_on_hand": STOCK,
                },
                headers=headers,
            )
            r.raise_for_status()
        return headers, str(body["tenant"]["slug"])


async def follow_orders(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    done: dict[str, float],
    waiting: dict[str, asyncio.Event],
    failed: dict[str, str],
    stop: asyncio.Event,
    steps: dict[str, dict[str, float]] | None = None,
) -> None:
    """Note when each Shopify order (by its id) was fulfilled, from the event log; with
    ``steps``, also when (server clock) it reached each status."""
    after = 0
    external_of: dict[str, str] = {}  # our order id -> Shopify's
    while not stop.is_set():
        r = await client.get(
            "/api/v1/events",
            params={"type": "commerce.order.*", "after": after, "limit": 200},
            headers=headers,
        )
        r.raise_for_status()
        now = time.perf_counter()
        items: list[dict[str, Any]] = r.json()["items"]
        for event in items:
            after = max(after, int(event["sequence"]))
            data = event["data"]
            if event["type"] == "commerce.order.received" and data.get("external_id"):
                external_of[data["order_id"]] = str(data["external_id"])
            external = external_of.get(data.get("order_id", ""))
            if external is None:
                continue
            if steps is not None:
                at = dt.datetime.fromisoformat(event["occurred_at"]).timestamp()
                steps.setdefault(external, {})[event["type"].rsplit(".", 1)[1]] = at
            if event["type"] == "commerce.order.failed":
                failed[external] = str(data.get("reason"))
            elif event["type"] != "commerce.order.fulfilled":
                continue
            done.setdefault(external, now)
            waiting.setdefault(external, asyncio.Event()).set()
        if len(items) < 200:
            await asyncio.sleep(POLL_SECONDS)


async def accepted_per_second(
    base: str, headers: dict[str, str], slug: str, count: int, concurrency: int, run_id: str
) -> dict[str, float]:
    """Phase 1: webhooks answered per second with ``concurrency`` in flight; then how
    long the burst took to be fulfilled (the backlog drains before phase 2)."""
    limits = httpx.Limits(max_connections=concurrency + 4)
    seconds: list[float] = []
    ids: list[str] = []
    done: dict[str, float] = {}
    failed: dict[str, str] = {}
    waiting: dict[str, asyncio.Event] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        shop = Shop(client, slug, f"{run_id}-accept")
        remaining = iter(range(count))

        async def sender() -> None:
            for _ in remaining:
                external, took = await shop.post_order()
                ids.append(external)
                seconds.append(took)

        stop = asyncio.Event()
        follower = asyncio.create_task(follow_orders(client, headers, done, waiting, failed, stop))
        started = time.perf_counter()
        try:
            await asyncio.gather(*(sender() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            for external in ids:
                event = waiting.setdefault(external, asyncio.Event())
                await asyncio.wait_for(event.wait(), 300)
            drained = max(done.values(), default=started) - started
        finally:
            stop.set()
            await follower
    return {
        "per_second": len(seconds) / elapsed,
        "p50": percentile(seconds, 50),
        "p95": percentile(seconds, 95),
        "burst_fulfilled_seconds": drained,
        "burst_failed": len(failed),
    }


async def to_fulfilled(
    base: str, headers: dict[str, str], slug: str, count: int, concurrency: int, run_id: str
) -> dict[str, Any]:
    """Phase 2: webhook POST to ``commerce.order.fulfilled``, ``concurrency`` orders
    in flight through the saga at a time."""
    posted: dict[str, float] = {}
    posted_wall: dict[str, float] = {}
    done: dict[str, float] = {}
    failed: dict[str, str] = {}
    waiting: dict[str, asyncio.Event] = {}
    steps: dict[str, dict[str, float]] = {}
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        shop = Shop(client, slug, f"{run_id}-saga")
        stop = asyncio.Event()
        follower = asyncio.create_task(
            follow_orders(client, headers, done, waiting, failed, stop, steps)
        )
        remaining = iter(range(count))

        async def sender() -> None:
            for _ in remaining:
                started, wall = time.perf_counter(), time.time()
                external, _took = await shop.post_order()
                posted[external], posted_wall[external] = started, wall
                await asyncio.wait_for(waiting.setdefault(external, asyncio.Event()).wait(), 120)

        started = time.perf_counter()
        try:
            await asyncio.gather(*(sender() for _ in range(concurrency)))
        finally:
            finished = time.perf_counter()
            stop.set()
            await follower
    latencies = [done[i] - posted[i] for i in posted if i in done and i not in failed]
    stages: dict[str, float] = {}
    previous = "posted"
    for status in ("received", "allocated", "invoiced", "shipped", "fulfilled"):
        gaps = [
            steps[i][status] - (posted_wall[i] if previous == "posted" else steps[i][previous])
            for i in posted
            if status in steps.get(i, {}) and (previous == "posted" or previous in steps[i])
        ]
        stages[f"{previous}->{status}"] = percentile(gaps, 50)
        previous = status
    return {
        "stages": stages,
        "orders_per_second": len(latencies) / (finished - started),
        "completed": len(latencies),
        "failed": len(failed),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "max": max(latencies, default=float("nan")),
    }


def _stages(stages: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in stages.items())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    label = "postgresql" if args.database_url else "sqlite"
    with running_server(args.database_url) as base:
        headers, slug = asyncio.run(setup(base, "bench"))
        asyncio.run(to_fulfilled(base, headers, slug, 10, 2, "warmup"))
        for concurrency in args.concurrency:
            a = asyncio.run(
                accepted_per_second(base, headers, slug, args.count, concurrency, f"c{concurrency}")
            )
            f = asyncio.run(
                to_fulfilled(base, headers, slug, args.count, concurrency, f"c{concurrency}")
            )
            p95_ok = "within" if f["p95"] < 1.0 else "OVER"
            print(
                f"bizos bench/orders.py  database={label}  concurrency={concurrency:<3}"
                f"  {a['per_second']:6.1f} webhooks/s accepted"
                f" (answer p50 {a['p50'] * 1000:.0f} ms, p95 {a['p95'] * 1000:.0f} ms;"
                f" the burst of {args.count} fulfilled {a['burst_fulfilled_seconds']:.1f} s"
                f" after the first POST)"
                f"  webhook->fulfilled p50 {f['p50'] * 1000:6.0f} ms"
                f"  p95 {f['p95'] * 1000:6.0f} ms  max {f['max'] * 1000:6.0f} ms"
                f"  ({int(f['completed'])}/{args.count} fulfilled, {int(f['failed'])} failed,"
                f" {f['orders_per_second']:.1f} orders/s)"
                f"  budget: seed < 120 s, ours < 1 s p95 -> {p95_ok}"
            )
            print(f"    median ms per step (server clock): {_stages(f['stages'])}")


if __name__ == "__main__":
    main()
