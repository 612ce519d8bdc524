"""heartbeats of running jobs

``job_heartbeats``: one row per running job (``job_table`` 'coverage_runs' or 'jobs', ``job_id``),
whose ``beat_at`` the job's worker refreshes every few seconds in a transaction of its own. A
running job whose heartbeat is older than MINQING_JOB_STALE_SECONDS was left behind by a server
process that died and is marked failed (pipeline.jobs.reap). Not audited: a liveness signal
rewritten every few seconds, not data (the job's start, end and failure are audited in its table).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_heartbeats",
        sa.Column("job_table", sa.String(length=20), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("job_table", "job_id"),
    )


def downgrade() -> None:
    op.drop_table("job_heartbeats")
