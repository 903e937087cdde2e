"""leave messages (§11.1): number, origin, channel, widget/association, subject, email, status,
assignee, updated time on the existing table; the comments table

Revision ID: 0019
Revises: 0014
Create Date: 2026-12-01 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kefu.core.db import BigId, UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leave_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("widget_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("association_id", BigId, nullable=True))
        batch_op.add_column(
            sa.Column("channel", sa.String(20), nullable=False, server_default="web")
        )
        batch_op.add_column(
            sa.Column("origin", sa.String(20), nullable=False, server_default="reminder")
        )
        batch_op.add_column(sa.Column("subject", sa.String(100), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("email", sa.String(254), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("status", sa.String(12), nullable=False, server_default="unhandled")
        )
        batch_op.add_column(sa.Column("assignee_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("updated_at", UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_leave_messages_widget_id_widgets"),
            "widgets",
            ["widget_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_leave_messages_association_id_associations"),
            "associations",
            ["association_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_leave_messages_assignee_id_users"),
            "users",
            ["assignee_id"],
            ["id"],
            ondelete="SET NULL",
        )

    # Existing messages: numbers in creation order per tenant; updated = created.
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, tenant_id FROM leave_messages ORDER BY id")).all()
    last: dict[int, int] = {}
    for row_id, tenant_id in rows:
        last[tenant_id] = last.get(tenant_id, 0) + 1
        conn.execute(
            sa.text("UPDATE leave_messages SET number = :n WHERE id = :id"),
            {"n": last[tenant_id], "id": row_id},
        )
    conn.execute(sa.text("UPDATE leave_messages SET updated_at = created_at"))

    with op.batch_alter_table("leave_messages", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=UTCDateTime(), nullable=False)
        batch_op.create_index(
            "uq_leave_messages_tenant_number", ["tenant_id", "number"], unique=True
        )
        batch_op.create_index(
            "ix_leave_messages_tenant_status", ["tenant_id", "status", "assignee_id"], unique=False
        )

    op.create_table(
        "leave_message_comments",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "tenant_id", BigId, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "leave_message_id",
            BigId,
            sa.ForeignKey("leave_messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "author_id", BigId, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("author_name", sa.String(50), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_leave_message_comments_tenant_id", "leave_message_comments", ["tenant_id"])
    op.create_index(
        "ix_leave_message_comments_leave_message_id",
        "leave_message_comments",
        ["leave_message_id"],
    )


def downgrade() -> None:
    op.drop_table("leave_message_comments")
    with op.batch_alter_table("leave_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_leave_messages_tenant_status")
        batch_op.drop_index("uq_leave_messages_tenant_number")
        batch_op.drop_constraint("fk_leave_messages_assignee_id_users", type_="foreignkey")
        batch_op.drop_constraint(
            "fk_leave_messages_association_id_associations", type_="foreignkey"
        )
        batch_op.drop_constraint("fk_leave_messages_widget_id_widgets", type_="foreignkey")
        for column in (
            "updated_at",
            "assignee_id",
            "status",
            "email",
            "subject",
            "origin",
            "channel",
            "association_id",
            "widget_id",
            "number",
        ):
            batch_op.drop_column(column)
