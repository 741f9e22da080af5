"""refresh token rotated_at in fractional seconds (issue 19 item 17)

The refresh reuse grace is measured from the moment a token was spent, exactly: whole
seconds made "2 s" run to almost 3 s and let a grace of 0 forgive a replay in the same
second. Existing values (whole seconds) convert as they are.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "rotated_at",
            existing_type=sa.BigInteger(),
            type_=sa.Double(),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "rotated_at",
            existing_type=sa.Double(),
            type_=sa.BigInteger(),
            existing_nullable=True,
            postgresql_using="floor(rotated_at)::bigint",
        )
