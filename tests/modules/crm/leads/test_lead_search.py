"""Searching leads with ``q``: by name, email, company or phone, on the lead as captured
and on the contact it links to; every word must match."""

from __future__ import annotations

import httpx

from tests.conftest import TenantLogin

LEADS = [
    {
        "email": "ada@contoso.example",
        "name": "Ada Lovelace",
        "company": "Contoso",
        "phone": "+44 20 7946 0958",
    },
    {"email": "grace@fabrikam.example", "name": "Grace Hopper", "company": "Fabrikam"},
    {"email": "alan@initech.example", "name": "Alan Turing", "company": "Initech 50% off"},
]


async def _capture(client: httpx.AsyncClient, tenant: TenantLogin) -> dict[str, str]:
    ids = {}
    for body in LEADS:
        r = await client.post("/api/v1/crm/leads", json=body, headers=tenant.headers)
        assert r.status_code == 201, r.text
        ids[body["email"]] = r.json()["id"]
    return ids


async def _search(client: httpx.AsyncClient, tenant: TenantLogin, q: str) -> list[str]:
    r = await client.get("/api/v1/crm/leads", params={"q": q}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return [lead["email"] for lead in r.json()["items"]]


async def test_leads_are_found_by_name_email_company_and_phone(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _capture(client, tenant)

    assert await _search(client, tenant, "lovelace") == ["ada@contoso.example"]
    assert await _search(client, tenant, "grace@fabrikam.example") == ["grace@fabrikam.example"]
    assert await _search(client, tenant, "Initech") == ["alan@initech.example"]
    assert await _search(client, tenant, "020 7946 0958") == ["ada@contoso.example"]
    assert await _search(client, tenant, "7946") == ["ada@contoso.example"]


async def test_every_word_of_a_lead_search_must_match(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _capture(client, tenant)

    assert await _search(client, tenant, "grace fabrikam") == ["grace@fabrikam.example"]
    assert await _search(client, tenant, "grace contoso") == []


async def test_a_lead_is_found_by_what_it_said_even_when_its_contact_differs(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    """A second lead from a known email links to the existing contact, whose company
    stays as it was: the lead's own company still finds it."""
    await _capture(client, tenant)
    r = await client.post(
        "/api/v1/crm/leads",
        json={"email": "ada@contoso.example", "company": "Northwind Traders"},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text

    found = await client.get("/api/v1/crm/leads", params={"q": "northwind"}, headers=tenant.headers)
    assert [lead["id"] for lead in found.json()["items"]] == [r.json()["id"]]


async def test_search_text_is_not_a_pattern(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    await _capture(client, tenant)

    assert await _search(client, tenant, "50%") == ["alan@initech.example"]
    assert await _search(client, tenant, "%") == []
    assert await _search(client, tenant, "_") == []


async def test_search_combines_with_filters_and_sort(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    ids = await _capture(client, tenant)

    r = await client.get(
        "/api/v1/crm/leads",
        params={"q": "example", "status": "new", "sort": "created_at", "limit": 2},
        headers=tenant.headers,
    )

    assert [lead["id"] for lead in r.json()["items"]] == list(ids.values())[:2]
