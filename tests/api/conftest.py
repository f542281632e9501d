"""Gateway test fixtures: apps built with tuned settings, and a small test-only router.

The router gives the gateway something to wrap that counts how often it really ran
(idempotency), can be held open (concurrent duplicates), fails on demand (5xx handling),
and edits a real tenant row through the request's unit of work (audit, If-Match).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bizos.api.deps import DbSession
from bizos.app import create_app
from bizos.core.auth import Authenticated
from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.errors import NotFound, ServiceUnavailable
from bizos.core.versions import check_version, version_etag
from bizos.modules.identity.models import User
from tests.conftest import TenantLogin

PASSWORD = "a member's good password"


@dataclass
class Workbench:
    """What the test-only endpoints did, so tests can tell a replay from a re-run."""

    runs: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)


class Order(BaseModel):
    item: str
    quantity: int = 1


class Rename(BaseModel):
    name: str


def workbench_router(bench: Workbench) -> APIRouter:
    router = APIRouter(prefix="/api/v1/test")

    @router.post("/orders", status_code=201)
    async def place_order(body: Order, principal: Authenticated) -> dict[str, Any]:
        bench.runs += 1
        return {"order_no": bench.runs, "item": body.item, "quantity": body.quantity}

    @router.post("/slow-orders", status_code=201)
    async def place_slow_order(body: Order, principal: Authenticated) -> dict[str, Any]:
        bench.runs += 1
        bench.entered.set()
        await bench.gate.wait()
        return {"order_no": bench.runs, "item": body.item}

    @router.post("/broken-orders", status_code=201)
    async def place_broken_order(body: Order, principal: Authenticated) -> dict[str, Any]:
        bench.runs += 1
        raise RuntimeError("the warehouse exploded")

    @router.post("/unavailable-orders", status_code=201)
    async def place_order_while_down(body: Order, principal: Authenticated) -> dict[str, Any]:
        bench.runs += 1
        if bench.runs == 1:
            raise ServiceUnavailable("the warehouse is closed")
        return {"order_no": bench.runs, "item": body.item}

    @router.patch("/users/{user_id}")
    async def rename_user(
        user_id: str, body: Rename, request: Request, session: DbSession
    ) -> dict[str, Any]:
        user = await session.scalar(sa.select(User).where(User.id == user_id))
        if user is None:
            raise NotFound("user not found")
        check_version(request, user.version)
        user.name = body.name
        user.version += 1
        await session.flush()
        return {"id": user.id, "name": user.name, "version": user.version}

    @router.get("/users/{user_id}")
    async def read_user(user_id: str, session: DbSession) -> Any:
        user = await session.scalar(sa.select(User).where(User.id == user_id))
        if user is None:
            raise NotFound("user not found")
        return JSONResponse(
            {"id": user.id, "name": user.name, "version": user.version},
            headers={"ETag": version_etag(user.version)},
        )

    return router


AppFactory = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
def bench() -> Workbench:
    return Workbench()


@pytest.fixture
def make_app(settings: Settings, db: Database, bench: Workbench) -> AppFactory:
    """``async with make_app(rate_limit_per_minute=3) as (app, client)``: an app with
    tuned settings, the workbench router, and a client from ``client_ip``."""

    @asynccontextmanager
    async def build(
        *, client_ip: str = "127.0.0.1", database: Database | None = None, **overrides: Any
    ) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = create_app(
            settings.model_copy(update=overrides), database=database or db, workers=False
        )
        app.include_router(workbench_router(bench))
        async with app.router.lifespan_context(app), client_for(app, client_ip) as client:
            yield app, client

    return build


@asynccontextmanager
async def client_for(app: FastAPI, ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def gateway(make_app: AppFactory) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with make_app() as built:
        yield built


@pytest.fixture
async def client(gateway: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    """Overrides the suite's client: the same app plus the workbench router."""
    return gateway[1]


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


@dataclass
class Member:
    id: str
    email: str
    access_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def add_member(client: httpx.AsyncClient, admin: TenantLogin, role: str) -> Member:
    """A user of ``admin``'s workspace with ``role``, created and logged in via the API."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    r = await client.post(
        "/api/v1/users",
        headers=admin.headers,
        json={"email": email, "name": "Max", "role": role, "password": PASSWORD},
    )
    assert r.status_code == 201, r.text
    r2 = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r2.status_code == 200, r2.text
    return Member(id=r.json()["id"], email=email, access_token=r2.json()["access_token"])
