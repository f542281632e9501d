"""Account emails through the platform mail

- ``messages.route``: ``platform`` for an account email (verification link, lockout
  warning) that goes out through the operator's platform mail, not the workspace's
  channel; null for everything else (all existing rows).
- ``messages.body_ciphertext``: the body as sent, sealed, while the workspace's copy in
  ``body`` has the secret (the link) redacted; cleared once the message is sent.

Revision ID: 0002_platformmail
Revises: 0002_login
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_platformmail"
down_revision = "0002_login"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("route", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("body_ciphertext", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("body_ciphertext")
        batch_op.drop_column("route")
