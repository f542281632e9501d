"""crm_settings.web_form: the public lead form's allowed origins and thank-you page

Revision ID: 0002_forms
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_forms"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crm_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("web_form", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("crm_settings", schema=None) as batch_op:
        batch_op.drop_column("web_form")
