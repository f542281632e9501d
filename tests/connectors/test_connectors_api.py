from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import structlog

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.models import metadata
from tests.conftest import IS_PG, TenantLogin
from tests.connectors.helpers import api_key_headers, user_headers

SMTP = {
    "host": "smtp.example.com",
    "port": 587,
    "username": "mailer@example.com",
    "from_address": "hello@example.com",
}
SECRET = "Zebra-Quokka-7731-ultra-distinctive"


async def _put(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    provider: str,
    body: dict[str, object],
    **headers: str,
) -> httpx.Response:
    return await client.put(
        f"/api/v1/connectors/{provider}", json=body, headers={**tenant.headers, **headers}
    )


async def test_configuring_a_connector_answers_with_secret_names_only(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await _put(client, tenant, "smtp", {"config": SMTP, "secrets": {"password": SECRET}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["provider"] == "smtp"
    assert body["config"]["host"] == "smtp.example.com"
    assert body["config"]["port"] == 587
    assert body["secrets_set"] == ["password"]
    assert body["version"] == 1
    assert SECRET not in r.text


async def test_reading_connectors_never_shows_secret_values(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _put(
        client,
        tenant,
        "openai",
        {
            "config": {"base_url": "http://127.0.0.1:11434/v1", "model": "llama3"},
            "secrets": {"api_key": SECRET},
        },
    )
    await _put(client, tenant, "stripe", {"secrets": {"webhook_secret": "whsec_" + SECRET}})

    one = await client.get("/api/v1/connectors/openai", headers=tenant.headers)
    assert one.status_code == 200
    assert one.json()["secrets_set"] == ["api_key"]
    assert one.json()["config"]["model"] == "llama3"
    listed = await client.get("/api/v1/connectors", headers=tenant.headers)
    assert [c["provider"] for c in listed.json()["items"]] == ["openai", "stripe"]
    assert listed.json()["next_cursor"] is None
    for response in (one, listed):
        assert SECRET not in response.text


async def test_omitted_secret_is_kept_and_null_secret_is_removed(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _put(
        client,
        tenant,
        "shopify",
        {
            "config": {"shop_domain": "acme.myshopify.com"},
            "secrets": {"webhook_secret": "one", "access_token": "two"},
        },
    )
    kept = await _put(client, tenant, "shopify", {"config": {"shop_domain": "new.myshopify.com"}})
    assert kept.json()["secrets_set"] == ["access_token", "webhook_secret"]
    assert kept.json()["config"] == {"shop_domain": "new.myshopify.com"}

    removed = await _put(client, tenant, "shopify", {"secrets": {"access_token": None}})
    assert removed.json()["secrets_set"] == ["webhook_secret"]
    assert removed.json()["config"] == {"shop_domain": "new.myshopify.com"}, "config kept"
    assert removed.json()["version"] == 3


async def test_repeating_the_same_put_makes_no_new_version(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    body = {"config": SMTP, "secrets": {"password": SECRET}}
    first = await _put(client, tenant, "smtp", body)
    again = await _put(client, tenant, "smtp", body)
    assert again.json()["version"] == first.json()["version"] == 1
    changed = await _put(client, tenant, "smtp", {"secrets": {"password": SECRET + "!"}})
    assert changed.json()["version"] == 2


async def test_unknown_provider_is_not_found(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await _put(client, tenant, "myspace", {"config": {}})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (
        await client.get("/api/v1/connectors/myspace", headers=tenant.headers)
    ).status_code == 404


async def test_smtp_without_host_and_port_is_refused_with_field_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await _put(client, tenant, "smtp", {"config": {"port": "not-a-port"}})
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["errors"]]
    assert ["body", "config", "host"] in locs
    assert ["body", "config", "port"] in locs


async def test_smtp_with_username_needs_a_password(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await _put(client, tenant, "smtp", {"config": SMTP})
    assert r.status_code == 422
    assert ["body", "secrets", "password"] in [e["loc"] for e in r.json()["errors"]]
    no_auth = {k: v for k, v in SMTP.items() if k != "username"}
    assert (await _put(client, tenant, "smtp", {"config": no_auth})).status_code == 200


async def test_twilio_needs_an_auth_token_and_a_sender(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await _put(client, tenant, "twilio", {"config": {"account_sid": "AC1"}})
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["errors"]]
    assert ["body", "secrets", "auth_token"] in locs


async def test_credentials_put_in_config_are_refused_not_stored(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await _put(client, tenant, "openai", {"config": {"api_key": SECRET, "model": "x"}})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"loc": ["body", "config", "api_key"], "msg": "credentials belong in secrets, not config"}
    ]
    assert SECRET not in r.text
    assert (
        await client.get("/api/v1/connectors/openai", headers=tenant.headers)
    ).status_code == 404


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"secrets": {"api_key": 42}}, ["body", "secrets", "api_key"]),
        ({"secrets": {"api_key": ""}}, ["body", "secrets", "api_key"]),
        ({"secrets": {"Bad Name": "x"}}, ["body", "secrets", "Bad Name"]),
        ({"config": [1, 2]}, ["body", "config"]),
        ({"settings": {}}, ["body", "settings"]),
    ],
)
async def test_malformed_body_is_422_with_field_path(
    client: httpx.AsyncClient, tenant: TenantLogin, body: dict[str, object], loc: list[str]
) -> None:
    r = await _put(client, tenant, "openai", body)
    assert r.status_code == 422
    assert any(e["loc"][: len(loc)] == loc for e in r.json()["errors"]), r.json()


async def test_members_and_limited_keys_cannot_touch_connectors(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _put(client, tenant, "smtp", {"config": SMTP, "secrets": {"password": SECRET}})
    member = await user_headers(client, tenant, "member")
    key = await api_key_headers(client, tenant, ["crm:read", "crm:write"])
    for headers in (member, key):
        put = await client.put("/api/v1/connectors/smtp", json={"config": SMTP}, headers=headers)
        assert put.status_code == 403
        assert (await client.get("/api/v1/connectors", headers=headers)).status_code == 403
        assert (await client.delete("/api/v1/connectors/smtp", headers=headers)).status_code == 403
    assert (await client.get("/api/v1/connectors")).status_code == 401


async def test_another_tenants_connector_is_invisible(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await _put(client, tenant, "smtp", {"config": SMTP, "secrets": {"password": SECRET}})
    assert (
        await client.get("/api/v1/connectors/smtp", headers=other_tenant.headers)
    ).status_code == 404
    assert (await client.get("/api/v1/connectors", headers=other_tenant.headers)).json()[
        "items"
    ] == []
    assert (
        await client.delete("/api/v1/connectors/smtp", headers=other_tenant.headers)
    ).status_code == 404
    # The other tenant configuring the same provider makes its own row.
    theirs = await _put(
        client,
        other_tenant,
        "smtp",
        {"config": {"host": "mx", "port": 25, "from_address": "a@b.example"}},
    )
    assert theirs.json()["secrets_set"] == []
    mine = await client.get("/api/v1/connectors/smtp", headers=tenant.headers)
    assert mine.json()["config"]["host"] == "smtp.example.com"


async def test_stale_if_match_is_a_conflict(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    first = await _put(client, tenant, "smtp", {"config": SMTP, "secrets": {"password": "a"}})
    assert first.headers["etag"] == 'W/"1"'
    await _put(client, tenant, "smtp", {"secrets": {"password": "b"}}, **{"If-Match": "1"})
    stale = await _put(
        client,
        tenant,
        "smtp",
        {"secrets": {"password": "c"}},
        **{"If-Match": first.headers["etag"]},
    )
    assert stale.status_code == 409
    current = await client.get("/api/v1/connectors/smtp", headers=tenant.headers)
    assert current.json()["version"] == 2


async def test_removing_a_connector(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    await _put(
        client,
        tenant,
        "enrichment",
        {"config": {"vendor": "clearbit"}, "secrets": {"api_key": SECRET}},
    )
    r = await client.delete("/api/v1/connectors/enrichment", headers=tenant.headers)
    assert r.status_code == 204
    assert (
        await client.get("/api/v1/connectors/enrichment", headers=tenant.headers)
    ).status_code == 404
    assert (
        await client.delete("/api/v1/connectors/enrichment", headers=tenant.headers)
    ).status_code == 404


def _encodings(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [
        raw,
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        base64.b64encode(raw).rstrip(b"="),
        raw.hex().encode(),
    ]


def _sqlite_file_bytes(path: str) -> bytes:
    """The database file and its WAL/journal siblings, byte for byte."""
    files = [Path(path + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
    return b"\n".join(f.read_bytes() for f in files if f.exists())


async def _raw_database_bytes(settings: Settings, db: Database) -> bytes:
    """Everything stored, as the database holds it: the SQLite files, or on PostgreSQL
    every row of every table as text through a connection that bypasses RLS."""
    if not IS_PG:
        await db.dispose()  # close connections; the WAL, if any is left, is read too
        return _sqlite_file_bytes(settings.resolved_database_url().split("///", 1)[1])
    chunks: list[bytes] = []
    async with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = await conn.execute(sa.text(f'SELECT t::text FROM "{table.name}" AS t'))
            chunks.extend(r[0].encode() for r in rows)
    return b"\n".join(chunks)


async def test_secrets_are_absent_from_the_raw_database(
    client: httpx.AsyncClient, tenant: TenantLogin, settings: Settings, db: Database
) -> None:
    secrets = {
        "smtp": ("password", "Smtp-" + SECRET),
        "openai": ("api_key", "sk-" + SECRET),
        "twilio": ("auth_token", "Twilio-" + SECRET),
    }
    configs = {
        "smtp": SMTP,
        "openai": {"model": "gpt"},
        "twilio": {"account_sid": "AC-marker-sid", "from_number": "+15550001111"},
    }
    for provider, (name, value) in secrets.items():
        r = await _put(
            client, tenant, provider, {"config": configs[provider], "secrets": {name: value}}
        )
        assert r.status_code == 200, r.text
    # Change one, so an older version of a row could linger in free pages or the WAL.
    await _put(client, tenant, "smtp", {"secrets": {"password": "Smtp2-" + SECRET}})

    raw = await _raw_database_bytes(settings, db)
    assert b"AC-marker-sid" in raw, "the scan reads the stored connector rows"
    assert b"v1.kek1." in raw, "secrets are stored as envelope blobs"
    for value in [v for _, v in secrets.values()] + ["Smtp2-" + SECRET, SECRET]:
        for encoded in _encodings(value):
            assert encoded not in raw


async def test_secret_values_never_reach_the_logs(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    with structlog.testing.capture_logs() as logs:
        await _put(client, tenant, "smtp", {"config": SMTP, "secrets": {"password": SECRET}})
        await _put(
            client,
            tenant,
            "smtp",
            {
                "secrets": {"password": None},
                "config": {"host": "x", "port": 25, "from_address": "a@b.example"},
            },
        )
    assert any(entry["event"] == "connector.configured" for entry in logs)
    assert SECRET not in repr(logs)
