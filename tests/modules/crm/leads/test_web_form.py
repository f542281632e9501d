"""The public lead form: no credential, the same 202 whether the person was known or
not, a honeypot that swallows bots' posts, a per-address limit stricter than the rest
of the public surface, and plain HTML form posts as well as JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from bizos.app import create_app
from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.modules.crm.models import Contact, Lead
from tests.conftest import TenantLogin, signup
from tests.modules.crm.leads.helpers import event_types


async def _leads(db: Database, tenant_id: str) -> list[Lead]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        return list(await session.scalars(sa.select(Lead).order_by(Lead.id)))


async def _contact_count(db: Database, tenant_id: str) -> int:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        return len(list(await session.scalars(sa.select(Contact.id))))


@asynccontextmanager
async def app_with(settings: Settings, db: Database, **overrides: Any) -> AsyncIterator[FastAPI]:
    app = create_app(settings.model_copy(update=overrides), database=db, workers=False)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def client_for(app: FastAPI, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_a_form_post_is_accepted_and_becomes_a_web_form_lead(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    r = await client.post(
        f"/forms/{tenant.slug}/leads",
        json={
            "email": "ada@contoso.com",
            "name": "Ada",
            "message": "Pricing for 40 seats?",
            "utm_campaign": "spring",
        },
    )

    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": True}
    [lead] = await _leads(db, tenant.tenant_id)
    assert lead.source == "web_form"
    assert lead.message == "Pricing for 40 seats?"
    assert lead.properties == {"utm_campaign": "spring"}
    assert lead.ip == "127.0.0.1"
    assert await event_types(db, tenant.tenant_id, lead.id) == ["crm.lead.created"]


async def test_a_plain_html_form_post_is_accepted(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    r = await client.post(
        f"/forms/{tenant.slug}/leads",
        data={"email": "bo@fabrikam.com", "name": "Bo Berg", "company": "Fabrikam", "hp": ""},
    )

    assert r.status_code == 202, r.text
    [lead] = await _leads(db, tenant.tenant_id)
    assert (lead.email, lead.name, lead.company) == ("bo@fabrikam.com", "Bo Berg", "Fabrikam")


async def test_the_answer_is_the_same_whether_the_person_was_known(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    first = await client.post(f"/forms/{tenant.slug}/leads", json={"email": "cy@contoso.com"})
    again = await client.post(f"/forms/{tenant.slug}/leads", json={"email": "CY@contoso.com"})

    assert (first.status_code, first.content) == (again.status_code, again.content)
    leads = await _leads(db, tenant.tenant_id)
    assert len(leads) == 2 and leads[0].contact_id == leads[1].contact_id
    assert await _contact_count(db, tenant.tenant_id) == 1


async def test_a_filled_honeypot_is_answered_alike_and_stores_nothing(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    for trap in ({"website": "http://spam.example"}, {"hp": "x"}):
        r = await client.post(
            f"/forms/{tenant.slug}/leads", json={"email": "bot@contoso.com", **trap}
        )
        assert r.status_code == 202
        assert r.json() == {"accepted": True}
    html = await client.post(
        f"/forms/{tenant.slug}/leads", data={"email": "bot@contoso.com", "website": "x"}
    )

    assert html.status_code == 202
    assert await _leads(db, tenant.tenant_id) == []
    assert await _contact_count(db, tenant.tenant_id) == 0


async def test_an_unknown_workspace_is_not_found(client: httpx.AsyncClient) -> None:
    r = await client.post("/forms/no-such-workspace/leads", json={"email": "ada@contoso.com"})

    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_an_invalid_form_is_refused_with_its_fields(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    r = await client.post(f"/forms/{tenant.slug}/leads", data={"email": "nope", "name": "Ada"})
    missing = await client.post(f"/forms/{tenant.slug}/leads", json={"name": "Ada"})
    not_json = await client.post(
        f"/forms/{tenant.slug}/leads",
        content=b"{oops",
        headers={"content-type": "application/json"},
    )
    xml = await client.post(
        f"/forms/{tenant.slug}/leads",
        content=b"<lead/>",
        headers={"content-type": "application/xml"},
    )

    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "email"]
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["loc"] == ["body", "email"]
    assert not_json.status_code == 422
    assert xml.status_code == 415
    assert await _leads(db, tenant.tenant_id) == []


async def test_one_address_may_post_only_a_few_forms_a_minute(
    settings: Settings, db: Database
) -> None:
    async with (
        app_with(settings, db, rate_limit_form_per_minute=3) as app,
        client_for(app, "198.51.100.7") as web,
        client_for(app, "203.0.113.50") as neighbour,
    ):
        tenant = await signup(web)
        answers = [
            await web.post(f"/forms/{tenant.slug}/leads", json={"email": f"p{i}@contoso.com"})
            for i in range(4)
        ]
        # The signed-in API is untouched; another address has its own allowance.
        me = await web.get("/api/v1/me", headers=tenant.headers)
        elsewhere = await neighbour.post(
            f"/forms/{tenant.slug}/leads", json={"email": "q@contoso.com"}
        )

    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert answers[0].headers["ratelimit-limit"] == "3"
    assert int(answers[3].headers["retry-after"]) >= 1
    assert answers[3].headers["content-type"].startswith("application/problem+json")
    assert me.status_code == 200
    assert elsewhere.status_code == 202
    assert len(await _leads(db, tenant.tenant_id)) == 4
