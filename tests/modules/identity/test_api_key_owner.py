"""An API key never does more than the user it acts for may do *now*.

The probe of issue 11: an admin created a key, was demoted to viewer and then
deactivated; the key kept listing keys, minting admin keys, changing connectors and
creating admin users. These tests replay that attack and the paths around it.
"""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core import auth
from bizos.core.auth import principal_cache
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.identity import service
from bizos.modules.identity.models import User
from bizos.modules.identity.schemas import UserUpdate
from bizos.modules.identity.sessions import DatabaseAuthenticator
from tests.conftest import TenantLogin
from tests.modules.identity.helpers import Member, add_member, assert_problem, bearer

ADMIN_KEY_SCOPES = ["admin", "crm:read", "crm:write", "billing:read"]


async def _admin_with_key(
    client: httpx.AsyncClient, owner: TenantLogin, scopes: list[str] = ADMIN_KEY_SCOPES
) -> tuple[Member, dict[str, Any]]:
    """An admin of ``owner``'s workspace and a key that admin created for themselves."""
    admin = await add_member(client, owner, "admin")
    r = await client.post(
        "/api/v1/api-keys", headers=admin.headers, json={"name": "sync", "scopes": scopes}
    )
    assert r.status_code == 201, r.text
    return admin, r.json()


async def _change_user(
    client: httpx.AsyncClient, owner: TenantLogin, user_id: str, **changes: Any
) -> None:
    r = await client.patch(f"/api/v1/users/{user_id}", headers=owner.headers, json=changes)
    assert r.status_code == 200, r.text


async def _listed_key(client: httpx.AsyncClient, owner: TenantLogin, key_id: str) -> Any:
    r = await client.get("/api/v1/api-keys", headers=owner.headers)
    assert r.status_code == 200, r.text
    return next(k for k in r.json()["items"] if k["id"] == key_id)


async def _key_audit(
    client: httpx.AsyncClient, owner: TenantLogin, key_id: str
) -> list[dict[str, Any]]:
    r = await client.get(
        "/api/v1/audit",
        headers=owner.headers,
        params={"resource_type": "api_keys", "resource_id": key_id, "action": "update"},
    )
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["items"]
    return entries


async def _attempt_admin_work(client: httpx.AsyncClient, key: str) -> list[httpx.Response]:
    """What the probe did with the key: list keys, mint an admin key, reconfigure Stripe,
    create an admin user."""
    headers = bearer(key)
    return [
        await client.get("/api/v1/api-keys", headers=headers),
        await client.post(
            "/api/v1/api-keys", headers=headers, json={"name": "mine", "scopes": ["admin"]}
        ),
        await client.put(
            "/api/v1/connectors/stripe",
            headers=headers,
            json={"config": {}, "secrets": {"webhook_secret": "whsec_attacker"}},
        ),
        await client.post(
            "/api/v1/users",
            headers=headers,
            json={
                "email": "intruder@example.com",
                "name": "Intruder",
                "role": "admin",
                "password": "intruder password",
            },
        ),
    ]


# --- the probe, replayed -----------------------------------------------------------------


