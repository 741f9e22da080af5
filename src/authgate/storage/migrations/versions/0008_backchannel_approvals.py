"""backchannel approvals (OpenID CIBA, RFC 9396)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 18:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backchannel_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("req_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("binding_message", sa.String(length=200), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("resource", sa.String(length=512), nullable=False),
        sa.Column("authorization_details", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("ping_secret", sa.LargeBinary(), nullable=True),
        sa.Column("kek_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("last_poll_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("token_jti", sa.String(length=64), nullable=True),
        sa.Column("token_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_backchannel_requests_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backchannel_requests")),
        sa.UniqueConstraint("req_hash", name=op.f("uq_backchannel_requests_req_hash")),
        sa.UniqueConstraint("token_jti", name=op.f("uq_backchannel_requests_token_jti")),
    )
    with op.batch_alter_table("backchannel_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backchannel_requests_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_backchannel_requests_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_backchannel_requests_status"), ["status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_backchannel_requests_user_id"), ["user_id"], unique=False
        )
    with op.batch_alter_table("oauth_clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("backchannel_token_delivery_mode", sa.String(length=8), nullable=True)
        )
        batch_op.add_column(
            sa.Column("backchannel_notification_endpoint", sa.String(length=512), nullable=True)
        )
        batch_op.add_column(sa.Column("authorization_details_types", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_clients", schema=None) as batch_op:
        batch_op.drop_column("authorization_details_types")
        batch_op.drop_column("backchannel_notification_endpoint")
        batch_op.drop_column("backchannel_token_delivery_mode")
    with op.batch_alter_table("backchannel_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backchannel_requests_user_id"))
        batch_op.drop_index(batch_op.f("ix_backchannel_requests_status"))
        batch_op.drop_index(batch_op.f("ix_backchannel_requests_expires_at"))
        batch_op.drop_index(batch_op.f("ix_backchannel_requests_client_id"))
    op.drop_table("backchannel_requests")
