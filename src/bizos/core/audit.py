"""The audit log: who changed what, from where, in the same transaction as the change.

An ``after_flush`` session hook records one ``audit_log`` row per tenant-owned ORM object
inserted, updated or deleted by a session that carries a request or job context
(``session.info["ctx"]``, set by the request's unit of work). Because it hooks the flush
and not the service code, a service cannot forget to audit, and the row commits or rolls
back with the change itself.

Covered: writes made through the ORM unit of work (``session.add``, attribute changes,
``session.delete``). Core statements (bulk ``insert()``/``update()``) bypass the flush and
are not recorded here; high-rate appends such as the event log are their own trail.

Tables opt out with ``__audit__ = False`` (the log itself, idempotency records,
dispatcher bookkeeping). Secret-ish fields are recorded as changed but never with values.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.attributes import History
from sqlalchemy.orm.state import InstanceState

from bizos.core.context import Context
from bizos.core.db import Base, TenantScoped, utcnow
from bizos.core.ids import new_id

REDACTED = "[redacted]"
# Bookkeeping columns whose changes say nothing an auditor needs.
_NOISE = frozenset({"tenant_id", "updated_at"})
_SECRET_MARKERS = ("password", "secret", "ciphertext", "private_key", "api_key", "credential")
_SECRET_SUFFIXES = ("_hash", "_token", "_salt", "_nonce")
_MAX_TEXT = 2000


class AuditEntry(TenantScoped, Base):
    __tablename__ = "audit_log"
    __audit__ = False
    __table_args__ = (
        sa.Index("ix_audit_log_tenant_resource", "tenant_id", "resource_type", "resource_id"),
        sa.Index("ix_audit_log_tenant_actor", "tenant_id", "actor_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    actor_id: Mapped[str | None] = mapped_column(sa.String(64))
    actor_type: Mapped[str] = mapped_column(sa.String(20))
    action: Mapped[str] = mapped_column(sa.String(10))  # create | update | delete
    resource_type: Mapped[str] = mapped_column(sa.String(80))
    resource_id: Mapped[str | None] = mapped_column(sa.String(200))
    changed_fields: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))
    request_id: Mapped[str | None] = mapped_column(sa.String(128))
    correlation_id: Mapped[str | None] = mapped_column(sa.String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return (
        lowered in {"secrets", "token", "hash"}
        or lowered.endswith(_SECRET_SUFFIXES)
        or any(marker in lowered for marker in _SECRET_MARKERS)
    )


def _jsonable(value: Any) -> Any:
    """A JSON-safe rendering of a column value for the log."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= _MAX_TEXT else value[:_MAX_TEXT] + "…"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def _value(name: str, value: Any) -> Any:
    if value is None:
        return None
    return REDACTED if is_secret_field(name) else _jsonable(value)


def _first(values: Any) -> Any:
    return values[0] if values else None


def _column_keys(state: InstanceState[Any]) -> list[str]:
    return [attr.key for attr in state.mapper.column_attrs]


def _present_values(state: InstanceState[Any]) -> Iterator[tuple[str, Any]]:
    """The row's non-null column values (noise left out), as the audit log writes them."""
    # Read the state's dict, not the attributes: a column the database filled is expired
    # and loading it from inside a flush is not allowed.
    for key in _column_keys(state):
        if key in _NOISE:
            continue
        value = state.dict.get(key)
        if value is not None:
            yield key, _value(key, value)


def _created_fields(state: InstanceState[Any]) -> dict[str, list[Any]]:
    return {key: [None, value] for key, value in _present_values(state)}


def _updated_fields(state: InstanceState[Any]) -> dict[str, list[Any]]:
    fields: dict[str, list[Any]] = {}
    for key in _column_keys(state):
        if key in _NOISE:
            continue
        history: History = state.attrs[key].history
        if not history.has_changes():
            continue
        old, new = _first(history.deleted), _first(history.added)
        if old == new and history.deleted:
            continue
        fields[key] = [_value(key, old), _value(key, new)]
    return fields


def _deleted_fields(state: InstanceState[Any]) -> dict[str, list[Any]]:
    # The last known values of the row, so a deletion can be understood (and undone) later.
    return {key: [value, None] for key, value in _present_values(state)}


def _resource_id(state: InstanceState[Any]) -> str | None:
    identity = state.identity or state.mapper.primary_key_from_instance(state.obj())
    parts = [str(p) for p in identity if p is not None] if identity else []
    return ":".join(parts) or None


def _audited(obj: object) -> bool:
    return isinstance(obj, TenantScoped) and getattr(type(obj), "__audit__", True) is not False


def _entry(
    ctx: Context, obj: TenantScoped, action: str, fields: dict[str, list[Any]]
) -> dict[str, Any]:
    state: InstanceState[Any] = sa.inspect(obj)
    table = state.mapper.local_table
    return {
        "id": new_id(),
        "tenant_id": obj.tenant_id,
        "actor_id": ctx.actor_id,
        "actor_type": ctx.actor_type,
        "action": action,
        "resource_type": getattr(table, "name", type(obj).__name__),
        "resource_id": _resource_id(state),
        "changed_fields": fields,
        "ip": ctx.ip,
        "user_agent": (ctx.user_agent or "")[:400] or None,
        "request_id": ctx.request_id,
        "correlation_id": ctx.correlation_id,
        "created_at": utcnow(),
    }


def audit_entries(session: Session, ctx: Context) -> list[dict[str, Any]]:
    """The audit rows for what this flush writes. Called after the flush's SQL ran, while
    ``session.new/dirty/deleted`` and attribute history still describe the flush."""
    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if _audited(obj):
            rows.append(_entry(ctx, obj, "create", _created_fields(sa.inspect(obj))))
    for obj in session.dirty:
        if _audited(obj) and session.is_modified(obj, include_collections=False):
            fields = _updated_fields(sa.inspect(obj))
            if fields:
                rows.append(_entry(ctx, obj, "update", fields))
    for obj in session.deleted:
        if _audited(obj):
            rows.append(_entry(ctx, obj, "delete", _deleted_fields(sa.inspect(obj))))
    return rows


@event.listens_for(Session, "after_flush")
def _record_audit_entries(session: Session, _flush_context: Any) -> None:
    ctx = session.info.get("ctx")
    if not isinstance(ctx, Context):
        return
    rows = audit_entries(session, ctx)
    if rows:
        # A Core insert on the flush's own connection: same transaction, and no second flush.
        session.connection().execute(sa.insert(AuditEntry), rows)
