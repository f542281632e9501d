"""Email verification: signed, expiring, single-use links, and what verification allows.

A workspace made by self-service signup starts with its owner's address *unverified*;
users created by an admin (or by the operator through the CLI, or the demo) count as
verified, because whoever made them vouches for the address. Two things wait for it:

- login without a workspace considers verified memberships only, so signing up with
  someone else's address cannot get in the way of their login;
- a workspace sends real email only once one of its active owners is verified
  (``owner_address_verified``); until then every message is recorded in the sandbox.

A link's token is ``<user id>.<expiry, unix seconds>.<signature>``. The signature
(HMAC-SHA256 under a key derived for this purpose only) covers the user id, the expiry
and the address the link was sent to, so a token cannot be moved to another user,
extended, or used for an address it was not sent to. It works once: following it for an
address that is already verified answers 409.

This module imports nothing that sends email (the channel resolver asks it whether a
workspace may send), so the link itself is sent by ``service``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import urllib.parse

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.auth import derive_key
from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.errors import Conflict, ProblemError
from bizos.core.events import append_row_event
from bizos.modules.identity import clock
from bizos.modules.identity.models import Tenant, User
from bizos.modules.identity.schemas import EmailVerified, TenantRead

log = structlog.get_logger("bizos.identity")

VERIFY_PATH = "/api/v1/auth/verify-email"


class InvalidLink(ProblemError):
    status = 400
    title = "Invalid verification link"


class ExpiredLink(ProblemError):
    status = 410
    title = "Verification link expired"


def _signature(*, user_id: str, email: str, expires: int) -> str:
    message = f"{user_id}\n{expires}\n{email}".encode()
    digest = hmac.new(derive_key("email-verification"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(*, user_id: str, email: str, now: dt.datetime) -> str:
    expires = int(now.timestamp()) + get_settings().email_verification_ttl_seconds
    return f"{user_id}.{expires}.{_signature(user_id=user_id, email=email, expires=expires)}"


def verification_link(token: str) -> str:
    """The link to send: on ``public_url``, never on a Host header a caller chose."""
    base = get_settings().public_url.rstrip("/")
    return f"{base}{VERIFY_PATH}?{urllib.parse.urlencode({'token': token})}"


def link_expires_at(token: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(token.split(".")[1]), dt.UTC)


async def confirm_email(session: AsyncSession, ctx: Context, *, token: str) -> EmailVerified:
    """Mark the address a link was sent to as verified (system session).

    400 for a token that was not made by us for this user and address, 410 once it has
    expired, 409 if the address is verified already (a link works once)."""
    user_id, _, rest = token.partition(".")
    expires_text, _, signature = rest.partition(".")
    digits = expires_text.isascii() and expires_text.isdigit()
    if not (user_id and digits and len(expires_text) <= 12 and signature):
        raise InvalidLink("this verification link is not valid")
    expires = int(expires_text)
    # Row lock: of two concurrent uses of one link, the second sees it verified.
    user = await session.scalar(sa.select(User).where(User.id == user_id).with_for_update())
    expected = (
        _signature(user_id=user.id, email=user.email, expires=expires) if user is not None else ""
    )
    if user is None or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise InvalidLink("this verification link is not valid")
    now = clock.now()
    if expires <= now.timestamp():
        raise ExpiredLink("this verification link has expired; sign in and ask for a new one")
    if user.email_verified_at is not None:
        raise Conflict("this address is already verified; the link has been used")
    user.email_verified_at = now
    user.version += 1
    await session.flush()
    tenant = await session.get(Tenant, user.tenant_id)
    assert tenant is not None
    await append_row_event(
        session,
        ctx.with_tenant(user.tenant_id),
        "identity.user.email_verified",
        user,
        aggregate_type="user",
        data={"email": user.email},
    )
    log.info("identity.email.verified", tenant_id=user.tenant_id, user_id=user.id)
    return EmailVerified(
        user_id=user.id,
        email=user.email,
        email_verified_at=now,
        tenant=TenantRead.model_validate(tenant),
    )


async def owner_address_verified(session: AsyncSession, *, tenant_id: str) -> bool:
    """Whether the workspace may send real email: one of its active owners has a
    verified address. Works in a tenant or a system session."""
    found = await session.scalar(
        sa.select(User.id)
        .where(
            User.tenant_id == tenant_id,
            User.role == "owner",
            User.is_active.is_(True),
            User.email_verified_at.is_not(None),
        )
        .limit(1)
    )
    return found is not None
