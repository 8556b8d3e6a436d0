"""status ordered by the device's clock; events acted on once

Revision ID: 0110
Revises: 0100_inspections
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0110"
down_revision = "0100_inspections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_ts", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("status_connected", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("loss_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "seen_events",
        sa.Column("campus", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("campus", "device", "digest"),
    )
    with op.batch_alter_table("seen_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_events_seen_at"), ["seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("seen_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seen_events_seen_at"))
    op.drop_table("seen_events")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("loss_pending")
        batch_op.drop_column("status_connected")
        batch_op.drop_column("status_ts")
