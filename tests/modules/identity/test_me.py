"""Who am I: the user, the workspace and the scopes a token carries."""

from __future__ import annotations

import httpx

from tests.conftest import TenantLogin
from tests.modules.identity.helpers import add_member


async def test_me_shows_user_tenant_and_scopes(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.get("/api/v1/me", headers=tenant.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["user"]["id"] == tenant.user_id
    assert body["tenant"] == {"id": tenant.tenant_id, "slug": tenant.slug, "name": "Acme Ltd"}
    assert "admin" in body["scopes"]


async def test_viewer_scopes_are_read_only(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    viewer = await add_member(client, tenant, "viewer")
    scopes = (await client.get("/api/v1/me", headers=viewer.headers)).json()["scopes"]
    assert scopes
    assert all(s.endswith(":read") for s in scopes)
