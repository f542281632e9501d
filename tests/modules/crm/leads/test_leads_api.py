"""Leads through the API: capture with contact dedupe, reading, the lifecycle with its
rules, conversion into a deal, and the bad paths (invalid input, other tenants, scopes,
stale versions, concurrent captures of one person)."""

from __future__ import annotations

import asyncio

import httpx

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.crm.contacts.service import find_or_create_contact
from tests.conftest import TenantLogin
from tests.connectors.helpers import api_key_headers, user_headers
from tests.modules.crm.leads.helpers import (
    contacts_with_email,
    event_types,
    get_lead,
    patch_lead,
    post_lead,
)

# --- capture ------------------------------------------------------------------------


async def test_a_captured_lead_starts_new_and_links_a_new_contact(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/crm/leads",
        json={
            "email": "Ada@Contoso.com",
            "name": "Ada Lovelace",
            "phone": "+44 20 7946 0958",
            "company": "Contoso",
            "source": "Google Ads",
            "message": "Please call me about pricing.",
        },
        headers=tenant.headers,
    )

    assert r.status_code == 201, r.text
    lead = r.json()
    assert r.headers["location"] == f"/api/v1/crm/leads/{lead['id']}"
    assert lead["status"] == "new"
    assert lead["source"] == "google_ads"
    assert lead["score"] is None and lead["owner_id"] is None and lead["enrichment"] is None
    assert lead["enrichment_status"] == "pending"
    assert lead["version"] == 1 and lead["created_at"]
    [contact] = await contacts_with_email(db, tenant.tenant_id, "ada@contoso.com")
    assert lead["contact_id"] == contact.id
    assert contact.name == "Ada Lovelace"
    assert await event_types(db, tenant.tenant_id, lead["id"]) == ["crm.lead.created"]
    assert await get_lead(client, tenant, lead["id"]) == lead


async def test_a_lead_whose_email_is_known_links_to_that_contact(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        known, _ = await find_or_create_contact(
            session, Context(tenant_id=tenant.tenant_id), email="grace@fabrikam.com", name="Grace"
        )

    first = await post_lead(client, tenant, email="GRACE@fabrikam.com ", name=None)
    second = await post_lead(client, tenant, email="grace@FABRIKAM.com", source="referral")

    assert first["contact_id"] == second["contact_id"] == known.id
    assert len(await contacts_with_email(db, tenant.tenant_id, "grace@fabrikam.com")) == 1


async def test_concurrent_leads_with_one_email_make_one_contact(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/crm/leads",
                json={"email": "linus@litwareinc.com", "message": f"attempt {i}"},
                headers=tenant.headers,
            )
            for i in range(8)
        )
    )

    assert [r.status_code for r in responses] == [201] * 8
    contacts = await contacts_with_email(db, tenant.tenant_id, "linus@litwareinc.com")
    assert len(contacts) == 1
    assert {r.json()["contact_id"] for r in responses} == {contacts[0].id}
    assert len({r.json()["id"] for r in responses}) == 8


async def test_an_invalid_email_is_refused_with_its_field(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    for email in ("not-an-email", "ada@", "ada@@contoso.com", ""):
        r = await client.post(
            "/api/v1/crm/leads", json={"email": email, "name": "Ada"}, headers=tenant.headers
        )
        assert r.status_code == 422, (email, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert ["body", "email"] in [e["loc"] for e in r.json()["errors"]]
    missing = await client.post("/api/v1/crm/leads", json={"name": "Ada"}, headers=tenant.headers)
    assert missing.status_code == 422
    assert await contacts_with_email(db, tenant.tenant_id, "ada@contoso.com") == []


async def test_bad_fields_are_refused_with_their_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/crm/leads",
        json={"email": "ada@contoso.com", "phone": "call me", "source": "!!", "colour": "red"},
        headers=tenant.headers,
    )

    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["errors"]]
    assert ["body", "phone"] in locs
    assert ["body", "source"] in locs
    assert ["body", "colour"] in locs


