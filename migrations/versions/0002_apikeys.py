"""API keys answer to a user: owner_id, disabled_at, disabled_reason

An API key acts for the user who made it and never with more than that user's current
role grants. Existing keys get their owner from ``created_by``: a user, or for a key
minted by a key, that key's owner (followed up the chain).

Revision ID: 0002_apikeys
Revises: 0002_forms
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_apikeys"
down_revision = "0002_forms"
branch_labels = None
depends_on = None

# Longest chain of keys minted by keys followed when filling in owners.
_MAX_CHAIN = 50


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("disabled_reason", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_keys_owner_id"), ["owner_id"], unique=False)

    conn = op.get_bind()
    # Made by a user, or by something that is not a key: that id is the owner. An id that
    # names no user any more leaves the key refused, which is the safe reading.
    conn.execute(
        sa.text(
            "UPDATE api_keys SET owner_id = created_by WHERE created_by IS NOT NULL"
            " AND created_by NOT IN (SELECT p.id FROM api_keys p)"
        )
    )
    # Made by a key: the minting key's owner, one link of the chain per pass.
    for _ in range(_MAX_CHAIN):
        filled = conn.execute(
            sa.text(
                "UPDATE api_keys SET owner_id = (SELECT p.owner_id FROM api_keys p"
                " WHERE p.id = api_keys.created_by AND p.tenant_id = api_keys.tenant_id)"
                " WHERE owner_id IS NULL AND created_by IN"
                " (SELECT p.id FROM api_keys p WHERE p.owner_id IS NOT NULL)"
            )
        )
        if not filled.rowcount:
            break


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_owner_id"))
        batch_op.drop_column("disabled_reason")
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("owner_id")
