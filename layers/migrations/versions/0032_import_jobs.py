"""jobs: the uploaded file of an import job (file imports on the task queue)

``jobs.upload``: the bytes of a file uploaded to ``POST /imports/{layer}``, kept with its job until
the job ends (done or failed: then dropped); the worker of the task queue imports it.

Revision ID: 0032
Revises: 0031
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("upload", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "upload")
