"""Rotating the key-encryption key re-wraps endpoint signing secrets; receivers notice nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.crypto import key_id_of
from bizos.core.db import Database
from bizos.modules.webhooks.models import WebhookEndpoint
from bizos.modules.webhooks.service import open_secret, rotate_endpoint_secrets
from tests.conftest import TenantLogin
from tests.modules.webhooks.test_endpoints import create_endpoint


async def test_rotation_rewraps_signing_secrets_without_changing_them(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, use_keys: Callable[..., Any]
) -> None:
    created = await create_endpoint(client, tenant, url="https://hooks.example.com/in")
    use_keys("kek2", "kek1")
    async with db.unit_of_work(system=True) as session:
        assert await rotate_endpoint_secrets(session) == 1
    async with db.unit_of_work(system=True) as session:
        assert await rotate_endpoint_secrets(session) == 0
        endpoint = (await session.scalars(sa.select(WebhookEndpoint))).one()
    assert key_id_of(endpoint.secret_sealed) == "kek2"
    use_keys("kek2")  # the old key retired: the secret still opens, and is the same
    opened = open_secret(
        endpoint.secret_sealed, tenant_id=tenant.tenant_id, endpoint_id=endpoint.id
    )
    assert opened == created["secret"]
