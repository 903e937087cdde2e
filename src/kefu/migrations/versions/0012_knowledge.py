"""knowledge base: categories, items, send-mode settings (§8.2)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "knowledge_categories",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "tenant_id", BigId, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "parent_id",
            BigId,
            sa.ForeignKey("knowledge_categories.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_knowledge_categories_tenant_id", "knowledge_categories", ["tenant_id"])
    op.create_index(
        "ix_knowledge_categories_parent", "knowledge_categories", ["tenant_id", "parent_id"]
    )
    op.create_table(
        "knowledge_items",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "tenant_id", BigId, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "category_id",
            BigId,
            sa.ForeignKey("knowledge_categories.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=20), nullable=False),
        sa.Column("content_html", sa.Text(), nullable=False),
        sa.Column("content_text", sa.Text(), nullable=False),
        sa.Column("attachment_ids", sa.JSON(), nullable=False),
        sa.Column("image_ids", sa.JSON(), nullable=False),
        sa.Column("share_token", sa.String(length=40), nullable=False, unique=True),
        sa.Column(
            "author_id", BigId, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("author_name", sa.String(length=50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_knowledge_items_tenant_id", "knowledge_items", ["tenant_id"])
    op.create_index("ix_knowledge_items_category", "knowledge_items", ["tenant_id", "category_id"])
    op.create_table(
        "knowledge_settings",
        sa.Column(
            "tenant_id",
            BigId,
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("send_modes", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("knowledge_settings")
    op.drop_index("ix_knowledge_items_category", table_name="knowledge_items")
    op.drop_index("ix_knowledge_items_tenant_id", table_name="knowledge_items")
    op.drop_table("knowledge_items")
    op.drop_index("ix_knowledge_categories_parent", table_name="knowledge_categories")
    op.drop_index("ix_knowledge_categories_tenant_id", table_name="knowledge_categories")
    op.drop_table("knowledge_categories")
