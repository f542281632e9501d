"""Copilot conversations, turns and proposed actions

- ``copilot_conversations``: a user's conversation with the copilot;
- ``copilot_turns``: each question with its parsed entities and the answer as sent;
- ``copilot_actions``: changes the copilot proposed, run only once confirmed.

Revision ID: 0003_copilot
Revises: 0002_platformmail
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_copilot"
down_revision = "0002_platformmail"
branch_labels = None
depends_on = None

TABLES = ["copilot_actions", "copilot_conversations", "copilot_turns"]


def _entity_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "copilot_conversations",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("turn_count", sa.Integer(), nullable=False),
        *_entity_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copilot_conversations")),
    )
    with op.batch_alter_table("copilot_conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_copilot_conversations_tenant_id"), ["tenant_id"], unique=False
        )
        batch_op.create_index(
            "ix_copilot_conversations_tenant_user",
            ["tenant_id", "user_id", "updated_at"],
            unique=False,
        )
    op.create_table(
        "copilot_turns",
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=30), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        *_entity_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copilot_turns")),
    )
    with op.batch_alter_table("copilot_turns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_copilot_turns_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_copilot_turns_tenant_conversation",
            ["tenant_id", "conversation_id", "seq"],
            unique=False,
        )
    op.create_table(
        "copilot_actions",
        sa.Column("conversation_id", sa.String(length=36), nullable=True),
        sa.Column("proposed_by", sa.String(length=64), nullable=True),
        sa.Column("tool", sa.String(length=80), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        *_entity_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copilot_actions")),
    )
    with op.batch_alter_table("copilot_actions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_copilot_actions_tenant_id"), ["tenant_id"], unique=False
        )
        batch_op.create_index(
            "ix_copilot_actions_tenant_conversation",
            ["tenant_id", "conversation_id"],
            unique=False,
        )

    # PostgreSQL: row-level security on the new tenant tables, as on every other.
    if op.get_bind().dialect.name == "postgresql":
        from bizos.core.config import get_settings
        from bizos.core.schema import apply_postgres_security

        apply_postgres_security(op.get_bind(), get_settings().db_app_role, TABLES)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
