"""facility isochrones stored with each coverage run

``facility_isochrones``: per run, open facility, travel profile and budget (the public map's: walk
and walk_elderly, 5/10/15 minutes) the isochrone polygon and the open facilities reachable within
it with their seconds, so that the public map's facility isochrones are read, not computed per
request (issue 19.3). An incremental run copies the rows of the facilities an edit did not touch.
Recomputable results: audited per statement.

Revision ID: 0030
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "facility_isochrones",
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey("coverage_runs.run_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("facility_id", sa.BigInteger(), nullable=False),
        sa.Column("profile", sa.String(length=40), nullable=False),
        sa.Column("minutes", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=True),
        sa.Column("reached_id", ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("reached_s", ARRAY(sa.Float()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "facility_id", "profile", "minutes"),
    )
    op.create_index(
        "ix_facility_isochrones_geom", "facility_isochrones", ["geom"], unique=False, postgresql_using="gist"
    )
    op.execute("SELECT minqing_audit_table('facility_isochrones', false)")


def downgrade() -> None:
    op.drop_table("facility_isochrones")
