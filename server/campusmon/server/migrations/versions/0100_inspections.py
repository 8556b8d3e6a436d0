"""inspections: rounds, checklist items, last/next dates per room and asset

Revision ID: 0100_inspections
Revises: 0050
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0100_inspections"
down_revision = "0050"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insp_inspections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("asset_id", sa.Integer(), nullable=True),
        sa.Column("place", sa.String(length=400), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_by", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["reg_assets.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["room_id"], ["reg_rooms.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_insp_inspections_target", "insp_inspections", ["plan", "target", "status"])
    op.create_index("ix_insp_inspections_finished_at", "insp_inspections", ["finished_at"])
    op.create_table(
        "insp_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=True),
        sa.Column("asset_label", sa.String(length=200), nullable=False),
        sa.Column("device_type", sa.String(length=16), nullable=False),
        sa.Column("link_campus", sa.String(length=64), nullable=False),
        sa.Column("link_device", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("label_zh", sa.String(length=200), nullable=False),
        sa.Column("label_en", sa.String(length=200), nullable=False),
        sa.Column("problem", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("prefill", sa.String(length=8), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("known_ticket_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("photo", sa.String(length=500), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["asset_id"], ["reg_assets.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["inspection_id"], ["insp_inspections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("inspection_id", "asset_id", "key", name="uq_insp_items_inspection_asset_key"),
    )
    op.create_index("ix_insp_items_inspection_id", "insp_items", ["inspection_id"])
    op.create_table(
        "insp_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("asset_id", sa.Integer(), nullable=True),
        sa.Column("last_done_on", sa.Date(), nullable=False),
        sa.Column("last_inspection_id", sa.Integer(), nullable=True),
        sa.Column("next_due_on", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["reg_assets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["last_inspection_id"], ["insp_inspections.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["room_id"], ["reg_rooms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan", "target", name="uq_insp_marks_plan_target"),
    )
    op.create_index("ix_insp_marks_room_id", "insp_marks", ["room_id"])
    op.create_index("ix_insp_marks_asset_id", "insp_marks", ["asset_id"])
    op.create_index("ix_insp_marks_next_due_on", "insp_marks", ["next_due_on"])


def downgrade() -> None:
    op.drop_table("insp_marks")
    op.drop_table("insp_items")
    op.drop_table("insp_inspections")
