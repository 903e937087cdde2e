"""exports: export jobs (§14) and their download records

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kefu.core.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time() -> kefu.core.db.UTCDateTime:
    return kefu.core.db.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "export_jobs",
        sa.Column("tenant_id", _id(), nullable=False),
        sa.Column("user_id", _id(), nullable=True),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("file_path", sa.String(length=300), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", _time(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("expires_at", _time(), nullable=True),
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        _fk("export_jobs", "tenant_id", "tenants", "CASCADE"),
        _fk("export_jobs", "user_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_jobs")),
    )
    with op.batch_alter_table("export_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_export_jobs_state", ["state", "id"], unique=False)
        batch_op.create_index(
            "ix_export_jobs_tenant_user", ["tenant_id", "user_id", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_export_jobs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "export_downloads",
        sa.Column("tenant_id", _id(), nullable=False),
        sa.Column("job_id", _id(), nullable=False),
        sa.Column("user_id", _id(), nullable=True),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        _fk("export_downloads", "tenant_id", "tenants", "CASCADE"),
        _fk("export_downloads", "job_id", "export_jobs", "CASCADE"),
        _fk("export_downloads", "user_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_downloads")),
    )
    with op.batch_alter_table("export_downloads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_export_downloads_job_id"), ["job_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_export_downloads_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("export_downloads")
    op.drop_table("export_jobs")
