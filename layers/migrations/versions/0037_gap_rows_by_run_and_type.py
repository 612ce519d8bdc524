"""gap rows found by run and type with one index

``coverage_gaps`` (0033) joins each type a run holds to the gap rows of the run that computed it:
``run_id = source AND type_code = type``. With one index per column PostgreSQL ANDed two bitmaps
per type, 0.17 s to count a scale-10 run's 35,018 gaps (done with every run) and as much again for
every gap list and tile of a run. One index on (run_id, type_code) serves those and the deletes by
run; the one on run_id alone goes.

Revision ID: 0037
Revises: 0036
"""

from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_coverage_gaps_rows_run_type", "coverage_gaps_rows", ["run_id", "type_code"])
    op.drop_index("ix_coverage_gaps_rows_run_id", table_name="coverage_gaps_rows")


def downgrade() -> None:
    op.create_index("ix_coverage_gaps_rows_run_id", "coverage_gaps_rows", ["run_id"])
    op.drop_index("ix_coverage_gaps_rows_run_type", table_name="coverage_gaps_rows")
