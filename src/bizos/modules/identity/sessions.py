"""Login sessions: login with lockout, refresh-token rotation, logout, and the
authenticator that turns every bearer token into a principal.

A *session* is one login. Each refresh spends the presented refresh token and issues a
new one in the same session, so the session is the token *family*: presenting a spent
token means it was copied, and the whole session is revoked. Access tokens name their
session (``sid``) and the authenticator rejects them once the session is revoked.

``login`` and ``refresh`` open their own units of work rather than taking the request's:
a refused login must still record its failure, and a detected reuse must still revoke
the session, although the request then fails with 401.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from dataclasses import dataclass, replace
from typing import Any, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core import auth
from bizos.core.auth import ROLE_SCOPES, Principal, decode_access_token, hash_secret
from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.db import Database, get_database
from bizos.core.errors import Conflict, ProblemError, TooManyRequests, Unauthenticated
from bizos.core.events import NewEvent, append_event, append_events
from bizos.core.ids import new_id
from bizos.modules.identity import clock, lockout
from bizos.modules.identity.api_keys import authenticate_api_key
from bizos.modules.identity.models import AuthSession, RefreshToken, Tenant, User
from bizos.modules.identity.passwords import hash_password, needs_rehash, verify_password
from bizos.modules.identity.schemas import (
    LoginResponse,
    TenantRead,
    TokenPair,
    UserRead,
    WorkspaceChoice,
)

log = structlog.get_logger("bizos.identity")

# One answer for every wrong credential, so a caller cannot tell which part was wrong.
INVALID_LOGIN = "the email, password or workspace is incorrect"
INVALID_REFRESH = "the refresh token is not valid"
LOCKED = "too many failed logins for this account; try again later"


def normalize_email(email: str) -> str:
    return email.strip().lower()


# --- opening sessions --------------------------------------------------------------------


async def open_session(
    session: AsyncSession, ctx: Context, *, user: User
) -> tuple[TokenPair, AuthSession]:
    """Start a login session for ``user`` and return its first token pair."""
    settings = get_settings()
    auth_session = AuthSession(
        id=new_id(),
        tenant_id=user.tenant_id,
        user_id=user.id,
        created_at=clock.now(),
        expires_at=clock.now() + dt.timedelta(seconds=settings.refresh_token_ttl_seconds),
        ip=ctx.ip,
        user_agent=(ctx.user_agent or "")[:400] or None,
    )
    session.add(auth_session)
    await session.flush()
    return await _issue_pair(session, user=user, auth_session=auth_session), auth_session


async def _issue_pair(session: AsyncSession, *, user: User, auth_session: AuthSession) -> TokenPair:
    refresh = f"{auth_session.id}.{_random_secret()}"
    session.add(
        RefreshToken(
            tenant_id=user.tenant_id,
            session_id=auth_session.id,
            token_hash=hash_secret(refresh),
            created_at=clock.now(),
        )
    )
    await session.flush()
    access, ttl = auth.issue_access_token(
        tenant_id=user.tenant_id, user_id=user.id, session_id=auth_session.id, role=user.role
    )
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)


def _random_secret() -> str:
    return secrets.token_urlsafe(32)


# --- login -------------------------------------------------------------------------------

# Most memberships one address is checked against in a login without a workspace (each
# costs one argon2 verification).
MAX_WORKSPACES_PER_LOGIN = 10


@dataclass(frozen=True, slots=True)
class _Membership:
    """A user a login may enter: one workspace's account for the address."""

    user_id: str
    password_hash: str
    slug: str
    name: str


class WorkspaceChoiceRequired(Conflict):
    """The password opens several workspaces: the caller picks one (``tenant``)."""

    title = "Choose a workspace"
    type_ = "https://bizos.dev/problems/workspace-choice"

    def __init__(self, workspaces: list[WorkspaceChoice]) -> None:
        super().__init__(
            "this email and password open several workspaces; log in again with `tenant` "
            "set to the slug of one of `workspaces`"
        )
        self.workspaces = workspaces

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body = super().to_problem(instance)
        body["workspaces"] = [w.model_dump() for w in self.workspaces]
        return body


async def _memberships(
    session: AsyncSession, *, email: str, workspace: str | None
) -> list[_Membership]:
    """The active accounts of ``email`` this login may enter: the one in ``workspace``
    if named (verified or not: naming it is the way into a workspace before its owner
    verified the address), else every one whose address is verified."""
    query = (
        sa.select(User.id, User.password_hash, Tenant.slug, Tenant.name)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.email == email, User.is_active.is_(True))
        .order_by(Tenant.created_at, Tenant.id)
        .limit(MAX_WORKSPACES_PER_LOGIN)
    )
    if workspace is not None:
        query = query.where(Tenant.slug == workspace)
    else:
        query = query.where(User.email_verified_at.is_not(None))
    rows = (await session.execute(query)).all()
    return [_Membership(r.id, r.password_hash, r.slug, r.name) for r in rows]


