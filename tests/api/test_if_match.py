"""If-Match through a real PATCH: a stale version is refused instead of overwriting."""

from __future__ import annotations

import httpx

from tests.api.conftest import assert_problem
from tests.conftest import TenantLogin


def _url(tenant: TenantLogin) -> str:
    return f"/api/v1/test/users/{tenant.user_id}"


async def test_an_update_naming_the_current_version_succeeds(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    read = await client.get(_url(tenant), headers=tenant.headers)
    etag = read.headers["etag"]
    assert etag == 'W/"1"'
    r = await client.patch(
        _url(tenant), json={"name": "Olivia"}, headers={**tenant.headers, "If-Match": etag}
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2


async def test_a_stale_version_is_a_409_and_changes_nothing(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    first = await client.patch(
        _url(tenant), json={"name": "Olivia"}, headers={**tenant.headers, "If-Match": "1"}
    )
    assert first.status_code == 200
    stale = await client.patch(
        _url(tenant), json={"name": "Overwritten"}, headers={**tenant.headers, "If-Match": '"1"'}
    )
    body = assert_problem(stale, 409)
    assert "version 2" in body["detail"]
    now = await client.get(_url(tenant), headers=tenant.headers)
    assert now.json()["name"] == "Olivia"
    assert now.json()["version"] == 2


async def test_without_if_match_the_update_is_unconditional(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.patch(_url(tenant), json={"name": "Olivia"}, headers=tenant.headers)
    assert r.status_code == 200


async def test_a_malformed_if_match_is_a_422_naming_the_header(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.patch(
        _url(tenant), json={"name": "Olivia"}, headers={**tenant.headers, "If-Match": "latest"}
    )
    body = assert_problem(r, 422)
    assert body["errors"] == [{"loc": ["header", "If-Match"], "msg": "not a version"}]


async def test_another_tenants_row_is_404_whatever_the_version(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    r = await client.patch(
        _url(other_tenant), json={"name": "Mallory"}, headers={**tenant.headers, "If-Match": "1"}
    )
    assert_problem(r, 404)
