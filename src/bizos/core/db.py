"""Database engine, declarative base and the unit of work.

Tenancy is enforced here, below the service code (DESIGN rule 1):

* every ORM select/update/delete issued by a tenant session gets the criterion
  ``tenant_id = :current`` added by a ``do_orm_execute`` hook;
* new rows get the session's tenant and a row for another tenant cannot be flushed;
* on PostgreSQL each tenant transaction runs ``SET LOCAL ROLE <app role>`` and
  ``set_config('app.tenant_id', ..., true)`` so row-level security policies hold even
  for raw SQL.

A session is either a *tenant* session (``info["tenant_id"]``) or an explicit *system*
session (``info["system"]``); a session that is neither refuses tenant tables.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    SessionTransaction,
    mapped_column,
    with_loader_criteria,
)
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

from bizos.core.ids import new_id

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(sa.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops the offset) and PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UtcDateTime(), dict[str, Any]: sa.JSON()}


def dialect_insert(session: AsyncSession, model: type[Any]) -> Any:
    """An insert of the session's dialect (SQLite or PostgreSQL), which offers
    ``on_conflict_do_nothing``: for rows a concurrent writer may already have made."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def unique_where(name: str, *columns: str, where: str) -> sa.Index:
    """A unique index over ``columns`` that holds only for the rows matching ``where``
    (a partial index, on SQLite and PostgreSQL alike): one live row per key, say."""
    condition = sa.text(where)
    return sa.Index(name, *columns, unique=True, sqlite_where=condition, postgresql_where=condition)


class TenantScoped:
    """Mixin for every table that belongs to a tenant."""

    tenant_id: Mapped[str] = mapped_column(sa.String(36), index=True)


class Entity(TenantScoped):
    """A tenant-owned row with an id, timestamps and an optimistic-lock ``version``."""

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# Tables protected by RLS on PostgreSQL; filled as models are declared.
def tenant_tables() -> list[sa.Table]:
    out = []
    for mapper in Base.registry.mappers:
        if issubclass(mapper.class_, TenantScoped):
            table = mapper.local_table
            assert isinstance(table, sa.Table)
            out.append(table)
    return sorted(out, key=lambda t: t.name)


class TenancyViolation(RuntimeError):
    """A query or write tried to cross the tenant boundary."""


@event.listens_for(Session, "do_orm_execute")
def _scope_to_tenant(state: ORMExecuteState) -> None:
    info = state.session.info
    tenant_id = info.get("tenant_id")
    if tenant_id is None:
        if not info.get("system"):
            raise TenancyViolation("a session with neither tenant nor system scope ran a query")
        return
    if not state.is_orm_statement:
        return  # Core statements on tables: PostgreSQL RLS still applies
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(
                TenantScoped,
                lambda cls: cls.tenant_id == tenant_id,
                include_aliases=True,
            )
        )


@event.listens_for(Session, "before_flush")
def _stamp_tenant(session: Session, _ctx: Any, _instances: Any) -> None:
    tenant_id = session.info.get("tenant_id")
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, TenantScoped):
            continue
        if tenant_id is None:
            if not session.info.get("system") or obj.tenant_id is None:
                raise TenancyViolation(f"{type(obj).__name__} written without a tenant")
        elif obj.tenant_id is None:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise TenancyViolation(f"{type(obj).__name__} belongs to another tenant")


@event.listens_for(Session, "after_begin")
def _set_tenant_on_transaction(
    session: Session, _tx: SessionTransaction, connection: Connection
) -> None:
    if connection.dialect.name != "postgresql":
        return
    tenant_id = session.info.get("tenant_id")
    if tenant_id is None:
        return
    role = session.info.get("app_role")
    # One round trip: set_config('role', ..., true) is SET LOCAL ROLE.
    connection.execute(
        sa.text(
            "SELECT set_config('role', :role, true), set_config('app.tenant_id', :tenant_id, true)"
            if role
            else "SELECT set_config('app.tenant_id', :tenant_id, true)"
        ),
        {"tenant_id": tenant_id, "role": role} if role else {"tenant_id": tenant_id},
    )


