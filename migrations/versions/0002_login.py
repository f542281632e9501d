"""Login lockout counted before the password check; verified email addresses

- ``login_attempts`` (one counter row per lockout key and window, incremented by one
  UPSERT before the password is checked) and ``login_known_sources`` replace
  ``login_failures``. Lockout state is short-lived: nothing is carried over.
- ``users.email_verified_at`` and ``users.email_verification_sent_at``. Users that exist
  before this migration count as verified (from their creation), so existing logins
  without a workspace and existing real email keep working.

Revision ID: 0002_login
Revises: 0002_apikeys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_login"
down_revision = "0002_apikeys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_attempts_window_ends_at"), ["window_ends_at"], unique=False
        )
    op.create_table(
        "login_known_sources",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_known_sources")),
    )
    with op.batch_alter_table("login_known_sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_known_sources_last_login_at"), ["last_login_at"], unique=False
        )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failures_failed_at"))
        batch_op.drop_index(batch_op.f("ix_login_failures_account_key"))
    op.drop_table("login_failures")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("email_verification_sent_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE users SET email_verified_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email_verification_sent_at")
        batch_op.drop_column("email_verified_at")

    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_key", sa.String(length=64), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_failures_account_key"), ["account_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_login_failures_failed_at"), ["failed_at"], unique=False
        )
    with op.batch_alter_table("login_known_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_known_sources_last_login_at"))
    op.drop_table("login_known_sources")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempts_window_ends_at"))
    op.drop_table("login_attempts")
