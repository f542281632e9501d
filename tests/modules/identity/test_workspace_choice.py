"""Login without a workspace: only verified memberships count, the password picks among
them, and several that fit are offered as a choice (never for a wrong password)."""

from __future__ import annotations

import httpx

from tests.conftest import TenantLogin, signup
from tests.modules.identity.helpers import assert_problem, login
from tests.modules.identity.workspaces import comparable, follow, sign_up, verification_tokens


async def add_user(
    client: httpx.AsyncClient, admin: TenantLogin, *, email: str, password: str
) -> None:
    r = await client.post(
        "/api/v1/users",
        headers=admin.headers,
        json={"email": email, "name": "Olive", "role": "member", "password": password},
    )
    assert r.status_code == 201, r.text


async def test_someone_signing_up_with_your_email_does_not_break_your_login(
    client: httpx.AsyncClient,
) -> None:
    real = await signup(client, "Northwind")
    # Even with the very same password, the squatter's unverified workspace is not chosen.
    await sign_up(client, email=real.email, password=real.password)
    r = await login(client, real.email, real.password)
    assert r.status_code == 200, r.text
    assert r.json()["tenant"]["id"] == real.tenant_id


async def test_an_unverified_workspace_is_reached_only_by_naming_it(
    client: httpx.AsyncClient,
) -> None:
    real = await signup(client, "Northwind")
    squatter = await sign_up(client, email=real.email, password="the squatter's own")
    assert_problem(await login(client, real.email, squatter.password), 401)
    named = await login(client, real.email, squatter.password, tenant=squatter.slug)
    assert named.status_code == 200, named.text
    assert named.json()["tenant"]["id"] == squatter.tenant_id


async def test_a_verified_address_logs_in_without_naming_the_workspace(
    client: httpx.AsyncClient,
) -> None:
    ws = await sign_up(client)
    assert_problem(await login(client, ws.email, ws.password), 401)
    [token] = await verification_tokens(client, ws)
    assert (await follow(client, token)).status_code == 200
    r = await login(client, ws.email, ws.password)
    assert r.status_code == 200, r.text
    assert r.json()["tenant"]["slug"] == ws.slug


async def test_an_email_in_two_workspaces_logs_in_where_the_password_matches(
    client: httpx.AsyncClient,
) -> None:
    first = await signup(client, "First Co")
    second = await signup(client, "Second Co")
    await add_user(client, second, email=first.email, password="pw in two")
    r = await login(client, first.email, "pw in two")
    assert r.status_code == 200, r.text
    assert r.json()["tenant"]["id"] == second.tenant_id
    r = await login(client, first.email, first.password)
    assert r.json()["tenant"]["id"] == first.tenant_id


async def test_one_password_for_several_workspaces_gets_the_choice(
    client: httpx.AsyncClient,
) -> None:
    first = await signup(client, "First Co")
    second = await signup(client, "Second Co")
    await add_user(client, second, email=first.email, password=first.password)
    r = await login(client, first.email, first.password)
    body = assert_problem(r, 409)
    assert sorted(body["workspaces"], key=lambda w: w["slug"]) == sorted(
        [{"slug": first.slug, "name": "First Co"}, {"slug": second.slug, "name": "Second Co"}],
        key=lambda w: w["slug"],
    )
    assert "tenant" in body["detail"]
    picked = await login(client, first.email, first.password, tenant=second.slug)
    assert picked.status_code == 200, picked.text
    assert picked.json()["tenant"]["id"] == second.tenant_id


async def test_a_wrong_password_never_lists_the_workspaces(client: httpx.AsyncClient) -> None:
    first = await signup(client, "First Co")
    second = await signup(client, "Second Co")
    await add_user(client, second, email=first.email, password=first.password)
    wrong = await login(client, first.email, "not the password")
    unknown = await login(client, "nobody@example.com", "not the password")
    assert "workspaces" not in assert_problem(wrong, 401)
    assert comparable(wrong) == comparable(unknown)
