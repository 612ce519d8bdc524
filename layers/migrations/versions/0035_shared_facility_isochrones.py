"""facility isochrones shared between runs by reference, not copied

Every coverage run stores the public map's isochrones of every open facility (migration 0030). A run
after an edit recomputed those the edit may change and copied the others' rows — at scale 10 some
15,000 polygons per profile rewritten for one moved facility. Now each polygon row is stored once,
under the run that computed it (``facility_isochrone_rows``), and ``facility_isochrone_sources`` says
for each run, profile and facility which run computed the rows it holds (the run itself, or the run
it reused them from), as ``coverage_run_types`` does for the coverage results (0033, 0034). The view
``facility_isochrones`` keeps the former name and columns, so every reader keeps its SQL.

Revision ID: 0035
Revises: 0034
"""

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

COLUMNS = "facility_id, profile, minutes, lon, lat, geom, reached_id, reached_s, created_at, updated_at"
VIEW = (
    "CREATE VIEW facility_isochrones AS SELECT s.run_id, r.facility_id, r.profile, r.minutes, r.lon, "
    "r.lat, r.geom, r.reached_id, r.reached_s, r.created_at, r.updated_at "
    "FROM facility_isochrone_sources s JOIN facility_isochrone_rows r "
    "ON r.run_id = s.source_run_id AND r.facility_id = s.facility_id AND r.profile = s.profile"
)


def upgrade() -> None:
    op.execute("ALTER TABLE facility_isochrones RENAME TO facility_isochrone_rows")
    op.execute("ALTER INDEX facility_isochrones_pkey RENAME TO facility_isochrone_rows_pkey")
    op.execute("ALTER INDEX ix_facility_isochrones_geom RENAME TO ix_facility_isochrone_rows_geom")
    op.create_table(
        "facility_isochrone_sources",
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey("coverage_runs.run_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("profile", sa.String(length=40), nullable=False),
        sa.Column("facility_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "source_run_id",
            sa.BigInteger(),
            sa.ForeignKey("coverage_runs.run_id", deferrable=True, initially="DEFERRED"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "profile", "facility_id"),
    )
    op.create_index(
        "ix_facility_isochrone_sources_source_run_id", "facility_isochrone_sources", ["source_run_id"]
    )
    op.execute(
        "INSERT INTO facility_isochrone_sources (run_id, profile, facility_id, source_run_id) "
        "SELECT DISTINCT run_id, profile, facility_id, run_id FROM facility_isochrone_rows"
    )
    op.execute("SELECT minqing_audit_table('facility_isochrone_sources', false)")
    op.execute(VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW facility_isochrones")
    # every run gets its own copy of the rows it held by reference
    op.execute(
        f"INSERT INTO facility_isochrone_rows (run_id, {COLUMNS}) "
        f"SELECT s.run_id, {', '.join('r.' + c for c in COLUMNS.split(', '))} "
        "FROM facility_isochrone_sources s JOIN facility_isochrone_rows r ON r.run_id = s.source_run_id "
        "AND r.facility_id = s.facility_id AND r.profile = s.profile WHERE s.source_run_id <> s.run_id"
    )
    op.drop_table("facility_isochrone_sources")
    op.execute("ALTER INDEX ix_facility_isochrone_rows_geom RENAME TO ix_facility_isochrones_geom")
    op.execute("ALTER INDEX facility_isochrone_rows_pkey RENAME TO facility_isochrones_pkey")
    op.execute("ALTER TABLE facility_isochrone_rows RENAME TO facility_isochrones")
