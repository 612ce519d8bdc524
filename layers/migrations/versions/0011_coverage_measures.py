"""coverage results for the three measures officials use (measures.md)

* ``facility_types.rural_max_distance_m``: the service radius of the rural tier (metres), beside
  the urban one.
* ``coverage_area`` gains the radius measure (服务半径覆盖率): residents, households, elderly and
  children whose home lies within the type's service radius in a straight line
  (``*_in_radius``) and ``radius_share`` (residents, 0..1).
* ``coverage_presence`` (设施覆盖社区比例): per community and facility type, whether the community
  has an open facility of the type inside its boundary or is assigned one by a service-area rule
  (data/service_areas.csv), how (``source``: inside | town | assigned) and how many lie inside.
* ``coverage_composite`` (15-minute / half-hour life circle as a whole): per area and circle, the
  residents (and households) who reach EVERY required type of their circle over the network.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

RADIUS = ("households", "population", "elderly", "children")


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.add_column("facility_types", sa.Column("rural_max_distance_m", sa.Float(), nullable=True))
    for m in RADIUS:
        op.add_column(
            "coverage_area",
            sa.Column(f"{m}_in_radius", sa.Integer(), server_default=sa.text("0"), nullable=False),
        )
    op.add_column("coverage_area", sa.Column("radius_share", sa.Float(), nullable=True))
    op.create_table(
        "coverage_presence",
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey("coverage_runs.run_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "area_id", sa.BigInteger(), sa.ForeignKey("areas.area_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=True),
        sa.Column("facilities", sa.Integer(), server_default=sa.text("0"), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("run_id", "area_id", "type_code"),
    )
    op.execute("SELECT minqing_audit_table('coverage_presence', false)")
    op.create_table(
        "coverage_composite",
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey("coverage_runs.run_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "area_id", sa.BigInteger(), sa.ForeignKey("areas.area_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("circle", sa.String(length=5), nullable=False),
        sa.Column("required_types", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("households_covered", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("population", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("population_covered", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("share", sa.Float(), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("run_id", "area_id", "circle"),
    )
    op.execute("SELECT minqing_audit_table('coverage_composite', false)")


def downgrade() -> None:
    op.drop_table("coverage_composite")
    op.drop_table("coverage_presence")
    op.drop_column("coverage_area", "radius_share")
    for m in RADIUS:
        op.drop_column("coverage_area", f"{m}_in_radius")
    op.drop_column("facility_types", "rural_max_distance_m")
