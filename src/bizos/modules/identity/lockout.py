"""Login lockout: every attempt is counted *before* its password is checked.

Counting first is what makes the limit hold under concurrency: of a burst of requests,
only the first ``login_max_failures`` get a password check; the rest are refused
without one, whatever password they carry, so a locked account answers a right and a
wrong password identically.

An *account* is the email as typed (normalised), whatever workspace is named and
whether or not such a user exists: unknown emails lock exactly like real ones, so the
lockout never reveals which accounts exist. A *source* is the client address; an IPv6
address counts by its /64 network (one subscriber's allocation). Two counters per attempt:

- account and source: ``login_max_failures`` attempts per ``login_window_seconds``.
  A stranger guessing from elsewhere locks only their own source, never the user's.
- account, every source together: ``login_account_max_failures`` per window, which
  bounds a guess spread over many addresses. Past it, sources the account has signed in
  from within ``login_known_source_days`` still get through (each under its own limit),
  new ones are refused, and the account's holder is emailed once per window.

Each counter is one row of ``login_attempts`` changed by a single UPSERT that returns
the new count: atomic on SQLite and PostgreSQL, and across processes, since every node
shares the database. A window is fixed at its first attempt, so refused attempts never
extend a lock; an attempt refused for its source is not counted against the account.
A successful login forgets its source's count and takes its own attempt back off the
account's, so in effect the limits count failures. Only keyed hashes are stored, never
an email or an address.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.auth import hash_secret
from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.db import dialect_insert
from bizos.core.errors import ServiceUnavailable, Unprocessable
from bizos.core.events import append_event
from bizos.modules.identity.models import LoginAttempt, LoginKnownSource, User
from bizos.modules.outreach import service as outreach
from bizos.modules.outreach.schemas import Related

log = structlog.get_logger("bizos.identity")

# Memberships of one address told about a lockout (events); one of them sends the email.
_MAX_MEMBERSHIPS = 20


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether an attempt may have its password checked. ``retry_after`` (seconds) says
    when a refused one may try again; ``ceiling_reached`` is true for exactly one attempt
    per window: the first past the account-wide ceiling."""

    allowed: bool
    retry_after: int = 0
    ceiling_reached: bool = False
    window_ends_at: dt.datetime | None = None


def source_of(ip: str | None) -> str:
    """The lockout source of a client address: IPv4 as is, IPv6 by /64 network."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _key(*parts: str) -> str:
    return hash_secret("login:" + "\x00".join(parts))


def _window() -> dt.timedelta:
    return dt.timedelta(seconds=get_settings().login_window_seconds)


def _seconds_until(moment: dt.datetime, now: dt.datetime) -> int:
    # A concurrent attempt may have opened the window with a ``now`` a moment later than
    # this one's: never answer more than a window.
    seconds = math.ceil((moment - now).total_seconds())
    return max(1, min(seconds, get_settings().login_window_seconds))


async def _count(session: AsyncSession, key: str, *, now: dt.datetime) -> tuple[int, dt.datetime]:
    """Count one attempt under ``key``; the count so far in its window and the window's
    end. One statement: concurrent attempts each see a distinct count."""
    ends = sa.literal(now + _window(), LoginAttempt.__table__.c.window_ends_at.type)
    expired = LoginAttempt.window_ends_at <= now
    insert = dialect_insert(session, LoginAttempt).values(key=key, attempts=1, window_ends_at=ends)
    upsert = insert.on_conflict_do_update(
        index_elements=[LoginAttempt.key],
        set_={
            "attempts": sa.case((expired, 1), else_=LoginAttempt.attempts + 1),
            "window_ends_at": sa.case((expired, ends), else_=LoginAttempt.window_ends_at),
        },
    ).returning(LoginAttempt.attempts, LoginAttempt.window_ends_at)
    row = (await session.execute(upsert)).one()
    return int(row.attempts), row.window_ends_at


async def _is_known(session: AsyncSession, key: str, *, now: dt.datetime) -> bool:
    since = now - dt.timedelta(days=get_settings().login_known_source_days)
    found = await session.scalar(
        sa.select(LoginKnownSource.key).where(
            LoginKnownSource.key == key, LoginKnownSource.last_login_at > since
        )
    )
    return found is not None


async def admit(
    session: AsyncSession, *, email: str, ip: str | None, now: dt.datetime
) -> Admission:
    """Count a login attempt and decide whether its password may be checked.

    Run it in its own transaction and commit before checking the password, so that
    concurrent attempts see each other's counts."""
    settings = get_settings()
    # Windows that have ended can never refuse anything again: pruning here keeps the
    # table as small as the live windows without a separate sweeper.
    await session.execute(sa.delete(LoginAttempt).where(LoginAttempt.window_ends_at <= now))
    source = source_of(ip)
    attempts, ends = await _count(session, _key("source", email, source), now=now)
    if attempts > settings.login_max_failures:
        return Admission(False, _seconds_until(ends, now), window_ends_at=ends)
    attempts, ends = await _count(session, _key("account", email), now=now)
    ceiling = settings.login_account_max_failures
    if attempts <= ceiling:
        return Admission(True)
    known = await _is_known(session, _key("known", email, source), now=now)
    return Admission(
        allowed=known,
        retry_after=0 if known else _seconds_until(ends, now),
        ceiling_reached=attempts == ceiling + 1,
        window_ends_at=ends,
    )


