"""divisions: official statistical division names and codes (a gazetteer, no geometry)

One row per city, county, town (乡级: 街道/镇/乡) and village (村级: 社区居委会/村委会) from the NBS
statistical division codes (国家统计局 统计用区划代码). ``code`` is the 12-digit statistics code padded
right with zeros, the same convention as ``areas.code``, so areas can be joined to their official
names. Loaded by ``minqing import divisions`` (layers.load.files.import_divisions).

Revision ID: 0004
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "divisions",
        sa.Column("code", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("parent_code", sa.String(12), nullable=True),
        sa.Column("city_code", sa.String(12), nullable=True),
        sa.Column("city_name", sa.String(60), nullable=True),
        sa.Column("county_code", sa.String(12), nullable=True),
        sa.Column("county_name", sa.String(60), nullable=True),
        sa.Column("town_code", sa.String(12), nullable=True),
        sa.Column("town_name", sa.String(120), nullable=True),
        sa.Column("class_hint", sa.String(40), nullable=True),
        sa.Column("urban_rural_code", sa.String(3), nullable=True),
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "level IN ('province', 'city', 'county', 'town', 'village')", name="division_level_known"
        ),
    )
    op.create_index("ix_divisions_name", "divisions", ["name"])
    op.create_index("ix_divisions_parent_code", "divisions", ["parent_code"])
    op.execute(
        "CREATE TRIGGER divisions_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        "ON divisions FOR EACH STATEMENT EXECUTE FUNCTION minqing_bump_version()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS divisions_version ON divisions")
    op.drop_index("ix_divisions_parent_code", table_name="divisions")
    op.drop_index("ix_divisions_name", table_name="divisions")
    op.drop_table("divisions")
