"""Identity use cases: tenants, users and who-am-I.

Login, refresh and logout live in ``sessions``; API keys in ``api_keys``. Functions that
take ``tenant_id`` explicitly (``create_tenant_with_owner``, ``create_user``) also work
in a *system* session, which is how the CLI (``bizos tenant create``, ``bizos user
create``) calls them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import secrets
import unicodedata
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.auth import ROLES
from bizos.core.context import Context
from bizos.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthenticated,
    Unprocessable,
    field_error,
)
from bizos.core.events import append_event, append_row_event
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, Page, PageParams, read_page, where_given
from bizos.core.versions import check_version
from bizos.modules.identity import clock, verification
from bizos.modules.identity.api_keys import follow_owner, get_api_key, person_behind
from bizos.modules.identity.models import AuthSession, Tenant, User
from bizos.modules.identity.passwords import hash_password
from bizos.modules.identity.schemas import (
    MeResponse,
    SignupRequest,
    SignupResponse,
    TenantRead,
    UserRead,
    UserUpdate,
    VerificationSent,
)
from bizos.modules.identity.sessions import (
    DatabaseAuthenticator,
    normalize_email,
    open_session,
    revoke_sessions,
)
from bizos.modules.outreach import service as outreach
from bizos.modules.outreach.schemas import Related

__all__ = [
    "DatabaseAuthenticator",
    "create_tenant",
    "create_tenant_with_owner",
    "create_user",
    "get_tenant_by_slug",
    "get_user",
    "list_users",
    "me",
    "person_behind",
    "resend_verification",
    "signup",
    "tenant_id_by_slug",
    "update_user",
]

log = structlog.get_logger("bizos.identity")

MIN_PASSWORD_LENGTH = 8
_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+")
# Longest manager chain walked when checking for a reporting cycle.
_MAX_REPORTING_DEPTH = 100


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
    return UserRead.model_validate(user)


def tenant_read(tenant: Tenant) -> TenantRead:
    return TenantRead.model_validate(tenant)


# --- tenants -----------------------------------------------------------------------------


async def create_tenant(
    session: AsyncSession, ctx: Context, *, name: str, slug: str | None = None
) -> TenantRead:
    """Create a tenant (system session). ``slug`` must be free if given."""
    if slug is not None:
        if slugify(slug) != slug:
            raise Unprocessable(
                "a slug is lowercase letters, digits and dashes",
                errors=[field_error(["slug"], "invalid slug")],
            )
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
    return tenant_read(tenant)


async def get_tenant(session: AsyncSession, ctx: Context) -> TenantRead:
    """The caller's own tenant (its name for documents such as invoices)."""
    tenant = await session.get(Tenant, ctx.require_tenant())
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant_read(tenant)


async def tenant_id_by_slug(session: AsyncSession, *, slug: str) -> str | None:
    """The id of the tenant with ``slug``, or ``None`` (system session)."""
    return await session.scalar(sa.select(Tenant.id).where(Tenant.slug == slug))


async def get_tenant_by_slug(session: AsyncSession, *, slug: str) -> TenantRead:
    tenant = await session.scalar(sa.select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"no tenant with slug {slug!r}")
    return tenant_read(tenant)


async def create_tenant_with_owner(
    session: AsyncSession,
    ctx: Context,
    *,
    company_name: str,
    email: str,
    name: str,
    password: str,
    slug: str | None = None,
    email_verified: bool = True,
) -> tuple[Tenant, User]:
    """A new tenant and its first owner, in the caller's (system) transaction. The
    owner's address counts as verified unless ``email_verified`` is False (signup)."""
    tenant = await create_tenant(session, ctx, name=company_name, slug=slug)
    owner = await create_user(
        session,
        ctx.with_tenant(tenant.id),
        tenant_id=tenant.id,
        email=email,
        name=name,
        role="owner",
        password=password,
        email_verified=email_verified,
    )
    # The rows themselves: signup opens the owner's first session with them.
    tenant_row, owner_row = await session.get(Tenant, tenant.id), await session.get(User, owner.id)
    assert tenant_row is not None and owner_row is not None
    return tenant_row, owner_row


async def signup(session: AsyncSession, ctx: Context, body: SignupRequest) -> SignupResponse:
    """Create a tenant and its owner and log the owner in (system session).

    Anyone may sign up with any address, so the owner's address starts unverified and
    a verification link is emailed to it (see ``verification``)."""
    tenant, user = await create_tenant_with_owner(
        session, ctx, **body.model_dump(), email_verified=False
    )
    owner_ctx = ctx.with_tenant(tenant.id)
    await _send_verification_link(session, owner_ctx, user=user, workspace=tenant.name)
    pair, _ = await open_session(session, owner_ctx, user=user)
    return SignupResponse(tenant=tenant_read(tenant), user=user_read(user), **pair.model_dump())


