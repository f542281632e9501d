"""Knowledge uploads keep their tags whether the caller writes ``tag`` (as the README
says) or ``tags`` (as the API first read): both are taken, merged; a form field the
upload does not know is refused rather than dropped."""

from __future__ import annotations

import httpx

from tests.conftest import TenantLogin

DOCS = "/api/v1/kb/documents"
FILE = {"file": ("returns.md", b"# Returns\n\nReturns are free within 30 days.", "text/markdown")}


async def test_a_multipart_upload_keeps_tags_given_as_tag(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(DOCS, files=FILE, data={"tag": "Policy"}, headers=tenant.headers)

    assert r.status_code == 201, r.text
    assert r.json()["tags"] == ["policy"]


async def test_a_multipart_upload_merges_tag_and_tags(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        DOCS,
        files=FILE,
        data={"tag": ["policy", "returns"], "tags": "faq, Policy"},
        headers=tenant.headers,
    )

    assert r.status_code == 201, r.text
    assert sorted(r.json()["tags"]) == ["faq", "policy", "returns"]
    listed = await client.get(DOCS, params={"tag": "returns"}, headers=tenant.headers)
    assert [d["id"] for d in listed.json()["items"]] == [r.json()["id"]]


async def test_a_json_document_keeps_tags_given_as_tag(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    one = await client.post(
        DOCS,
        json={"title": "Returns", "content": "Free within 30 days.", "tag": "Policy"},
        headers=tenant.headers,
    )
    both = await client.post(
        DOCS,
        json={
            "title": "Shipping",
            "content": "Parcels go by courier.",
            "tag": ["shipping"],
            "tags": ["faq"],
        },
        headers=tenant.headers,
    )

    assert one.status_code == 201, one.text
    assert one.json()["tags"] == ["policy"]
    assert both.status_code == 201, both.text
    assert sorted(both.json()["tags"]) == ["faq", "shipping"]


async def test_an_unknown_upload_field_is_refused_by_name(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(DOCS, files=FILE, data={"labels": "policy"}, headers=tenant.headers)

    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["loc"] == ["body", "labels"]
    assert "tags" in r.json()["errors"][0]["msg"]


async def test_a_patch_upload_takes_tag_too(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    created = await client.post(DOCS, files=FILE, headers=tenant.headers)
    assert created.status_code == 201, created.text

    r = await client.patch(
        f"{DOCS}/{created.json()['id']}", data={"tag": "faq"}, files=FILE, headers=tenant.headers
    )

    assert r.status_code == 200, r.text
    assert r.json()["tags"] == ["faq"]
