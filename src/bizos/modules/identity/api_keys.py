"""Scoped API keys: ``bos_<random>``, stored only as a keyed hash, shown once.

A key acts for its tenant with the scopes it was given, and answers to a user, its
*owner*: the user who made it or, for a key minted by a key, that key's owner. It never
does more than the owner may do *now*:

* at authentication its scopes are cut to what the owner's current role grants, and a
  key whose owner is deactivated or gone is refused (401);
* demoting the owner also removes the lost scopes from the key itself, and deactivating
  the owner disables the key (``disabled_reason: owner_deactivated``), each change one
  ``api_keys`` audit entry and one event per key. Reactivating the owner does not enable
  the key again: an admin does that explicitly (``POST /api-keys/{id}/enable``).

Keys may expire and can be revoked. Every change is seen on the next request in this
process and, through the principal cache's lifetime, in others.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bizos.core.auth import (
    API_KEY_PREFIX,
    ROLE_SCOPES,
    SCOPES,
    Principal,
    forget_principals,
    hash_secret,
)
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthenticated,
    Unprocessable,
    field_error,
)
from bizos.core.events import NewEvent, append_events, append_row_event
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, Page, PageParams, read_page
from bizos.modules.identity import clock
from bizos.modules.identity.models import ApiKey, User
from bizos.modules.identity.schemas import ApiKeyCreated, ApiKeyRead

log = structlog.get_logger("bizos.identity")

# How stale ``last_used_at`` may get: recording every use would turn reads into writes.
_TOUCH_INTERVAL = dt.timedelta(minutes=5)
_PREFIX_LENGTH = len(API_KEY_PREFIX) + 8
OWNER_DEACTIVATED = "owner_deactivated"
_REFUSED = {
    OWNER_DEACTIVATED: "API key disabled: the user it acts for was deactivated",
}
_FORGET_AT_COMMIT = "bizos.identity.forget_principals_at_commit"


def forget_principals_at_commit(session: AsyncSession) -> None:
    """Drop cached principals now, and again when ``session`` commits.

    Now, so this process stops using them at once; at commit, because a request that read
    the old rows while this transaction was still open may have cached them meanwhile.
    """
    forget_principals()
    session.info[_FORGET_AT_COMMIT] = True


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session: Session) -> None:
    if session.info.pop(_FORGET_AT_COMMIT, False):
        forget_principals()


@event.listens_for(Session, "after_rollback")
def _nothing_to_forget(session: Session) -> None:
    session.info.pop(_FORGET_AT_COMMIT, None)


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
    """Create a key for ``ctx``'s tenant; the secret is in the result and nowhere else.

    The key may hold only scopes the actor holds now (a key minting a key: that key's
    scopes as cut to its owner's role) and answers to the actor's user.
    """
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
        owner_id=await _owner_of_actor(session, ctx),
        expires_at=expires_at,
    )
    session.add(api_key)
    await session.flush()
    await append_row_event(
        session,
        ctx,
        "identity.api_key.created",
        api_key,
        aggregate_type="api_key",
        data={
            "name": name,
            "scopes": api_key.scopes,
            "owner_id": api_key.owner_id,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    log.info("identity.api_key.created", api_key_id=api_key.id, prefix=api_key.prefix)
    return ApiKeyCreated(**ApiKeyRead.model_validate(api_key).model_dump(), key=key)


async def _owner_of_actor(session: AsyncSession, ctx: Context) -> str | None:
    """The user a key made by ``ctx``'s actor answers to: the user, or the minting key's
    owner; nobody for the system."""
    if ctx.actor_type == "user":
        return ctx.actor_id
    if ctx.actor_type == "api_key" and ctx.actor_id is not None:
        owner: str | None = await session.scalar(
            sa.select(ApiKey.owner_id).where(ApiKey.id == ctx.actor_id)
        )
        return owner
    return None


async def person_behind(session: AsyncSession, actor_id: str) -> str:
    """The person an actor is: a user is themself, an API key is the user who owns it."""
    owner: str | None = await session.scalar(
        sa.select(ApiKey.owner_id).where(ApiKey.id == actor_id)
    )
    return owner or actor_id


API_KEY_ORDER = ListOrder("api_keys", ApiKey.id, [ApiKey.created_at, ApiKey.updated_at])


async def list_api_keys(
    session: AsyncSession, ctx: Context, *, page: PageParams
) -> Page[ApiKeyRead]:
    found = await read_page(
        session, API_KEY_ORDER, sa.select(ApiKey), page, ApiKeyRead.model_validate
    )
    return Page[ApiKeyRead].of(found)


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
    forget_principals_at_commit(session)
    api_key.version += 1
    await session.flush()
    await append_row_event(
        session,
        ctx,
        "identity.api_key.revoked",
        api_key,
        aggregate_type="api_key",
    )
    log.info("identity.api_key.revoked", api_key_id=api_key.id)


async def enable_api_key(session: AsyncSession, ctx: Context, *, api_key_id: str) -> ApiKeyRead:
    """Enable a key that was disabled because its owner was deactivated.

    Only a caller holding every scope of the key may, and only once its owner is active
    again; a revoked or expired key stays dead (409). Enabling an enabled key changes
    nothing.
    """
    api_key = await session.scalar(
        sa.select(ApiKey).where(ApiKey.id == api_key_id).with_for_update()
    )
    if api_key is None:
        raise NotFound("API key not found")
    if api_key.revoked_at is not None:
        raise Conflict("a revoked key cannot be enabled; create a new one")
    if api_key.disabled_at is None:
        return ApiKeyRead.model_validate(api_key)
    if api_key.expires_at is not None and api_key.expires_at <= clock.now():
        raise Conflict("the key has expired; create a new one")
    if ctx.actor_type != "system":
        beyond = sorted(set(api_key.scopes) - ctx.scopes)
        if beyond:
            raise Forbidden(f"cannot enable a key with scopes you do not hold: {', '.join(beyond)}")
    if api_key.owner_id is not None:
        active = await session.scalar(sa.select(User.is_active).where(User.id == api_key.owner_id))
        if not active:
            raise Conflict("the user this key acts for is deactivated; reactivate them first")
    reason = api_key.disabled_reason
    api_key.disabled_at = None
    api_key.disabled_reason = None
    api_key.version += 1
    await session.flush()
    await append_row_event(
        session,
        ctx,
        "identity.api_key.enabled",
        api_key,
        aggregate_type="api_key",
        data={"was_disabled_because": reason},
    )
    log.info("identity.api_key.enabled", api_key_id=api_key.id)
    return ApiKeyRead.model_validate(api_key)


async def follow_owner(session: AsyncSession, ctx: Context, *, user: User) -> list[str]:
    """Bring the keys ``user`` owns in line with their role and state, after a change.

    Deactivated: every live key is disabled. Any role: each key loses the scopes the role
    does not grant (kept lost: promoting the user again does not give them back). Each
    changed key is one ``api_keys`` audit entry and one event. Cached principals are
    dropped either way. Returns the ids of the keys changed.
    """
    keys = (
        await session.scalars(
            sa.select(ApiKey)
            .where(ApiKey.owner_id == user.id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.id)
            .with_for_update()
        )
    ).all()
    allowed = ROLE_SCOPES.get(user.role, frozenset())
    now = clock.now()
    events: list[NewEvent] = []
    for key in keys:
        removed = [s for s in key.scopes if s not in allowed]
        disable = not user.is_active and key.disabled_at is None
        if not removed and not disable:
            continue
        key.version += 1
        if removed:
            key.scopes = [s for s in key.scopes if s in allowed]
            data: dict[str, Any] = {"removed": removed, "scopes": key.scopes}
            events.append(_owner_event("narrowed", key, user, data))
        if disable:
            key.disabled_at = now
            key.disabled_reason = OWNER_DEACTIVATED
            events.append(_owner_event("disabled", key, user, {"reason": OWNER_DEACTIVATED}))
    forget_principals_at_commit(session)
    if not events:
        return []
    await session.flush()
    await append_events(session, ctx, events)
    changed = list(dict.fromkeys(e.aggregate_id for e in events))
    log.info("identity.api_key.followed_owner", user_id=user.id, api_key_ids=changed)
    return changed


def _owner_event(change: str, key: ApiKey, owner: User, data: dict[str, Any]) -> NewEvent:
    return NewEvent(
        f"identity.api_key.{change}",
        "api_key",
        key.id,
        {**data, "owner_id": owner.id, "owner_role": owner.role},
        key.version,
    )


async def get_api_key(session: AsyncSession, *, api_key_id: str) -> ApiKeyRead:
    api_key = await session.scalar(sa.select(ApiKey).where(ApiKey.id == api_key_id))
    if api_key is None:
        raise NotFound("API key not found")
    return ApiKeyRead.model_validate(api_key)


async def authenticate_api_key(db: Database, token: str) -> Principal:
    """The principal of a presented key; 401 if unknown, revoked, expired or disabled, or
    if the user it acts for is deactivated or gone. Its scopes are the key's, cut to what
    that user's role grants now."""
    key_hash = hash_secret(token)
    async with db.unit_of_work(system=True, readonly=True) as session:
        row = (
            await session.execute(
                sa.select(ApiKey, User.role, User.is_active)
                .outerjoin(
                    User, sa.and_(User.id == ApiKey.owner_id, User.tenant_id == ApiKey.tenant_id)
                )
                .where(ApiKey.key_hash == key_hash)
            )
        ).one_or_none()
    now = clock.now()
    if row is None or row.ApiKey.revoked_at is not None:
        raise Unauthenticated("invalid API key")
    api_key: ApiKey = row.ApiKey
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise Unauthenticated("API key expired")
    if api_key.disabled_at is not None:
        raise Unauthenticated(_REFUSED.get(api_key.disabled_reason or "", "API key disabled"))
    scopes = frozenset(api_key.scopes)
    if api_key.owner_id is not None:
        if row.role is None:
            raise Unauthenticated("API key refused: the user it acts for no longer exists")
        if not row.is_active:
            raise Unauthenticated("API key refused: the user it acts for is deactivated")
        scopes &= ROLE_SCOPES.get(row.role, frozenset())
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
        scopes=scopes,
        extra={"name": api_key.name, "owner_id": api_key.owner_id},
    )