# A new verification link at most this often per user.
RESEND_INTERVAL = dt.timedelta(seconds=60)


def _verification_body(*, name: str, workspace: str, link: str, expires: dt.datetime) -> str:
    return (
        f"Hello {name},\n\n"
        f'The bizos workspace "{workspace}" was created with this email address as its '
        "owner. To confirm that the address is yours, open this link:\n\n"
        f"{link}\n\n"
        f"The link works once, until {expires:%Y-%m-%d %H:%M} UTC. Until the address is "
        "confirmed, the workspace's email is kept in its sandbox instead of being sent.\n\n"
        "If you did not sign up, ignore this email: nothing is sent in your name, and "
        "the way you sign in to your own workspaces does not change.\n"
    )


async def _send_verification_link(
    session: AsyncSession, ctx: Context, *, user: User, workspace: str
) -> None:
    """Queue the verification email for ``user``: through the platform mail when the
    operator has set one up (the workspace's copy has the token redacted), else through
    the workspace's channel (the sandbox until the address is verified, so it shows at
    ``/api/v1/messages``)."""
    now = clock.now()
    token = verification.make_token(user_id=user.id, email=user.email, now=now)
    await outreach.send_account_email(
        session,
        ctx,
        secret=token,
        to=user.email,
        subject=f"Confirm your email address for {workspace}",
        body=_verification_body(
            name=user.name,
            workspace=workspace,
            link=verification.verification_link(token),
            expires=verification.link_expires_at(token),
        ),
        related=Related(type="user", id=user.id),
    )
    user.email_verification_sent_at = now
    await session.flush()
    log.info("identity.email.verification_sent", tenant_id=user.tenant_id, user_id=user.id)


async def resend_verification(session: AsyncSession, ctx: Context) -> VerificationSent:
    """Email the calling user a new verification link (the earlier ones stay valid
    until they expire). 409 once verified; 429 within a minute of the last link."""
    if ctx.actor_type != "user" or ctx.actor_id is None:
        raise Forbidden("only a user has an address to verify; sign in as that user")
    user = await session.scalar(sa.select(User).where(User.id == ctx.actor_id).with_for_update())
    if user is None:
        raise Unauthenticated("the user no longer exists")
    if user.email_verified_at is not None:
        raise Conflict("this address is already verified")
    last = user.email_verification_sent_at
    if last is not None and clock.now() < last + RESEND_INTERVAL:
        wait = (last + RESEND_INTERVAL - clock.now()).total_seconds()
        raise TooManyRequests(
            "a verification link was sent a moment ago", retry_after=math.ceil(wait)
        )
    tenant = await session.get(Tenant, user.tenant_id)
    assert tenant is not None
    await _send_verification_link(session, ctx, user=user, workspace=tenant.name)
    return VerificationSent(sent_to=user.email)


# --- users -------------------------------------------------------------------------------


async def _acts_as_owner(session: AsyncSession, ctx: Context) -> bool:
    """Whether the actor holds an owner's powers: owners, and the system (CLI, signup)."""
    if ctx.actor_type == "system":
        return True
    if ctx.actor_type != "user" or ctx.actor_id is None:
        return False  # API keys act with scopes, never as an owner
    role = await session.scalar(sa.select(User.role).where(User.id == ctx.actor_id))
    return role == "owner"


def _valid_email(email: str) -> str:
    # The API validates emails strictly (EmailStr); here only the shape, so the CLI and
    # the demo may use reserved domains such as ``.local``.
    email = normalize_email(email)
    if not _EMAIL_SHAPE.fullmatch(email) or len(email) > 320:
        raise Unprocessable(
            "not a valid email address", errors=[field_error(["body", "email"], "invalid email")]
        )
    return email


def _check_new_user_fields(*, role: str, password: str, name: str) -> None:
    errors = []
    if role not in ROLES:
        errors.append(field_error(["body", "role"], f"must be one of {', '.join(ROLES)}"))
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.append(
            field_error(["body", "password"], f"at least {MIN_PASSWORD_LENGTH} characters")
        )
    if not name.strip():
        errors.append(field_error(["body", "name"], "may not be empty"))
    if errors:
        raise Unprocessable("the user is not valid", errors=errors)


