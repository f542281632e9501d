"""Migration 0002_login: users made before it count as verified, so their logins without
a workspace and their workspace's real email keep working; the lockout tables change."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from bizos.migrate import alembic_config, sync_url
from tests.conftest import IS_PG, PG_URL, _pg_admin_url

CREATED = "2026-01-01 00:00:00"


@pytest.fixture
def database_at_0001(tmp_path: Path) -> Iterator[str]:
    if IS_PG:
        name = f"bizos_m_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(_pg_admin_url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'legacy.db'}"
    command.upgrade(alembic_config(url), "0001")
    yield url
    if IS_PG:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_users_made_before_count_as_verified(database_at_0001: str) -> None:
    engine = sa.create_engine(sync_url(database_at_0001))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tenants (id, slug, name, created_at) "
                "VALUES ('t1', 'northwind', 'Northwind', :at)"
            ),
            {"at": CREATED},
        )
        conn.execute(
            sa.text(
                "INSERT INTO users (id, tenant_id, version, created_at, updated_at, email, "
                "name, role, password_hash, is_active) VALUES ('u1', 't1', 1, :at, :at, "
                "'owner@northwind.example', 'Olivia', 'owner', 'x', :yes)"
            ),
            {"at": CREATED, "yes": True},
        )
    engine.dispose()

    command.upgrade(alembic_config(database_at_0001), "0002_login")

    engine = sa.create_engine(sync_url(database_at_0001))
    with engine.connect() as conn:
        verified = conn.execute(sa.text("SELECT email_verified_at FROM users")).scalar_one()
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert str(verified).startswith("2026-01-01 00:00:00")
    assert {"login_attempts", "login_known_sources"} <= tables
    assert "login_failures" not in tables


def test_the_migration_can_be_undone(database_at_0001: str) -> None:
    command.upgrade(alembic_config(database_at_0001), "0002_login")
    command.downgrade(alembic_config(database_at_0001), "0001")
    engine = sa.create_engine(sync_url(database_at_0001))
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        tables = set(inspector.get_table_names())
        user_columns = {c["name"] for c in inspector.get_columns("users")}
    engine.dispose()
    assert "login_failures" in tables
    assert not {"login_attempts", "login_known_sources"} & tables
    assert "email_verified_at" not in user_columns
