"""Database-level pieces the ORM does not express: the application role and RLS.

Used by the Alembic migrations (and kept in one place so tests and migrations agree).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

RLS_SETTING = "app.tenant_id"


def app_role_sql(role: str) -> list[str]:
    """Create the non-superuser role the application switches to per tenant transaction."""
    return [
        f"""
        DO $$
        BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
            CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS;
          END IF;
        END $$
        """,
        f'GRANT USAGE ON SCHEMA public TO "{role}"',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"',
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE "
        f'ON TABLES TO "{role}"',
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO "{role}"',
        # SET ROLE needs membership; the migrating user owns the tables.
        f'GRANT "{role}" TO CURRENT_USER',
    ]


def rls_sql(table: str) -> list[str]:
    """Row-level security for one tenant table: rows of the transaction's tenant only."""
    policy = f"{table}_tenant_isolation"
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'DROP POLICY IF EXISTS "{policy}" ON "{table}"',
        f"""CREATE POLICY "{policy}" ON "{table}"
            USING (tenant_id = current_setting('{RLS_SETTING}', true))
            WITH CHECK (tenant_id = current_setting('{RLS_SETTING}', true))""",
    ]


def apply_postgres_security(conn: sa.Connection, role: str, tables: Iterable[str]) -> None:
    for stmt in app_role_sql(role):
        conn.exec_driver_sql(stmt)
    for table in tables:
        for stmt in rls_sql(table):
            conn.exec_driver_sql(stmt)
