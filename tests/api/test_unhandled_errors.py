"""An unhandled error inside a write: a 500 problem, the transaction rolled back, the
writer (SQLite's writer gate, the pooled connection) free for the next write at once, and
a log line that is cheap to render and quotes no local values. A value the database
refuses to store (SQLSTATE class 22) is the caller's: 422, not 500.

The slow 500 once seen on ``POST /api/v1/billing/invoices`` (~29 s) was the console log
renderer's default rich traceback printing every frame's locals, synchronously on the event
loop: every request of the process stood still while it rendered.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.api.deps import DbSession
from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.ids import new_id
from bizos.core.observability import configure_logging
from bizos.modules.identity.models import User
from tests.api.conftest import assert_problem
from tests.conftest import IS_PG, TenantLogin, signup
from tests.core.test_dispatcher import append, poll_once

HANG_GUARD_SECONDS = 20.0  # only against a hang; the checks below are about order


class Failing:
    """A write route that holds its transaction until told to fail."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.fail = asyncio.Event()

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/api/v1/test")

        @router.post("/renames-that-fail")
        async def rename_then_fail(session: DbSession) -> dict[str, Any]:
            webhook_secret = "whsec_local_value_never_logged"  # noqa: F841 (a local to leak)
            await rename_first_user(session, "renamed by a failing request")
            self.entered.set()
            await self.fail.wait()
            raise RuntimeError("the invoice printer caught fire")

        @router.post("/oversized-writes")
        async def oversized_write(session: DbSession) -> dict[str, Any]:
            user = await session.scalar(sa.select(User).order_by(User.created_at).limit(1))
            assert user is not None
            user.name = "renamed by an oversized write"
            if IS_PG:
                user.version = 2**40  # past PostgreSQL's integer: numeric value out of range
                await session.flush()
            else:  # SQLite stores any integer: the refusal as a driver would raise it
                await session.flush()
                raise sa.exc.DataError("UPDATE users", {}, Exception("value out of range"))
            return {"ok": True}

        @router.post("/lost-databases")
        async def lost_database(session: DbSession) -> dict[str, Any]:
            await session.execute(sa.select(1))
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))

        @router.post("/renames")
        async def rename(session: DbSession) -> dict[str, Any]:
            await rename_first_user(session, "renamed after the failure")
            return {"ok": True}

        return router


async def rename_first_user(session: AsyncSession, name: str) -> None:
    user = await session.scalar(sa.select(User).order_by(User.created_at).limit(1))
    assert user is not None
    user.name = name
    await session.flush()


@pytest.fixture
def console_log(settings: Settings) -> Iterator[io.StringIO]:
    """What the developer console logging (not JSON) writes, restored afterwards."""
    buffer = io.StringIO()
    configure_logging(settings.model_copy(update={"log_json": False}), stream=buffer)
    yield buffer
    configure_logging(settings)


@pytest.fixture
def failing(gateway: tuple[FastAPI, httpx.AsyncClient]) -> Failing:
    routes = Failing()
    gateway[0].include_router(routes.router())
    return routes


async def user_names(db: Database, tenant: TenantLogin) -> list[str]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        return list((await s.scalars(sa.select(User.name))).all())


async def finishes_before_watchdog(work: Any) -> Any:
    """Run ``work``; a watchdog task fails the test only if ``work`` hangs."""
    watchdog = asyncio.create_task(asyncio.sleep(HANG_GUARD_SECONDS))
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task, watchdog}, return_when=asyncio.FIRST_COMPLETED)
    assert task in done and not watchdog.done(), "the second writer hung behind the failure"
    watchdog.cancel()
    return task.result()


async def test_failed_write_request_frees_the_writer_for_the_waiting_one(
    client: httpx.AsyncClient, db: Database, failing: Failing, console_log: io.StringIO
) -> None:
    tenant = await signup(client)
    first = asyncio.create_task(
        client.post("/api/v1/test/renames-that-fail", headers=tenant.headers)
    )
    await failing.entered.wait()  # the first request holds the write transaction now
    second = asyncio.create_task(client.post("/api/v1/test/renames", headers=tenant.headers))
    await asyncio.sleep(0)  # the second is queued behind it (the writer gate on SQLite)
    failing.fail.set()

    failed = await finishes_before_watchdog(first)
    assert_problem(failed, 500)
    assert "fire" not in failed.text  # the caller learns nothing of the internals
    ok = await finishes_before_watchdog(second)
    assert ok.status_code == 200, ok.text

    assert await user_names(db, tenant) == ["renamed after the failure"]  # first rolled back
    assert db.engine.sync_engine.pool.checkedout() == 0  # every connection (and gate) back


async def test_a_write_right_after_a_failed_one_proceeds(
    client: httpx.AsyncClient, db: Database, failing: Failing
) -> None:
    tenant = await signup(client)
    failing.fail.set()
    assert_problem(await client.post("/api/v1/test/renames-that-fail", headers=tenant.headers), 500)
    assert db.engine.sync_engine.pool.checkedout() == 0
    ok = await finishes_before_watchdog(client.post("/api/v1/test/renames", headers=tenant.headers))
    assert ok.status_code == 200, ok.text


async def test_console_log_of_an_unhandled_error_has_the_traceback_but_no_local_values(
    client: httpx.AsyncClient, failing: Failing, console_log: io.StringIO
) -> None:
    tenant = await signup(client)
    failing.fail.set()
    assert_problem(await client.post("/api/v1/test/renames-that-fail", headers=tenant.headers), 500)
    text = console_log.getvalue()
    assert "request.failed" in text
    assert "RuntimeError: the invoice printer caught fire" in text
    assert "rename_then_fail" in text  # the frame is named ...
    assert "whsec_local_value_never_logged" not in text  # ... its locals are not printed
    assert "access_token" not in text


async def test_failing_background_handler_leaves_the_writer_free(
    db: Database, settings: Settings
) -> None:
    tenant = new_id()
    await append(db, tenant, "crm.lead.created")

    async def handler(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        await session.execute(sa.text("SELECT 1"))
        raise RuntimeError("handler broke mid-write")

    dispatcher = Dispatcher(db, settings)
    dispatcher.subscribe("test.broken", "crm.*", handler)
    assert await finishes_before_watchdog(poll_once(dispatcher)) == 0
    assert db.engine.sync_engine.pool.checkedout() == 0
    await finishes_before_watchdog(append(db, tenant, "crm.lead.updated"))


async def test_a_value_the_database_cannot_store_is_a_422_not_a_500(
    client: httpx.AsyncClient, db: Database, failing: Failing
) -> None:
    tenant = await signup(client)
    before = await user_names(db, tenant)
    body = assert_problem(
        await client.post("/api/v1/test/oversized-writes", headers=tenant.headers), 422
    )
    assert body["errors"] == [{"loc": ["body"], "msg": "a value is out of range"}]
    assert await user_names(db, tenant) == before  # rolled back
    assert db.engine.sync_engine.pool.checkedout() == 0
    ok = await finishes_before_watchdog(client.post("/api/v1/test/renames", headers=tenant.headers))
    assert ok.status_code == 200, ok.text


async def test_other_database_errors_stay_a_500(
    client: httpx.AsyncClient, failing: Failing
) -> None:
    tenant = await signup(client)
    r = await client.post("/api/v1/test/lost-databases", headers=tenant.headers)
    body = assert_problem(r, 500)
    assert "closed" not in body["detail"]
