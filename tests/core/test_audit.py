"""The audit hook records every ORM write of a session with a context, in its transaction."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bizos.core.audit import REDACTED, AuditEntry, is_secret_field
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.identity.models import User
from tests.conftest import TenantLogin


def _ctx(tenant: TenantLogin) -> Context:
    return Context(
        tenant_id=tenant.tenant_id,
        actor_id=tenant.user_id,
        actor_type="user",
        request_id="req-1",
        ip="198.51.100.7",
        user_agent="pytest",
    )


async def _entries(db: Database, tenant: TenantLogin, **where: str) -> list[AuditEntry]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        query = sa.select(AuditEntry).order_by(AuditEntry.id)
        for name, value in where.items():
            query = query.where(getattr(AuditEntry, name) == value)
        return list((await session.scalars(query)).all())


async def test_create_update_and_delete_are_each_recorded(
    db: Database, tenant: TenantLogin
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        session.info["ctx"] = _ctx(tenant)
        user = User(email="max@example.com", name="Max", role="member", password_hash="h1")
        session.add(user)
        await session.flush()
        user_id = user.id
        user.name = "Maxine"
        user.password_hash = "h2"
        await session.flush()
        await session.delete(user)

    created, updated, deleted = await _entries(db, tenant, resource_id=user_id)
    assert (created.action, updated.action, deleted.action) == ("create", "update", "delete")
    assert {e.resource_type for e in (created, updated, deleted)} == {"users"}
    assert created.changed_fields["email"] == [None, "max@example.com"]
    assert created.changed_fields["password_hash"] == [None, REDACTED]
    assert "tenant_id" not in created.changed_fields
    assert updated.changed_fields == {
        "name": ["Max", "Maxine"],
        "password_hash": [REDACTED, REDACTED],
    }
    assert deleted.changed_fields["name"] == ["Maxine", None]
    assert {(e.actor_id, e.actor_type) for e in (created, updated, deleted)} == {
        (tenant.user_id, "user")
    }
    assert created.ip == "198.51.100.7"
    assert created.user_agent == "pytest"
    assert created.request_id == "req-1"
    assert created.tenant_id == tenant.tenant_id


async def test_a_rolled_back_write_leaves_no_audit_entry(db: Database, tenant: TenantLogin) -> None:
    with pytest.raises(RuntimeError):
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            session.info["ctx"] = _ctx(tenant)
            session.add(
                User(email="ghost@example.com", name="Ghost", role="member", password_hash="h")
            )
            await session.flush()
            raise RuntimeError("changed my mind")
    assert await _entries(db, tenant, action="create", actor_id=tenant.user_id) == []


async def test_sessions_without_a_context_are_not_audited(
    db: Database, tenant: TenantLogin
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        session.add(User(email="quiet@example.com", name="Quiet", role="member", password_hash="h"))
    assert await _entries(db, tenant, actor_id=tenant.user_id) == []


async def test_assigning_the_same_value_is_not_an_update(db: Database, tenant: TenantLogin) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        session.info["ctx"] = _ctx(tenant)
        user = await session.scalar(sa.select(User).where(User.id == tenant.user_id))
        assert user is not None
        user.name = user.name
    assert await _entries(db, tenant, action="update") == []


async def test_the_audit_log_does_not_audit_itself(db: Database, tenant: TenantLogin) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        session.info["ctx"] = _ctx(tenant)
        session.add(
            AuditEntry(
                actor_type="system", action="create", resource_type="manual", changed_fields={}
            )
        )
    entries = await _entries(db, tenant, actor_id=tenant.user_id)
    assert entries == []
    assert [e.resource_type for e in await _entries(db, tenant, resource_type="audit_log")] == []


@pytest.mark.parametrize(
    ("field", "secret"),
    [
        ("password_hash", True),
        ("key_hash", True),
        ("token_hash", True),
        ("secrets", True),
        ("webhook_secret", True),
        ("secrets_ciphertext", True),
        ("refresh_token", True),
        ("api_key", True),
        ("name", False),
        ("email", False),
        ("prompt_tokens", False),
        ("hash_algorithm", False),
    ],
)
def test_secret_sounding_fields_are_redacted(field: str, secret: bool) -> None:
    assert is_secret_field(field) is secret
