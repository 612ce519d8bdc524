"""coverage_area_circle: per-circle totals stored with each run

Per area, type and life circle (urban/rural): the residents of that circle and how many are
covered, written by the run beside ``coverage_area`` (they were re-derived on every request by a
recursive query over the per-home rows). Runs made before this revision are filled here from their
per-home rows, with the same sums that query made (an area's own homes and its descendants').

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

MEASURES = ("households", "population", "elderly", "children")


def upgrade() -> None:
    op.create_table(
        "coverage_area_circle",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("circle", sa.String(length=10), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        *(sa.Column(c, sa.Integer(), nullable=False) for m in MEASURES for c in (m, f"{m}_covered")),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("circle IN ('urban', 'rural')", name="coverage_area_circle_known"),
        sa.ForeignKeyConstraint(["run_id"], ["coverage_runs.run_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["area_id"], ["areas.area_id"]),
        sa.PrimaryKeyConstraint("run_id", "type_code", "circle", "area_id"),
    )
    sums = ", ".join(
        f"coalesce(sum(h.{m}), 0)::int, coalesce(sum(h.{m}) FILTER (WHERE r.covered), 0)::int"
        for m in MEASURES
    )
    columns = ", ".join(f"{m}, {m}_covered" for m in MEASURES)
    op.execute(f"""
        WITH RECURSIVE up(area_id, anc, depth) AS (
            SELECT area_id, area_id, 0 FROM areas
            UNION ALL
            SELECT up.area_id, a.parent_id, up.depth + 1 FROM up JOIN areas a ON a.area_id = up.anc
            WHERE a.parent_id IS NOT NULL AND up.depth < 32
        )
        INSERT INTO coverage_area_circle (run_id, type_code, circle, area_id, {columns})
        SELECT r.run_id, r.type_code, r.circle, up.anc, {sums}
        FROM coverage_residence r
        JOIN residences h USING (residence_id)
        JOIN up ON up.area_id = h.area_id
        WHERE r.circle IN ('urban', 'rural')
        GROUP BY r.run_id, r.type_code, r.circle, up.anc
    """)
    op.execute("SELECT minqing_audit_table('coverage_area_circle', false)")


def downgrade() -> None:
    op.drop_table("coverage_area_circle")
