"""Secrets as other modules see them: ``get_secret``, binding to the row, key rotation."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa

from bizos.connectors import service
from bizos.connectors.models import ConnectorConfig
from bizos.core.context import Context, system_context
from bizos.core.crypto import SecretDecryptionError, key_id_of
from bizos.core.db import Database
from bizos.core.events import Event
from tests.conftest import TenantLogin

SECRET = "Pangolin-Secret-4410"


def ctx_of(tenant: TenantLogin) -> Context:
    return Context(tenant_id=tenant.tenant_id, actor_id=tenant.user_id, actor_type="user")


async def _configure(
    client: httpx.AsyncClient, tenant: TenantLogin, provider: str, body: dict[str, object]
) -> None:
    r = await client.put(f"/api/v1/connectors/{provider}", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text


async def _stored_blobs(db: Database) -> dict[tuple[str, str, str], str]:
    async with db.unit_of_work(system=True, readonly=True) as session:
        rows = await session.scalars(sa.select(ConnectorConfig))
        return {(r.tenant_id, r.provider, n): b for r in rows for n, b in r.secrets.items()}


async def test_get_secret_gives_the_value_to_its_own_tenant_only(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await _configure(client, tenant, "stripe", {"secrets": {"webhook_secret": SECRET}})

    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        assert (
            await service.get_secret(session, ctx_of(tenant), "stripe", "webhook_secret") == SECRET
        )
        assert await service.get_secret(session, ctx_of(tenant), "stripe", "api_key") is None
        assert (
            await service.get_secret(session, ctx_of(tenant), "shopify", "webhook_secret") is None
        )
    async with db.unit_of_work(tenant_id=other_tenant.tenant_id, readonly=True) as session:
        assert (
            await service.get_secret(session, ctx_of(other_tenant), "stripe", "webhook_secret")
            is None
        )


async def test_webhooks_read_secrets_from_a_system_session_by_tenant(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await _configure(client, tenant, "shopify", {"secrets": {"webhook_secret": SECRET}})
    async with db.unit_of_work(system=True, readonly=True) as session:
        mine = await service.get_secret(
            session, system_context(tenant.tenant_id), "shopify", "webhook_secret"
        )
        theirs = await service.get_secret(
            session, system_context(other_tenant.tenant_id), "shopify", "webhook_secret"
        )
    assert (mine, theirs) == (SECRET, None)


async def test_connector_settings_decrypt_for_the_caller_and_hide_in_repr(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await _configure(
        client,
        tenant,
        "smtp",
        {
            "config": {"host": "mx", "port": 25, "from_address": "a@b.example", "username": "u"},
            "secrets": {"password": SECRET},
        },
    )
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        smtp = await service.connector_settings(session, ctx_of(tenant), "smtp")
    assert smtp is not None
    assert smtp.secrets == {"password": SECRET}
    assert smtp.config["host"] == "mx"
    assert SECRET not in repr(smtp)


async def test_a_secret_copied_to_another_tenants_row_does_not_decrypt(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await _configure(client, tenant, "openai", {"secrets": {"api_key": SECRET}})
    await _configure(client, other_tenant, "openai", {"secrets": {"api_key": "theirs"}})
    blobs = await _stored_blobs(db)
    stolen = blobs[(tenant.tenant_id, "openai", "api_key")]
    async with db.unit_of_work(system=True) as session:
        await session.execute(
            sa.update(ConnectorConfig)
            .where(ConnectorConfig.tenant_id == other_tenant.tenant_id)
            .values(secrets={"api_key": stolen, "webhook_secret": stolen})
        )
    async with db.unit_of_work(tenant_id=other_tenant.tenant_id, readonly=True) as session:
        with pytest.raises(SecretDecryptionError):
            await service.get_secret(session, ctx_of(other_tenant), "openai", "api_key")
        with pytest.raises(SecretDecryptionError):
            await service.get_secret(session, ctx_of(other_tenant), "openai", "webhook_secret")


async def test_key_rotation_rewraps_every_tenants_secrets_and_keeps_them_readable(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    use_keys: Callable[..., None],
) -> None:
    await _configure(
        client,
        tenant,
        "smtp",
        {
            "config": {"host": "mx", "port": 25, "from_address": "a@b.example"},
            "secrets": {"password": SECRET},
        },
    )
    await _configure(
        client,
        other_tenant,
        "twilio",
        {
            "config": {"account_sid": "AC1", "from_number": "+15550001111"},
            "secrets": {"auth_token": "tok-" + SECRET},
        },
    )
    before = await _stored_blobs(db)
    assert {key_id_of(b) for b in before.values()} == {"kek1"}

    use_keys("kek2", "kek1")
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        assert await service.get_secret(session, ctx_of(tenant), "smtp", "password") == SECRET

    async with db.unit_of_work(system=True) as session:
        moved = await service.rotate_connector_secrets(session, system_context())
    assert moved == 2
    after = await _stored_blobs(db)
    assert {key_id_of(b) for b in after.values()} == {"kek2"}
    for key, blob in after.items():
        assert blob.split(".")[3] == before[key].split(".")[3], "ciphertext left untouched"

    use_keys("kek2")  # the old key is retired
    async with db.unit_of_work(tenant_id=other_tenant.tenant_id, readonly=True) as session:
        assert (
            await service.get_secret(session, ctx_of(other_tenant), "twilio", "auth_token")
            == "tok-" + SECRET
        )
    versions = await client.get("/api/v1/connectors/smtp", headers=tenant.headers)
    assert versions.json()["version"] == 1, "rotation is not a configuration change"

    async with db.unit_of_work(system=True, readonly=True) as session:
        rewrapped = (
            await session.scalars(
                sa.select(Event).where(Event.type == "connectors.secrets.rewrapped")
            )
        ).all()
    assert {e.tenant_id for e in rewrapped} == {tenant.tenant_id, other_tenant.tenant_id}
    assert all(e.data["key_id"] == "kek2" for e in rewrapped)


async def test_tenant_rotation_moves_only_that_tenants_secrets(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    use_keys: Callable[..., None],
) -> None:
    for t in (tenant, other_tenant):
        await _configure(client, t, "openai", {"secrets": {"api_key": SECRET}})
    use_keys("kek2", "kek1")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        assert await service.rotate_connector_secrets(session, ctx_of(tenant)) == 1
    blobs = await _stored_blobs(db)
    assert key_id_of(blobs[(tenant.tenant_id, "openai", "api_key")]) == "kek2"
    assert key_id_of(blobs[(other_tenant.tenant_id, "openai", "api_key")]) == "kek1"


async def test_a_secret_under_a_retired_key_can_be_replaced(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, use_keys: Callable[..., None]
) -> None:
    await _configure(client, tenant, "openai", {"secrets": {"api_key": SECRET}})
    use_keys("kek2")  # kek1 dropped without rotating: the stored blob is unreadable
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        with pytest.raises(SecretDecryptionError):
            await service.get_secret(session, ctx_of(tenant), "openai", "api_key")
    await _configure(client, tenant, "openai", {"secrets": {"api_key": "fresh"}})
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        assert await service.get_secret(session, ctx_of(tenant), "openai", "api_key") == "fresh"
