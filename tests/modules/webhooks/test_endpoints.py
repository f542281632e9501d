"""Webhook endpoints through the API: created by admins, secret shown once, tenant-scoped."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.app import create_app
from bizos.core.config import Settings
from bizos.core.db import Database
from tests.conftest import TenantLogin, signup
from tests.modules.events.helpers import error_locs, key_headers, problem

ENDPOINTS = "/api/v1/webhook-endpoints"


async def create_endpoint(
    client: httpx.AsyncClient, tenant: TenantLogin, **body: Any
) -> dict[str, Any]:
    payload = {"url": "https://hooks.example.com/bizos", "events": ["crm.lead.*"], **body}
    r = await client.post(ENDPOINTS, headers=tenant.headers, json=payload)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_admin_creates_lists_and_deletes_an_endpoint(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    created = await create_endpoint(client, tenant, description="CRM sync")
    assert created["url"] == "https://hooks.example.com/bizos"
    assert created["events"] == ["crm.lead.*"]
    assert created["description"] == "CRM sync"
    prefix, _, encoded = created["secret"].partition("_")
    assert prefix == "whsec" and len(base64.b64decode(encoded)) == 24

    listed = (await client.get(ENDPOINTS, headers=tenant.headers)).json()
    assert [e["id"] for e in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]
    one = await client.get(f"{ENDPOINTS}/{created['id']}", headers=tenant.headers)
    assert one.status_code == 200 and "secret" not in one.json()

    r = await client.delete(f"{ENDPOINTS}/{created['id']}", headers=tenant.headers)
    assert r.status_code == 204
    problem(await client.get(f"{ENDPOINTS}/{created['id']}", headers=tenant.headers), 404)
    problem(await client.delete(f"{ENDPOINTS}/{created['id']}", headers=tenant.headers), 404)
    assert (await client.get(ENDPOINTS, headers=tenant.headers)).json()["items"] == []


async def test_each_endpoint_gets_its_own_secret_and_the_log_records_it(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    first = await create_endpoint(client, tenant)
    second = await create_endpoint(client, tenant)
    assert first["secret"] != second["secret"]
    r = await client.get(
        "/api/v1/events", headers=tenant.headers, params={"type": "webhooks.endpoint.*"}
    )
    logged = r.json()["items"]
    assert [e["aggregate_id"] for e in logged] == [first["id"], second["id"]]
    assert all(first["secret"] not in str(e["data"]) for e in logged)


async def test_another_tenants_endpoint_is_not_found(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    created = await create_endpoint(client, tenant)
    url = f"{ENDPOINTS}/{created['id']}"
    problem(await client.get(url, headers=other_tenant.headers), 404)
    problem(await client.delete(url, headers=other_tenant.headers), 404)
    problem(await client.get(f"{url}/deliveries", headers=other_tenant.headers), 404)
    assert (await client.get(ENDPOINTS, headers=other_tenant.headers)).json()["items"] == []
    assert (await client.get(url, headers=tenant.headers)).status_code == 200


async def test_managing_endpoints_needs_admin(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    created = await create_endpoint(client, tenant)
    member = await key_headers(client, tenant, ["crm:read", "crm:write", "automation:write"])
    body = {"url": "https://x.example.com", "events": ["*"]}
    problem(await client.post(ENDPOINTS, headers=member, json=body), 403)
    problem(await client.get(ENDPOINTS, headers=member), 403)
    problem(await client.delete(f"{ENDPOINTS}/{created['id']}", headers=member), 403)
    problem(await client.get(f"{ENDPOINTS}/{created['id']}/deliveries", headers=member), 403)
    problem(await client.post(ENDPOINTS, json=body), 401)


async def test_invalid_endpoints_are_422_with_field_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    async def locs(body: dict[str, Any]) -> list[list[Any]]:
        return error_locs(await client.post(ENDPOINTS, headers=tenant.headers, json=body))

    assert await locs({"url": "ftp://files.example.com", "events": ["*"]}) == [["body", "url"]]
    assert await locs({"url": "not a url", "events": ["*"]}) == [["body", "url"]]
    creds = {"url": "https://user:pw@hooks.example.com", "events": ["*"]}
    assert await locs(creds) == [["body", "url"]]
    assert await locs({"url": "https://hooks.example.com", "events": []}) == [["body", "events"]]
    bad_pattern = {"url": "https://hooks.example.com", "events": ["crm.lead.*", "CRM Lead!"]}
    assert await locs(bad_pattern) == [["body", "events", 1]]
    assert await locs({"events": ["*"]}) == [["body", "url"]]
    assert (await client.get(ENDPOINTS, headers=tenant.headers)).json()["items"] == []


async def test_signing_secret_is_not_stored_in_plain_text(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    created = await create_endpoint(client, tenant)
    secret = created["secret"]
    key_material = secret.removeprefix("whsec_")
    if db.is_sqlite:
        path = Path(db.url.split("///", 1)[1])
        files = [path, path.with_name(path.name + "-wal")]
        raw = b"".join(f.read_bytes() for f in files if f.exists())
        assert key_material.encode() not in raw
        assert base64.b64decode(key_material) not in raw
    else:
        async with db.unit_of_work(system=True, readonly=True) as s:
            rows = (await s.execute(sa.text("SELECT t::text FROM webhook_endpoints t"))).all()
        assert rows and all(key_material not in r[0] for r in rows)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/x", "127.0.0.1 is a loopback address"),
        ("http://localhost/hook", "localhost is a local name"),
        ("http://10.0.0.5/x", "10.0.0.5 is a private address"),
    ],
)
async def test_registering_a_private_url_is_refused_by_default(
    settings: Settings, db: Database, url: str, reason: str
) -> None:
    strict = settings.model_copy(update={"webhook_allow_private_targets": False})
    application = create_app(strict, database=db, workers=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            owner = await signup(c, "Strict Co")
            r = await c.post(
                ENDPOINTS, headers=owner.headers, json={"url": url, "events": ["crm.*"]}
            )
    assert r.status_code == 422
    assert r.json()["errors"] == [{"loc": ["body", "url"], "msg": reason}]
