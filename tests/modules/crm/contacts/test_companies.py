"""Companies: CRUD, domain normalisation and dedupe, their contacts, and the functions
the leads part calls (upsert by domain, link a contact)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.errors import NotFound
from bizos.modules.crm.companies import service as companies
from bizos.modules.crm.companies.service import InvalidDomain
from bizos.modules.crm.contacts import service as contacts_service
from tests.conftest import TenantLogin
from tests.modules.crm.contacts.helpers import (
    COMPANIES,
    CONTACTS,
    add_company,
    add_contact,
    assert_problem,
)


async def test_a_company_is_created_with_a_normalised_domain_and_read(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        COMPANIES,
        headers=tenant.headers,
        json={
            "name": "Umbrella Corp",
            "website": "https://www.Umbrella.example/about",
            "employees": 250,
            "annual_revenue": "1250000.50",
            "country": "gb",
        },
    )
    assert r.status_code == 201, r.text
    company = r.json()
    assert company == {
        **company,
        "domain": "umbrella.example",
        "country": "GB",
        "annual_revenue": "1250000.50",
        "version": 1,
    }
    got = await client.get(f"{COMPANIES}/{company['id']}", headers=tenant.headers)
    assert got.json() == company and got.headers["etag"] == 'W/"1"'
    listed = await client.get(COMPANIES, headers=tenant.headers, params={"q": "umbr"})
    assert [c["id"] for c in listed.json()["items"]] == [company["id"]]
    by_domain = await client.get(
        COMPANIES, headers=tenant.headers, params={"domain": "WWW.umbrella.example"}
    )
    assert [c["id"] for c in by_domain.json()["items"]] == [company["id"]]


async def test_a_domain_another_company_has_is_409_naming_it(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    first = await add_company(client, tenant, name="Hooli", domain="hooli.example")
    r = await client.post(
        COMPANIES,
        headers=tenant.headers,
        json={"name": "Hooli 2", "domain": "http://HOOLI.example/"},
    )
    assert assert_problem(r, 409)["existing_id"] == first["id"]
    other = await add_company(client, tenant, name="Pied Piper", domain="piedpiper.example")
    r = await client.patch(
        f"{COMPANIES}/{other['id']}", headers=tenant.headers, json={"domain": "hooli.example"}
    )
    assert assert_problem(r, 409)["existing_id"] == first["id"]
    # Another tenant may have the same domain.
    await add_company(client, other_tenant, name="Hooli", domain="hooli.example")


async def test_invalid_company_fields_are_422(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for body, loc in [
        ({"name": "X", "domain": "not a domain"}, ["body", "domain"]),
        ({"name": "X", "domain": "localhost"}, ["body", "domain"]),
        ({"name": "X", "employees": -1}, ["body", "employees"]),
        ({"name": ""}, ["body", "name"]),
        ({"domain": "x.example"}, ["body", "name"]),
    ]:
        r = await client.post(COMPANIES, headers=tenant.headers, json=body)
        assert loc in [e["loc"] for e in assert_problem(r, 422)["errors"]], body


async def test_patch_with_if_match_and_the_contacts_of_a_company(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    company = await add_company(client, tenant, name="Vandelay", domain="vandelay.example")
    url = f"{COMPANIES}/{company['id']}"
    r = await client.patch(
        url, headers={**tenant.headers, "If-Match": "1"}, json={"industry": "Import"}
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    assert_problem(
        await client.patch(url, headers={**tenant.headers, "If-Match": "1"}, json={}), 409
    )

    art = await add_contact(client, tenant, name="Art", company_id=company["id"])
    # A new contact at the company's domain is linked to it; free-mail is not.
    kel = await add_contact(client, tenant, name="Kel", email="kel@vandelay.example")
    await add_contact(client, tenant, name="Free", email="free@gmail.com")
    assert kel["company_id"] == company["id"] and kel["company"] == "Vandelay"
    r = await client.get(f"{url}/contacts", headers=tenant.headers)
    assert [c["id"] for c in r.json()["items"]] == [kel["id"], art["id"]]  # newest first

    assert_problem(await client.get(url, headers=other_tenant.headers), 404)
    assert_problem(await client.get(f"{url}/contacts", headers=other_tenant.headers), 404)
    assert_problem(
        await client.patch(url, headers=other_tenant.headers, json={"name": "Mine"}), 404
    )


async def test_upsert_by_domain_fills_blanks_and_keeps_edits(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    existing = await add_company(client, tenant, name="Edited Name", domain="acme.example")
    ctx = Context(tenant_id=tenant.tenant_id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        row = await companies.upsert_company_by_domain(
            session,
            ctx,
            domain="https://www.ACME.example",
            name="Acme Inc",
            industry="Anvils",
            employees=40,
            enrichment={"provider": "sandbox", "name": "Acme Inc"},
        )
        assert row.id == existing["id"]
        assert (row.name, row.industry, row.employees) == ("Edited Name", "Anvils", 40)
        assert row.enrichment == {"provider": "sandbox", "name": "Acme Inc"}
        fresh = await companies.upsert_company_by_domain(
            session, ctx, domain="newco.example", name="NewCo"
        )
        with pytest.raises(InvalidDomain):
            await companies.upsert_company_by_domain(session, ctx, domain="nope", name="Nope")

    contact = await add_contact(client, tenant, name="Linked", email="l@gmail.com")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await contacts_service.set_company(session, ctx, contact["id"], fresh.id)
        with pytest.raises(NotFound):
            await contacts_service.set_company(session, ctx, contact["id"], "missing")
    got = (await client.get(f"{CONTACTS}/{contact['id']}", headers=tenant.headers)).json()
    assert (got["company_id"], got["company"], got["version"]) == (fresh.id, "NewCo", 2)


async def test_concurrent_upserts_of_one_domain_make_one_company(
    tenant: TenantLogin, db: Database
) -> None:
    ctx = Context(tenant_id=tenant.tenant_id)

    async def upsert() -> str:
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            row = await companies.upsert_company_by_domain(
                session, ctx, domain="race.example", name="Race"
            )
            return row.id

    ids = await asyncio.gather(*(upsert() for _ in range(4)))
    assert len(set(ids)) == 1
