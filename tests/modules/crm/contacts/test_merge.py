"""Duplicates and merge: suggestions, the survivor's values, re-pointed rows, history
kept, and the bad paths (self, unknown, already merged, concurrent merges)."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.core.events import Event
from bizos.modules.crm.models import Deal, Lead
from tests.conftest import TenantLogin
from tests.modules.crm.contacts.helpers import (
    CONTACTS,
    add_contact,
    add_deal_row,
    add_lead_row,
    assert_problem,
)


async def _merge(
    client: httpx.AsyncClient, who: TenantLogin, survivor: str, *dupes: str, **prefer: str
) -> httpx.Response:
    return await client.post(
        f"{CONTACTS}/{survivor}/merge",
        headers=who.headers,
        json={"duplicate_ids": list(dupes), "prefer": prefer},
    )


async def test_duplicates_are_suggested_by_phone_mailbox_and_name_at_company(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    a = await add_contact(
        client, tenant, name="Ann Lee", email="ann@example.com", phone="+1 415 555 2671"
    )
    b = await add_contact(client, tenant, name="A. Lee", phone="+14155552671")
    c = await add_contact(client, tenant, name="Ann", email="ann+news@example.com")
    d = await add_contact(client, tenant, name="Jo Smith", email="jo.smith@gmail.com")
    e = await add_contact(client, tenant, name="J Smith", email="josmith@googlemail.com")
    f = await add_contact(client, tenant, name="Max Mo", company="Initech")
    g = await add_contact(client, tenant, name="max mo", company="INITECH")
    await add_contact(client, tenant, name="Unique", email="unique@example.com")

    r = await client.get(f"{CONTACTS}/duplicates", headers=tenant.headers)
    assert r.status_code == 200, r.text
    pairs = {tuple(p["contact_ids"]): p["reasons"] for p in r.json()["items"]}
    assert pairs == {
        (a["id"], b["id"]): ["phone"],
        (a["id"], c["id"]): ["email"],
        (d["id"], e["id"]): ["email"],
        (f["id"], g["id"]): ["name_company"],
    }
    first = r.json()["items"][0]
    assert [x["id"] for x in first["contacts"]] == first["contact_ids"]

    page = await client.get(f"{CONTACTS}/duplicates", headers=tenant.headers, params={"limit": 3})
    rest = await client.get(
        f"{CONTACTS}/duplicates",
        headers=tenant.headers,
        params={"limit": 3, "cursor": page.json()["next_cursor"]},
    )
    assert len(page.json()["items"]) == 3 and len(rest.json()["items"]) == 1
    assert rest.json()["next_cursor"] is None

    await _merge(client, tenant, a["id"], b["id"], c["id"])
    r = await client.get(f"{CONTACTS}/duplicates", headers=tenant.headers)
    assert {tuple(p["contact_ids"]) for p in r.json()["items"]} == {
        (d["id"], e["id"]),
        (f["id"], g["id"]),
    }


async def test_merge_fills_blanks_keeps_the_survivors_values_and_repoints_rows(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    survivor = await add_contact(
        client,
        tenant,
        name="Sam Survivor",
        email="sam@example.com",
        tags=["a"],
        title="CEO",
        properties={"plan": "pro", "seats": 3},
    )
    dupe = await add_contact(
        client,
        tenant,
        name="Samuel S.",
        email="samuel@example.net",
        phone="+44 20 7946 0958",
        title="Founder",
        tags=["b", "a"],
        lifecycle_stage="customer",
        do_not_contact=True,
        properties={"plan": "free", "source_campaign": "x"},
    )
    lead_id = await add_lead_row(db, tenant.tenant_id, dupe["id"], "samuel@example.net")
    deal_id = await add_deal_row(db, tenant.tenant_id, dupe["id"], "Big deal")
    note = await client.post(
        f"{CONTACTS}/{dupe['id']}/notes", headers=tenant.headers, json={"body": "met at fair"}
    )
    assert note.status_code == 201

    r = await _merge(client, tenant, survivor["id"], dupe["id"])
    assert r.status_code == 200, r.text
    merged = r.json()["contact"]
    assert r.json()["merged_ids"] == [dupe["id"]]
    assert merged == {
        **merged,
        "id": survivor["id"],
        "name": "Sam Survivor",  # conflicting: the survivor's value stays
        "email": "sam@example.com",
        "title": "CEO",
        "phone": "+44 20 7946 0958",  # blank: filled from the duplicate
        "phone_e164": "+442079460958",
        "tags": ["a", "b"],
        "properties": {"plan": "pro", "seats": 3, "source_campaign": "x"},
        "lifecycle_stage": "customer",  # the furthest stage
        "do_not_contact": True,  # an opt-out survives a merge
        "version": 2,
    }
    # History: the duplicate's id still answers, with the survivor.
    old = await client.get(f"{CONTACTS}/{dupe['id']}", headers=tenant.headers)
    assert old.status_code == 200 and old.json()["id"] == survivor["id"]
    assert old.headers["content-location"] == f"{CONTACTS}/{survivor['id']}"
    # ... but it is no longer listed, and writes to it say where it went.
    listed = await client.get(CONTACTS, headers=tenant.headers)
    assert [c["id"] for c in listed.json()["items"]] == [survivor["id"]]
    r = await client.patch(f"{CONTACTS}/{dupe['id']}", headers=tenant.headers, json={"name": "x"})
    assert assert_problem(r, 409)["merged_into_id"] == survivor["id"]

    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        assert (
            await session.scalar(sa.select(Lead.contact_id).where(Lead.id == lead_id))
            == survivor["id"]
        )
        assert (
            await session.scalar(sa.select(Deal.contact_id).where(Deal.id == deal_id))
            == survivor["id"]
        )
        merged_events = (
            await session.execute(
                sa.select(Event.aggregate_id, Event.data).where(Event.type == "crm.contact.merged")
            )
        ).all()
    assert merged_events == [(dupe["id"], {"survivor_id": survivor["id"], "merged_id": dupe["id"]})]
    notes = await client.get(f"{CONTACTS}/{survivor['id']}/notes", headers=tenant.headers)
    assert [n["body"] for n in notes.json()["items"]] == ["met at fair"]
    # The duplicate's address now belongs to the survivor: no new contact for it.
    again = await client.post(
        CONTACTS, headers=tenant.headers, json={"email": "samuel@example.net"}
    )
    assert assert_problem(again, 409)["existing_id"] == survivor["id"]


async def test_prefer_picks_a_duplicates_value_even_its_email(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    keep = await add_contact(client, tenant, name="Old Name", email="old@example.com")
    other = await add_contact(client, tenant, name="New Name", email="new@example.com")
    r = await _merge(client, tenant, keep["id"], other["id"], name=other["id"], email=other["id"])
    assert r.status_code == 200, r.text
    assert (r.json()["contact"]["name"], r.json()["contact"]["email"]) == (
        "New Name",
        "new@example.com",
    )
    # The survivor now owns the address: creating it again is a duplicate of the survivor.
    dup = await client.post(CONTACTS, headers=tenant.headers, json={"email": "new@example.com"})
    assert assert_problem(dup, 409)["existing_id"] == keep["id"]

    bad = await _merge(client, tenant, keep["id"], other["id"], shoe_size=keep["id"])
    assert_problem(bad, 422)


async def test_merge_bad_paths(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    a = await add_contact(client, tenant, name="A")
    b = await add_contact(client, tenant, name="B")
    c = await add_contact(client, tenant, name="C")
    theirs = await add_contact(client, other_tenant, name="T")

    r = await _merge(client, tenant, a["id"], a["id"])
    assert ["body", "duplicate_ids"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]
    assert_problem(await _merge(client, tenant, a["id"]), 422)  # nothing to merge
    assert_problem(await _merge(client, tenant, a["id"], "no-such-contact"), 404)
    assert_problem(await _merge(client, tenant, a["id"], theirs["id"]), 404)
    assert_problem(await _merge(client, tenant, "no-such-contact", b["id"]), 404)
    r = await _merge(client, tenant, a["id"], b["id"], name="someone-else")
    assert ["body", "prefer", "name"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]

    assert (await _merge(client, tenant, a["id"], b["id"])).status_code == 200
    again = await _merge(client, tenant, c["id"], b["id"])
    assert assert_problem(again, 409)["merged_into_id"] == a["id"]
    assert_problem(await _merge(client, tenant, b["id"], c["id"]), 409)


async def test_merging_a_survivor_into_another_flattens_the_chain(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    a = await add_contact(client, tenant, name="A")
    b = await add_contact(client, tenant, name="B")
    c = await add_contact(client, tenant, name="C")
    assert (await _merge(client, tenant, b["id"], c["id"])).status_code == 200
    assert (await _merge(client, tenant, a["id"], b["id"])).status_code == 200
    for old in (b, c):
        got = await client.get(f"{CONTACTS}/{old['id']}", headers=tenant.headers)
        assert got.json()["id"] == a["id"]


async def test_concurrent_opposite_merges_leave_one_survivor(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    a = await add_contact(client, tenant, name="A", email="a@example.com")
    b = await add_contact(client, tenant, name="B", email="b@example.com")
    results = await asyncio.gather(
        _merge(client, tenant, a["id"], b["id"]), _merge(client, tenant, b["id"], a["id"])
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    winner = next(r.json()["contact"]["id"] for r in results if r.status_code == 200)
    listed = await client.get(CONTACTS, headers=tenant.headers)
    assert [x["id"] for x in listed.json()["items"]] == [winner]
