"""csat: satisfaction settings, per-conversation ratings and per-agent attribution

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 01:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import kefu.core.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _id() -> sa.Column[Any]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def _big(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=nullable)


def _time(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, kefu.core.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "csat_settings",
        _big("tenant_id"),
        sa.Column("auto_invite", sa.JSON(), nullable=False),
        sa.Column("invite_text", sa.String(length=200), nullable=False),
        sa.Column("stars", sa.JSON(), nullable=False),
        _time("updated_at"),
        _id(),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_csat_settings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_csat_settings_tenant_id")),
    )
    op.create_table(
        "csat_ratings",
        _big("tenant_id"),
        _big("conversation_id"),
        _big("visitor_id"),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("invited_by", sa.String(length=10), nullable=True),
        _big("inviter_id", nullable=True),
        _time("invited_at", nullable=True),
        _big("invite_message_id", nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("comment", sa.String(length=200), nullable=False),
        _time("rated_at", nullable=True),
        _time("first_rated_at", nullable=True),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        _id(),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_csat_ratings_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_csat_ratings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["visitors.id"],
            name=op.f("fk_csat_ratings_visitor_id_visitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_ratings")),
        sa.UniqueConstraint("conversation_id", name="uq_csat_ratings_conversation"),
    )
    op.create_index(
        "ix_csat_ratings_tenant_rated", "csat_ratings", ["tenant_id", "rated_at"], unique=False
    )
    op.create_index(op.f("ix_csat_ratings_tenant_id"), "csat_ratings", ["tenant_id"])
    op.create_index(op.f("ix_csat_ratings_visitor_id"), "csat_ratings", ["visitor_id"])
    op.create_table(
        "csat_attributions",
        _big("tenant_id"),
        _big("rating_id"),
        _big("conversation_id"),
        _big("agent_id"),
        sa.Column("score", sa.Integer(), nullable=False),
        _time("rated_at"),
        _id(),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["users.id"],
            name=op.f("fk_csat_attributions_agent_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_csat_attributions_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rating_id"],
            ["csat_ratings.id"],
            name=op.f("fk_csat_attributions_rating_id_csat_ratings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_csat_attributions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_attributions")),
        sa.UniqueConstraint("conversation_id", "agent_id", name="uq_csat_attributions_agent"),
    )
    op.create_index(
        "ix_csat_attributions_agent_rated",
        "csat_attributions",
        ["tenant_id", "agent_id", "rated_at"],
    )
    op.create_index(op.f("ix_csat_attributions_tenant_id"), "csat_attributions", ["tenant_id"])
    op.create_index(op.f("ix_csat_attributions_rating_id"), "csat_attributions", ["rating_id"])


def downgrade() -> None:
    op.drop_table("csat_attributions")
    op.drop_table("csat_ratings")
    op.drop_table("csat_settings")
