"""Login lockout: too many failed logins for one account within a window lock it.

An *account* is the (workspace, email) pair the caller named, whether or not such a user
exists: unknown emails lock exactly like real ones, so the lockout never reveals which
accounts exist. Only a keyed hash of the pair is stored, never the email.

The lock lasts while ``login_max_failures`` failures lie inside the last
``login_window_seconds``; it ends when the oldest of them leaves the window. Attempts
refused while locked are not recorded, so hammering a locked account does not extend it.
"""

from __future__ import annotations

import datetime as dt
import math

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.auth import hash_secret
from bizos.core.config import get_settings
from bizos.modules.identity.models import LoginFailure


def account_key(*, workspace: str, email: str) -> str:
    return hash_secret(f"login:{workspace}:{email}")


def _window() -> dt.timedelta:
    return dt.timedelta(seconds=get_settings().login_window_seconds)


async def seconds_locked(session: AsyncSession, *, key: str, now: dt.datetime) -> int | None:
    """Seconds until the account's lock ends, or ``None`` if it is not locked."""
    limit = get_settings().login_max_failures
    recent = (
        await session.scalars(
            sa.select(LoginFailure.failed_at)
            .where(LoginFailure.account_key == key, LoginFailure.failed_at > now - _window())
            .order_by(LoginFailure.failed_at.desc())
            .limit(limit)
        )
    ).all()
    if len(recent) < limit:
        return None
    # The lock ends when fewer than ``limit`` failures remain in the window, i.e. when the
    # ``limit``-th most recent one expires.
    ends = recent[-1] + _window()
    return max(1, math.ceil((ends - now).total_seconds()))


async def record_failure(
    session: AsyncSession, *, key: str, now: dt.datetime, ip: str | None
) -> None:
    # Failures older than the window can never lock anything again; pruning here keeps
    # the table as small as the window without a separate sweeper.
    await session.execute(sa.delete(LoginFailure).where(LoginFailure.failed_at <= now - _window()))
    session.add(LoginFailure(account_key=key, failed_at=now, ip=ip))
    await session.flush()


async def clear_failures(session: AsyncSession, *, key: str) -> None:
    """Forget an account's failures after a successful login (never while it is locked)."""
    await session.execute(sa.delete(LoginFailure).where(LoginFailure.account_key == key))
