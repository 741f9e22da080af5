"""agent consents: a user's standing consent to one agent (issue 19 item 4)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 15:38:25.864271
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_consents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("max_ttl", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_agent_consents_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_consents")),
    )
    with op.batch_alter_table("agent_consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_consents_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index("ix_agent_consents_user_agent", ["user_id", "agent_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("agent_consents", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_consents_user_agent")
        batch_op.drop_index(batch_op.f("ix_agent_consents_agent_id"))

    op.drop_table("agent_consents")