async def _check_manager(
    session: AsyncSession, *, tenant_id: str, user_id: str | None, manager_id: str
) -> None:
    """``manager_id`` must be an active user of the tenant and not report to ``user_id``."""

    def invalid(msg: str) -> Unprocessable:
        return Unprocessable(msg, errors=[field_error(["body", "manager_id"], msg)])

    if manager_id == user_id:
        raise invalid("a user cannot be their own manager")
    current: str | None = manager_id
    for depth in range(_MAX_REPORTING_DEPTH):
        row = (
            await session.execute(
                # Explicit tenant: the CLI calls this in a system session.
                sa.select(User.manager_id, User.is_active).where(
                    User.id == current, User.tenant_id == tenant_id
                )
            )
        ).one_or_none()
        if depth == 0 and (row is None or not row.is_active):
            raise invalid("no such active user")
        if row is None or row.manager_id is None:
            return
        if row.manager_id == user_id:
            raise invalid("this would make a reporting cycle")
        current = row.manager_id
    raise invalid("the reporting chain is too deep")


async def create_user(
    session: AsyncSession,
    ctx: Context,
    *,
    tenant_id: str,
    email: str,
    name: str,
    role: str,
    password: str,
    manager_id: str | None = None,
    email_verified: bool = True,
) -> UserRead:
    """Add a user to ``tenant_id``. Only an owner (or the system) may create an owner.

    Whoever creates a user (an admin, the operator) vouches for the address, so it
    counts as verified; only self-service signup passes ``email_verified=False``."""
    email = _valid_email(email)
    _check_new_user_fields(role=role, password=password, name=name)
    if role == "owner" and not await _acts_as_owner(session, ctx):
        raise Forbidden("only an owner may create another owner")
    exists = await session.scalar(
        sa.select(User.id).where(User.tenant_id == tenant_id, User.email == email)
    )
    if exists:
        raise Conflict("a user with this email already exists")
    if manager_id is not None:
        await _check_manager(session, tenant_id=tenant_id, user_id=None, manager_id=manager_id)
    user = User(
        id=new_id(),
        tenant_id=tenant_id,
        email=email,
        name=name.strip(),
        role=role,
        password_hash=hash_password(password),
        manager_id=manager_id,
        email_verified_at=clock.now() if email_verified else None,
    )
    session.add(user)
    await session.flush()
    await append_event(
        session,
        ctx.with_tenant(tenant_id),
        "identity.user.created",
        aggregate_type="user",
        aggregate_id=user.id,
        data={"email": email, "role": role, "manager_id": manager_id},
    )
    log.info("identity.user.created", tenant_id=tenant_id, user_id=user.id, role=role)
    return user_read(user)


USER_ORDER = ListOrder("users", User.id, [User.created_at, User.updated_at, User.name, User.email])


async def list_users(
    session: AsyncSession,
    ctx: Context,
    *,
    page: PageParams,
    role: str | None = None,
    is_active: bool | None = None,
) -> Page[UserRead]:
    """The tenant's users in ``page``'s order (newest first by default; id order for a
    reader inside the process that gives no ``sort``: the first owner comes first)."""
    query = where_given(sa.select(User), (User.role, role), (User.is_active, is_active))
    return Page[UserRead].of(await read_page(session, USER_ORDER, query, page, user_read))


async def get_user(session: AsyncSession, ctx: Context, *, user_id: str) -> UserRead:
    user = await session.scalar(sa.select(User).where(User.id == user_id))
    if user is None:
        raise NotFound("user not found")
    return user_read(user)


async def user_names(
    session: AsyncSession, ctx: Context, user_ids: Iterable[str | None]
) -> dict[str, str]:
    """The names of the tenant's users among ``user_ids`` (unknown ids left out), in one
    query: how an answer names a record's owner."""
    wanted = sorted({i for i in user_ids if i})
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(User.id, User.name).where(
            User.tenant_id == ctx.require_tenant(), User.id.in_(wanted)
        )
    )
    return {user_id: name for user_id, name in rows.all()}


async def tenant_owner_id(session: AsyncSession, ctx: Context) -> str | None:
    """The tenant's first active owner: who hears about trouble nobody else owns."""
    users = await list_users(session, ctx, page=PageParams(limit=1), role="owner", is_active=True)
    return users.items[0].id if users.items else None


