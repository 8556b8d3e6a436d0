"""affected devices, flapping, room tickets, notification outbox, last inventory

Revision ID: 0020
Revises: 0001
Create Date: 2026-11-23 20:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inventory_hash", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("inventory", sa.Text(), nullable=True))
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("room", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("opened_by", sa.String(length=100), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("flapping", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("last_signal", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("last_signal_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "ticket_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("campus", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recovered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "campus", "device", name="uq_ticket_devices"),
    )
    with op.batch_alter_table("ticket_devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_devices_ticket_id"), ["ticket_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ticket_devices_device"), ["device"], unique=False)
    op.create_table(
        "notify_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notify_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_notify_outbox_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notify_outbox_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    op.drop_table("notify_outbox")
    op.drop_table("ticket_devices")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        for col in ("last_signal_at", "last_signal", "flapping", "opened_by", "room"):
            batch_op.drop_column(col)
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("inventory")
        batch_op.drop_column("inventory_hash")
