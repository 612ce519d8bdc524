"""jobs: progress and the file a job made (the sign sheets' PDF built on the task queue)

``jobs.progress``: how far a running job is (``{"done", "total", "unit"}``), written as it goes;
``jobs.output``: the file a finished job made, downloaded from the job (dropped after a day).

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("progress", postgresql.JSONB(), nullable=True))
    op.add_column("jobs", sa.Column("output", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "output")
    op.drop_column("jobs", "progress")