async def require_active_user(
    session: AsyncSession, ctx: Context, user_id: str, *, field: str = "owner_id"
) -> UserRead:
    """The tenant's active user ``user_id``, or a 422 on ``body.<field>``.

    Another tenant's user and a user that does not exist get the same answer."""
    try:
        user = await get_user(session, ctx, user_id=user_id)
    except NotFound:
        raise Unprocessable(
            "no such user", errors=[field_error(["body", field], "no such user")]
        ) from None
    if not user.is_active:
        raise Unprocessable(
            "the user is deactivated",
            errors=[field_error(["body", field], "the user is deactivated")],
        )
    return user


async def require_assignee(
    session: AsyncSession, ctx: Context, user_id: str, *, field: str = "assignee_id"
) -> None:
    """422 on ``body.<field>`` unless ``user_id`` is an active user of the tenant: work can
    only be handed to someone who can pick it up (absent, another tenant's and
    deactivated users get the same answer)."""
    try:
        user = await get_user(session, ctx, user_id=user_id)
    except NotFound:
        user = None
    if user is None or not user.is_active:
        raise Unprocessable(
            "the assignee must be an active user of this workspace",
            errors=[field_error(["body", field], "no such active user")],
        )


async def update_user(
    session: AsyncSession,
    ctx: Context,
    *,
    user_id: str,
    changes: UserUpdate,
    if_match: str | None = None,
) -> UserRead:
    """Apply a partial update. Owners are changed (demoted, deactivated) only by owners,
    a tenant always keeps an active owner, and deactivation ends the user's sessions.
    Their API keys follow (``api_keys.follow_owner``): narrowed on a demotion, disabled on
    deactivation."""
    # Row lock: two updates against the same version cannot both pass the check.
    user = await session.scalar(sa.select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound("user not found")
    check_version(if_match, user.version)
    changed: dict[str, Any] = {
        field: value
        for field, value in changes.model_dump(exclude_unset=True).items()
        if getattr(user, field) != value
    }
    if not changed:
        return user_read(user)
    await _check_role_change(session, ctx, user=user, changed=changed)
    if changed.get("manager_id") is not None:
        await _check_manager(
            session, tenant_id=user.tenant_id, user_id=user.id, manager_id=changed["manager_id"]
        )
    for field, value in changed.items():
        setattr(user, field, value)
    user.version += 1
    await session.flush()
    # The role's scopes change from the next request on, for the user and their API keys.
    keys_changed: list[str] = []
    if "role" in changed or "is_active" in changed:
        keys_changed = await follow_owner(session, ctx, user=user)
    if changed.get("is_active") is False:
        await revoke_sessions(
            session, ctx, where=AuthSession.user_id == user.id, reason="user_deactivated"
        )
    await append_row_event(
        session,
        ctx,
        "identity.user.updated",
        user,
        aggregate_type="user",
        data={"changes": changed, **({"api_keys_changed": keys_changed} if keys_changed else {})},
    )
    log.info("identity.user.updated", user_id=user.id, fields=sorted(changed))
    return user_read(user)


async def _check_role_change(
    session: AsyncSession, ctx: Context, *, user: User, changed: dict[str, Any]
) -> None:
    demotes_or_deactivates = "role" in changed or changed.get("is_active") is False
    promotes_to_owner = changed.get("role") == "owner"
    touches_owner = user.role == "owner" and demotes_or_deactivates
    if (touches_owner or promotes_to_owner) and not await _acts_as_owner(session, ctx):
        raise Forbidden("only an owner may make, demote or deactivate an owner")
    if touches_owner and user.is_active:
        other_owners = await session.scalar(
            sa.select(sa.func.count())
            .select_from(User)
            .where(User.role == "owner", User.is_active.is_(True), User.id != user.id)
        )
        if not other_owners:
            raise Conflict("the workspace must keep at least one active owner")


# --- who am I ----------------------------------------------------------------------------


async def me(session: AsyncSession, ctx: Context) -> MeResponse:
    tenant = await session.get(Tenant, ctx.require_tenant())
    if tenant is None:
        raise Unauthenticated("the workspace no longer exists")
    scopes = sorted(ctx.scopes)
    if ctx.actor_type == "api_key" and ctx.actor_id is not None:
        return MeResponse(
            actor_type="api_key",
            user=None,
            api_key=await get_api_key(session, api_key_id=ctx.actor_id),
            tenant=tenant_read(tenant),
            scopes=scopes,
        )
    user = await session.scalar(sa.select(User).where(User.id == ctx.actor_id))
    if user is None:
        raise Unauthenticated("the user no longer exists")
    return MeResponse(
        actor_type="user",
        user=user_read(user),
        tenant=tenant_read(tenant),
        scopes=scopes,
        session_id=ctx.session_id,
    )
