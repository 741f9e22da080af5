"""vault credentials

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vault_credentials",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("data_key", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("refresh_secret", sa.LargeBinary(), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("last_used_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_credentials")),
    )
    with op.batch_alter_table("vault_credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vault_credentials_kek_id"), ["kek_id"], unique=False)
        batch_op.create_index("ix_vault_credentials_owner_name", ["owner", "name"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("vault_credentials", schema=None) as batch_op:
        batch_op.drop_index("ix_vault_credentials_owner_name")
        batch_op.drop_index(batch_op.f("ix_vault_credentials_kek_id"))

    op.drop_table("vault_credentials")
