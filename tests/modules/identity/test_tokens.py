"""Access tokens: anything but a genuine, live, same-tenant token is 401."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest

from bizos.core.auth import derive_key, issue_access_token
from bizos.core.config import get_settings
from tests.conftest import TenantLogin
from tests.modules.identity.helpers import assert_problem, bearer


def _claims(tenant: TenantLogin) -> dict[str, Any]:
    return jwt.decode(tenant.access_token, options={"verify_signature": False})


def _sign(claims: dict[str, Any], kid: str = "k1") -> str:
    return jwt.encode(claims, derive_key("jwt", kid), algorithm="HS256", headers={"kid": kid})


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/me", headers=bearer(token))


async def test_a_genuine_token_is_accepted(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    # The baseline the other tests bend: re-signing the same claims with the real key works.
    assert (await _me(client, _sign(_claims(tenant)))).status_code == 200


async def test_tampered_signature_is_401(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    head, payload, signature = tenant.access_token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert_problem(await _me(client, f"{head}.{payload}.{flipped}"), 401)


async def test_tampered_claims_are_401(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    head, _, signature = tenant.access_token.split(".")
    forged = _b64({**_claims(tenant), "role": "owner", "exp": int(time.time()) + 10**6})
    assert_problem(await _me(client, f"{head}.{forged}.{signature}"), 401)


async def test_expired_token_is_401(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    now = int(time.time())
    expired = _sign({**_claims(tenant), "iat": now - 120, "nbf": now - 120, "exp": now - 60})
    assert_problem(await _me(client, expired), 401)


async def test_alg_none_token_is_401(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'})}.{_b64(_claims(tenant))}."
    assert_problem(await _me(client, unsigned), 401)


async def test_token_signed_with_an_unknown_key_id_is_401(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    assert_problem(await _me(client, _sign(_claims(tenant), kid="k9")), 401)


async def test_token_signed_with_a_previous_key_still_works_after_rotation(
    client: httpx.AsyncClient, tenant: TenantLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = get_settings()
    monkeypatch.setattr(settings, "jwt_key_id", "k2")
    monkeypatch.setattr(settings, "jwt_previous_key_ids", ["k1"])
    assert (await _me(client, tenant.access_token)).status_code == 200
    assert (await _me(client, _sign(_claims(tenant), "k2"))).status_code == 200


async def test_token_naming_another_tenant_for_its_session_is_401(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    crossed, _ = issue_access_token(
        tenant_id=other_tenant.tenant_id,
        user_id=tenant.user_id,
        session_id=_claims(tenant)["sid"],
        role="owner",
    )
    assert_problem(await _me(client, crossed), 401)


async def test_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    assert_problem(await _me(client, tenant.refresh_token), 401)


async def test_missing_and_malformed_authorization_are_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/me"), 401)
    assert_problem(await client.get("/api/v1/me", headers={"Authorization": "Basic abc"}), 401)
    assert_problem(await _me(client, "not-a-jwt"), 401)
