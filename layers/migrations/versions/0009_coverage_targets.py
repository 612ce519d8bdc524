"""coverage targets judged per area: the district, each town and (per-resident targets) each community

``coverage_target``: one row per run, target (data/targets.csv ``code``) and area with the value
(0..1), the threshold it was judged against and pass/fail (NULL: no community or resident of the
target's circle there). For a share-of-communities target, ``communities`` / ``communities_reached``
say how many communities were judged and reached. Results of a run: one audit row per statement.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coverage_target",
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey("coverage_runs.run_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("target_code", sa.String(length=40), nullable=False),
        sa.Column(
            "area_id", sa.BigInteger(), sa.ForeignKey("areas.area_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("measure", sa.String(length=20), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("pass", sa.Boolean(), nullable=True),
        sa.Column("communities", sa.Integer(), nullable=True),
        sa.Column("communities_reached", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "target_code", "area_id"),
    )
    op.execute("SELECT minqing_audit_table('coverage_target', false)")


def downgrade() -> None:
    op.drop_table("coverage_target")
