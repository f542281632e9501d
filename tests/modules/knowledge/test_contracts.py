"""Contracts end to end, as a running server does it: a PDF tagged ``contract`` is
uploaded, the dispatcher starts the durable extraction, the terms are stored with their
evidence, and a task waits 90 days before the notice date. Also: an updated contract
moves its task instead of adding one, a date already too close makes the task due today
saying why, an unreadable answer or a spent budget fails the contract once with a task
for a person, and other tenants and scopes see nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.ai import gateway
from bizos.app import create_app
from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.events import Event
from bizos.modules.knowledge.contracts import workflows as contracts
from bizos.modules.work.models import Task
from tests.conftest import TenantLogin, signup
from tests.modules.knowledge.test_contracts_pdf import FIXTURE

DOCS = "/api/v1/kb/documents"


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A whole server: API plus dispatcher and durable workflows."""
    running = settings.model_copy(
        update={"workflows_enabled": True, "executor_id": f"test-{uuid.uuid4().hex[:8]}"}
    )
    app = create_app(running, database=db, workers=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@pytest.fixture
async def tenant(client: httpx.AsyncClient) -> TenantLogin:
    return await signup(client, "Harbour Foods Limited")


async def upload_pdf(client: httpx.AsyncClient, tenant: TenantLogin, tags: str) -> dict[str, Any]:
    r = await client.post(
        DOCS,
        files={"file": ("supply_agreement.pdf", FIXTURE.read_bytes(), "application/pdf")},
        data={"title": "Supply agreement with Northwind", "tags": tags},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def upload_text(
    client: httpx.AsyncClient, tenant: TenantLogin, text: str, tags: list[str]
) -> dict[str, Any]:
    r = await client.post(
        DOCS,
        json={"title": "Cleaning services contract", "content": text, "tags": tags},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def until_contract(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    document_id: str,
    *,
    status: str = "extracted",
    after_version: int = 0,
) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while True:
            r = await client.get(f"{DOCS}/{document_id}/contract", headers=tenant.headers)
            if r.status_code == 200:
                body: dict[str, Any] = r.json()
                if body["status"] == status and body["version"] > after_version:
                    return body
            await asyncio.sleep(0.05)


async def events(db: Database, tenant_id: str, type_: str) -> list[Event]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        rows = await s.scalars(sa.select(Event).where(Event.type == type_).order_by(Event.sequence))
        return list(rows)


async def tasks_about(db: Database, tenant_id: str, document_id: str) -> list[Task]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        rows = await s.scalars(
            sa.select(Task).where(
                Task.related_type == "kb_document", Task.related_id == document_id
            )
        )
        return list(rows)


def services_contract(end: dt.date) -> str:
    return (
        "CLEANING SERVICES AGREEMENT\n"
        'This Agreement is made between Sparkle Cleaning Ltd (the "Contractor") and '
        'Harbour Foods Limited (the "Client").\n'
        f"The Agreement commences on 1 January 2025 and expires on {end:%d %B %Y}. It shall "
        "automatically renew for successive periods of one year unless the Client gives "
        "three months' written notice before the end of the term.\n"
        "The Client shall pay a monthly fee of EUR 1,250.00.\n"
    )


# --- the flow ---------------------------------------------------------------------------


async def test_a_contract_pdf_gets_its_terms_and_a_task_ninety_days_before_notice(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    doc = await upload_pdf(client, tenant, "contract,suppliers")

    contract = await until_contract(client, tenant, doc["id"])

    assert [(p["name"], p["role"]) for p in contract["parties"]] == [
        ("Northwind Components Ltd", "Supplier"),
        ("Harbour Foods Limited", "Customer"),
    ]
    assert {"amount": "48000.00", "currency": "GBP"}.items() <= contract["amounts"][0].items()
    assert contract["start_date"] == "2026-03-01"
    assert contract["end_date"] == "2028-02-29"
    assert contract["renewal_date"] == "2028-03-01"
    assert contract["notice_date"] == "2027-12-01"
    assert contract["notice_period_days"] == 90 and contract["auto_renews"] is True
    assert "ninety (90) days' written notice" in contract["evidence"]["notice_date"]
    assert "notice_date" in contract["computed"]
    assert contract["provenance"]["provider"] == "local"
    assert contract["provenance"]["template"] == "kb.contract.extract"
    assert contract["document_title"] == "Supply agreement with Northwind"
    # The task: 90 days before the notice date, on the uploader's list, about the document.
    assert contract["task_due_date"] == "2027-09-02"
    [task] = await tasks_about(db, tenant.tenant_id, doc["id"])
    assert task.id == contract["task_id"] and task.status == "open"
    assert task.due_at is not None and task.due_at.date() == dt.date(2027, 9, 2)
    assert task.assignee_id == tenant.user_id
    assert "2027-12-01" in task.title
    [extracted] = await events(db, tenant.tenant_id, "kb.contract.extracted")
    assert extracted.data["document_id"] == doc["id"]
    assert extracted.data["task_id"] == task.id
    # And it is listed.
    r = await client.get("/api/v1/kb/contracts", headers=tenant.headers)
    assert r.status_code == 200
    assert [c["document_id"] for c in r.json()["items"]] == [doc["id"]]


async def test_an_updated_contract_moves_its_task_instead_of_adding_one(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    today = dt.date.today()
    first_end = today.replace(year=today.year + 2)
    doc = await upload_text(client, tenant, services_contract(first_end), ["contract"])
    first = await until_contract(client, tenant, doc["id"])
    later_end = today.replace(year=today.year + 3)

    r = await client.patch(
        f"{DOCS}/{doc['id']}",
        json={"content": services_contract(later_end)},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    second = await until_contract(client, tenant, doc["id"], after_version=first["version"])

    assert second["end_date"] == later_end.isoformat()
    assert second["task_id"] == first["task_id"]
    assert second["task_due_date"] != first["task_due_date"]
    [task] = await tasks_about(db, tenant.tenant_id, doc["id"])
    assert task.due_at is not None and task.due_at.date().isoformat() == second["task_due_date"]
    assert len(await events(db, tenant.tenant_id, "kb.contract.extracted")) == 2


async def test_a_title_change_does_not_extract_again(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    doc = await upload_text(
        client,
        tenant,
        services_contract(dt.date.today().replace(year=dt.date.today().year + 2)),
        ["contract"],
    )
    await until_contract(client, tenant, doc["id"])

    r = await client.patch(
        f"{DOCS}/{doc['id']}", json={"title": "Cleaning (renamed)"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    # A later, unrelated contract being extracted shows the dispatcher got past the rename.
    other = await upload_pdf(client, tenant, "contract")
    await until_contract(client, tenant, other["id"])

    extracted = await events(db, tenant.tenant_id, "kb.contract.extracted")
    assert [e.data["document_id"] for e in extracted] == [doc["id"], other["id"]]


async def test_a_notice_date_too_close_makes_the_task_due_today_saying_why(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    today = dt.date.today()
    end = today + dt.timedelta(days=120)  # notice three months before: 90 days left at most
    doc = await upload_text(client, tenant, services_contract(end), ["contract"])

    contract = await until_contract(client, tenant, doc["id"])

    assert contract["task_due_date"] == today.isoformat()
    [task] = await tasks_about(db, tenant.tenant_id, doc["id"])
    assert task.description is not None
    assert "already passed" in task.description and "Due today" in task.description
    assert task.priority == "high"


async def test_a_document_without_the_tag_is_no_contract(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    plain = await upload_text(client, tenant, services_contract(dt.date(2030, 1, 1)), ["hr"])
    tagged = await upload_pdf(client, tenant, "contract")
    await until_contract(client, tenant, tagged["id"])  # the dispatcher has passed `plain`

    r = await client.get(f"{DOCS}/{plain['id']}/contract", headers=tenant.headers)

    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await tasks_about(db, tenant.tenant_id, plain["id"]) == []


async def test_removing_the_tag_forgets_the_contract_and_cancels_its_task(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    doc = await upload_pdf(client, tenant, "contract")
    contract = await until_contract(client, tenant, doc["id"])

    r = await client.patch(
        f"{DOCS}/{doc['id']}", json={"tags": ["archive"]}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text

    async with asyncio.timeout(60):
        while True:
            r = await client.get(f"{DOCS}/{doc['id']}/contract", headers=tenant.headers)
            if r.status_code == 404:
                break
            await asyncio.sleep(0.05)
    [task] = await tasks_about(db, tenant.tenant_id, doc["id"])
    assert task.id == contract["task_id"] and task.status == "cancelled"


# --- failures -----------------------------------------------------------------------------


async def test_an_unreadable_answer_fails_the_contract_once_with_a_task(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = gateway.generate
    asked: list[str] = []

    async def rambles(*args: Any, **kwargs: Any) -> gateway.AiResult:
        result = await real(*args, **kwargs)
        asked.append(kwargs["template"])
        return gateway.AiResult(**{**_fields(result), "text": "I think it is a nice contract."})

    monkeypatch.setattr(contracts.gateway, "generate", rambles)
    doc = await upload_pdf(client, tenant, "contract")

    contract = await until_contract(client, tenant, doc["id"], status="failed")

    assert "no JSON object" in (contract["error"] or "")
    assert contract["notice_date"] is None and contract["task_id"] is None
    [task] = await tasks_about(db, tenant.tenant_id, doc["id"])
    assert task.title.startswith("Contract terms could not be extracted")
    assert task.due_at is not None and task.due_at.date() == dt.date.today()
    assert asked == ["kb.contract.extract"]  # asked once: the same text gives the same answer
    [failed] = await events(db, tenant.tenant_id, "kb.contract.failed")
    assert failed.data["task_id"] == task.id


async def test_a_spent_budget_fails_the_contract_with_the_reason(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    r = await client.put(
        "/api/v1/ai/settings", json={"monthly_token_budget": 0}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    doc = await upload_pdf(client, tenant, "contract")

    contract = await until_contract(client, tenant, doc["id"], status="failed")

    assert "AI budget exhausted" in (contract["error"] or "")
    assert len(await tasks_about(db, tenant.tenant_id, doc["id"])) == 1


# --- who may see what -------------------------------------------------------------------


async def test_other_tenants_and_scopes_see_nothing(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    doc = await upload_pdf(client, tenant, "contract")
    await until_contract(client, tenant, doc["id"])
    other = await signup(client, "Globex Corp")
    r = await client.post(
        "/api/v1/api-keys", json={"name": "crm", "scopes": ["crm:read"]}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    crm_only = {"Authorization": f"Bearer {r.json()['key']}"}

    foreign = await client.get(f"{DOCS}/{doc['id']}/contract", headers=other.headers)
    listed = await client.get("/api/v1/kb/contracts", headers=other.headers)
    denied = await client.get(f"{DOCS}/{doc['id']}/contract", headers=crm_only)
    denied_list = await client.get("/api/v1/kb/contracts", headers=crm_only)

    assert foreign.status_code == 404
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert denied.status_code == 403 and denied_list.status_code == 403


def _fields(result: gateway.AiResult) -> dict[str, Any]:
    return {name: getattr(result, name) for name in gateway.AiResult.__slots__}
