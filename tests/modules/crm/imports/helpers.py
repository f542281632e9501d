"""Helpers for the import tests: build CSV files, upload them, run the import workers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.dispatcher import Dispatcher
from bizos.modules.crm.imports import handlers as import_handlers
from tests.conftest import TenantLogin


def csv_text(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


async def upload(
    client: httpx.AsyncClient,
    login: TenantLogin,
    content: bytes,
    *,
    filename: str = "contacts.csv",
    kind: str | None = None,
    mapping: dict[str, str] | str | None = None,
    on_duplicate: str | None = None,
) -> httpx.Response:
    form: dict[str, Any] = {}
    if kind is not None:
        form["kind"] = kind
    if mapping is not None:
        form["mapping"] = mapping if isinstance(mapping, str) else json.dumps(mapping)
    if on_duplicate is not None:
        form["on_duplicate"] = on_duplicate
    return await client.post(
        "/api/v1/crm/imports",
        headers=login.headers,
        files={"file": (filename, content, "text/csv")},
        data=form,
    )


async def run_imports(db: Database, settings: Settings) -> None:
    """Let the import subscribers carry every queued import to its end (workflows are off
    in the test suite, so the dispatcher carries them batch by batch)."""
    dispatcher = Dispatcher(db, settings)
    import_handlers.register(dispatcher)
    idle = 0
    for _ in range(2000):
        if await dispatcher.run_once() == 0:
            idle += 1
            if idle >= 3:
                return
            await asyncio.sleep(0.02)
        else:
            idle = 0
    raise AssertionError("the import subscribers did not catch up")


async def imported(
    client: httpx.AsyncClient,
    login: TenantLogin,
    db: Database,
    settings: Settings,
    content: bytes,
    **form: Any,
) -> dict[str, Any]:
    """Upload, run the workers, and return the finished import."""
    r = await upload(client, login, content, **form)
    assert r.status_code == 202, r.text
    await run_imports(db, settings)
    r = await client.get(f"/api/v1/crm/imports/{r.json()['id']}", headers=login.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
