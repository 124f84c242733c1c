"""arena: battles, answers, votes

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "battles",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("anonymous", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("models", sa.JSON, nullable=False),
        sa.Column("run_id", sa.String(40)),
        sa.Column("source", sa.String(32), nullable=False, server_default="arena"),
        sa.Column("voter", sa.String(128)),
    )
    op.create_index("ix_battles_created_at", "battles", ["created_at"])
    op.create_index("ix_battles_category", "battles", ["category"])
    op.create_table(
        "battle_answers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("battle_id", sa.String(40), sa.ForeignKey("battles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("answer", sa.Text, nullable=False, server_default=""),
        sa.Column("error", sa.Text),
        sa.Column("output_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("latency_ms", sa.Float, nullable=False, server_default="0"),
    )
    op.create_index("ix_battle_answers_battle_id", "battle_answers", ["battle_id"])
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("battle_id", sa.String(40), sa.ForeignKey("battles.id", ondelete="CASCADE"), nullable=False,
                  unique=True),
        sa.Column("winner", sa.String(32), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("voter", sa.String(128)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_votes_voter", "votes", ["voter"])
    op.create_index("ix_votes_created_at", "votes", ["created_at"])


def downgrade() -> None:
    op.drop_table("votes")
    op.drop_table("battle_answers")
    op.drop_table("battles")
