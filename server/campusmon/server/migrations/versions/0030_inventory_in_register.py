"""the last inventory lives in the asset register only

Revision ID: 0030
Revises: 0020
Create Date: 2026-11-23 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("inventory")
        batch_op.drop_column("inventory_hash")


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inventory_hash", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("inventory", sa.Text(), nullable=True))
