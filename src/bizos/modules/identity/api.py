"""Identity endpoints: signup, login, sessions, who-am-I, users and API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from bizos.api.deps import Ctx, DbSession, PublicCtx, SystemSession
from bizos.core.auth import Admin, Authenticated, Principal, Role
from bizos.core.db import get_database
from bizos.core.errors import Forbidden
from bizos.core.pagination import Page, PageParams
from bizos.core.versions import version_etag
from bizos.modules.identity import api_keys, service, sessions, verification
from bizos.modules.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    EmailVerified,
    LoginRequest,
    LoginResponse,
    MeResponse,
    RefreshRequest,
    SignupRequest,
    SignupResponse,
    TokenPair,
    UserCreate,
    UserRead,
    UserUpdate,
    VerificationSent,
)

router = APIRouter(prefix="/api/v1", tags=["identity"])


async def _team_reader(principal: Authenticated) -> Principal:
    """Every user of a workspace may see its team; an API key needs the ``admin`` scope."""
    if principal.actor_type == "user" or principal.has("admin"):
        return principal
    raise Forbidden("missing scope: admin")


TeamReader = Annotated[Principal, Depends(_team_reader)]


def _etag(response: Response, user: UserRead) -> UserRead:
    response.headers["ETag"] = version_etag(user.version)
    return user


# --- authentication ----------------------------------------------------------------------


@router.post("/auth/signup", status_code=201, response_model=SignupResponse)
async def signup(body: SignupRequest, session: SystemSession, ctx: PublicCtx) -> SignupResponse:
    return await service.signup(session, ctx, body)


@router.post(
    "/auth/login",
    response_model=LoginResponse,
    responses={
        401: {"description": "Wrong credentials"},
        409: {
            "description": "The password opens several workspaces: a problem whose "
            "`workspaces` ([{slug, name}]) lists them; log in again with `tenant`."
        },
        429: {"description": "Locked out (per account and source), with Retry-After"},
    },
)
async def login(body: LoginRequest, ctx: PublicCtx) -> LoginResponse:
    """Log in with email and password. Five attempts for one account from one source
    address (an IPv6 /64) within fifteen minutes lock that source out (429 with
    ``Retry-After``), and right and wrong passwords then get the same answer; other
    sources are not affected up to an account-wide ceiling. Without ``tenant`` (the
    workspace slug) the workspaces where the address is verified are tried: the one the
    password matches logs in, several answer 409 with the choice."""
    return await sessions.login(
        get_database(), ctx, email=body.email, password=body.password, workspace=body.tenant
    )


@router.get(
    "/auth/verify-email",
    response_model=EmailVerified,
    responses={
        400: {"description": "Not a link we made for this user and address"},
        409: {"description": "Already verified: a link works once"},
        410: {"description": "The link has expired"},
    },
)
async def verify_email(
    token: Annotated[str, Query(min_length=1, max_length=200)],
    session: SystemSession,
    ctx: PublicCtx,
) -> EmailVerified:
    """Follow the link emailed at signup: verifies the owner's address, after which the
    workspace sends real email and its owner may log in without naming it."""
    return await verification.confirm_email(session, ctx, token=token)


@router.post("/auth/verify-email/resend", status_code=202, response_model=VerificationSent)
async def resend_verification(_: Authenticated, ctx: Ctx, session: DbSession) -> VerificationSent:
    """Email the calling user a new verification link (at most one a minute)."""
    return await service.resend_verification(session, ctx)


@router.post("/auth/refresh", response_model=TokenPair)
async def refresh(body: RefreshRequest, ctx: PublicCtx) -> TokenPair:
    """Trade a refresh token for a new pair. A token works once: presenting it again
    revokes the whole session."""
    return await sessions.refresh(get_database(), ctx, refresh_token=body.refresh_token)


@router.post("/auth/logout", status_code=204)
async def logout(_: Authenticated, ctx: Ctx, session: DbSession) -> Response:
    await sessions.logout(session, ctx)
    return Response(status_code=204)


@router.get("/me", response_model=MeResponse)
async def me(_: Authenticated, ctx: Ctx, session: DbSession) -> MeResponse:
    return await service.me(session, ctx)


# --- users -------------------------------------------------------------------------------


@router.post("/users", status_code=201, response_model=UserRead)
async def create_user(
    _: Admin, body: UserCreate, ctx: Ctx, session: DbSession, response: Response
) -> UserRead:
    tenant_id = ctx.require_tenant()
    user = await service.create_user(session, ctx, tenant_id=tenant_id, **body.model_dump())
    return _etag(response, user)


@router.get("/users", response_model=Page[UserRead])
async def list_users(
    _: TeamReader,
    ctx: Ctx,
    session: DbSession,
    page: Annotated[PageParams, Depends(service.USER_ORDER.dependency)],
    role: Annotated[Role | None, Query()] = None,
    is_active: Annotated[bool | None, Query()] = None,
) -> Page[UserRead]:
    """The workspace's users, newest first (see `sort`). Any user may list the team; an
    API key needs the ``admin`` scope."""
    return await service.list_users(session, ctx, page=page, role=role, is_active=is_active)


@router.get("/users/{user_id}", response_model=UserRead)
async def get_user(
    _: TeamReader, user_id: str, ctx: Ctx, session: DbSession, response: Response
) -> UserRead:
    return _etag(response, await service.get_user(session, ctx, user_id=user_id))


@router.patch("/users/{user_id}", response_model=UserRead)
async def update_user(
    _: Admin,
    user_id: str,
    body: UserUpdate,
    ctx: Ctx,
    session: DbSession,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> UserRead:
    """Change name, role, active state or manager. ``If-Match: <version>`` guards against
    lost updates (409 when stale). Deactivating a user ends their sessions."""
    user = await service.update_user(
        session,
        ctx,
        user_id=user_id,
        changes=body,
        if_match=if_match,
    )
    return _etag(response, user)


# --- API keys ----------------------------------------------------------------------------


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(
    _: Admin, body: ApiKeyCreate, ctx: Ctx, session: DbSession
) -> ApiKeyCreated:
    """Create a scoped key. The ``key`` is shown in this response only; a key cannot be
    given scopes its creator does not hold. It acts for its creator (``owner_id``; for a
    key made with a key, that key's owner) and never with more than the owner's current
    role grants: demoting the owner narrows it, deactivating them disables it."""
    return await api_keys.create_api_key(
        session, ctx, name=body.name, scopes=list(body.scopes), expires_at=body.expires_at
    )


ApiKeyPages = Annotated[PageParams, Depends(api_keys.API_KEY_ORDER.dependency)]


@router.get("/api-keys", response_model=Page[ApiKeyRead])
async def list_api_keys(
    _: Admin, ctx: Ctx, session: DbSession, page: ApiKeyPages
) -> Page[ApiKeyRead]:
    """Every key of the workspace with its ``status``: ``active``, ``disabled`` (its owner
    was deactivated; see ``disabled_reason``), ``expired`` or ``revoked``."""
    return await api_keys.list_api_keys(session, ctx, page=page)


@router.post("/api-keys/{api_key_id}/enable", response_model=ApiKeyRead)
async def enable_api_key(_: Admin, api_key_id: str, ctx: Ctx, session: DbSession) -> ApiKeyRead:
    """Enable a key disabled because its owner was deactivated. Reactivating the owner
    does not do this by itself. 409 while the owner is still deactivated, or for a
    revoked or expired key; 403 unless the caller holds every scope of the key."""
    return await api_keys.enable_api_key(session, ctx, api_key_id=api_key_id)


@router.delete("/api-keys/{api_key_id}", status_code=204)
async def revoke_api_key(_: Admin, api_key_id: str, ctx: Ctx, session: DbSession) -> Response:
    await api_keys.revoke_api_key(session, ctx, api_key_id=api_key_id)
    return Response(status_code=204)
