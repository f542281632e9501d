"""Default deny: every API route answers 401 to a caller without credentials, except the
few that exist to obtain them. A route added without a scope dependency fails here."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

PUBLIC = {
    ("POST", "/api/v1/auth/signup"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("GET", "/api/v1/auth/verify-email"),  # the emailed link: the token is the credential
}


def api_routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for path, methods in app.openapi()["paths"].items():
        if path.startswith("/api/v1/"):
            found += [(m.upper(), path) for m in methods]
    return sorted(found)


async def test_the_route_table_is_not_empty(app: Any) -> None:
    assert len(api_routes(app)) > 20
    assert all(
        isinstance(r, APIRoute) for r in app.routes if getattr(r, "path", "").startswith("/api/v1/")
    )


@pytest.mark.parametrize("credentials", [None, "Bearer not-a-token", "Bearer bos_forged_key"])
async def test_every_private_route_refuses_a_caller_without_valid_credentials(
    app: Any, client: httpx.AsyncClient, credentials: str | None
) -> None:
    headers = {"Authorization": credentials} if credentials else {}
    answered = {}
    for method, path in api_routes(app):
        if (method, path) in PUBLIC:
            continue
        url = re.sub(r"\{[^}]+\}", "someid", path)
        r = await client.request(method, url, headers=headers, json={} if method != "GET" else None)
        answered[f"{method} {path}"] = r.status_code
    assert answered, "no private routes found"
    assert {route: status for route, status in answered.items() if status != 401} == {}
