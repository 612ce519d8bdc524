"""coverage results record the life circle each home was measured with

``coverage_residence.circle`` (urban | rural): the circle the engine applied to the home (its
community's class, ``geo.coverage``). Stored so that per-circle views (the planner map's 生活圈)
read it instead of deriving the rule again in SQL. Runs made before this revision have NULL.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("coverage_residence", sa.Column("circle", sa.String(5), nullable=True))


def downgrade() -> None:
    op.drop_column("coverage_residence", "circle")
