"""benchmark runs and their per-item results

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bench_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("suite", sa.String(64), nullable=False),
        sa.Column("systems", sa.JSON, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("params_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n_items", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_bench_runs_created_at", "bench_runs", ["created_at"])
    op.create_index("ix_bench_runs_params_key", "bench_runs", ["params_key"])
    op.create_table(
        "bench_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(40), sa.ForeignKey("bench_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("system", sa.String(256), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("suite", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answer", sa.Text, nullable=False, server_default=""),
        sa.Column("score", sa.Float),
        sa.Column("detail", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("trace_id", sa.String(40)),
        sa.Column("input_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("output_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cost_usd", sa.Float, nullable=False, server_default="0"),
        sa.Column("latency_ms", sa.Float, nullable=False, server_default="0"),
        sa.Column("judge_calls", sa.Integer, nullable=False, server_default="0"),
        sa.Column("judge_cost_usd", sa.Float, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "system", "item_id", name="uq_bench_results_item"),
    )
    op.create_index("ix_bench_results_run_id", "bench_results", ["run_id"])


def downgrade() -> None:
    op.drop_table("bench_results")
    op.drop_table("bench_runs")