def _matching(memberships: list[_Membership], password: str) -> list[_Membership]:
    """The memberships whose password this is. With none to check, one verification
    against a dummy hash all the same, so timing does not tell an unknown address."""
    if not memberships:
        verify_password(None, password)
        return []
    return [m for m in memberships if verify_password(m.password_hash, password)]


def _locked(seconds: int) -> TooManyRequests:
    return TooManyRequests(LOCKED, retry_after=seconds)


async def login(
    db: Database, ctx: Context, *, email: str, password: str, workspace: str | None = None
) -> LoginResponse:
    """Check a password login and open a session.

    The attempt is counted first (``lockout.admit``, committed on its own); a refused
    attempt is answered 429 without its password being looked at, so right and wrong
    passwords get the same answer. Unknown emails, unknown workspaces, inactive users and
    wrong passwords all cost an argon2 verification and get the same 401. Without
    ``workspace`` the verified memberships of the address are tried: the one the
    password matches logs in; several answer 409 with the choice.
    """
    email = normalize_email(email)
    now = clock.now()
    async with db.unit_of_work(system=True) as session:
        admission = await lockout.admit(session, email=email, ip=ctx.ip, now=now)
        if admission.ceiling_reached and admission.window_ends_at is not None:
            await lockout.warn_account(session, ctx, email=email, until=admission.window_ends_at)
    if not admission.allowed:
        log.info("identity.login.locked")
        raise _locked(admission.retry_after)
    async with db.unit_of_work(system=True, readonly=True) as session:
        memberships = await _memberships(session, email=email, workspace=workspace)
    # argon2 is slow on purpose: run it off the event loop and outside any transaction.
    matches = await asyncio.to_thread(_matching, memberships, password)
    if not matches:
        log.info("identity.login.failed")
        raise Unauthenticated(INVALID_LOGIN)
    if len(matches) > 1:
        async with db.unit_of_work(system=True) as session:
            await lockout.forget_attempt(session, email=email, ip=ctx.ip, now=clock.now())
        log.info("identity.login.choice", workspaces=len(matches))
        raise WorkspaceChoiceRequired([WorkspaceChoice(slug=m.slug, name=m.name) for m in matches])
    [match] = matches
    # New argon2 parameters: rehash now, before the write transaction, for the same reason.
    rehashed = (
        await asyncio.to_thread(hash_password, password)
        if needs_rehash(match.password_hash)
        else None
    )
    async with db.unit_of_work(system=True) as session:
        return await _complete_login(session, ctx, email=email, match=match, rehashed=rehashed)


async def _complete_login(
    session: AsyncSession, ctx: Context, *, email: str, match: _Membership, rehashed: str | None
) -> LoginResponse:
    user = await session.get(User, match.user_id)
    # Deactivated while the password was being checked.
    if user is None or not user.is_active:
        raise Unauthenticated(INVALID_LOGIN)
    tenant = await session.get(Tenant, user.tenant_id)
    assert tenant is not None
    await lockout.forget_attempt(session, email=email, ip=ctx.ip, now=clock.now())
    # Only if the password did not change since it was verified.
    if rehashed is not None and user.password_hash == match.password_hash:
        user.password_hash = rehashed
        log.info("identity.password.rehashed", user_id=user.id)
    user_ctx = replace(ctx, tenant_id=user.tenant_id, actor_id=user.id, actor_type="user")
    pair, auth_session = await open_session(session, user_ctx, user=user)
    await append_event(
        session,
        user_ctx,
        "identity.user.logged_in",
        aggregate_type="user",
        aggregate_id=user.id,
        data={"session_id": auth_session.id, "method": "password"},
        version=user.version,
    )
    log.info("identity.login.succeeded", tenant_id=user.tenant_id, user_id=user.id)
    return LoginResponse(
        tenant=TenantRead.model_validate(tenant),
        user=UserRead.model_validate(user),
        **pair.model_dump(),
    )


# --- refresh -----------------------------------------------------------------------------