async def test_demoted_admins_key_can_no_longer_do_admin_work(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    admin, key = await _admin_with_key(client, tenant)
    assert (await client.get("/api/v1/api-keys", headers=bearer(key["key"]))).status_code == 200

    await _change_user(client, tenant, admin.id, role="viewer")

    for r in await _attempt_admin_work(client, key["key"]):
        assert_problem(r, 403)
    # Narrowed, not revoked: what a viewer may still do, the key may still do.
    assert (await client.get("/api/v1/crm/contacts", headers=bearer(key["key"]))).status_code == 200
    me = (await client.get("/api/v1/me", headers=bearer(key["key"]))).json()
    assert me["scopes"] == ["billing:read", "crm:read"]


async def test_deactivated_users_key_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    admin, key = await _admin_with_key(client, tenant)
    await _change_user(client, tenant, admin.id, role="viewer")
    await _change_user(client, tenant, admin.id, is_active=False)

    for r in await _attempt_admin_work(client, key["key"]):
        assert "deactivated" in assert_problem(r, 401)["detail"]
    assert_problem(await client.get("/api/v1/crm/contacts", headers=bearer(key["key"])), 401)
    assert (await client.get("/api/v1/api-keys", headers=tenant.headers)).status_code == 200


async def test_deactivated_admins_key_is_refused_without_a_demotion_first(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    admin, key = await _admin_with_key(client, tenant)
    await _change_user(client, tenant, admin.id, is_active=False)
    assert_problem(await client.get("/api/v1/me", headers=bearer(key["key"])), 401)


# --- what the key list and the audit log show --------------------------------------------


async def test_demotion_narrows_the_listed_key_and_audits_each_key(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    admin, key = await _admin_with_key(client, tenant)
    await _change_user(client, tenant, admin.id, role="member")

    listed = await _listed_key(client, tenant, key["id"])
    assert listed["scopes"] == ["crm:read", "crm:write", "billing:read"]
    assert listed["status"] == "active"
    [entry] = await _key_audit(client, tenant, key["id"])
    assert entry["actor_id"] == tenant.user_id
    assert entry["changed_fields"]["scopes"] == [ADMIN_KEY_SCOPES, listed["scopes"]]


async def test_deactivation_disables_the_listed_key_and_audits_it(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    admin, key = await _admin_with_key(client, tenant)
    await _change_user(client, tenant, admin.id, is_active=False)

    listed = await _listed_key(client, tenant, key["id"])
    assert listed["status"] == "disabled"
    assert listed["disabled_reason"] == "owner_deactivated"
    assert listed["disabled_at"] is not None
    assert listed["owner_id"] == admin.id
    [entry] = await _key_audit(client, tenant, key["id"])
    assert entry["actor_id"] == tenant.user_id
    assert entry["changed_fields"]["disabled_reason"] == [None, "owner_deactivated"]


async def test_a_promotion_does_not_touch_keys(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    r = await client.post(
        "/api/v1/api-keys", headers=member.headers, json={"name": "k", "scopes": ["crm:read"]}
    )
    assert r.status_code == 403  # creating keys needs the admin scope
    admin, key = await _admin_with_key(client, tenant, ["crm:read"])
    await _change_user(client, tenant, admin.id, role="owner")
    assert await _key_audit(client, tenant, key["id"]) == []
    assert (await _listed_key(client, tenant, key["id"]))["scopes"] == ["crm:read"]


# --- keys minted by keys -----------------------------------------------------------------


async def test_a_key_minted_by_a_key_answers_to_the_same_user(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    admin, parent = await _admin_with_key(client, tenant)
    r = await client.post(
        "/api/v1/api-keys",
        headers=bearer(parent["key"]),
        json={"name": "child", "scopes": ["admin", "crm:write"]},
    )
    assert r.status_code == 201, r.text
    child = r.json()
    assert child["created_by"] == parent["id"]
    assert child["owner_id"] == admin.id

    await _change_user(client, tenant, admin.id, role="viewer")
    assert_problem(await client.get("/api/v1/api-keys", headers=bearer(child["key"])), 403)
    await _change_user(client, tenant, admin.id, is_active=False)
    assert_problem(await client.get("/api/v1/me", headers=bearer(child["key"])), 401)


async def test_a_key_cannot_mint_beyond_what_its_user_may_do_now(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    """The role changed behind the API's back (SQL, a restore): the stored scopes still
    say admin, but the key acts, and mints, only within the user's current role."""
    admin, key = await _admin_with_key(client, tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await session.execute(sa.update(User).where(User.id == admin.id).values(role="member"))
    auth.forget_principals()

    assert_problem(await client.get("/api/v1/api-keys", headers=bearer(key["key"])), 403)
    me = (await client.get("/api/v1/me", headers=bearer(key["key"]))).json()
    assert me["scopes"] == ["billing:read", "crm:read", "crm:write"]


# --- reactivation ------------------------------------------------------------------------


async def test_reactivating_a_user_leaves_their_keys_disabled_until_enabled(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    admin, key = await _admin_with_key(client, tenant)
    await _change_user(client, tenant, admin.id, is_active=False)
    await _change_user(client, tenant, admin.id, is_active=True)

    assert_problem(await client.get("/api/v1/me", headers=bearer(key["key"])), 401)
    assert (await _listed_key(client, tenant, key["id"]))["status"] == "disabled"

    r = await client.post(f"/api/v1/api-keys/{key['id']}/enable", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    assert r.json()["disabled_reason"] is None
    assert (await client.get("/api/v1/me", headers=bearer(key["key"]))).status_code == 200
    [enabled, disabled] = await _key_audit(client, tenant, key["id"])  # newest first
    assert enabled["changed_fields"]["disabled_reason"] == ["owner_deactivated", None]
    assert disabled["changed_fields"]["disabled_reason"] == [None, "owner_deactivated"]


async def test_a_key_of_a_deactivated_user_cannot_be_enabled(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    admin, key = await _admin_with_key(client, tenant)
    await _change_user(client, tenant, admin.id, is_active=False)
    r = await client.post(f"/api/v1/api-keys/{key['id']}/enable", headers=tenant.headers)
    assert "deactivated" in assert_problem(r, 409)["detail"]


async def test_enabling_a_revoked_key_is_409(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    _, key = await _admin_with_key(client, tenant)
    await client.delete(f"/api/v1/api-keys/{key['id']}", headers=tenant.headers)
    r = await client.post(f"/api/v1/api-keys/{key['id']}/enable", headers=tenant.headers)
    assert_problem(r, 409)


async def test_enabling_a_key_that_is_not_disabled_changes_nothing(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    _, key = await _admin_with_key(client, tenant)
    r = await client.post(f"/api/v1/api-keys/{key['id']}/enable", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert await _key_audit(client, tenant, key["id"]) == []


async def test_only_a_holder_of_the_keys_scopes_may_enable_it(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    admin, key = await _admin_with_key(client, tenant)
    await _change_user(client, tenant, admin.id, is_active=False)
    await _change_user(client, tenant, admin.id, is_active=True)
    narrow = await client.post(
        "/api/v1/api-keys", headers=tenant.headers, json={"name": "n", "scopes": ["admin"]}
    )
    r = await client.post(
        f"/api/v1/api-keys/{key['id']}/enable", headers=bearer(narrow.json()["key"])
    )
    assert_problem(r, 403)


# --- the principal cache -----------------------------------------------------------------


async def test_deactivation_forgets_a_cached_key_even_when_the_user_has_no_session(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    admin, key = await _admin_with_key(client, tenant)
    assert (await client.post("/api/v1/auth/logout", headers=admin.headers)).status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(key["key"]))).status_code == 200
    assert principal_cache.get(key["key"]) is not None

    await _change_user(client, tenant, admin.id, is_active=False)

    assert principal_cache.get(key["key"]) is None
    assert_problem(await client.get("/api/v1/me", headers=bearer(key["key"])), 401)


async def test_a_principal_cached_while_a_demotion_commits_is_forgotten_at_commit(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    """A request that reads the key while the demotion's transaction is still open sees
    the old role and caches it; the commit must drop that entry, not leave it to expire."""
    admin, key = await _admin_with_key(client, tenant)
    assert (await client.get("/api/v1/me", headers=bearer(key["key"]))).status_code == 200
    owner = Context(
        tenant_id=tenant.tenant_id,
        actor_id=tenant.user_id,
        actor_type="user",
        scopes=auth.ROLE_SCOPES["owner"],
    )
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        session.info["ctx"] = owner
        await service.update_user(
            session, owner, user_id=admin.id, changes=UserUpdate(role="viewer")
        )
        stale = await DatabaseAuthenticator().authenticate(key["key"])
        principal_cache.put(key["key"], stale)
        assert "admin" in stale.scopes  # the demotion is not committed yet
    assert principal_cache.get(key["key"]) is None
    assert_problem(await client.get("/api/v1/api-keys", headers=bearer(key["key"])), 403)
