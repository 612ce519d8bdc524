"""coverage results say which homes and facilities are unreachable

``coverage_residence.unreachable`` / ``coverage_facility.unreachable``: the point lies farther than
the run's snapping distance (``params.snap_max_m``, default 500 m) from every street usable by the
type's travel profile, so it is reported, never silently snapped (issue 3 §2). Unreachable homes
stay in the totals as not covered.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("coverage_residence", "coverage_facility")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table, sa.Column("unreachable", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "unreachable")
