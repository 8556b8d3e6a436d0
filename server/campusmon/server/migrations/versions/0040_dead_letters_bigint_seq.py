"""dead-letter table; devices.last_seq as BIGINT (seq goes up to 2^53)

Revision ID: 0040
Revises: 0035
Create Date: 2026-12-01 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite's INTEGER already holds 64 bits; PostgreSQL's ends at 2^31 - 1
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.alter_column(
            "last_seq", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=True
        )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=256), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("payload_bytes", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("topic", "digest", name="uq_dead_letters_topic_digest"),
    )


def downgrade() -> None:
    op.drop_table("dead_letters")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.alter_column(
            "last_seq", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=True
        )