async def forget_attempt(
    session: AsyncSession, *, email: str, ip: str | None, now: dt.datetime
) -> None:
    """The password was right: forget the source's count, take this attempt back off
    the account's, and remember the source as one the account signs in from."""
    source = source_of(ip)
    await session.execute(
        sa.delete(LoginAttempt).where(LoginAttempt.key == _key("source", email, source))
    )
    await session.execute(
        sa.update(LoginAttempt)
        .where(LoginAttempt.key == _key("account", email), LoginAttempt.attempts > 0)
        .values(attempts=LoginAttempt.attempts - 1)
        .execution_options(synchronize_session=False)
    )
    known = dialect_insert(session, LoginKnownSource).values(
        key=_key("known", email, source), last_login_at=now
    )
    await session.execute(
        known.on_conflict_do_update(
            index_elements=[LoginKnownSource.key], set_={"last_login_at": now}
        )
    )
    since = now - dt.timedelta(days=get_settings().login_known_source_days)
    await session.execute(
        sa.delete(LoginKnownSource).where(LoginKnownSource.last_login_at <= since)
    )


def _warning(*, name: str, email: str, ceiling: int, until: dt.datetime) -> str:
    minutes = round(get_settings().login_window_seconds / 60)
    return (
        f"Hello {name},\n\n"
        f"More than {ceiling} sign-in attempts to your bizos account ({email}) failed "
        f"within {minutes} minutes, from addresses you have not signed in from before.\n\n"
        f"Until {until:%Y-%m-%d %H:%M} UTC, sign-ins to this account from new addresses are "
        "paused. Devices and networks you have signed in from recently still work, so you "
        "can sign in as usual.\n\n"
        "If these attempts were not yours, someone may be guessing your password: choose a "
        "long one that you use nowhere else.\n"
    )


async def warn_account(
    session: AsyncSession, ctx: Context, *, email: str, until: dt.datetime
) -> None:
    """Tell the account's holder that the account-wide ceiling was reached: an
    ``identity.login.throttled`` event in each workspace the address belongs to, and one
    email (from the workspace where the address was verified first)."""
    users = (
        await session.scalars(
            sa.select(User)
            .where(User.email == email, User.is_active.is_(True))
            .order_by(User.email_verified_at.is_(None), User.created_at, User.id)
            .limit(_MAX_MEMBERSHIPS)
        )
    ).all()
    ceiling = get_settings().login_account_max_failures
    for user in users:
        await append_event(
            session,
            ctx.with_tenant(user.tenant_id),
            "identity.login.throttled",
            aggregate_type="user",
            aggregate_id=user.id,
            data={"until": until.isoformat(), "ceiling": ceiling},
        )
    log.warning("identity.login.throttled", accounts=len(users))
    if not users:
        return
    holder = users[0]
    try:
        # Through the platform mail when there is one: it reaches the real mailbox even
        # if the holder's workspace sends through the sandbox.
        await outreach.send_account_email(
            session,
            ctx.with_tenant(holder.tenant_id),
            to=email,
            subject="Failed sign-in attempts on your bizos account",
            body=_warning(name=holder.name, email=email, ceiling=ceiling, until=until),
            related=Related(type="user", id=holder.id),
        )
    except (Unprocessable, ServiceUnavailable):
        # An address no channel could send to (the CLI accepts e.g. ``.local``), or an
        # unusable platform mail setting: the events remain, and the lockout itself must
        # not fail.
        log.warning("identity.login.throttle_email_undeliverable", user_id=holder.id)
