"""estimated counts: which households are estimates, and how many in each coverage aggregate

``residences.households_estimated``: the households of this point are an estimate (from an OSM
building footprint), not counted (一标三实); ``residences.estimated`` keeps saying that some count
of the row is estimated (also the people derived from real 户数 with census shares).
``coverage_area.households_estimated`` / ``population_estimated``: how many of the area's
households and residents come from estimated rows, so that every result can say so.

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
    op.add_column(
        "residences",
        sa.Column("households_estimated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.execute("SELECT set_config('minqing.bulk', 'on', true)")  # one backfill, not one audit row per home
    op.execute("UPDATE residences SET households_estimated = true WHERE estimated AND source LIKE 'osm:%'")
    op.execute("SELECT set_config('minqing.bulk', 'off', true)")
    for column in ("households_estimated", "population_estimated"):
        op.add_column(
            "coverage_area", sa.Column(column, sa.Integer(), server_default=sa.text("0"), nullable=False)
        )


def downgrade() -> None:
    op.drop_column("coverage_area", "population_estimated")
    op.drop_column("coverage_area", "households_estimated")
    op.drop_column("residences", "households_estimated")
