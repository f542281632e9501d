"""GET /api/v1/kb/answer as a client sees it: a question answered from the tenant's
documents, quoted and with its sources; an honest decline when nothing answers it;
blank questions, missing scopes and other tenants' documents refused or unseen."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import assert_problem
from tests.conftest import TenantLogin

ANSWER = "/api/v1/kb/answer"
RETURNS = """# Returns and refunds

## Returns

You can return any unused item within 45 days of delivery.

## Refunds

Refunds reach your original payment method within 7 business days of our receiving the
return.
"""
SHIPPING = """# Shipping

We ship to the EU, the UK and Switzerland. Orders ship within 2 business days.
"""


async def add(client: httpx.AsyncClient, tenant: TenantLogin, title: str, content: str) -> str:
    r = await client.post(
        "/api/v1/kb/documents",
        json={"title": title, "content": content, "content_type": "text/markdown"},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    document_id: str = r.json()["id"]
    return document_id


async def ask(
    client: httpx.AsyncClient, headers: dict[str, str], q: str, **params: Any
) -> dict[str, Any]:
    r = await client.get(ANSWER, params={"q": q, **params}, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a_question_is_answered_with_the_passages_it_quotes(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    returns = await add(client, tenant, "Returns and refunds", RETURNS)
    await add(client, tenant, "Shipping", SHIPPING)

    body = await ask(client, tenant.headers, "Can I return it, and how long does a refund take?")

    assert body["answered"] is True
    assert "within 45 days of delivery" in body["answer"]
    assert "within 7 business days" in body["answer"]
    assert "Switzerland" not in body["answer"]
    assert {s["document_id"] for s in body["sources"]} == {returns}
    assert {s["title"] for s in body["sources"]} == {
        "Returns and refunds — Returns",
        "Returns and refunds — Refunds",
    }
    assert all(s["excerpt"] and s["excerpt"] in body["answer"] for s in body["sources"])
    assert body["provenance"]["provider"] == "local"
    assert body["provenance"]["method"] == "extractive"
    assert body["provenance"]["passages_searched"] >= 2


async def test_a_question_nothing_answers_is_declined_plainly(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await add(client, tenant, "Returns and refunds", RETURNS)

    body = await ask(client, tenant.headers, "Do you sell gift cards?", limit=3)

    assert body["answered"] is False and body["sources"] == []
    assert body["answer"].startswith("The knowledge base does not answer this")
    assert "45 days" not in body["answer"]


async def test_blank_or_oversized_questions_are_422(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for params in ({"q": "   "}, {"q": ""}, {"q": "x" * 501}, {"q": "refund", "limit": 0}, {}):
        assert_problem(await client.get(ANSWER, params=params, headers=tenant.headers), 422)


async def test_answers_need_kb_read_and_stay_within_the_tenant(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await add(client, tenant, "Returns and refunds", RETURNS)
    r = await client.post(
        "/api/v1/api-keys", json={"name": "ro", "scopes": ["kb:read"]}, headers=tenant.headers
    )
    reader = {"Authorization": f"Bearer {r.json()['key']}"}
    r = await client.post(
        "/api/v1/api-keys", json={"name": "crm", "scopes": ["crm:read"]}, headers=tenant.headers
    )
    crm = {"Authorization": f"Bearer {r.json()['key']}"}

    assert (await ask(client, reader, "How long does a refund take?"))["answered"] is True
    assert_problem(await client.get(ANSWER, params={"q": "refund"}, headers=crm), 403)
    assert_problem(await client.get(ANSWER, params={"q": "refund"}), 401)
    theirs = await ask(client, other_tenant.headers, "How long does a refund take?")
    assert theirs["answered"] is False and theirs["sources"] == []
