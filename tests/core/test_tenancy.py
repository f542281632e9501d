"""Tenancy is enforced below the service code: ORM criteria everywhere, RLS on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bizos.core.db import Database, TenancyViolation
from bizos.modules.identity.models import User
from tests.conftest import IS_PG, TenantLogin


async def test_orm_query_without_filter_sees_only_current_tenant(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        users = (await session.scalars(sa.select(User))).all()
    assert {u.tenant_id for u in users} == {tenant.tenant_id}


async def test_orm_update_cannot_touch_another_tenants_rows(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await session.execute(sa.update(User).values(name="renamed"))
    async with db.unit_of_work(tenant_id=other_tenant.tenant_id, readonly=True) as session:
        names = (await session.scalars(sa.select(User.name))).all()
    assert "renamed" not in names


async def test_writing_a_row_for_another_tenant_is_refused(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    with pytest.raises(TenancyViolation):
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            session.add(
                User(
                    tenant_id=other_tenant.tenant_id,
                    email="x@example.com",
                    name="X",
                    role="member",
                    password_hash="x",
                )
            )
            await session.flush()


async def test_session_without_tenant_or_system_scope_is_refused(db: Database) -> None:
    with pytest.raises(TenancyViolation):
        db.new_session()


@pytest.mark.skipif(not IS_PG, reason="row-level security is a PostgreSQL feature")
async def test_raw_sql_through_the_app_connection_sees_only_current_tenant(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        tenants = (await session.execute(sa.text("SELECT DISTINCT tenant_id FROM users"))).all()
        events = (await session.execute(sa.text("SELECT DISTINCT tenant_id FROM events"))).all()
    assert [r[0] for r in tenants] == [tenant.tenant_id]
    assert [r[0] for r in events] == [tenant.tenant_id]


@pytest.mark.skipif(not IS_PG, reason="row-level security is a PostgreSQL feature")
async def test_raw_sql_insert_for_another_tenant_violates_rls(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    with pytest.raises(sa.exc.DBAPIError, match="row-level security"):
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            await session.execute(
                sa.text(
                    "INSERT INTO users (id, tenant_id, email, name, role, password_hash, "
                    "is_active, version, created_at, updated_at) VALUES ('x', :t, 'e@x.io', 'n', "
                    "'member', 'h', true, 1, now(), now())"
                ),
                {"t": other_tenant.tenant_id},
            )


@pytest.mark.skipif(not IS_PG, reason="roles are a PostgreSQL feature")
async def test_tenant_transactions_run_as_a_role_that_cannot_bypass_rls(
    db: Database, tenant: TenantLogin
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        row = (
            await session.execute(
                sa.text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            )
        ).one()
    assert tuple(row) == (False, False)
