"""Contacts CRUD: create, read, update with If-Match, delete; validation, duplicates,
tenant isolation and scopes."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.core.events import Event
from tests.conftest import TenantLogin
from tests.modules.crm.contacts.helpers import (
    CONTACTS,
    add_contact,
    add_lead_row,
    assert_problem,
)
from tests.modules.identity.helpers import add_member, bearer, create_key


async def test_a_contact_is_created_read_and_listed(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    r = await client.post(
        CONTACTS,
        headers=tenant.headers,
        json={
            "name": "Alice Archer",
            "email": "Alice@Example.COM",
            "phone": "+44 20 7946 0958",
            "company": "Archer Ltd",
            "title": "CTO",
            "tags": ["vip", "vip", "eu"],
            "properties": {"plan": "pro"},
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == f"{CONTACTS}/{created['id']}"
    assert r.headers["etag"] == 'W/"1"'
    assert created == {
        **created,
        "name": "Alice Archer",
        "email": "Alice@Example.COM",
        "phone": "+44 20 7946 0958",
        "phone_e164": "+442079460958",
        "company": "Archer Ltd",
        "company_id": None,
        "title": "CTO",
        "lifecycle_stage": "lead",
        "source": "api",
        "tags": ["vip", "eu"],
        "properties": {"plan": "pro"},
        "do_not_contact": False,
        "last_activity_at": None,
        "merged_into_id": None,
        "version": 1,
    }
    got = await client.get(f"{CONTACTS}/{created['id']}", headers=tenant.headers)
    assert got.status_code == 200 and got.json() == created
    listed = await client.get(CONTACTS, headers=tenant.headers)
    assert [c["id"] for c in listed.json()["items"]] == [created["id"]]
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        types = list(
            await session.scalars(sa.select(Event.type).where(Event.aggregate_id == created["id"]))
        )
    assert types == ["crm.contact.created"]


async def test_invalid_fields_are_422_with_field_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(CONTACTS, headers=tenant.headers, json={"email": "not-an-email"})
    assert ["body", "email"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]
    r = await client.post(CONTACTS, headers=tenant.headers, json={"name": "Bo", "phone": "12"})
    assert ["body", "phone"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]
    r = await client.post(
        CONTACTS, headers=tenant.headers, json={"name": "Bo", "lifecycle_stage": "king"}
    )
    assert ["body", "lifecycle_stage"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]
    r = await client.post(CONTACTS, headers=tenant.headers, json={"title": "Nobody"})
    assert_problem(r, 422)
    r = await client.post(CONTACTS, headers=tenant.headers, json={"name": "Bo", "owner_id": "x"})
    assert ["body", "owner_id"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]
    r = await client.post(
        CONTACTS, headers=tenant.headers, json={"name": "Bo", "company_id": "nope"}
    )
    assert ["body", "company_id"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]
    r = await client.post(CONTACTS, headers=tenant.headers, json={"name": "Bo", "extra": 1})
    assert ["body", "extra"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]
    assert (await client.get(CONTACTS, headers=tenant.headers)).json()["items"] == []


async def test_a_national_phone_needs_a_country_or_the_tenant_region(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        CONTACTS, headers=tenant.headers, json={"name": "Hans", "phone": "030 1234567"}
    )
    assert ["body", "phone"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]

    with_country = await add_contact(client, tenant, name="Hans", phone="030 1234567", country="de")
    assert (with_country["country"], with_country["phone_e164"]) == ("DE", "+49301234567")

    r = await client.put(
        "/api/v1/crm/settings/contacts", headers=tenant.headers, json={"default_region": "GB"}
    )
    assert r.status_code == 200, r.text
    by_region = await add_contact(client, tenant, name="Harriet", phone="020 7946 0958")
    assert by_region["phone_e164"] == "+442079460958"

    r = await client.put(
        "/api/v1/crm/settings/contacts", headers=tenant.headers, json={"default_region": "XX"}
    )
    assert ["body", "default_region"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]


async def test_an_email_a_contact_already_has_is_409_naming_it(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    first = await add_contact(client, tenant, name="Ann", email="ann@example.com")
    r = await client.post(
        CONTACTS, headers=tenant.headers, json={"name": "Ann again", "email": " ANN@example.com"}
    )
    assert assert_problem(r, 409)["existing_id"] == first["id"]


async def test_concurrent_creates_of_one_email_make_one_contact(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    async def create() -> httpx.Response:
        return await client.post(
            CONTACTS, headers=tenant.headers, json={"email": "race@example.com"}
        )

    results = await asyncio.gather(*(create() for _ in range(5)))
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409, 409]
    winner = next(r.json()["id"] for r in results if r.status_code == 201)
    assert {r.json()["existing_id"] for r in results if r.status_code == 409} == {winner}


async def test_patch_changes_fields_and_honours_if_match(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact = await add_contact(client, tenant, name="Cara", email="cara@example.com")
    url = f"{CONTACTS}/{contact['id']}"
    r = await client.patch(
        url,
        headers={**tenant.headers, "If-Match": 'W/"1"'},
        json={"title": "CEO", "lifecycle_stage": "opportunity", "phone": "+1 415 555 2671"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        **r.json(),
        "title": "CEO",
        "lifecycle_stage": "opportunity",
        "phone_e164": "+14155552671",
        "version": 2,
    }
    stale = await client.patch(
        url, headers={**tenant.headers, "If-Match": "1"}, json={"title": "X"}
    )
    assert_problem(stale, 409)
    assert (await client.get(url, headers=tenant.headers)).json()["title"] == "CEO"

    cleared = await client.patch(url, headers=tenant.headers, json={"title": None})
    assert cleared.json()["title"] is None and cleared.json()["version"] == 3
    same = await client.patch(url, headers=tenant.headers, json={"title": None})
    assert same.json()["version"] == 3  # nothing changed, nothing saved

    bad = await client.patch(url, headers=tenant.headers, json={"email": "nope"})
    assert ["body", "email"] in [e["loc"] for e in assert_problem(bad, 422)["errors"]]
    bad = await client.patch(url, headers=tenant.headers, json={"tags": None})
    assert ["body", "tags"] in [e["loc"] for e in assert_problem(bad, 422)["errors"]]


async def test_patching_the_email_to_another_contacts_is_409(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    dan = await add_contact(client, tenant, name="Dan", email="dan@example.com")
    eve = await add_contact(client, tenant, name="Eve", email="eve@example.com")
    r = await client.patch(
        f"{CONTACTS}/{eve['id']}", headers=tenant.headers, json={"email": "DAN@example.com"}
    )
    assert assert_problem(r, 409)["existing_id"] == dan["id"]
    moved = await client.patch(
        f"{CONTACTS}/{eve['id']}", headers=tenant.headers, json={"email": "eve@new.example"}
    )
    assert moved.status_code == 200 and moved.json()["email"] == "eve@new.example"
    # The old address is free again.
    await add_contact(client, tenant, name="Other Eve", email="eve@example.com")


async def test_delete_removes_a_contact_but_not_one_with_leads(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    gone = await add_contact(client, tenant, name="Gone", email="gone@example.com")
    kept = await add_contact(client, tenant, name="Kept", email="kept@example.com")
    await add_lead_row(db, tenant.tenant_id, kept["id"], "kept@example.com")

    r = await client.delete(f"{CONTACTS}/{gone['id']}", headers=tenant.headers)
    assert r.status_code == 204, r.text
    assert_problem(await client.get(f"{CONTACTS}/{gone['id']}", headers=tenant.headers), 404)
    assert_problem(await client.delete(f"{CONTACTS}/{gone['id']}", headers=tenant.headers), 404)

    assert_problem(await client.delete(f"{CONTACTS}/{kept['id']}", headers=tenant.headers), 409)
    assert (await client.get(f"{CONTACTS}/{kept['id']}", headers=tenant.headers)).status_code == 200


async def test_another_tenants_contact_is_404_everywhere(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    theirs = await add_contact(client, other_tenant, name="Theirs", email="t@example.com")
    url = f"{CONTACTS}/{theirs['id']}"
    for method, path, kwargs in [
        ("GET", url, {}),
        ("PATCH", url, {"json": {"name": "Mine now"}}),
        ("DELETE", url, {}),
        ("GET", f"{url}/timeline", {}),
        ("GET", f"{url}/notes", {}),
        ("POST", f"{url}/notes", {"json": {"body": "hello"}}),
        ("GET", f"{url}/attachments", {}),
        ("POST", f"{url}/merge", {"json": {"duplicate_ids": ["unknown-contact"]}}),
    ]:
        r = await client.request(method, path, headers=tenant.headers, **kwargs)
        assert_problem(r, 404)
    mine = await add_contact(client, tenant, name="Mine")
    r = await client.post(
        f"{CONTACTS}/{mine['id']}/merge",
        headers=tenant.headers,
        json={"duplicate_ids": [theirs["id"]]},
    )
    assert_problem(r, 404)
    # Same email in another tenant is no duplicate.
    await add_contact(client, tenant, name="Also T", email="t@example.com")
    assert (await client.get(url, headers=other_tenant.headers)).json()["name"] == "Theirs"


async def test_a_viewer_reads_but_cannot_write(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact = await add_contact(client, tenant, name="Vic")
    viewer = await add_member(client, tenant, "viewer")
    assert (await client.get(CONTACTS, headers=viewer.headers)).status_code == 200
    url = f"{CONTACTS}/{contact['id']}"
    assert (await client.get(url, headers=viewer.headers)).status_code == 200
    assert_problem(await client.post(CONTACTS, headers=viewer.headers, json={"name": "X"}), 403)
    assert_problem(await client.patch(url, headers=viewer.headers, json={"name": "X"}), 403)
    assert_problem(await client.delete(url, headers=viewer.headers), 403)
    assert_problem(
        await client.post(f"{url}/notes", headers=viewer.headers, json={"body": "x"}), 403
    )
    assert_problem(
        await client.put(
            "/api/v1/crm/settings/contacts", headers=viewer.headers, json={"default_region": "DE"}
        ),
        403,
    )


async def test_an_api_key_without_crm_write_cannot_write(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    key = await create_key(client, tenant, ["crm:read"])
    headers = bearer(key["key"])
    assert (await client.get(CONTACTS, headers=headers)).status_code == 200
    assert_problem(await client.post(CONTACTS, headers=headers, json={"name": "X"}), 403)
    other = await create_key(client, tenant, ["support:read"])
    assert_problem(await client.get(CONTACTS, headers=bearer(other["key"])), 403)
    assert_problem(await client.get(CONTACTS), 401)