async def refresh(db: Database, ctx: Context, *, refresh_token: str) -> TokenPair:
    """Spend ``refresh_token`` and return the session's next pair.

    A session lives ``refresh_token_ttl_seconds`` from its login; refreshing does not
    extend it, so a stolen pair cannot be kept alive forever.

    A token that was already spent revokes its whole session (committed even though the
    caller gets 401): whoever holds the newer tokens is cut off too.
    """
    async with db.unit_of_work(system=True) as session:
        pair = await _rotate(session, ctx, refresh_token=refresh_token)
    if pair is None:
        raise Unauthenticated(INVALID_REFRESH)
    return pair


async def _rotate(session: AsyncSession, ctx: Context, *, refresh_token: str) -> TokenPair | None:
    token_hash = hash_secret(refresh_token)
    now = clock.now()
    # Spending is one conditional UPDATE: of two concurrent refreshes with the same token,
    # the database lets exactly one see ``spent_at IS NULL``.
    spent = cast(
        CursorResult[Any],
        await session.execute(
            sa.update(RefreshToken)
            .where(RefreshToken.token_hash == token_hash, RefreshToken.spent_at.is_(None))
            .values(spent_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    if spent.rowcount != 1:
        family = await session.scalar(
            sa.select(RefreshToken.session_id).where(RefreshToken.token_hash == token_hash)
        )
        if family is None:
            raise Unauthenticated(INVALID_REFRESH)
        log.warning("identity.refresh.reused", session_id=family)
        await revoke_sessions(
            session, ctx, where=AuthSession.id == family, reason="refresh_token_reuse"
        )
        return None
    row = (
        await session.execute(
            sa.select(AuthSession, User)
            .join(RefreshToken, RefreshToken.session_id == AuthSession.id)
            .join(User, User.id == AuthSession.user_id)
            .where(RefreshToken.token_hash == token_hash)
        )
    ).one()
    auth_session, user = row
    if auth_session.revoked_at is not None or auth_session.expires_at <= now or not user.is_active:
        raise Unauthenticated(INVALID_REFRESH)
    return await _issue_pair(session, user=user, auth_session=auth_session)


# --- revocation ------------------------------------------------------------------------


async def revoke_sessions(
    session: AsyncSession, ctx: Context, *, where: sa.ColumnElement[bool], reason: str
) -> list[str]:
    """Revoke the live sessions matching ``where``; one ``identity.session.revoked`` each."""
    revoked = (
        await session.execute(
            sa.update(AuthSession)
            .where(where, AuthSession.revoked_at.is_(None))
            .values(revoked_at=clock.now(), revoked_reason=reason)
            .returning(AuthSession.id, AuthSession.user_id, AuthSession.tenant_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    if revoked:
        auth.forget_principals()
    for tenant_id in {r.tenant_id for r in revoked}:
        await append_events(
            session,
            ctx.with_tenant(tenant_id),
            [
                NewEvent(
                    "identity.session.revoked",
                    "session",
                    r.id,
                    {"reason": reason, "user_id": r.user_id},
                )
                for r in revoked
                if r.tenant_id == tenant_id
            ],
        )
    if revoked:
        log.info("identity.session.revoked", reason=reason, count=len(revoked))
    return [r.id for r in revoked]


async def logout(session: AsyncSession, ctx: Context) -> None:
    """End the caller's session; its access and refresh tokens stop working."""
    if ctx.session_id is None:
        raise ProblemError("an API key has no session to log out of; revoke the key instead")
    await revoke_sessions(session, ctx, where=AuthSession.id == ctx.session_id, reason="logout")


# --- authenticator -----------------------------------------------------------------------


class DatabaseAuthenticator:
    """Resolves a bearer token to a principal; one indexed lookup per request."""

    async def authenticate(self, token: str) -> Principal:
        if token.startswith(auth.API_KEY_PREFIX):
            return await authenticate_api_key(get_database(), token)
        claims = decode_access_token(token)
        async with get_database().unit_of_work(system=True, readonly=True) as session:
            row = (
                await session.execute(
                    sa.select(
                        User.role, User.is_active, AuthSession.revoked_at, AuthSession.expires_at
                    )
                    .join(AuthSession, AuthSession.user_id == User.id)
                    .where(
                        AuthSession.id == claims["sid"],
                        User.id == claims["sub"],
                        User.tenant_id == claims["tid"],
                        AuthSession.tenant_id == claims["tid"],
                    )
                )
            ).one_or_none()
        if (
            row is None
            or row.revoked_at is not None
            or row.expires_at <= clock.now()
            or not row.is_active
        ):
            raise Unauthenticated("session is no longer valid")
        return Principal(
            tenant_id=claims["tid"],
            actor_id=claims["sub"],
            actor_type="user",
            scopes=ROLE_SCOPES.get(row.role, frozenset()),
            role=row.role,
            session_id=claims["sid"],
        )
