"""Identity tables. ``tenants`` is the one table that is not tenant-scoped."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity, TenantScoped, utcnow
from bizos.core.ids import new_id


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(sa.String(63), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class User(Entity, Base):
    __tablename__ = "users"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "email"),)

    email: Mapped[str] = mapped_column(sa.String(320), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(20))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    manager_id: Mapped[str | None] = mapped_column(sa.String(36))
    # When the address was shown to be this user's: a followed verification link, or
    # creation by an admin or the operator (who vouch for it). Login without a workspace
    # considers verified memberships only.
    email_verified_at: Mapped[dt.datetime | None]
    email_verification_sent_at: Mapped[dt.datetime | None]


class AuthSession(TenantScoped, Base):
    """A login session: the family every rotated refresh token of one login belongs to."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(40))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))


class RefreshToken(TenantScoped, Base):
    """One refresh token of a session; spent once, after which a repeat is a reuse."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    spent_at: Mapped[dt.datetime | None]


class ApiKey(Entity, Base):
    """A scoped key. It acts for ``owner_id``, the user who made it (for a key minted by a
    key, that key's user): never with more than that user's current role grants, and not
    at all once they are deactivated. ``created_by`` is whoever minted it (user or key).
    """

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(sa.String(200))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(24))
    scopes: Mapped[list[str]] = mapped_column(sa.JSON)
    created_by: Mapped[str | None] = mapped_column(sa.String(36))
    # None only for keys the system made (no user to answer to).
    owner_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    # Set when the owner is deactivated; cleared only by an explicit enable.
    disabled_at: Mapped[dt.datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(40))
    last_used_at: Mapped[dt.datetime | None]


class LoginAttempt(Base):
    """Login attempts under one lockout key (an account and source, or a whole account)
    in the fixed window ending ``window_ends_at``. Not tenant-scoped: login precedes
    tenancy. The key is a keyed hash; neither email nor address is stored."""

    __tablename__ = "login_attempts"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(default=0)
    window_ends_at: Mapped[dt.datetime] = mapped_column(index=True)


class LoginKnownSource(Base):
    """A source an account last signed in from successfully (keyed hash of both)."""

    __tablename__ = "login_known_sources"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    last_login_at: Mapped[dt.datetime] = mapped_column(index=True)
