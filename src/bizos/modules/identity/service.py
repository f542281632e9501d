"""Identity use cases: signup, sessions and the authenticator behind every request."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.auth import (
    API_KEY_PREFIX,
    ROLE_SCOPES,
    Principal,
    decode_access_token,
    hash_secret,
    issue_access_token,
)
from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.db import get_database, utcnow
from bizos.core.errors import Conflict, Unauthenticated
from bizos.core.events import append_event
from bizos.core.ids import new_id
from bizos.modules.identity.models import ApiKey, AuthSession, RefreshToken, Tenant, User
from bizos.modules.identity.passwords import hash_password
from bizos.modules.identity.schemas import (
    SignupRequest,
    SignupResponse,
    TenantRead,
    TokenPair,
    UserRead,
)


def slugify(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (slug or "tenant")[:50]


async def _unique_slug(session: AsyncSession, base: str) -> str:
    slug = base
    while await session.scalar(sa.select(Tenant.id).where(Tenant.slug == slug)):
        slug = f"{base}-{secrets.token_hex(2)}"
    return slug


def user_read(user: User) -> UserRead:
    return UserRead(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,  # type: ignore[arg-type]
        is_active=user.is_active,
        version=user.version,
        created_at=user.created_at,
    )


def tenant_read(tenant: Tenant) -> TenantRead:
    return TenantRead(id=tenant.id, slug=tenant.slug, name=tenant.name)


async def create_tenant(
    session: AsyncSession, ctx: Context, *, name: str, slug: str | None = None
) -> Tenant:
    """Create a tenant (system session). ``slug`` must be free if given."""
    if slug is not None:
        if await session.scalar(sa.select(Tenant.id).where(Tenant.slug == slug)):
            raise Conflict(f"tenant slug {slug!r} is taken")
    else:
        slug = await _unique_slug(session, slugify(name))
    tenant = Tenant(id=new_id(), slug=slug, name=name)
    session.add(tenant)
    await session.flush()
    await append_event(
        session,
        ctx.with_tenant(tenant.id),
        "identity.tenant.created",
        aggregate_type="tenant",
        aggregate_id=tenant.id,
        data={"slug": slug, "name": name},
    )
    return tenant


async def create_user(
    session: AsyncSession,
    ctx: Context,
    *,
    tenant_id: str,
    email: str,
    name: str,
    role: str,
    password: str,
) -> User:
    email = email.strip().lower()
    exists = await session.scalar(
        sa.select(User.id).where(User.tenant_id == tenant_id, User.email == email)
    )
    if exists:
        raise Conflict("a user with this email already exists")
    user = User(
        id=new_id(),
        tenant_id=tenant_id,
        email=email,
        name=name,
        role=role,
        password_hash=hash_password(password),
    )
    session.add(user)
    await session.flush()
    await append_event(
        session,
        ctx.with_tenant(tenant_id),
        "identity.user.created",
        aggregate_type="user",
        aggregate_id=user.id,
        data={"email": email, "role": role},
    )
    return user


async def open_session(
    session: AsyncSession, ctx: Context, *, user: User
) -> TokenPair:
    """Start a login session and return its first token pair."""
    settings = get_settings()
    auth_session = AuthSession(
        id=new_id(),
        tenant_id=user.tenant_id,
        user_id=user.id,
        expires_at=utcnow() + dt.timedelta(seconds=settings.refresh_token_ttl_seconds),
        ip=ctx.ip,
        user_agent=(ctx.user_agent or "")[:400] or None,
    )
    session.add(auth_session)
    await session.flush()
    return await _issue_pair(session, user=user, auth_session=auth_session)


async def _issue_pair(
    session: AsyncSession, *, user: User, auth_session: AuthSession
) -> TokenPair:
    secret = secrets.token_urlsafe(32)
    refresh = f"{auth_session.id}.{secret}"
    session.add(
        RefreshToken(
            tenant_id=user.tenant_id,
            session_id=auth_session.id,
            token_hash=hash_secret(refresh),
        )
    )
    await session.flush()
    access, ttl = issue_access_token(
        tenant_id=user.tenant_id, user_id=user.id, session_id=auth_session.id, role=user.role
    )
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)


async def signup(session: AsyncSession, ctx: Context, body: SignupRequest) -> SignupResponse:
    """Create a tenant and its owner and log the owner in (system session)."""
    tenant = await create_tenant(session, ctx, name=body.company_name)
    owner_ctx = ctx.with_tenant(tenant.id)
    user = await create_user(
        session,
        owner_ctx,
        tenant_id=tenant.id,
        email=body.email,
        name=body.name,
        role="owner",
        password=body.password,
    )
    pair = await open_session(session, owner_ctx, user=user)
    return SignupResponse(tenant=tenant_read(tenant), user=user_read(user), **pair.model_dump())


class DatabaseAuthenticator:
    """Resolves a bearer token to a principal; one indexed lookup per request."""

    async def authenticate(self, token: str) -> Principal:
        if token.startswith(API_KEY_PREFIX):
            return await self._api_key(token)
        claims = decode_access_token(token)
        db = get_database()
        async with db.unit_of_work(system=True, readonly=True) as session:
            row = (
                await session.execute(
                    sa.select(User.role, User.is_active, AuthSession.revoked_at)
                    .join(AuthSession, AuthSession.user_id == User.id)
                    .where(
                        AuthSession.id == claims["sid"],
                        User.id == claims["sub"],
                        User.tenant_id == claims["tid"],
                        AuthSession.tenant_id == claims["tid"],
                    )
                )
            ).one_or_none()
        if row is None or row.revoked_at is not None or not row.is_active:
            raise Unauthenticated("session is no longer valid")
        return Principal(
            tenant_id=claims["tid"],
            actor_id=claims["sub"],
            actor_type="user",
            scopes=ROLE_SCOPES.get(row.role, frozenset()),
            role=row.role,
            session_id=claims["sid"],
        )

    async def _api_key(self, token: str) -> Principal:
        db = get_database()
        async with db.unit_of_work(system=True, readonly=True) as session:
            key = await session.scalar(
                sa.select(ApiKey).where(ApiKey.key_hash == hash_secret(token))
            )
        now = utcnow()
        if key is None or key.revoked_at is not None:
            raise Unauthenticated("invalid API key")
        if key.expires_at is not None and key.expires_at <= now:
            raise Unauthenticated("API key expired")
        return Principal(
            tenant_id=key.tenant_id,
            actor_id=key.id,
            actor_type="api_key",
            scopes=frozenset(key.scopes),
        )
