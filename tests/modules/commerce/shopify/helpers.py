"""Shopify as a test sees it: a configured shop, signed deliveries, stored rows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.modules.webhooks.models import InboundWebhook
from tests.conftest import TenantLogin

FIXTURES = Path(__file__).parents[3] / "fixtures" / "shopify"
SECRET = "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"
SHOP = "northwind-coffee.myshopify.com"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def sign(body: bytes, secret: str = SECRET) -> str:
    """What Shopify sends: base64 of the body's HMAC-SHA256 under the app secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def configure_shop(
    client: httpx.AsyncClient, tenant: TenantLogin, *, shop_domain: str | None = None
) -> None:
    r = await client.put(
        "/api/v1/connectors/shopify",
        json={
            "config": {"shop_domain": shop_domain} if shop_domain else {},
            "secrets": {"webhook_secret": SECRET},
        },
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text


async def deliver(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    body: bytes | dict[str, Any],
    *,
    topic: str = "orders/create",
    webhook_id: str | None = None,
    signature: str | None = None,
    secret: str = SECRET,
    drop: tuple[str, ...] = (),
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature if signature is not None else sign(raw, secret),
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": "2025-01",
    }
    for name in drop:
        headers.pop(name)
    return await client.post(f"/webhooks/shopify/{tenant.slug}", content=raw, headers=headers)


async def inbound_rows(db: Database, tenant_id: str) -> list[InboundWebhook]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        rows = await s.scalars(
            sa.select(InboundWebhook)
            .where(InboundWebhook.provider == "shopify")
            .order_by(InboundWebhook.received_at)
        )
        return list(rows)
