"""Payment reconciliation accuracy on the labelled Stripe set, through a real server.

    .venv/bin/python bench/reconciliation.py [--seed 20260406] [--database-url URL]

Starts ``bizos serve`` (API and workers) on a fresh data dir, signs up a workspace,
sets the Stripe connector's signing secret, creates the set's invoices through the API,
then POSTs every Stripe delivery of ``tests/fixtures/stripe/reconciliation.py`` and the
hand-written harder cases of ``reconciliation_hard.py`` (exact
payments, partial payments, wrong amounts, missing metadata, unknown customers,
duplicates, a PaymentIntent with its Charge, other currencies, yen, void invoices,
refunds) to ``/webhooks/stripe/{tenant}``, signed with Stripe's own library. Once the
workers have processed them it compares every payment and invoice with its label and
prints the match accuracy (correct outcome / cases) by kind. Seed target: 98 %.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _server import running_server, signup

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.stripe.events import dumps, sign
from tests.fixtures.stripe.reconciliation import (
    Case,
    Observed,
    full_set,
    plan_deliveries,
    score,
)

SECRET = "whsec_bench_reconciliation"


def create_invoices(client: httpx.Client, cases: list[Case]) -> dict[str, dict[str, str]]:
    ids: dict[str, dict[str, str]] = {}
    for case in cases:
        ids[case.name], numbers = {}, {}
        for spec in case.invoices:
            r = client.post(
                "/api/v1/billing/invoices",
                json={
                    "currency": spec.currency,
                    "customer_email": spec.email,
                    "lines": [spec.line()],
                },
            )
            r.raise_for_status()
            invoice_id = r.json()["id"]
            issued = client.post(f"/api/v1/billing/invoices/{invoice_id}/issue")
            issued.raise_for_status()
            if spec.void:
                client.post(
                    f"/api/v1/billing/invoices/{invoice_id}/void", json={"reason": "reissued"}
                ).raise_for_status()
            ids[case.name][spec.key] = invoice_id
            numbers[spec.key] = issued.json()["number"]
        plan_deliveries(case, numbers)
    return ids


def count_events(client: httpx.Client, type_: str) -> int:
    total, cursor = 0, None
    while True:
        params: dict[str, Any] = {"type": type_, "limit": 200}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/v1/events", params=params).json()
        total += len(body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            return total


def all_payments(client: httpx.Client) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/v1/billing/payments", params=params).json()
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def run(base: str, seed: int) -> None:
    auth = signup(base, "Bench Reconciliation")
    headers = {"Authorization": auth["Authorization"]}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        slug = client.get("/api/v1/me").json()["tenant"]["slug"]
        client.put(
            "/api/v1/connectors/stripe", json={"config": {}, "secrets": {"webhook_secret": SECRET}}
        ).raise_for_status()
        cases = full_set(seed)
        ids = create_invoices(client, cases)
        started = time.perf_counter()
        deliveries = 0
        for case in cases:
            for payload in case.deliveries:
                body = dumps(payload)
                r = httpx.post(
                    f"{base}/webhooks/stripe/{slug}",
                    content=body.encode(),
                    headers={"Stripe-Signature": sign(body, SECRET)},
                    timeout=30,
                )
                r.raise_for_status()
                deliveries += 1
        posted = time.perf_counter() - started
        expected_payments = sum(len(c.payment_ids) for c in cases)
        expected_refunds = sum(1 for c in cases if "partially_refunded" in c.expected_payments)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (
                count_events(client, "billing.payment.received") >= expected_payments
                and count_events(client, "billing.payment.refunded") >= expected_refunds
            ):
                break
            time.sleep(0.2)
        processed = time.perf_counter() - started
        payments = all_payments(client)
        observed = {}
        for case in cases:
            key_of = {invoice_id: key for key, invoice_id in ids[case.name].items()}
            mine = [p for p in payments if p["external_id"] in case.payment_ids]
            statuses = {
                key: client.get(f"/api/v1/billing/invoices/{invoice_id}").json()["status"]
                for key, invoice_id in ids[case.name].items()
            }
            observed[case.name] = Observed(
                payment_statuses=tuple(sorted(p["status"] for p in mine)),
                invoice_statuses=statuses,
                invoice_keys=tuple(key_of.get(p["invoice_id"] or "") for p in mine),
            )
    result = score(cases, observed)
    print(result.report())
    print(
        f"{len(cases)} cases, {deliveries} signed deliveries posted in {posted:.2f} s, "
        f"all processed after {processed:.2f} s; {len(payments)} payments recorded "
        f"(expected {expected_payments})"
    )
    for line in result.wrong:
        print("  wrong:", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20260406)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with running_server(args.database_url) as base:
        run(base, args.seed)


if __name__ == "__main__":
    main()
