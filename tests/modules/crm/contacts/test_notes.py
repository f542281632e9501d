"""Notes on contacts, companies and other CRM records."""

from __future__ import annotations

import httpx

from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.modules.crm.contacts.helpers import (
    CONTACTS,
    add_company,
    add_contact,
    add_deal_row,
    assert_problem,
)


async def test_notes_are_added_and_listed_newest_first(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact = await add_contact(client, tenant, name="Nia")
    url = f"{CONTACTS}/{contact['id']}/notes"
    for body in ("first call", "sent proposal", "signed"):
        r = await client.post(url, headers=tenant.headers, json={"body": body})
        assert r.status_code == 201, r.text
        assert r.json()["author_id"] == tenant.user_id
    page = await client.get(url, headers=tenant.headers, params={"limit": 2})
    assert [n["body"] for n in page.json()["items"]] == ["signed", "sent proposal"]
    rest = await client.get(
        url, headers=tenant.headers, params={"limit": 2, "cursor": page.json()["next_cursor"]}
    )
    assert [n["body"] for n in rest.json()["items"]] == ["first call"]

    r = await client.post(url, headers=tenant.headers, json={"body": "   "})
    assert ["body", "body"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]


async def test_notes_on_companies_and_deals(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin, db: Database
) -> None:
    company = await add_company(client, tenant, name="Soylent", domain="soylent.example")
    r = await client.post(
        f"/api/v1/crm/companies/{company['id']}/notes", headers=tenant.headers, json={"body": "hq"}
    )
    assert r.status_code == 201 and r.json()["subject_type"] == "company"
    contact = await add_contact(client, tenant, name="Dee")
    deal_id = await add_deal_row(db, tenant.tenant_id, contact["id"], "Renewal")
    r = await client.post(
        "/api/v1/crm/notes",
        headers=tenant.headers,
        json={"subject_type": "deal", "subject_id": deal_id, "body": "budget approved"},
    )
    assert r.status_code == 201, r.text
    listed = await client.get(
        "/api/v1/crm/notes",
        headers=tenant.headers,
        params={"subject_type": "deal", "subject_id": deal_id},
    )
    assert [n["body"] for n in listed.json()["items"]] == ["budget approved"]
    assert_problem(
        await client.get(
            "/api/v1/crm/notes",
            headers=other_tenant.headers,
            params={"subject_type": "deal", "subject_id": deal_id},
        ),
        404,
    )
    assert_problem(
        await client.post(
            "/api/v1/crm/notes",
            headers=tenant.headers,
            json={"subject_type": "ticket", "subject_id": deal_id, "body": "x"},
        ),
        422,
    )
