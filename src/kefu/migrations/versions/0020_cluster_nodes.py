"""cluster nodes and per-node socket counts (issue 7: presence across nodes)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kefu.core.db import BigId, UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_nodes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_cluster_nodes_heartbeat_at", "cluster_nodes", ["heartbeat_at"])
    op.create_table(
        "presence_sockets",
        sa.Column(
            "user_id",
            BigId,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("node_id", sa.String(64), primary_key=True),
        sa.Column(
            "tenant_id", BigId, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("sockets", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_presence_sockets_node_id", "presence_sockets", ["node_id"])


def downgrade() -> None:
    op.drop_index("ix_presence_sockets_node_id", table_name="presence_sockets")
    op.drop_table("presence_sockets")
    op.drop_index("ix_cluster_nodes_heartbeat_at", table_name="cluster_nodes")
    op.drop_table("cluster_nodes")
