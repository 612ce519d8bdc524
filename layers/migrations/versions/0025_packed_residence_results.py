"""per-home coverage results packed in arrays, one row per run, type and circle

A city's run has 10^6-10^7 (home, type) pairs; one table row per pair made storing a run at
scale 10 take minutes (COPY plus a three-column primary key per pair) and an incremental run copy
every reused pair again. ``coverage_residence_packed`` holds one row per (run, type, circle) with
aligned arrays (``residence_id`` ascending, ``time_s``, ``facility_id``, ``covered``,
``unreachable``; no NULL elements, so they are written in COPY's binary format straight from memory:
``time_s`` NaN and ``facility_id`` -1 stand for "no facility within the search bound"); an
incremental run copies whole rows. The view ``coverage_residence`` unnests
them into the former table's columns, so every reader keeps its SQL. Existing rows are packed
(runs made before revision 0010 have no circle: ``circle`` '' in the table, NULL in the view).

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

VIEW = """
CREATE VIEW coverage_residence AS
SELECT p.run_id, u.residence_id, p.type_code, nullif(u.time_s, 'NaN') AS time_s,
       nullif(u.facility_id, -1) AS facility_id, u.covered, u.unreachable,
       nullif(p.circle, '')::varchar(5) AS circle, p.created_at, p.updated_at
FROM coverage_residence_packed p
CROSS JOIN LATERAL unnest(p.residence_id, p.time_s, p.facility_id, p.covered, p.unreachable)
    AS u(residence_id, time_s, facility_id, covered, unreachable)
"""


def upgrade() -> None:
    op.create_table(
        "coverage_residence_packed",
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey("coverage_runs.run_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("circle", sa.String(length=5), nullable=False),
        sa.Column("residence_id", ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("time_s", ARRAY(sa.Float()), nullable=False),
        sa.Column("facility_id", ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("covered", ARRAY(sa.Boolean()), nullable=False),
        sa.Column("unreachable", ARRAY(sa.Boolean()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "type_code", "circle"),
    )
    # arrays are stored uncompressed: writing and copying them (incremental runs) then costs no
    # (de)compression
    op.execute(
        "ALTER TABLE coverage_residence_packed "
        + ", ".join(
            f"ALTER COLUMN {c} SET STORAGE EXTERNAL"
            for c in ("residence_id", "time_s", "facility_id", "covered", "unreachable")
        )
    )
    op.execute(
        "INSERT INTO coverage_residence_packed (run_id, type_code, circle, residence_id, time_s, "
        "facility_id, covered, unreachable) SELECT run_id, type_code, coalesce(circle, ''), "
        "array_agg(residence_id ORDER BY residence_id), array_agg(coalesce(time_s, 'NaN') "
        "ORDER BY residence_id), array_agg(coalesce(facility_id, -1) ORDER BY residence_id), "
        "array_agg(coalesce(covered, false) ORDER BY residence_id), "
        "array_agg(coalesce(unreachable, false) ORDER BY residence_id) "
        "FROM coverage_residence GROUP BY run_id, type_code, coalesce(circle, '')"
    )
    op.drop_table("coverage_residence")
    op.execute(VIEW)
    op.execute("SELECT minqing_audit_table('coverage_residence_packed', false)")


def downgrade() -> None:
    op.execute("DROP VIEW coverage_residence")
    op.create_table(
        "coverage_residence",
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey("coverage_runs.run_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("residence_id", sa.BigInteger(), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("time_s", sa.Float(), nullable=True),
        sa.Column("facility_id", sa.BigInteger(), nullable=True),
        sa.Column("covered", sa.Boolean(), nullable=False),
        sa.Column("unreachable", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("circle", sa.String(length=5), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "residence_id", "type_code"),
    )
    op.execute(
        "INSERT INTO coverage_residence (run_id, residence_id, type_code, time_s, facility_id, covered, "
        "unreachable, circle) SELECT p.run_id, u.residence_id, p.type_code, nullif(u.time_s, 'NaN'), "
        "nullif(u.facility_id, -1), u.covered, u.unreachable, "
        "nullif(p.circle, '') FROM coverage_residence_packed p CROSS JOIN LATERAL "
        "unnest(p.residence_id, p.time_s, p.facility_id, p.covered, p.unreachable) "
        "AS u(residence_id, time_s, facility_id, covered, unreachable)"
    )
    op.drop_table("coverage_residence_packed")
    op.execute("SELECT minqing_audit_table('coverage_residence', false)")
