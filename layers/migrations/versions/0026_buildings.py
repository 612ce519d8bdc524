"""buildings: footprints (or built-up blocks) the base map draws close in

``buildings``: one polygon per building where the data has them (the demo generates one per
residence point), with its form (``kind``) and ``levels``; public, no household figure. Audited
like the other layers.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "buildings",
        sa.Column("building_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=True),
        sa.Column("levels", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("geom", Geometry("POLYGON", srid=4326, spatial_index=False), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("building_id"),
    )
    op.create_index("ix_buildings_geom", "buildings", ["geom"], unique=False, postgresql_using="gist")
    op.execute("SELECT minqing_audit_table('buildings', true)")


def downgrade() -> None:
    op.drop_table("buildings")
