"""A refused Shopify delivery says why, one problem type per reason, and never shows the
secret or the signature we expected; nothing refused is stored."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.modules.commerce.shopify.helpers import (
    SECRET,
    SHOP,
    configure_shop,
    deliver,
    fixture,
    inbound_rows,
    sign,
)

PROBLEMS = "https://bizos.dev/problems/"
BODY = json.dumps(fixture("orders_create.json")).encode()


def assert_refused(r: httpx.Response, reason: str, body: bytes = BODY) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"] == PROBLEMS + reason, problem
    assert SECRET not in r.text and sign(body) not in r.text


async def test_a_workspace_without_a_secret_is_told_it_is_not_configured(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    r = await deliver(client, tenant, BODY)
    assert_refused(r, "webhook-not-configured")
    assert "PUT /api/v1/connectors/shopify" in r.json()["detail"]
    tenant.slug = "no-such-workspace"
    unknown = await deliver(client, tenant, BODY)
    assert_refused(unknown, "webhook-not-configured")
    assert unknown.json()["detail"] == r.json()["detail"]  # existence is not revealed


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "webhook-signature-missing"),
        ("", "webhook-signature-missing"),
        ("not base64!", "webhook-signature-malformed"),
        (base64.b64encode(b"too short").decode(), "webhook-signature-malformed"),
        (sign(BODY).replace("=", ""), "webhook-signature-malformed"),
        (sign(BODY, "another-secret"), "webhook-signature-mismatch"),
        (sign(BODY + b" "), "webhook-signature-mismatch"),
    ],
)
async def test_each_bad_signature_gets_its_own_problem_and_stores_nothing(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    signature: str | None,
    reason: str,
) -> None:
    await configure_shop(client, tenant)
    if signature is None:
        r = await deliver(client, tenant, BODY, drop=("X-Shopify-Hmac-Sha256",))
    else:
        r = await deliver(client, tenant, BODY, signature=signature)
    assert_refused(r, reason)
    assert r.headers["www-authenticate"] == "HMAC-SHA256"
    assert await inbound_rows(db, tenant.tenant_id) == []


async def test_a_good_signature_for_another_shop_is_a_sender_mismatch(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_shop(client, tenant, shop_domain="elsewhere.myshopify.com")
    r = await deliver(client, tenant, BODY)
    assert_refused(r, "webhook-sender-mismatch")
    assert SHOP in r.json()["detail"] and "elsewhere" not in r.json()["detail"]
    assert await inbound_rows(db, tenant.tenant_id) == []
