"""province-wide coverage runs, partitioned by county

``province_runs``: one row per partitioned run (``province.run``): status, parameters, per-county
figures and the counties that failed. ``province_residence``: per-home results, a PostgreSQL
native LIST-partitioned table keyed by the 6-digit county code (one partition per county, created
on first use by ``layers.province.ensure_partition``); each county's rows are written in one
transaction. ``province_rollup``: the roll-up of a finished run to county, city and province.
Results are derived data: one audit row per statement; the run is audited row by row.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "province_runs",
        sa.Column("run_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="running", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("params", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("counties", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("failed", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_table(
        "province_residence",
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("circle", sa.String(length=5), nullable=False),
        sa.Column("residence_id", sa.BigInteger(), nullable=False),
        sa.Column("population", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("time_s", sa.Float(), nullable=True),
        sa.Column("facility_id", sa.BigInteger(), nullable=True),
        sa.Column("covered", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("county_code", "run_id", "type_code", "circle", "residence_id"),
        postgresql_partition_by="LIST (county_code)",
    )
    op.create_table(
        "province_rollup",
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey("province_runs.run_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("circle", sa.String(length=5), nullable=False),
        sa.Column("homes", sa.Integer(), nullable=False),
        sa.Column("population", sa.BigInteger(), nullable=False),
        sa.Column("population_covered", sa.BigInteger(), nullable=False),
        sa.Column("share", sa.Float(), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("run_id", "level", "code", "type_code", "circle"),
    )
    op.execute("SELECT minqing_audit_table('province_runs', true)")
    op.execute("SELECT minqing_audit_table('province_residence', false)")
    op.execute("SELECT minqing_audit_table('province_rollup', false)")


def downgrade() -> None:
    op.drop_table("province_rollup")
    op.drop_table("province_residence")
    op.drop_table("province_runs")
