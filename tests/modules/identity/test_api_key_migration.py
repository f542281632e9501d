"""Migration 0002_apikeys gives keys made before it an owner, so they answer to a user too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from bizos.migrate import alembic_config, sync_url
from tests.conftest import IS_PG, PG_URL, _pg_admin_url

NOW = "2026-01-01 00:00:00"


@pytest.fixture
def database_at_0001(tmp_path: Path) -> Iterator[str]:
    """An empty database migrated to 0001 only, the schema keys were made under."""
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


def _insert(conn: sa.Connection, table: str, **values: object) -> None:
    columns = ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    conn.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), values)


def _key(conn: sa.Connection, key_id: str, created_by: str | None) -> None:
    _insert(
        conn,
        "api_keys",
        id=key_id,
        tenant_id="t1",
        version=1,
        created_at=NOW,
        updated_at=NOW,
        name=key_id,
        key_hash=key_id.ljust(64, "0"),
        prefix="bos_" + key_id,
        scopes='["admin"]',
        created_by=created_by,
    )


def test_existing_keys_get_their_owner_from_who_made_them(database_at_0001: str) -> None:
    engine = sa.create_engine(sync_url(database_at_0001))
    with engine.begin() as conn:
        _insert(conn, "tenants", id="t1", slug="acme", name="Acme", created_at=NOW)
        _insert(
            conn,
            "users",
            id="u1",
            tenant_id="t1",
            version=1,
            created_at=NOW,
            updated_at=NOW,
            email="a@example.com",
            name="A",
            role="admin",
            password_hash="x",
            is_active=True,
        )
        _key(conn, "by-user", "u1")
        _key(conn, "by-key", "by-user")
        _key(conn, "by-key-of-key", "by-key")
        _key(conn, "by-gone-user", "u-gone")
        _key(conn, "by-system", None)
    engine.dispose()

    command.upgrade(alembic_config(database_at_0001), "0002_apikeys")

    engine = sa.create_engine(sync_url(database_at_0001))
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, owner_id FROM api_keys"))
        owners = {row.id: row.owner_id for row in rows}
    engine.dispose()
    assert owners == {
        "by-user": "u1",
        "by-key": "u1",
        "by-key-of-key": "u1",
        # Names no user: kept, so the key is refused rather than freed of an owner.
        "by-gone-user": "u-gone",
        "by-system": None,
    }
