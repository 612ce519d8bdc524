"""check the runs a run's results come from at commit, not per row

``coverage_run_types.source_run_id`` (migration 0033) refers to the run whose rows hold a type's
results. Checked per row, deleting every run at once (``minqing demo remove``) failed: the run an
incremental run reused was deleted before the cascade removed the incremental run's mapping rows.
Checked at commit, deleting all runs works and deleting a run that another run still uses fails.

Revision ID: 0034
Revises: 0033
"""

from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE coverage_run_types ALTER CONSTRAINT coverage_run_types_source_run_id_fkey "
        "DEFERRABLE INITIALLY DEFERRED"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE coverage_run_types ALTER CONSTRAINT coverage_run_types_source_run_id_fkey "
        "NOT DEFERRABLE INITIALLY IMMEDIATE"
    )
