"""What every list promises: newest first unless ``sort`` says otherwise, a cursor that
holds its order (and is refused under another), every row exactly once across pages, and
a 422 for a query parameter the endpoint does not know."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.modules.crm.models import Lead
from tests.conftest import TenantLogin


async def _capture_leads(client: httpx.AsyncClient, tenant: TenantLogin, count: int) -> list[str]:
    """``count`` leads captured one after another: their ids in creation order."""
    ids = []
    for n in range(count):
        r = await client.post(
            "/api/v1/crm/leads",
            json={"email": f"lead{n}@example.com", "name": f"Lead {n}"},
            headers=tenant.headers,
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


async def _get(
    client: httpx.AsyncClient, tenant: TenantLogin, path: str, **params: Any
) -> httpx.Response:
    return await client.get(path, params=params, headers=tenant.headers)


async def _every_page(
    client: httpx.AsyncClient, tenant: TenantLogin, path: str, **params: Any
) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        r = await _get(client, tenant, path, **params, **({"cursor": cursor} if cursor else {}))
        assert r.status_code == 200, r.text
        ids += [item["id"] for item in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return ids


# --- order ------------------------------------------------------------------------------


async def test_lists_come_newest_first_by_default(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    leads = await _capture_leads(client, tenant, 3)

    r = await _get(client, tenant, "/api/v1/crm/leads")

    assert [lead["id"] for lead in r.json()["items"]] == leads[::-1]
    contacts = (await _get(client, tenant, "/api/v1/crm/contacts")).json()["items"]
    assert [c["email"] for c in contacts] == [f"lead{n}@example.com" for n in (2, 1, 0)]


async def test_sort_created_at_lists_oldest_first(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    leads = await _capture_leads(client, tenant, 3)

    r = await _get(client, tenant, "/api/v1/crm/leads", sort="created_at")

    assert [lead["id"] for lead in r.json()["items"]] == leads


async def test_sent_messages_are_listed_newest_first(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    sent = []
    for n in range(3):
        r = await client.post(
            "/api/v1/messages",
            json={"channel": "email", "to": f"c{n}@example.com", "subject": "Hi", "body": "x"},
            headers=tenant.headers,
        )
        assert r.status_code == 202, r.text
        sent.append(r.json()["id"])

    assert await _every_page(client, tenant, "/api/v1/messages", limit=2) == sent[::-1]


async def test_paging_a_sort_with_ties_and_nulls_gives_every_row_once_in_order(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    """Scores 80, 50, 50 and two unscored leads, read two at a time: equal scores are
    ordered by id, the unscored come last, in either direction, and no page boundary
    repeats or skips a lead."""
    leads = await _capture_leads(client, tenant, 5)
    scores = dict(zip(leads, [50, None, 80, 50, None], strict=True))
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        for lead_id, score in scores.items():
            await session.execute(sa.update(Lead).where(Lead.id == lead_id).values(score=score))
    a, b, c, d, e = leads

    assert await _every_page(client, tenant, "/api/v1/crm/leads", sort="-score", limit=2) == [
        c,
        d,
        a,
        e,
        b,
    ]
    assert await _every_page(client, tenant, "/api/v1/crm/leads", sort="score", limit=2) == [
        a,
        d,
        c,
        b,
        e,
    ]


# --- cursors ----------------------------------------------------------------------------


async def test_a_cursor_is_refused_under_another_sort(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _capture_leads(client, tenant, 2)
    first = await _get(client, tenant, "/api/v1/crm/leads", limit=1)
    cursor = first.json()["next_cursor"]

    r = await _get(client, tenant, "/api/v1/crm/leads", limit=1, sort="created_at", cursor=cursor)

    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"] == [{"loc": ["query", "cursor"], "msg": "invalid cursor"}]
    assert "sort=-created_at" in r.json()["detail"]


async def test_a_cursor_is_refused_on_another_list(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _capture_leads(client, tenant, 2)
    cursor = (await _get(client, tenant, "/api/v1/crm/leads", limit=1)).json()["next_cursor"]

    r = await _get(client, tenant, "/api/v1/crm/contacts", limit=1, cursor=cursor)

    assert r.status_code == 422
    assert r.json()["errors"] == [{"loc": ["query", "cursor"], "msg": "invalid cursor"}]


async def test_an_unknown_sort_is_refused_with_the_choices(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await _get(client, tenant, "/api/v1/crm/leads", sort="colour")

    assert r.status_code == 422
    [error] = r.json()["errors"]
    assert error["loc"] == ["query", "sort"]
    assert "'-created_at'" in error["msg"] and "'-score'" in error["msg"]


async def test_the_event_log_stays_in_commit_order(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _capture_leads(client, tenant, 2)

    r = await _get(client, tenant, "/api/v1/events")
    sequences = [e["sequence"] for e in r.json()["items"]]

    assert sequences == sorted(sequences) and len(sequences) > 1
    assert (await _get(client, tenant, "/api/v1/events", sort="-sequence")).status_code == 422


async def test_every_list_documents_its_orders(client: httpx.AsyncClient) -> None:
    """Each list in the OpenAPI document has a ``sort`` enum; records default to newest
    first, and the lists with an order of their own say which."""
    own_order = {
        "/api/v1/events": "sequence",
        "/api/v1/crm/imports/{import_id}/errors": "row",
        "/api/v1/crm/reps": "id",
        "/api/v1/crm/contacts/duplicates": "id",
        "/api/v1/crm/contacts/{contact_id}/timeline": "-occurred_at",
        "/api/v1/finance/budgets/{budget_id}/periods": "-period_start",
    }
    document = (await client.get("/openapi.json")).json()
    lists = {
        path: {p["name"]: p for p in operations["get"].get("parameters", [])}
        for path, operations in document["paths"].items()
        if "get" in operations
        and any(p["name"] == "cursor" for p in operations["get"].get("parameters", []))
    }

    assert len(lists) >= 40
    for path, parameters in lists.items():
        schema = parameters["sort"]["schema"]
        assert schema["enum"] and schema["default"] == schema["enum"][0], path
        expected = own_order.get(path)
        if expected is None:
            assert schema["default"].startswith("-"), path
        else:
            assert schema["enum"] == [expected], path


# --- unknown parameters -----------------------------------------------------------------


async def test_unknown_query_parameters_are_refused_by_name(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await _get(client, tenant, "/api/v1/crm/contacts", colour="red", size="2", limit=5)

    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["loc"] for e in r.json()["errors"]] == [["query", "colour"], ["query", "size"]]
    assert "colour, size" in r.json()["detail"] and "lifecycle_stage" in r.json()["detail"]


async def test_an_endpoint_without_parameters_refuses_any(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await _get(client, tenant, "/api/v1/me", verbose="1")

    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "verbose"]


async def test_declared_parameters_are_still_taken(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _capture_leads(client, tenant, 2)

    r = await _get(client, tenant, "/api/v1/crm/leads", status="new", limit=1, sort="-score")

    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 1


async def test_a_message_filter_on_related_id_needs_related_type(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await _get(client, tenant, "/api/v1/messages", related_id="ord_1042")

    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "related_type"]
    assert "related_type and related_id" in r.json()["detail"]
    alone = await _get(client, tenant, "/api/v1/messages", related_type="order")
    assert alone.status_code == 422
    assert alone.json()["errors"][0]["loc"] == ["query", "related_id"]
