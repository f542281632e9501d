"""A worker killed with SIGKILL in the middle of order to cash, then restarted with the
same executor id: the saga resumes where it stopped. The stock is allocated once, the
invoice issued once (one number), one label bought, one email sent, and the order ends
fulfilled.

The worker is ``crash_child.py`` in a child process; the shipping provider is a local
Shippo-style server in this process that holds the worker's rate request, so the kill
lands while the label step is running (allocation and invoicing already checkpointed).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.core.events import Event
from bizos.modules.outreach.models import Message
from tests.conftest import TenantLogin
from tests.connectors.shippo_server import shippo_server
from tests.modules.commerce.fulfilment.helpers import (
    get_order,
    get_product,
    invoices_of,
    place_order,
    product,
    ship_from_warehouse,
)

pytestmark = pytest.mark.slow

CHILD = Path(__file__).with_name("crash_child.py")
ROOT = Path(__file__).resolve().parents[4]
WAIT_SECONDS = 90


def spawn(mode: str, database_url: str, executor_id: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "BIZOS_WORKFLOWS_ENABLED": "true", "BIZOS_LOG_JSON": "false"}
    return subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            mode,
            "--database-url",
            database_url,
            "--executor-id",
            executor_id,
            *args,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def event_counts(db: Database, tenant_id: str) -> Counter[str]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        return Counter((await session.scalars(sa.select(Event.type))).all())


async def test_a_worker_killed_mid_saga_resumes_without_a_second_invoice_or_label(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    db: Database,
    database_url: str,
    tmp_path: Path,
) -> None:
    await ship_from_warehouse(client, tenant)
    widget = await product(client, tenant, "WID-1", stock=5)
    executor_id = f"crash-{uuid.uuid4().hex[:8]}"
    report = tmp_path / "report.json"
    with shippo_server() as server:
        r = await client.put(
            "/api/v1/connectors/shipping",
            json={
                "config": {"vendor": "shippo", "base_url": server.base_url},
                "secrets": {"api_key": server.api_key},
            },
            headers=tenant.headers,
        )
        assert r.status_code == 200, r.text
        # No workers in this process: the order waits for the child's saga.
        order = await place_order(client, tenant, [("WID-1", 2)])
        workflow = (
            "--workflow-id",
            f"commerce.order_to_cash:{order['id']}:1",
            "--tenant-id",
            tenant.tenant_id,
            "--order-id",
            order["id"],
        )
        server.hold_shipments = hold = threading.Event()

        first = spawn("start", database_url, executor_id, *workflow)
        arrived = await asyncio.to_thread(server.shipments_arrived.wait, WAIT_SECONDS)
        if not arrived:
            first.kill()
            raise AssertionError(f"the saga never asked for rates:\n{first.communicate()[0]}")
        os.kill(first.pid, signal.SIGKILL)
        await asyncio.to_thread(first.wait, WAIT_SECONDS)
        assert first.stdout is not None
        first.stdout.close()

        # Killed in the label step: allocated and invoiced, nothing bought.
        midway = await get_order(client, tenant, order["id"])
        assert midway["status"] == "invoiced"
        assert server.calls("/transactions/") == []
        hold.set()

        second = spawn("resume", database_url, executor_id, *workflow, "--report", str(report))
        try:
            output, _ = await asyncio.to_thread(second.communicate, None, WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            second.kill()
            leftover = second.communicate()[0]
            raise AssertionError(f"the restarted worker did not finish:\n{leftover}") from None
        assert second.returncode == 0, output

    outcome = json.loads(report.read_text())
    assert (outcome["result"], outcome["status"]) == ("fulfilled", "succeeded")
    # Each step checkpointed once: the finished ones were not run again on resume.
    assert outcome["steps"] == [
        "commerce.order_to_cash.plan",
        "commerce.order_to_cash.allocate",
        "commerce.order_to_cash.create_invoice",
        "commerce.order_to_cash.mark_invoiced",
        "commerce.order_to_cash.buy_label",
        "commerce.order_to_cash.mark_shipped",
        "commerce.order_to_cash.notify_customer",
        "commerce.order_to_cash.mark_fulfilled",
    ]
    # The interrupted label step asked for rates again, and bought one label.
    assert len(server.calls("/shipments/")) == 2
    assert len(server.calls("/transactions/")) == 1
    done = await get_order(client, tenant, order["id"])
    assert done["status"] == "fulfilled"
    assert done["shipment"]["tracking_number"] == "9400000000000000000001"
    [invoice] = await invoices_of(client, tenant, order["id"])
    assert (invoice["number"], invoice["status"]) == ("INV-000001", "open")
    stock = await get_product(client, tenant, widget["id"])
    assert (stock["stock_on_hand"], stock["allocated"]) == (3, 0)
    counts = await event_counts(db, tenant.tenant_id)
    for once in (
        "commerce.order.allocated",
        "commerce.order.invoiced",
        "billing.invoice.issued",
        "commerce.order.shipped",
        "commerce.order.fulfilled",
    ):
        assert counts[once] == 1, (once, counts)
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        emails = (
            await session.scalars(sa.select(Message).where(Message.related_id == order["id"]))
        ).all()
    assert len(emails) == 1
