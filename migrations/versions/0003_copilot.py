"""Copilot conversations, turns and proposed actions

Revision ID: 0003_copilot
Revises: 0002_platformmail
"""

from __future__ import annotations

revision = "0003_copilot"
down_revision = "0002_platformmail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
