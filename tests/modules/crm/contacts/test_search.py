"""Contact search (FTS5 on SQLite, tsvector + GIN on PostgreSQL) and list filters."""

from __future__ import annotations

import httpx

from tests.conftest import TenantLogin
from tests.modules.crm.contacts.helpers import CONTACTS, add_company, add_contact, assert_problem


async def _search(client: httpx.AsyncClient, who: TenantLogin, **params: str) -> list[str]:
    r = await client.get(CONTACTS, headers=who.headers, params=params)
    assert r.status_code == 200, r.text
    return [c["name"] for c in r.json()["items"]]


async def test_search_finds_by_name_prefix_email_phone_and_company(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await add_contact(
        client, tenant, name="Alice Archer", email="alice@archer.example", phone="+1 415 555 2671"
    )
    await add_contact(
        client, tenant, name="Bob Baker", email="bob@bakery.example", company="Zoë's Bakery"
    )
    await add_contact(
        client, tenant, name="Carol Chen", email="carol@example.org", phone="+49 30 1234567"
    )
    await add_contact(client, other_tenant, name="Alice Elsewhere", email="alice@else.example")

    assert await _search(client, tenant, q="ali") == ["Alice Archer"]
    assert await _search(client, tenant, q="ALICE arch") == ["Alice Archer"]
    assert await _search(client, tenant, q="bakery") == ["Bob Baker"]
    assert await _search(client, tenant, q="Zoë") == ["Bob Baker"]
    assert await _search(client, tenant, q="carol@example.org") == ["Carol Chen"]
    assert await _search(client, tenant, q="example.org") == ["Carol Chen"]
    # Phone numbers by their digits, however they are written.
    assert await _search(client, tenant, q="+1 (415) 555-2671") == ["Alice Archer"]
    assert await _search(client, tenant, q="4155552671") == ["Alice Archer"]
    assert await _search(client, tenant, q="555 26") == ["Alice Archer"]
    assert await _search(client, tenant, q="030 1234567") == ["Carol Chen"]
    assert await _search(client, tenant, q="nobody") == []
    assert sorted(await _search(client, tenant, q="  ")) == [
        "Alice Archer",
        "Bob Baker",
        "Carol Chen",
    ]


async def test_search_follows_edits_and_company_links(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact = await add_contact(client, tenant, name="Dora Diaz")
    url = f"{CONTACTS}/{contact['id']}"
    await client.patch(url, headers=tenant.headers, json={"name": "Dora Dune"})
    assert await _search(client, tenant, q="diaz") == []
    assert await _search(client, tenant, q="dune") == ["Dora Dune"]

    company = await add_company(client, tenant, name="Initech", domain="initech.example")
    await client.patch(url, headers=tenant.headers, json={"company_id": company["id"]})
    assert await _search(client, tenant, q="initech") == ["Dora Dune"]
    await client.patch(
        f"/api/v1/crm/companies/{company['id']}", headers=tenant.headers, json={"name": "Initrode"}
    )
    assert await _search(client, tenant, q="initrode") == ["Dora Dune"]
    assert (await client.get(url, headers=tenant.headers)).json()["company"] == "Initrode"


async def test_filters_and_cursor_pagination(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    company = await add_company(client, tenant, name="Globex", domain="globex.example")
    for i in range(5):
        await add_contact(
            client,
            tenant,
            name=f"Person {i}",
            company_id=company["id"] if i % 2 == 0 else None,
            lifecycle_stage="customer" if i < 2 else "lead",
            tags=["vip"] if i in (1, 4) else [],
            owner_id=tenant.user_id if i == 3 else None,
        )
    # Newest first.
    assert await _search(client, tenant, company_id=company["id"]) == [
        "Person 4",
        "Person 2",
        "Person 0",
    ]
    assert await _search(client, tenant, lifecycle_stage="customer") == ["Person 1", "Person 0"]
    assert await _search(client, tenant, tag="vip") == ["Person 4", "Person 1"]
    assert await _search(client, tenant, owner_id=tenant.user_id) == ["Person 3"]
    assert await _search(client, tenant, q="person", tag="vip", lifecycle_stage="lead") == [
        "Person 4"
    ]

    seen: list[str] = []
    params: dict[str, str] = {"limit": "2", "q": "person", "sort": "created_at"}
    for _ in range(5):
        r = await client.get(CONTACTS, headers=tenant.headers, params=params)
        body = r.json()
        seen += [c["name"] for c in body["items"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == [f"Person {i}" for i in range(5)]

    bad = await client.get(CONTACTS, headers=tenant.headers, params={"cursor": "!!"})
    assert ["query", "cursor"] in [e["loc"] for e in assert_problem(bad, 422)["errors"]]
    bad = await client.get(CONTACTS, headers=tenant.headers, params={"lifecycle_stage": "x"})
    assert_problem(bad, 422)


async def test_search_ignores_diacritics_on_both_databases(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await add_contact(client, tenant, name="Jürgen Müller", company="Société Générale")
    await add_contact(client, tenant, name="Łukasz Nowak", email="lukasz@example.pl")

    assert await _search(client, tenant, q="muller") == ["Jürgen Müller"]
    assert await _search(client, tenant, q="MÜLL") == ["Jürgen Müller"]
    assert await _search(client, tenant, q="jurgen societe") == ["Jürgen Müller"]
    assert await _search(client, tenant, q="generale") == ["Jürgen Müller"]
    assert await _search(client, tenant, q="Łuk") == ["Łukasz Nowak"]