async def test_capturing_needs_crm_write_and_reading_needs_crm_read(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    lead = await post_lead(client, tenant)
    reader = await api_key_headers(client, tenant, ["crm:read"])
    outsider = await api_key_headers(client, tenant, ["support:read"])

    r = await client.post("/api/v1/crm/leads", json={"email": "x@contoso.com"}, headers=reader)
    assert r.status_code == 403
    assert (await client.get(f"/api/v1/crm/leads/{lead['id']}", headers=reader)).status_code == 200
    assert (await client.get("/api/v1/crm/leads", headers=outsider)).status_code == 403
    assert (await client.get("/api/v1/crm/leads")).status_code == 401


# --- reading ------------------------------------------------------------------------


async def test_another_tenants_lead_is_not_found(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    lead = await post_lead(client, tenant)
    path = f"/api/v1/crm/leads/{lead['id']}"

    assert (await client.get(path, headers=other_tenant.headers)).status_code == 404
    r = await client.patch(path, json={"status": "working"}, headers=other_tenant.headers)
    assert r.status_code == 404
    convert = await client.post(
        f"{path}/convert", json={"amount": "10", "currency": "EUR"}, headers=other_tenant.headers
    )
    assert convert.status_code == 404
    listed = await client.get("/api/v1/crm/leads", headers=other_tenant.headers)
    assert listed.json()["items"] == []
    assert (await client.get("/api/v1/crm/leads/nope", headers=tenant.headers)).status_code == 404


async def test_leads_are_listed_by_status_source_and_owner_page_by_page(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    made = [
        await post_lead(client, tenant, email=f"p{i}@contoso.com", source=source)
        for i, source in enumerate(["web_form", "api", "web_form", "web_form"])
    ]
    await patch_lead(client, tenant, made[0]["id"], {"status": "working"})
    await patch_lead(client, tenant, made[2]["id"], {"owner_id": tenant.user_id})

    async def ids(query: str) -> list[str]:
        r = await client.get(f"/api/v1/crm/leads?{query}", headers=tenant.headers)
        assert r.status_code == 200, r.text
        return [item["id"] for item in r.json()["items"]]

    # Newest first.
    assert await ids("source=web_form") == [made[3]["id"], made[2]["id"], made[0]["id"]]
    assert await ids("status=working") == [made[0]["id"]]
    assert await ids(f"owner_id={tenant.user_id}") == [made[2]["id"]]
    first = await client.get("/api/v1/crm/leads?limit=3", headers=tenant.headers)
    page = first.json()
    assert len(page["items"]) == 3 and page["next_cursor"]
    rest = await client.get(
        f"/api/v1/crm/leads?limit=3&cursor={page['next_cursor']}", headers=tenant.headers
    )
    assert [i["id"] for i in rest.json()["items"]] == [made[0]["id"]]
    assert rest.json()["next_cursor"] is None
    bad = await client.get("/api/v1/crm/leads?status=hot", headers=tenant.headers)
    assert bad.status_code == 422


# --- lifecycle ----------------------------------------------------------------------


async def test_a_lead_moves_new_working_qualified_with_events(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    lead = await post_lead(client, tenant)

    working = await patch_lead(client, tenant, lead["id"], {"status": "working"})
    qualified = await patch_lead(
        client, tenant, lead["id"], {"status": "qualified", "reason": "budget confirmed"}
    )

    assert working.status_code == 200, working.text
    assert qualified.status_code == 200, qualified.text
    body = qualified.json()
    assert body["status"] == "qualified"
    assert body["status_reason"] == "budget confirmed"
    assert body["version"] == 3
    assert qualified.headers["etag"] == 'W/"3"'
    assert await event_types(db, tenant.tenant_id, lead["id"]) == [
        "crm.lead.created",
        "crm.lead.status_changed",
        "crm.lead.status_changed",
    ]


async def test_moves_the_lifecycle_does_not_allow_are_refused(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    lead = await post_lead(client, tenant)

    skipping = await patch_lead(client, tenant, lead["id"], {"status": "qualified"})
    assert skipping.status_code == 409
    assert "from new it can become working, disqualified" in skipping.json()["detail"]

    converting = await patch_lead(client, tenant, lead["id"], {"status": "converted"})
    assert converting.status_code == 422
    assert converting.json()["errors"][0]["loc"] == ["body", "status"]

    unknown = await patch_lead(client, tenant, lead["id"], {"status": "won"})
    assert unknown.status_code == 422

    assert (await get_lead(client, tenant, lead["id"]))["status"] == "new"


async def test_disqualifying_needs_a_reason_and_a_disqualified_lead_can_be_reopened(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    lead = await post_lead(client, tenant)

    no_reason = await patch_lead(client, tenant, lead["id"], {"status": "disqualified"})
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["loc"] == ["body", "reason"]

    out = await patch_lead(
        client, tenant, lead["id"], {"status": "disqualified", "reason": "student project"}
    )
    assert out.status_code == 200
    assert out.json()["status_reason"] == "student project"
    back_to_qualified = await patch_lead(client, tenant, lead["id"], {"status": "qualified"})
    assert back_to_qualified.status_code == 409
    reopened = await patch_lead(client, tenant, lead["id"], {"status": "working"})
    assert reopened.status_code == 200
    assert reopened.json()["status_reason"] is None


async def test_a_stale_if_match_is_refused(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    lead = await post_lead(client, tenant)
    path = f"/api/v1/crm/leads/{lead['id']}"

    first = await client.patch(
        path, json={"name": "Ada King"}, headers={**tenant.headers, "If-Match": '"1"'}
    )
    stale = await client.patch(
        path, json={"status": "working"}, headers={**tenant.headers, "If-Match": '"1"'}
    )

    assert first.status_code == 200 and first.json()["version"] == 2
    assert stale.status_code == 409
    assert (await get_lead(client, tenant, lead["id"]))["status"] == "new"


async def test_an_owner_must_be_an_active_user_of_the_workspace(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    lead = await post_lead(client, tenant)

    foreign = await patch_lead(client, tenant, lead["id"], {"owner_id": other_tenant.user_id})
    mine = await patch_lead(client, tenant, lead["id"], {"owner_id": tenant.user_id})

    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["loc"] == ["body", "owner_id"]
    assert mine.status_code == 200
    assert mine.json()["owner_id"] == tenant.user_id
    assert mine.json()["assignment_reason"] == "assigned by hand"
    assert "crm.lead.assigned" in await event_types(db, tenant.tenant_id, lead["id"])


# --- conversion ---------------------------------------------------------------------


async def _qualified(client: httpx.AsyncClient, tenant: TenantLogin, **fields: str) -> str:
    lead = await post_lead(client, tenant, **fields)
    for status in ("working", "qualified"):
        r = await patch_lead(client, tenant, lead["id"], {"status": status})
        assert r.status_code == 200, r.text
    lead_id: str = lead["id"]
    return lead_id


async def test_converting_a_qualified_lead_creates_its_deal(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    lead_id = await _qualified(client, tenant, company="Contoso")
    await patch_lead(client, tenant, lead_id, {"owner_id": tenant.user_id})

    r = await client.post(
        f"/api/v1/crm/leads/{lead_id}/convert",
        json={"amount": "12500.00", "currency": "EUR", "close_date": "2031-03-31"},
        headers=tenant.headers,
    )

    assert r.status_code == 201, r.text
    lead, deal = r.json()["lead"], r.json()["deal"]
    assert lead["status"] == "converted" and lead["deal_id"] == deal["id"]
    assert lead["converted_at"]
    assert deal["amount"] == "12500.00" and deal["currency"] == "EUR"
    assert deal["contact_id"] == lead["contact_id"]
    assert deal["owner_id"] == tenant.user_id
    assert deal["lead_id"] == lead_id
    assert deal["name"].startswith("Contoso")
    fetched = await client.get(f"/api/v1/crm/deals/{deal['id']}", headers=tenant.headers)
    assert fetched.status_code == 200
    assert await event_types(db, tenant.tenant_id, lead_id) == [
        "crm.lead.created",
        "crm.lead.status_changed",
        "crm.lead.status_changed",
        "crm.lead.assigned",
        "crm.lead.status_changed",
        "crm.lead.converted",
    ]


async def test_only_a_qualified_lead_converts_and_only_once(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    fresh = await post_lead(client, tenant)
    body = {"amount": "100", "currency": "USD", "deal_name": "Pilot"}

    early = await client.post(
        f"/api/v1/crm/leads/{fresh['id']}/convert", json=body, headers=tenant.headers
    )
    assert early.status_code == 409
    assert "qualify it first" in early.json()["detail"]

    lead_id = await _qualified(client, tenant, email="bo@fabrikam.com")
    first = await client.post(
        f"/api/v1/crm/leads/{lead_id}/convert", json=body, headers=tenant.headers
    )
    again = await client.post(
        f"/api/v1/crm/leads/{lead_id}/convert", json=body, headers=tenant.headers
    )
    assert first.status_code == 201
    assert first.json()["deal"]["name"] == "Pilot"
    assert again.status_code == 409
    assert first.json()["deal"]["id"] in again.json()["detail"]
    final = await patch_lead(client, tenant, lead_id, {"status": "working"})
    assert final.status_code == 409


async def test_a_conversion_needs_an_amount_and_a_currency(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    lead_id = await _qualified(client, tenant)

    r = await client.post(
        f"/api/v1/crm/leads/{lead_id}/convert",
        json={"amount": "-5", "currency": "euro"},
        headers=tenant.headers,
    )

    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["errors"]]
    assert ["body", "amount"] in locs and ["body", "currency"] in locs
    assert (await get_lead(client, tenant, lead_id))["status"] == "qualified"


# --- the lead flow's settings -------------------------------------------------------


async def test_the_first_outreach_email_is_set_by_an_admin(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    default = await client.get("/api/v1/crm/lead-flow", headers=tenant.headers)
    assert default.status_code == 200
    assert default.json()["enabled"] is True
    assert "{{first_name}}" in default.json()["body"]

    member = await user_headers(client, tenant, "member")
    refused = await client.put("/api/v1/crm/lead-flow", json={"enabled": False}, headers=member)
    assert refused.status_code == 403

    r = await client.put(
        "/api/v1/crm/lead-flow",
        json={"subject": "Hello {{ first_name }}", "body": "Hi, {{owner_name}} here."},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["subject"] == "Hello {{ first_name }}"
    assert r.json()["enabled"] is True

    typo = await client.put(
        "/api/v1/crm/lead-flow", json={"body": "Hi {{frist_name}}"}, headers=tenant.headers
    )
    assert typo.status_code == 422
    assert typo.json()["errors"][0]["loc"] == ["body", "body"]

    reset = await client.put(
        "/api/v1/crm/lead-flow", json={"subject": None}, headers=tenant.headers
    )
    assert reset.json()["subject"] == default.json()["subject"]
    assert reset.json()["body"] == "Hi, {{owner_name}} here."
