"""each agent's ongoing conversations, kept by triggers (issue 7: the one-slot dispatch pass)

A dispatch pass needs the load of every idle agent. It counted their ongoing conversations,
a correlated count per agent over `ix_conversations_tenant_state`: at 1,000 agents serving
10,000 conversations about 4 ms on PostgreSQL (1 ms on SQLite) of a pass that assigns one
freed slot. `agent_loads` keeps the count instead, changed by triggers in the statement that
changes a conversation's state or agent, whichever code path or SQL runs it.

PostgreSQL: a transfer decrements one agent and increments another; the trigger touches the
lower id first, so that two opposite transfers wait for each other instead of deadlocking.
(Transactions that change several agents' conversations at once, dispatch and transfers, hold
the tenant's dispatch lock.) A decrement is an UPDATE, never an insert: deleting a user sets
its conversations' agent to NULL after its row may already be gone.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_BACKFILL = (
    "INSERT INTO agent_loads (user_id, ongoing) SELECT agent_id, count(*) FROM conversations"
    " WHERE state = 'ongoing' AND agent_id IS NOT NULL GROUP BY agent_id"
)

_PG_FUNCTION = """
CREATE FUNCTION kefu_agent_loads() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was bigint;
    became bigint;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.state = 'ongoing' THEN was := OLD.agent_id; END IF;
    IF TG_OP <> 'DELETE' AND NEW.state = 'ongoing' THEN became := NEW.agent_id; END IF;
    IF was IS NOT DISTINCT FROM became THEN RETURN NULL; END IF;
    IF became IS NOT NULL AND (was IS NULL OR became < was) THEN
        INSERT INTO agent_loads (user_id, ongoing) VALUES (became, 1)
            ON CONFLICT (user_id) DO UPDATE SET ongoing = agent_loads.ongoing + 1;
        became := NULL;
    END IF;
    IF was IS NOT NULL THEN
        UPDATE agent_loads SET ongoing = ongoing - 1 WHERE user_id = was;
    END IF;
    IF became IS NOT NULL THEN
        INSERT INTO agent_loads (user_id, ongoing) VALUES (became, 1)
            ON CONFLICT (user_id) DO UPDATE SET ongoing = agent_loads.ongoing + 1;
    END IF;
    RETURN NULL;
END $$
"""

_PG_TRIGGERS = [
    "CREATE TRIGGER agent_loads_ai AFTER INSERT ON conversations FOR EACH ROW"
    " WHEN (NEW.state = 'ongoing' AND NEW.agent_id IS NOT NULL)"
    " EXECUTE FUNCTION kefu_agent_loads()",
    "CREATE TRIGGER agent_loads_au AFTER UPDATE OF state, agent_id ON conversations"
    " FOR EACH ROW WHEN ((OLD.state = 'ongoing') IS DISTINCT FROM (NEW.state = 'ongoing')"
    " OR OLD.agent_id IS DISTINCT FROM NEW.agent_id) EXECUTE FUNCTION kefu_agent_loads()",
    "CREATE TRIGGER agent_loads_ad AFTER DELETE ON conversations FOR EACH ROW"
    " WHEN (OLD.state = 'ongoing' AND OLD.agent_id IS NOT NULL)"
    " EXECUTE FUNCTION kefu_agent_loads()",
]

_SQLITE_INCREMENT = (
    "INSERT INTO agent_loads (user_id, ongoing) SELECT new.agent_id, 1"
    " WHERE new.state = 'ongoing' AND new.agent_id IS NOT NULL"
    " ON CONFLICT (user_id) DO UPDATE SET ongoing = ongoing + 1;"
)
_SQLITE_DECREMENT = (
    "UPDATE agent_loads SET ongoing = ongoing - 1"
    " WHERE old.state = 'ongoing' AND user_id = old.agent_id;"
)

_SQLITE_TRIGGERS = [
    "CREATE TRIGGER agent_loads_ai AFTER INSERT ON conversations"
    f" WHEN new.state = 'ongoing' AND new.agent_id IS NOT NULL BEGIN {_SQLITE_INCREMENT} END",
    "CREATE TRIGGER agent_loads_au AFTER UPDATE OF state, agent_id ON conversations"
    " WHEN (old.state = 'ongoing') IS NOT (new.state = 'ongoing')"
    f" OR old.agent_id IS NOT new.agent_id BEGIN {_SQLITE_DECREMENT} {_SQLITE_INCREMENT} END",
    "CREATE TRIGGER agent_loads_ad AFTER DELETE ON conversations"
    f" WHEN old.state = 'ongoing' AND old.agent_id IS NOT NULL BEGIN {_SQLITE_DECREMENT} END",
]


def upgrade() -> None:
    op.create_table(
        "agent_loads",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ongoing", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_agent_loads_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_agent_loads"),
    )
    # Triggers before the backfill, in one transaction: on PostgreSQL creating a trigger locks
    # out writes to `conversations` until commit, so no change falls between the two.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for statement in _PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute(_BACKFILL)


def downgrade() -> None:
    for name in ("agent_loads_ai", "agent_loads_au", "agent_loads_ad"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER {name} ON conversations")
        else:
            op.execute(f"DROP TRIGGER {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION kefu_agent_loads()")
    op.drop_table("agent_loads")
