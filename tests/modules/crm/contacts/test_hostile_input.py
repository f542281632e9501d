"""Input a careful client never sends but a hostile or buggy one does: NUL characters
(PostgreSQL text cannot hold them) and oversized custom fields. Each is refused with a
422 naming where it was, never a 500, on both databases."""

from __future__ import annotations

import httpx

from tests.conftest import TenantLogin
from tests.modules.crm.contacts.helpers import COMPANIES, CONTACTS, add_contact, assert_problem


def _locs(r: httpx.Response) -> list[list[object]]:
    return [e["loc"] for e in assert_problem(r, 422)["errors"]]


async def test_nul_characters_are_refused_with_their_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        CONTACTS,
        headers=tenant.headers,
        json={"name": "Ann\u0000", "tags": ["ok", "b\u0000d"], "properties": {"k\u0000": "v"}},
    )
    assert _locs(r) == [["body", "name"], ["body", "tags", 1], ["body", "properties", "k\u0000"]]

    r = await client.post(COMPANIES, headers=tenant.headers, json={"name": "Acme\u0000"})
    assert _locs(r) == [["body", "name"]]

    # In the query and in the path too.
    r = await client.get(CONTACTS, headers=tenant.headers, params={"q": "ann\u0000"})
    assert _locs(r) == [["query", "q"]]
    r = await client.get(f"{CONTACTS}/abc%00def", headers=tenant.headers)
    assert _locs(r) == [["path", "contact_id"]]

    # Nothing was written; an escaped backslash before "u0000" is not a NUL.
    contact = await add_contact(client, tenant, name="Ann \\u0000 Archer")
    assert contact["name"] == "Ann \\u0000 Archer"
    listed = await client.get(CONTACTS, headers=tenant.headers)
    assert [c["name"] for c in listed.json()["items"]] == ["Ann \\u0000 Archer"]


async def test_custom_properties_are_bounded_in_size(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    big = {"notes": "x" * 70_000}
    r = await client.post(CONTACTS, headers=tenant.headers, json={"name": "Big", "properties": big})
    assert _locs(r) == [["body", "properties"]]
    r = await client.post(
        COMPANIES, headers=tenant.headers, json={"name": "Big", "properties": big}
    )
    assert _locs(r) == [["body", "properties"]]

    contact = await add_contact(client, tenant, name="Fits", properties={"notes": "x" * 1000})
    r = await client.patch(
        f"{CONTACTS}/{contact['id']}", headers=tenant.headers, json={"properties": big}
    )
    assert _locs(r) == [["body", "properties"]]
