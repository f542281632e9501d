"""AI settings over the API: defaults, admin-only changes, If-Match, validation."""

from __future__ import annotations

import asyncio
import importlib.util

import httpx

from tests.api.conftest import add_member, assert_problem
from tests.conftest import TenantLogin

URL = "/api/v1/ai/settings"


async def _configure_openai(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    r = await client.put(
        "/api/v1/connectors/openai",
        headers=tenant.headers,
        json={
            "config": {"base_url": "http://127.0.0.1:9/v1", "model": "gpt-4o-mini"},
            "secrets": {"api_key": "sk-settings-test"},
        },
    )
    assert r.status_code == 200, r.text


async def test_a_new_workspace_reads_the_defaults(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.get(URL, headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "providers": ["local"],
        "automatic_chain": True,
        "embeddings": "local",
        "monthly_token_budget": None,
        "monthly_cost_budget": None,
        "currency": "USD",
        "prices": {},
        "version": 0,
    }
    assert r.headers["ETag"] == 'W/"0"'


async def test_the_automatic_chain_shows_configured_connectors(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _configure_openai(client, tenant)
    r = await client.get(URL, headers=tenant.headers)
    assert r.json()["providers"] == ["openai", "local"]
    assert r.json()["automatic_chain"] is True


async def test_an_admin_sets_budget_prices_and_chain(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _configure_openai(client, tenant)
    r = await client.put(
        URL,
        headers={**tenant.headers, "If-Match": "0"},
        json={
            "providers": ["openai", "local"],
            "monthly_token_budget": 50000,
            "monthly_cost_budget": "12.50",
            "prices": {"openai/my-model": {"prompt_per_million": "1.5"}},
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["providers"] == ["openai", "local"]
    assert body["automatic_chain"] is False
    assert body["monthly_token_budget"] == 50000
    assert body["monthly_cost_budget"] == "12.50"
    assert body["prices"] == {
        "openai/my-model": {"prompt_per_million": "1.5", "completion_per_million": "0"}
    }
    assert body["version"] == 1
    assert r.headers["ETag"] == 'W/"1"'
    again = await client.get(URL, headers=tenant.headers)
    assert again.json() == body


async def test_local_only_chain_is_kept_even_with_a_connector(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _configure_openai(client, tenant)
    r = await client.put(URL, headers=tenant.headers, json={"providers": ["local"]})
    assert r.status_code == 200, r.text
    assert r.json()["providers"] == ["local"]
    assert r.json()["automatic_chain"] is False
    back = await client.put(URL, headers=tenant.headers, json={"providers": []})
    assert back.json()["providers"] == ["openai", "local"]
    assert back.json()["automatic_chain"] is True


async def test_a_stale_if_match_is_a_conflict(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    first = await client.put(URL, headers=tenant.headers, json={"monthly_token_budget": 10})
    assert first.json()["version"] == 1
    r = await client.put(
        URL, headers={**tenant.headers, "If-Match": '"0"'}, json={"monthly_token_budget": 20}
    )
    assert_problem(r, 409)
    assert (await client.get(URL, headers=tenant.headers)).json()["monthly_token_budget"] == 10


async def test_an_unchanged_put_keeps_the_version(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await client.put(URL, headers=tenant.headers, json={"monthly_token_budget": 10})
    r = await client.put(URL, headers=tenant.headers, json={"monthly_token_budget": 10})
    assert r.json()["version"] == 1


async def test_clearing_a_budget_removes_the_limit(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await client.put(URL, headers=tenant.headers, json={"monthly_token_budget": 10})
    r = await client.put(URL, headers=tenant.headers, json={"monthly_token_budget": None})
    assert r.json()["monthly_token_budget"] is None
    assert r.json()["version"] == 2


async def test_a_member_may_read_but_not_change_settings(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    assert (await client.get(URL, headers=member.headers)).status_code == 200
    r = await client.put(URL, headers=member.headers, json={"monthly_token_budget": 1})
    assert_problem(r, 403)
    assert (await client.get(URL, headers=tenant.headers)).json()["version"] == 0


async def test_a_viewer_without_ai_use_cannot_read_settings(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    viewer = await add_member(client, tenant, "viewer")
    assert_problem(await client.get(URL, headers=viewer.headers), 403)


async def test_a_provider_without_its_connector_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.put(URL, headers=tenant.headers, json={"providers": ["anthropic", "local"]})
    body = assert_problem(r, 422)
    assert "anthropic" in body["detail"]
    assert body["errors"] == [{"loc": ["body", "providers", 0], "msg": "connector not configured"}]


async def test_malformed_settings_are_refused_with_field_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    cases: list[tuple[dict[str, object], list[object]]] = [
        ({"providers": ["gemini"]}, ["body", "providers", 0]),
        ({"monthly_token_budget": -1}, ["body", "monthly_token_budget"]),
        ({"monthly_cost_budget": "1.234"}, ["body", "monthly_cost_budget"]),
        ({"currency": "XYZ"}, ["body", "currency"]),
        ({"prices": {"gpt-4o": {"prompt_per_million": "1"}}}, ["body", "prices"]),
        ({"prices": {"openai/x": {"prompt_per_million": "-1"}}}, ["body", "prices"]),
        ({"embeddings": "magic"}, ["body", "embeddings"]),
        ({"surprise": True}, ["body", "surprise"]),
        ({"providers": None}, ["body", "providers"]),
    ]
    for payload, loc in cases:
        r = await client.put(URL, headers=tenant.headers, json=payload)
        body = assert_problem(r, 422)
        locs = [e["loc"][: len(loc)] for e in body["errors"]]
        assert loc in locs, (payload, body)
    assert (await client.get(URL, headers=tenant.headers)).json()["version"] == 0


async def test_local_must_close_the_chain_and_names_are_unique(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _configure_openai(client, tenant)
    for providers in (["local", "openai"], ["openai", "openai"]):
        r = await client.put(URL, headers=tenant.headers, json={"providers": providers})
        assert_problem(r, 422)


async def test_settings_are_per_tenant(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await client.put(URL, headers=tenant.headers, json={"monthly_token_budget": 77})
    r = await client.get(URL, headers=other_tenant.headers)
    assert r.json()["monthly_token_budget"] is None
    assert r.json()["version"] == 0


async def test_a_settings_change_is_an_event(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await client.put(URL, headers=tenant.headers, json={"currency": "eur"})
    r = await client.get("/api/v1/events?type=ai.settings.updated", headers=tenant.headers)
    [event] = r.json()["items"]
    assert event["data"] == {"changed": ["currency"]}
    assert (await client.get(URL, headers=tenant.headers)).json()["currency"] == "EUR"


async def test_concurrent_first_changes_lose_nothing(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    """Two admins save at once on a workspace with no settings row yet: each either
    lands (one after the other) or is told to retry (409) — never a 500, never lost."""
    results = await asyncio.gather(
        client.put(URL, headers=tenant.headers, json={"monthly_token_budget": 100}),
        client.put(URL, headers=tenant.headers, json={"currency": "EUR"}),
    )
    assert sorted(r.status_code for r in results) in ([200, 200], [200, 409])
    final = (await client.get(URL, headers=tenant.headers)).json()
    landed = [r for r in results if r.status_code == 200]
    assert final["version"] == len(landed)
    if len(landed) == 2:
        assert (final["monthly_token_budget"], final["currency"]) == (100, "EUR")


async def test_sentence_transformers_needs_its_extra(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.put(URL, headers=tenant.headers, json={"embeddings": "sentence-transformers"})
    if importlib.util.find_spec("sentence_transformers") is None:
        body = assert_problem(r, 422)
        assert "bizos[embeddings]" in body["detail"]
    else:
        assert r.status_code == 200, r.text


async def test_the_prompt_templates_are_listed_with_versions(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.get("/api/v1/ai/prompts", headers=tenant.headers)
    assert r.status_code == 200, r.text
    names = {p["name"]: p for p in r.json()["items"]}
    assert names["support.draft"]["version"] == "1"
    assert names["support.draft"]["description"]
    assert {"kb.summarize.map", "kb.summarize.reduce", "kb.contract.extract",
            "support.classify"} <= set(names)  # fmt: skip
    viewer = await add_member(client, tenant, "viewer")
    assert_problem(await client.get("/api/v1/ai/prompts", headers=viewer.headers), 403)