def _sqlite_pragmas(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        # Take over transaction control so BEGIN can be IMMEDIATE for writers: a deferred
        # transaction that reads then writes can fail to upgrade its lock under WAL.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.execute("PRAGMA cache_size=-32000")
        cur.close()

    if immediate:
        gates = _WriterGates()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            gates.enter(conn.info)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                gates.leave(conn.info)
                raise

        # The transaction is over once its connection is back in the pool (or gone).
        @event.listens_for(engine.sync_engine.pool, "checkin")
        def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
            if record is not None:
                gates.leave(record.info)

        @event.listens_for(engine.sync_engine.pool, "invalidate")
        def _on_invalidate(_dbapi_conn: Any, record: Any, _exc: Any) -> None:
            gates.leave(record.info)


WRITER_GATE_TIMEOUT_SECONDS = 30.0  # as PRAGMA busy_timeout


class _WriterGates:
    """Hands SQLite's one write lock from writer to writer of this process in order.

    Left to SQLite, writers that find the lock taken sleep in its busy handler with a
    growing back-off (up to 100 ms a try), so under load the lock sits idle while they
    sleep and a write can wait seconds. Queuing writers on an asyncio lock per event loop
    *before* ``BEGIN IMMEDIATE`` hands the lock over the moment it is free. Writers in
    other processes (or loops) still meet at SQLite's own lock. The gate is taken when a
    transaction really begins (SQLAlchemy begins lazily, at the first statement), so a
    unit of work that has not touched the database holds nothing.
    """

    _KEY = "bizos.writer_gate"

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def enter(self, info: dict[Any, Any]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a sync caller (migrations, scripts): SQLite's lock only
            return
        if not in_greenlet():  # the sync engine driven outside the async adaptor
            return
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        try:
            await_only(asyncio.wait_for(lock.acquire(), WRITER_GATE_TIMEOUT_SECONDS))
        except TimeoutError as exc:
            raise sa.exc.OperationalError(
                "BEGIN IMMEDIATE", None, Exception("database is locked (writer gate)")
            ) from exc
        info[self._KEY] = lock

    def leave(self, info: dict[Any, Any]) -> None:
        lock = info.pop(self._KEY, None)
        if lock is not None and lock.locked():
            lock.release()


class Database:
    """Owns the engines and hands out units of work.

    On SQLite there are two engines on one file: writers begin ``IMMEDIATE`` (one at a
    time, no lock-upgrade failures), readers begin deferred and never block writers.
    """

    def __init__(self, url: str, *, app_role: str | None = "bizos_app", echo: bool = False):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.app_role = None if self.is_sqlite else app_role
        if self.is_sqlite:
            # Pools large enough that concurrent requests never churn connections: each new
            # aiosqlite connection costs a thread and the pragmas below.
            self.engine = create_async_engine(url, echo=echo, pool_size=8, max_overflow=8)
            # Readers run each statement in autocommit mode (no BEGIN/COMMIT round trips,
            # nothing to reset on return): a read request sees committed data statement by
            # statement, which is all a GET needs, at a third of the thread hops.
            self.read_engine = create_async_engine(
                url, echo=echo, pool_size=32, max_overflow=32, pool_reset_on_return=None
            )
            _sqlite_pragmas(self.engine, immediate=True)
            _sqlite_pragmas(self.read_engine, immediate=False)
        else:
            self.engine = create_async_engine(
                url, echo=echo, pool_size=20, max_overflow=10, pool_pre_ping=True
            )
            self.read_engine = self.engine
        self._writer = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    def new_session(
        self, *, tenant_id: str | None = None, system: bool = False, readonly: bool = False
    ) -> AsyncSession:
        """A session not yet begun; callers own its transaction (see ``unit_of_work``)."""
        if tenant_id is None and not system:
            raise TenancyViolation("a session needs a tenant or an explicit system scope")
        session = (self._reader if readonly else self._writer)()
        session.info["tenant_id"] = tenant_id
        session.info["system"] = system
        session.info["app_role"] = self.app_role
        return session

    @asynccontextmanager
    async def unit_of_work(
        self, *, tenant_id: str | None = None, system: bool = False, readonly: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """One transaction: commits if the block succeeds, rolls back if it raises."""
        session = self.new_session(tenant_id=tenant_id, system=system, readonly=readonly)
        try:
            async with session.begin():
                yield session
        finally:
            await session.close()

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


_db: Database | None = None


def get_database() -> Database:
    if _db is None:
        raise RuntimeError("database not initialised; call init_database() first")
    return _db


def init_database(url: str, **kw: Any) -> Database:
    global _db
    _db = Database(url, **kw)
    return _db


def set_database(db: Database | None) -> None:
    global _db
    _db = db
