"""Scoped API keys: ``bos_<random>``, stored only as a keyed hash, shown once.

A key acts for its tenant with exactly the scopes it was given, never more than its
creator held. Keys may expire and can be revoked; both take effect on the next request.
"""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.auth import API_KEY_PREFIX, SCOPES, Principal, forget_principals, hash_secret
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.errors import Forbidden, NotFound, Unauthenticated, Unprocessable, field_error
from bizos.core.events import append_event
from bizos.core.ids import new_id
from bizos.core.pagination import Page, PageParams, take_page
from bizos.modules.identity import clock
from bizos.modules.identity.models import ApiKey
from bizos.modules.identity.schemas import ApiKeyCreated, ApiKeyRead

log = structlog.get_logger("bizos.identity")

# How stale ``last_used_at`` may get: recording every use would turn reads into writes.
_TOUCH_INTERVAL = dt.timedelta(minutes=5)
_PREFIX_LENGTH = len(API_KEY_PREFIX) + 8


def _new_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


async def create_api_key(
    session: AsyncSession,
    ctx: Context,
    *,
    name: str,
    scopes: list[str],
    expires_at: dt.datetime | None = None,
) -> ApiKeyCreated:
    """Create a key for ``ctx``'s tenant; the secret is in the result and nowhere else."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise Unprocessable(
            f"unknown scopes: {', '.join(unknown)}",
            errors=[field_error(["body", "scopes"], "unknown scope")],
        )
    if ctx.actor_type != "system":
        beyond = sorted(set(scopes) - ctx.scopes)
        if beyond:
            raise Forbidden(f"cannot grant scopes you do not hold: {', '.join(beyond)}")
    if expires_at is not None and expires_at <= clock.now():
        raise Unprocessable(
            "expires_at is in the past",
            errors=[field_error(["body", "expires_at"], "must be in the future")],
        )
    key = _new_key()
    api_key = ApiKey(
        id=new_id(),
        tenant_id=ctx.require_tenant(),
        name=name,
        key_hash=hash_secret(key),
        prefix=key[:_PREFIX_LENGTH],
        scopes=list(dict.fromkeys(scopes)),
        created_by=ctx.actor_id,
        expires_at=expires_at,
    )
    session.add(api_key)
    await session.flush()
    await append_event(
        session,
        ctx,
        "identity.api_key.created",
        aggregate_type="api_key",
        aggregate_id=api_key.id,
        data={
            "name": name,
            "scopes": api_key.scopes,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    log.info("identity.api_key.created", api_key_id=api_key.id, prefix=api_key.prefix)
    return ApiKeyCreated(**ApiKeyRead.model_validate(api_key).model_dump(), key=key)


async def list_api_keys(
    session: AsyncSession, ctx: Context, *, page: PageParams
) -> Page[ApiKeyRead]:
    query = sa.select(ApiKey).order_by(ApiKey.id).limit(page.limit + 1)
    if page.after is not None:
        query = query.where(ApiKey.id > page.after)
    rows, cursor = take_page((await session.scalars(query)).all(), page, lambda k: k.id)
    return Page[ApiKeyRead](items=[ApiKeyRead.model_validate(k) for k in rows], next_cursor=cursor)


async def revoke_api_key(session: AsyncSession, ctx: Context, *, api_key_id: str) -> None:
    """Revoke a key of ``ctx``'s tenant; revoking it again changes nothing."""
    api_key = await session.scalar(
        sa.select(ApiKey).where(ApiKey.id == api_key_id).with_for_update()
    )
    if api_key is None:
        raise NotFound("API key not found")
    if api_key.revoked_at is not None:
        return
    api_key.revoked_at = clock.now()
    forget_principals()
    api_key.version += 1
    await session.flush()
    await append_event(
        session,
        ctx,
        "identity.api_key.revoked",
        aggregate_type="api_key",
        aggregate_id=api_key.id,
        version=api_key.version,
    )
    log.info("identity.api_key.revoked", api_key_id=api_key.id)


async def get_api_key(session: AsyncSession, *, api_key_id: str) -> ApiKeyRead:
    api_key = await session.scalar(sa.select(ApiKey).where(ApiKey.id == api_key_id))
    if api_key is None:
        raise NotFound("API key not found")
    return ApiKeyRead.model_validate(api_key)


async def authenticate_api_key(db: Database, token: str) -> Principal:
    """The principal of a presented key; 401 if unknown, revoked or expired."""
    key_hash = hash_secret(token)
    async with db.unit_of_work(system=True, readonly=True) as session:
        api_key = await session.scalar(sa.select(ApiKey).where(ApiKey.key_hash == key_hash))
    now = clock.now()
    if api_key is None or api_key.revoked_at is not None:
        raise Unauthenticated("invalid API key")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise Unauthenticated("API key expired")
    if api_key.last_used_at is None or now - api_key.last_used_at > _TOUCH_INTERVAL:
        async with db.unit_of_work(system=True) as session:
            await session.execute(
                sa.update(ApiKey)
                .where(ApiKey.id == api_key.id)
                # A use is not an edit: keep ``updated_at`` for changes to the key.
                .values(last_used_at=now, updated_at=ApiKey.updated_at)
                .execution_options(synchronize_session=False)
            )
    return Principal(
        tenant_id=api_key.tenant_id,
        actor_id=api_key.id,
        actor_type="api_key",
        scopes=frozenset(api_key.scopes),
        extra={"name": api_key.name},
    )
