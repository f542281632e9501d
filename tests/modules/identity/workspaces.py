"""Helpers for the login-security tests: self-service sign-ups, their verification links,
clients at other addresses, and comparing refusals."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.modules.identity.helpers import bearer

LINK = re.compile(r"https?://\S+/api/v1/auth/verify-email\?token=(\S+)")


@dataclass
class NewWorkspace:
    """A workspace made through ``POST /auth/signup``: its owner is not verified yet."""

    email: str
    password: str
    slug: str
    tenant_id: str
    headers: dict[str, str]


async def sign_up(
    client: httpx.AsyncClient, *, email: str | None = None, password: str = "a fine password"
) -> NewWorkspace:
    email = email or f"founder-{uuid.uuid4().hex[:8]}@example.com"
    r = await client.post(
        "/api/v1/auth/signup",
        json={"company_name": "Fresh Co", "email": email, "password": password, "name": "Fay"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return NewWorkspace(
        email=email,
        password=password,
        slug=body["tenant"]["slug"],
        tenant_id=body["tenant"]["id"],
        headers=bearer(body["access_token"]),
    )


async def verification_tokens(client: httpx.AsyncClient, ws: NewWorkspace) -> list[str]:
    """The tokens of every verification link sent to the owner, oldest first."""
    r = await client.get("/api/v1/messages", params={"to": ws.email}, headers=ws.headers)
    assert r.status_code == 200, r.text
    items = sorted(r.json()["items"], key=lambda m: m["id"])
    return [m.group(1) for item in items if (m := LINK.search(item["body"]))]


async def follow(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """Follow a verification link, as the owner's mail client would."""
    return await client.get("/api/v1/auth/verify-email", params={"token": token})


@asynccontextmanager
async def client_from(app: Any, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``ip``."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def comparable(r: httpx.Response) -> tuple[int, dict[str, str], str]:
    """What could tell one answer from another (request ids and rate-limit counters
    differ on every response by design)."""
    varying = ("x-request-id", "date", "traceparent")
    headers = {
        k: v for k, v in r.headers.items() if k not in varying and not k.startswith("ratelimit")
    }
    return r.status_code, headers, r.text
