"""The public lead form posted from the shop's own site: a script on an allowed origin
may post it and read the answer (CORS, for ``/forms/*`` only), and a plain HTML form
post lands on the tenant's thank-you page instead of showing raw JSON."""

from __future__ import annotations

import httpx

from tests.api.conftest import add_member
from tests.conftest import TenantLogin

SHOP = "https://shop.example"


async def _allow(client: httpx.AsyncClient, tenant: TenantLogin, **settings: object) -> None:
    r = await client.put("/api/v1/crm/web-form", json=settings, headers=tenant.headers)
    assert r.status_code == 200, r.text


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }


async def test_a_script_on_an_allowed_site_may_post_the_form(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _allow(client, tenant, allowed_origins=["https://Shop.example/"])

    preflight = await client.options(f"/forms/{tenant.slug}/leads", headers=_preflight(SHOP))
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["access-control-allow-origin"] == SHOP
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()

    posted = await client.post(
        f"/forms/{tenant.slug}/leads", json={"email": "ada@contoso.com"}, headers={"Origin": SHOP}
    )
    assert posted.status_code == 202
    assert posted.headers["access-control-allow-origin"] == SHOP
    assert posted.json() == {"accepted": True}


async def test_a_refused_form_post_tells_the_allowed_script_why(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _allow(client, tenant, allowed_origins=[SHOP])
    r = await client.post(
        f"/forms/{tenant.slug}/leads", json={"email": "not an email"}, headers={"Origin": SHOP}
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["access-control-allow-origin"] == SHOP


async def test_other_sites_scripts_are_not_allowed(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _allow(client, tenant, allowed_origins=[SHOP])

    preflight = await client.options(
        f"/forms/{tenant.slug}/leads", headers=_preflight("https://evil.example")
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    assert "allowed_origins" in preflight.json()["detail"]

    posted = await client.post(
        f"/forms/{tenant.slug}/leads",
        json={"email": "ada@contoso.com"},
        headers={"Origin": "https://evil.example"},
    )
    assert "access-control-allow-origin" not in posted.headers


async def test_one_tenants_origins_do_not_open_another_tenants_form(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await _allow(client, tenant, allowed_origins=[SHOP])
    r = await client.options(f"/forms/{other_tenant.slug}/leads", headers=_preflight(SHOP))
    assert r.status_code == 403


async def test_preflight_for_an_unknown_form_is_404(client: httpx.AsyncClient) -> None:
    r = await client.options("/forms/no-such-shop/leads", headers=_preflight(SHOP))
    assert r.status_code == 404


async def test_a_plain_html_form_post_goes_on_to_the_thank_you_page(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _allow(client, tenant, thank_you_url="https://shop.example/thanks")
    r = await client.post(
        f"/forms/{tenant.slug}/leads",
        data={"email": "bo@fabrikam.com", "name": "Bo"},
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "https://shop.example/thanks"


async def test_without_a_thank_you_page_a_browser_sees_a_page_not_json(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        f"/forms/{tenant.slug}/leads",
        data={"email": "bo@fabrikam.com"},
        headers={"Accept": "text/html,*/*;q=0.8"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "Thank you" in r.text


async def test_a_script_posting_form_data_still_gets_json(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _allow(client, tenant, thank_you_url="https://shop.example/thanks")
    r = await client.post(
        f"/forms/{tenant.slug}/leads", data={"email": "bo@fabrikam.com"}, headers={"Accept": "*/*"}
    )
    assert r.status_code == 202
    assert r.json() == {"accepted": True}


async def test_web_form_settings_refuse_what_is_not_an_origin_or_a_web_address(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for body in (
        {"allowed_origins": ["https://shop.example/contact"]},
        {"allowed_origins": ["shop.example"]},
        {"allowed_origins": ["*"]},
        {"thank_you_url": "javascript:alert(1)"},
        {"unknown": True},
    ):
        r = await client.put("/api/v1/crm/web-form", json=body, headers=tenant.headers)
        assert r.status_code == 422, body
    settings = await client.get("/api/v1/crm/web-form", headers=tenant.headers)
    assert settings.json() == {"allowed_origins": [], "thank_you_url": None}


async def test_only_an_admin_changes_the_web_form_settings(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    r = await client.put(
        "/api/v1/crm/web-form", json={"allowed_origins": [SHOP]}, headers=member.headers
    )
    assert r.status_code == 403
