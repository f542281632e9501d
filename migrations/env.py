"""Alembic environment: runs on SQLite and PostgreSQL with a sync driver."""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from alembic import context

from bizos.core.db import UtcDateTime
from bizos.migrate import sync_url
from bizos.models import metadata

config = context.config


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


# Search structures made by hand in the migration (crm/search.py, knowledge/search.py),
# not by the models: autogenerate must not offer to drop them.
_HAND_MADE_TABLES = ("crm_contacts_fts", "kb_chunks_fts")
_HAND_MADE_COLUMNS = frozenset({("kb_chunks", "search_vector")})


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if not reflected or compare_to is not None:
        return True
    if type_ == "table" and name and name.startswith(_HAND_MADE_TABLES):
        return False
    if type_ == "column" and (getattr(obj.table, "name", None), name) in _HAND_MADE_COLUMNS:
        return False
    return not (type_ == "index" and name and "fts" in name)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = sync_url(
        os.environ.get("BIZOS_ALEMBIC_URL") or config.get_main_option("sqlalchemy.url") or ""
    )
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_item=render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
