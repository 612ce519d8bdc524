"""the composite measure per life-circle level (tier)

``coverage_composite.tier``: the bundle of required types the row counts — one tier of the circle
(urban 5min, 10min, 15min; rural village, township: GB 50180-2018 / TD/T 1062-2021 levels, the
``*_tier`` columns of data/facility_types.csv) or ``all`` (every required type of the circle).
The 15-minute life circle's headline is its own level's bundle, as the standard lists it.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "coverage_composite", sa.Column("tier", sa.String(10), server_default="all", nullable=False)
    )
    op.drop_constraint("coverage_composite_pkey", "coverage_composite", type_="primary")
    op.create_primary_key(
        "coverage_composite_pkey", "coverage_composite", ["run_id", "area_id", "circle", "tier"]
    )


def downgrade() -> None:
    op.execute("DELETE FROM coverage_composite WHERE tier <> 'all'")
    op.drop_constraint("coverage_composite_pkey", "coverage_composite", type_="primary")
    op.create_primary_key("coverage_composite_pkey", "coverage_composite", ["run_id", "area_id", "circle"])
    op.drop_column("coverage_composite", "tier")
